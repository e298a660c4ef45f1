"""Mirror rules as plain Python: the mapping language, the configuration's check of `[[mirrors]]` (each mistake named
by its key), and the reconciliation's keyed full outer join of source and target (seed 001)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.base import ActionKind
from integrations.registry import MirrorTarget
from statuspage.config import load_settings
from statuspage.core.settings import ConfigError, MirrorEndSettings, MirrorSettings
from statuspage.core.vocabulary import MirrorMode
from statuspage.mirrors.mapping import MappingError, parse, parse_assignment
from statuspage.mirrors.reconcile import Write, plan
from statuspage.mirrors.rules import compile_rule
from statuspage.mirrors.writes import EarlierRefusal, base_key, hand_over

CUSTOMERS = MirrorTarget(key_field="reference", insert_fields=("name", "number"), update_fields=("name", "status"),
                         required=("name",))
SEED_001 = 'reference = "EOL-" + trim(code)'


def rule(mode: MirrorMode = MirrorMode.INSERT_ONLY, fields: dict[str, str] | None = None,
         identified_by: str = SEED_001):
    settings = MirrorSettings(
        key="relations", source=MirrorEndSettings(environment="eol", administration="201", entity="accounts"),
        target=MirrorEndSettings(environment="visma", administration="1896329", entity="customers"),
        identified_by=identified_by, fields=fields or {"name": "name"}, mode=mode)
    return compile_rule(settings, CUSTOMERS)


# ---------------------------------------------------------------------------------------------------------------
# The mapping language


@pytest.mark.parametrize(("text", "row", "value"), [
    ('"EOL-" + trim(code)', {"code": "  102  "}, "EOL-102"),
    ('"EOL-" + trim(code)', {"code": None}, None),
    ('"EOL-" + trim(code)', {"code": "   "}, None),
    ('"EOL-" + trim(code)', {}, None),
    ("'EOL-' + code", {"code": 102}, "EOL-102"),
    ("upper(name) + ' (' + lower(city) + ')'", {"name": "Noord", "city": "ZWOLLE"}, "NOORD (zwolle)"),
    ("name", {"name": "Bakkerij De Korenschoof"}, "Bakkerij De Korenschoof"),
])
def test_an_expression_gives_text_or_null(text, row, value) -> None:
    assert parse(text).evaluate(row) == value


def test_an_expression_names_the_fields_it_reads() -> None:
    assert parse('"EOL-" + trim(code) + name').fields == {"code", "name"}
    field, expression = parse_assignment(SEED_001)
    assert field == "reference" and expression.fields == {"code"}


@pytest.mark.parametrize(("text", "problem"), [
    ('"EOL-" + ', "ends too soon"),
    ('"EOL-" code', "join terms with +"),
    ("trim(code", "ends too soon"),
    ("strip(code)", "unknown function 'strip'"),
    ('"EOL-" || code', "cannot read '|| code'"),
])
def test_an_expression_that_does_not_parse_says_what_to_write(text, problem) -> None:
    with pytest.raises(MappingError, match=problem):
        parse(text)


def test_an_assignment_needs_a_target_field() -> None:
    with pytest.raises(MappingError, match="must read TARGET_FIELD = EXPRESSION"):
        parse_assignment('"EOL-" + code')


# ---------------------------------------------------------------------------------------------------------------
# The configuration


ENVIRONMENTS = """
[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{ code = "201", name = "Jansen Installatietechniek B.V." }]

