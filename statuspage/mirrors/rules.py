"""Mirror rules (`[[mirrors]]`, seed 001) compiled from the configuration, and the configuration's check of them.

A rule keeps the rows of a source entity (Exact Online's relations, `accounts`, as the master-data sync mirrors
them) as rows of a target entity (Visma.net's `customers`), identified by the target's key field: seed 001's

    synchronize exactaccounts to customer_getall@vismanet with insert identified by accountreference ignore nulls

is, here,

    [[mirrors]]
    key = "jansen-relations-to-visma"
    source = { environment = "jansen-groep", administration = "201", entity = "accounts" }
    target = { environment = "jansen-groep-visma", administration = "1896329", entity = "customers" }
    identified_by = 'reference = "EOL-" + trim(code)'
    fields = { name = "name" }
    mode = "insert-only"

What a target entity accepts (its key field, the fields an insert sets and an update changes) is the target
integration's word (`integrations.registry.MirrorTarget`); the source's fields are the entity's as its integration
describes it to the sync.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integrations.registry import MirrorTarget, Registry
from statuspage.core.settings import ConfigError, MirrorSettings, Settings
from statuspage.core.vocabulary import MirrorMode
from statuspage.mirrors.mapping import Expression, MappingError, Row, Value, parse, parse_assignment

_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

CLIENT_PREFIX = "mirror:"
"""The outbox's client of a rule's writes is `mirror:<rule key>`: its actions, counted apart from anyone else's."""


@dataclass(frozen=True)
class MirrorRule:
    """A rule ready to run: its settings, and its mappings parsed."""

    settings: MirrorSettings
    target: MirrorTarget
    key_expression: Expression
    fields: Mapping[str, Expression]
    compared: tuple[str, ...]
    """The fields an update changes when they differ (mode insert-and-update); empty in insert-only mode."""

    @property
    def key(self) -> str:
        return self.settings.key

    @property
    def client(self) -> str:
        return f"{CLIENT_PREFIX}{self.settings.key}"

    @property
    def key_field(self) -> str:
        return self.target.key_field

    def source_key(self, row: Row) -> Value:
        """The target key a source row maps to; None when it has none (it is skipped)."""
        return self.key_expression.evaluate(row)

    def desired(self, row: Row) -> dict[str, Value]:
        """The target's fields as the source row gives them."""
        return {field: expression.evaluate(row) for field, expression in self.fields.items()}

    def source_fields(self) -> frozenset[str]:
        """Every source field the rule reads."""
        return self.key_expression.fields.union(*(expression.fields for expression in self.fields.values()))