[[environments]]
key = "jansen-visma"
name = "Jansen Groep"
integration = "visma-net"
administrations = [{ code = "1896329", name = "Jansen Installatietechniek B.V." }]
"""
GOOD = """
[[mirrors]]
key = "relations"
source = { environment = "jansen-groep", administration = "201", entity = "accounts" }
target = { environment = "jansen-visma", administration = "1896329", entity = "customers" }
identified_by = 'reference = "EOL-" + trim(code)'
"""


def load(tmp_path: Path, mirrors: str):
    path = tmp_path / "mirrors.toml"
    path.write_text(ENVIRONMENTS + mirrors)
    return load_settings(path, environ={})


def test_a_rule_of_seed_001_loads_with_its_defaults(tmp_path: Path) -> None:
    [loaded] = load(tmp_path, GOOD).mirrors
    assert (loaded.mode, loaded.fields, loaded.name) == (MirrorMode.INSERT_ONLY, {"name": "name"}, "")


@pytest.mark.parametrize(("change", "key", "problem"), [
    (("identified_by = 'reference = \"EOL-\" + trim(code)'", "identified_by = 'number = code'"),
     "mirrors[0].identified_by", "the target is identified by 'reference', not 'number'"),
    (("identified_by = 'reference = \"EOL-\" + trim(code)'", "identified_by = 'reference = \"EOL-\" || code'"),
     "mirrors[0].identified_by", "cannot read"),
    (("entity = \"customers\"", "entity = \"suppliers\""), "mirrors[0].target.entity",
     "Visma.net Financials takes no mirror rows into 'suppliers'; it takes customers"),
    (("environment = \"jansen-groep\"", "environment = \"jansen\""), "mirrors[0].source.environment",
     "'jansen' is not the key of any [[environments]] entry"),
    (("administration = \"1896329\"", "administration = \"999\""), "mirrors[0].target.administration",
     "'999' is not linked to environment 'jansen-visma'; linked: 1896329"),
    (("target = { environment = \"jansen-visma\"", "target = { environment = \"jansen-groep\""),
     "mirrors[0].target.administration", "'1896329' is not linked to environment 'jansen-groep'"),
    (("key = \"relations\"", "key = \"relations\"\nfields = { name = \"name\", city = \"city\" }"),
     "mirrors[0].fields.city", "the target cannot set 'city' in mode insert-only; it sets corporate_id, name, number, vat_"),
    (("key = \"relations\"", "key = \"relations\"\nfields = { number = \"code\" }"),
     "mirrors[0].fields", "an insert must set name"),
    (("key = \"relations\"", "key = \"relations\"\nmode = \"upsert\""),
     "mirrors[0].mode", "invalid enum value 'upsert'; allowed: insert-only, insert-and-update"),
    (("key = \"relations\"", "key = \"Relations To Visma\""), "mirrors[0].key", "lower-case letters"),
    (("key = \"relations\"", "key = \"relations\"\nidentified-by = 'x'"), "mirrors[0]",
     "unknown key 'identified-by'; known keys: key, source, target, "),
])
def test_a_wrong_rule_is_refused_naming_its_key(tmp_path: Path, change, key, problem) -> None:
    old, new = change
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, GOOD.replace(old, new, 1))
    assert refused.value.key == key
    assert problem in refused.value.problem


def test_status_is_settable_only_when_the_rule_also_updates(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot set 'status' in mode insert-only"):
        load(tmp_path, GOOD + 'fields = { name = "name", status = "status" }\n')
    [loaded] = load(tmp_path, GOOD + 'fields = { name = "name", status = "status" }\nmode = "insert-and-update"\n'
                    ).mirrors
    assert loaded.mode is MirrorMode.INSERT_AND_UPDATE


def test_two_rules_with_one_key_are_refused_as_duplicates(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'relations' is a duplicate: mirrors\\[0\\] has that key already") as refused:
        load(tmp_path, GOOD + GOOD)
    assert refused.value.key == "mirrors[1].key"


def test_a_system_that_takes_no_mirror_rows_is_no_target_in_one_sentence(tmp_path: Path) -> None:
    swapped = GOOD.replace('source = { environment = "jansen-groep", administration = "201", entity = "accounts" }',
                           'source = { environment = "jansen-visma", administration = "1896329", entity = "customers" }'
                           ).replace('target = { environment = "jansen-visma", administration = "1896329", '
                                     'entity = "customers" }',
                                     'target = { environment = "jansen-groep", administration = "201", '
                                     'entity = "accounts" }')
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, swapped)
    assert (refused.value.key, refused.value.problem) == (
        "mirrors[0].target.entity", "(rule 'relations') Exact Online is not a mirror target: no rule can write into it")


def test_two_rules_writing_the_same_target_entity_are_refused(tmp_path: Path) -> None:
    other = GOOD.replace('key = "relations"', 'key = "suppliers"').replace('trim(code)', 'code')
    with pytest.raises(ConfigError, match="mirrors\\[0\\] writes into customers of jansen-visma 1896329 already") as refused:
        load(tmp_path, GOOD + other)
    assert refused.value.key == "mirrors[1].target"


SAMPLE = Path(__file__).parents[1] / "statuspage" / "sample-config.toml"


@pytest.mark.parametrize(("old", "new", "key", "problem"), [
    ('entity = "accounts"', 'entity = "acounts"', "mirrors[0].source.entity",
     "Exact Online has no entity 'acounts' in the mirror; known: accounts, gl_accounts,"),
    ("trim(code)'", "trim(cod)'", "mirrors[0].identified_by",
     "accounts rows have no field 'cod'; their fields: id, code, name,"),
    ('fields = { name = "name" }', 'fields = { name = "nmae" }', "mirrors[0].fields.name",
     "accounts rows have no field 'nmae'; their fields: id, code, name,"),
    ('fields = { name = "name" }', 'fields = { nmae = "name" }', "mirrors[0].fields.nmae",
     "the target cannot set 'nmae' in mode insert-only; it sets corporate_id, name, number, vat_registration_id"),
    ('entity = "customers" }', 'entity = "customer" }', "mirrors[0].target.entity",
     "Visma.net Financials takes no mirror rows into 'customer'; it takes customers"),
])
def test_a_typo_in_the_sample_rule_is_a_configuration_error_naming_what_is_known(tmp_path: Path, old, new, key,
                                                                                   problem) -> None:
    text = SAMPLE.read_text()
    assert text.count(old) == 1
    path = tmp_path / "f.toml"
    path.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={})
    assert refused.value.key == key
    assert problem in refused.value.problem
    assert refused.value.problem.startswith("(rule 'jansen-relations-to-visma') ")


# ---------------------------------------------------------------------------------------------------------------
# The reconciliation


def source(*rows: dict) -> list[tuple[str, dict]]:
    return [(f"id-{n:05d}", row) for n, row in enumerate(rows)]


def target(*rows: dict) -> list[tuple[str, dict]]:
    return [(str(10000 + n), row) for n, row in enumerate(rows)]


def test_missing_relations_are_inserted_and_hand_made_customers_left_alone() -> None:
    found = plan(rule(), source({"code": "101", "name": "Korenschoof"}, {"code": "    102", "name": "Noord"},
                                {"code": None, "name": "No code"}),
                 target({"reference": "EOL-102", "name": "Noord (renamed by hand)"},
                        {"reference": None, "name": "Gemeente Noorderveld"},
                        {"reference": "", "name": "Made by hand"}, {"reference": "EOL-999", "name": "Gone from Exact"}))
    assert found.inserts == [Write("EOL-101", {"name": "Korenschoof"})]
    assert found.changes == []  # insert-only: a different name is not a change
    assert (found.unchanged, found.only_in_target, found.source_without_key, found.target_without_key) == (1, 1, 1, 2)
    assert (found.source_rows, found.target_rows) == (3, 4)


def test_in_update_mode_a_different_name_is_changed_on_the_matched_customer() -> None:
    found = plan(rule(MirrorMode.INSERT_AND_UPDATE),
                 source({"code": "102", "name": "Noord Installaties"}, {"code": "103", "name": "Same"},
                        {"code": "104", "name": None}),
                 target({"reference": "EOL-102", "name": "Noord"}, {"reference": "EOL-103", "name": "Same"},
                        {"reference": "EOL-104", "name": "Kept: the source has none"}))
    [change] = found.changes
    assert (change.key, change.fields, change.row, change.before) == ("EOL-102", {"name": "Noord Installaties"},
                                                                      "10000", {"name": "Noord"})
    assert found.inserts == [] and found.unchanged == 2
    # The same target row read again gives the same version; a row edited by hand since, another.
    again = plan(rule(MirrorMode.INSERT_AND_UPDATE), source({"code": "102", "name": "Noord Installaties"}),
                 target({"reference": "EOL-102", "name": "Noord"}))
    edited = plan(rule(MirrorMode.INSERT_AND_UPDATE), source({"code": "102", "name": "Noord Installaties"}),
                  target({"reference": "EOL-102", "name": "Noord", "status": "OnHold"}))
    assert again.changes[0].version == change.version != edited.changes[0].version


def test_keys_twice_on_either_side_are_reported_not_written_twice() -> None:
    found = plan(rule(MirrorMode.INSERT_AND_UPDATE),
                 source({"code": "7", "name": "First"}, {"code": " 7 ", "name": "Second"}, {"code": "8", "name": "New"}),
                 target({"reference": "EOL-8", "name": "Old"}, {"reference": "EOL-8", "name": "Copy"}))
    assert found.inserts == [Write("EOL-7", {"name": "First"})]
    assert found.changes == []  # which of the two customers would be meant?
    assert (found.duplicate_source_keys, found.duplicate_target_keys) == (["EOL-7"], ["EOL-8"])


codes = st.lists(st.integers(min_value=1, max_value=400), unique=True, max_size=60)


@given(codes, codes, st.sets(st.integers(min_value=1, max_value=400), max_size=20))
def test_the_join_inserts_exactly_the_keys_the_target_lacks(in_source, in_target, hand_made) -> None:
    found = plan(rule(), source(*({"code": f" {c} ", "name": f"R{c}"} for c in in_source)),
                 target(*({"reference": f"EOL-{c}", "name": f"R{c}"} for c in in_target),
                        *({"reference": None, "name": f"Hand {c}"} for c in hand_made)))
    assert [write.key for write in found.inserts] == [f"EOL-{c}" for c in in_source if c not in in_target]
    assert found.unchanged == len(set(in_source) & set(in_target))
    assert found.only_in_target == len(set(in_target) - set(in_source))
    assert found.target_without_key == len(hand_made)


# ---------------------------------------------------------------------------------------------------------------
# What goes to the outbox


def test_a_write_refused_for_good_waits_for_its_source_row_to_change() -> None:
    compiled = rule()
    refused_at, read_at = datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2026, 12, 1, 9, tzinfo=UTC)
    found = plan(compiled, source({"code": "1", "name": "X" * 70}, {"code": "2", "name": None}), target())
    first = base_key(compiled, ActionKind.MIRROR_INSERT, found.inserts[0])
    existing = {first: ("failed", refused_at)}
    reason = "HTTP 400: Name: 1 to 60 characters."
    same = hand_over(compiled, found, existing, read_since=read_at,
                     refused={first: EarlierRefusal({"name": "X" * 70}, reason)})
    assert same.outgoing == [] and [(item.write.key, item.reason) for item in same.refused] == [
        ("EOL-1", f"the target refused it for good ({reason}); not sent again until the source row changes"),
        ("EOL-2", "the source row gives no name, which the target requires; not sent until the row changes")]
    renamed = plan(compiled, source({"code": "1", "name": "X B.V."}), target())
    changed = hand_over(compiled, renamed, existing, read_since=read_at,
                        refused={first: EarlierRefusal({"name": "X" * 70}, reason)})
    assert [(item.idempotency_key, item.write.fields) for item in changed.outgoing] == [(f"{first}-2", {"name": "X B.V."})]
    assert changed.refused == []


def test_a_write_refused_access_is_held_until_its_row_changes_and_says_a_run_by_hand_tries_it() -> None:
    compiled = rule()
    found = plan(compiled, source({"code": "1", "name": "X B.V."}), target())
    first = base_key(compiled, ActionKind.MIRROR_INSERT, found.inserts[0])
    existing = {first: ("undone", datetime(2026, 12, 1, 8, tzinfo=UTC))}
    reason = "no access to administration 1896329: Visma.net refused: The token lacks the scope create."
    held = hand_over(compiled, found, existing, read_since=datetime(2026, 12, 1, 9, tzinfo=UTC),
                     refused={first: EarlierRefusal({"name": "X B.V."}, reason, access=True)})
    assert held.outgoing == [] and [(item.write.key, item.reason) for item in held.refused] == [
        ("EOL-1", f"the target refused access ({reason}); not sent again until the source row changes or the rule is "
                  f"run by hand, once the connection's rights are mended")]