class RuleError(ValueError):
    """What is wrong with one setting of a rule: `field` names it (`identified_by`, `fields.city`, `target.entity`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def compile_rule(settings: MirrorSettings, target: MirrorTarget, source_fields: Collection[str] | None = None
                 ) -> MirrorRule:
    """Parse a rule's mappings against what its target accepts and, when `source_fields` is given (the fields the
    mirror keeps of the source entity), against what the source rows hold; `RuleError` naming the setting otherwise.

    A mapping that reads a field the source rows never carry would evaluate to null for every row: every row
    "without a key", or every insert without a name. Refused here instead of a run that silently does nothing."""
    try:
        key_field, key_expression = parse_assignment(settings.identified_by)
    except MappingError as error:
        raise RuleError("identified_by", str(error)) from None
    if source_fields is not None:
        _check_reads("identified_by", key_expression, settings.source.entity, source_fields)
    if key_field != target.key_field:
        raise RuleError("identified_by", f"the target is identified by {target.key_field!r}, not {key_field!r}: "
                                         f"write '{target.key_field} = ...'")
    writable = set(target.insert_fields)
    if settings.mode is MirrorMode.INSERT_AND_UPDATE:
        writable |= set(target.update_fields)
    fields: dict[str, Expression] = {}
    for field, text in settings.fields.items():
        if field == target.key_field:
            raise RuleError(f"fields.{field}", f"{field!r} is the key: it is set by identified_by")
        if field not in writable:
            raise RuleError(f"fields.{field}", f"the target cannot set {field!r} in mode {settings.mode}; "
                                               f"it sets {', '.join(sorted(writable))}")
        try:
            fields[field] = parse(text)
        except MappingError as error:
            raise RuleError(f"fields.{field}", str(error)) from None
        if source_fields is not None:
            _check_reads(f"fields.{field}", fields[field], settings.source.entity, source_fields)
    missing = [field for field in target.required if field not in fields]
    if missing:
        raise RuleError("fields", f"an insert must set {', '.join(missing)}: add {missing[0]} = \"...\"")
    compared = tuple(field for field in fields if field in target.update_fields) \
        if settings.mode is MirrorMode.INSERT_AND_UPDATE else ()
    return MirrorRule(settings, target, key_expression, fields, compared)


def _check_reads(setting: str, expression: Expression, entity: str, source_fields: Collection[str]) -> None:
    unknown = sorted(expression.fields - set(source_fields))
    if unknown:
        raise RuleError(setting, f"{entity} rows have no field {', '.join(map(repr, unknown))}; "
                                 f"their fields: {', '.join(source_fields)}")


def source_fields_of(registry: Registry, settings: Settings, rule: MirrorSettings) -> tuple[str, ...]:
    """The fields the mirror keeps of the rule's source entity (its integration's master-data description);
    `RuleError` naming `source.entity` (and the entities it does keep) when it keeps no such entity."""
    environment = settings.environment(rule.source.environment)
    if environment is None:
        raise RuleError("source.environment", f"{rule.source.environment!r} is not the key of any [[environments]] "
                                              f"entry")
    integration = registry.get(environment.integration)
    table = integration.master_data.table if integration.master_data is not None else {}
    found = table.get(rule.source.entity)
    if found is None:
        if not table:
            raise RuleError("source.entity", f"{integration.name} keeps no rows in the mirror, so it cannot be a "
                                             f"mirror source")
        raise RuleError("source.entity", f"{integration.name} has no entity {rule.source.entity!r} in the mirror; "
                                         f"known: {', '.join(table)}")
    return found.fields


def target_of(registry: Registry, settings: Settings, rule: MirrorSettings) -> MirrorTarget:
    """What the rule's target entity accepts; `RuleError` when its environment's integration has no such target."""
    environment = settings.environment(rule.target.environment)
    if environment is None:
        raise RuleError("target.environment", f"{rule.target.environment!r} is not the key of any [[environments]] "
                                              f"entry")
    integration = registry.get(environment.integration)
    found = integration.mirror_targets.get(rule.target.entity)
    if found is None:
        if not integration.mirror_targets:
            raise RuleError("target.entity", f"{integration.name} is not a mirror target: no rule can write into it")
        raise RuleError("target.entity", f"{integration.name} takes no mirror rows into {rule.target.entity!r}; "
                                         f"it takes {', '.join(integration.mirror_targets)}")
    return found


def compiled_rules(settings: Settings, registry: Registry) -> dict[str, MirrorRule]:
    """Every configured rule, compiled (the configuration was checked when it was loaded), by key."""
    return {rule.key: compile_rule(rule, target_of(registry, settings, rule), source_fields_of(registry, settings, rule))
            for rule in settings.mirrors}


def check_mirrors(settings: Settings, path: Path, registry: Registry) -> None:
    """The configuration's `[[mirrors]]`: `ConfigError` naming `mirrors[i].<setting>` and what to fix.

    Two rules writing the same target (environment, administration, entity) are refused: each would insert the
    rows it finds missing, under its own outbox client, so they would write the same keys twice and fight over them
    (the target entity has one key field, so any two such rules share it)."""
    seen: dict[str, int] = {}
    targets: dict[tuple[str, str, str], int] = {}
    for index, rule in enumerate(settings.mirrors):
        where = f"mirrors[{index}]"

        def fail(field: str, problem: str, where: str = where, named: str = rule.key) -> None:
            # The rule's own key too: an index alone makes the reader count [[mirrors]] tables.
            raise ConfigError(str(path), f"{where}.{field}", problem if field == "key" else f"(rule {named!r}) {problem}")

        if not _KEY_PATTERN.match(rule.key):
            fail("key", f"{rule.key!r} must be 1 to 63 lower-case letters, digits and dashes, starting with a letter "
                        f"or digit")
        if rule.key in seen:
            fail("key", f"{rule.key!r} is a duplicate: mirrors[{seen[rule.key]}] has that key already; give each "
                        f"rule its own")
        seen[rule.key] = index
        for side in ("source", "target"):
            _check_end(settings, getattr(rule, side), side, fail)
        if (rule.source.environment, rule.source.administration) == (rule.target.environment,
                                                                      rule.target.administration):
            fail("target", "is the source itself: a rule copies rows into another administration")
        try:
            compile_rule(rule, target_of(registry, settings, rule), source_fields_of(registry, settings, rule))
        except RuleError as error:
            fail(error.field, error.problem)
        written = (rule.target.environment, rule.target.administration, rule.target.entity)
        if written in targets:
            fail("target", f"mirrors[{targets[written]}] writes into {rule.target.entity} of {rule.target.environment} "
                           f"{rule.target.administration} already, identified by the same key field: two rules "
                           f"would insert the same rows and fight over them; merge them into one rule")
        targets[written] = index


def _check_end(settings: Settings, end: Any, side: str, fail: Any) -> None:
    environment = settings.environment(end.environment)
    if environment is None:
        known = ", ".join(item.key for item in settings.environments) or "none are configured"
        fail(f"{side}.environment", f"{end.environment!r} is not the key of any [[environments]] entry; "
                                    f"known: {known}")
        return
    linked = [item.code for item in environment.administrations]
    if end.administration not in linked:
        fail(f"{side}.administration", f"{end.administration!r} is not linked to environment "
                                       f"{end.environment!r}; linked: {', '.join(linked) or 'none'}")
