"""Mirror rules end to end (issue 16, seed 001): Exact Online's relations kept as Visma.net customers, the service
between both sandboxes over HTTP. The source is synced into the mirror, the target's customers are read into it,
the rule reconciles them by `EOL-<code>` and its inserts go out through the outbox.

Exact's demo division 201 holds 25 relations, codes 100000-100024 (padded to 18 characters, as Exact sends them).
The service's clock stands still except where a test moves it; real time only bounds how long a test waits."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import TEST_CONFIG, TOKENS, wait_for
from page_helpers import csrf_of, sign_in

from integrations.exact_online.sandbox import SANDBOX_CLIENT_ID as EXACT_CLIENT_ID
from integrations.exact_online.sandbox import SANDBOX_CLIENT_SECRET as EXACT_SECRET
from integrations.exact_online.sandbox import ExactOnlineSandbox
from integrations.exact_online.sandbox import Faults as ExactFaults
from integrations.exact_online.sandbox import demo_scenario as exact_demo
from integrations.visma_net.sandbox import SANDBOX_CLIENT_SECRET as VISMA_SECRET
from integrations.visma_net.sandbox import Faults as VismaFaults
from integrations.visma_net.sandbox import VismaNetSandbox, empty_scenario
from statuspage.config import load_settings
from statuspage.core import storage

RULE = "relations"
COMPANY = "1896329"
TENANT = "5f0c1e2a-7d3b-4c59-9a61-0b8e4f2d7c31"
RELATIONS = 25

ENVIRONMENTS = """
[sync]
poll_seconds = 0.05
page_size = 100

[mirroring]
enabled = {mirroring}
poll_seconds = 0.05
target_wait_seconds = 30

[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{{ code = "201", name = "Jansen Installatietechniek B.V." }}]

[[environments]]
key = "jansen-visma"
name = "Jansen Groep"
integration = "visma-net"
administrations = [{{ code = "1896329", name = "Jansen Installatietechniek B.V." }}]

[[mirrors]]
key = "relations"
source = {{ environment = "jansen-groep", administration = "201", entity = "accounts" }}
target = {{ environment = "jansen-visma", administration = "1896329", entity = "customers" }}
identified_by = '{identified_by}'
fields = {{ name = "name" }}
mode = "{mode}"

[integrations.visma-net]
base_url = "{visma}"
connect_url = "{visma}"
read_timeout = 0.5
connect_timeout = 0.5
base_delay = 0.01
max_delay = 0.05
"""


@pytest.fixture
def exact(clock) -> Iterator[ExactOnlineSandbox]:
    # Exact's limits are out of the way: the mirror's pacing is Visma's.
    sandbox = ExactOnlineSandbox(exact_demo(), clock=clock, seed=5,
                                 faults=ExactFaults(minutely_limit=1_000_000, daily_limit=100_000_000)).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def visma(clock) -> Iterator[VismaNetSandbox]:
    sandbox = VismaNetSandbox(empty_scenario(), clock=clock, seed=3).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def mirroring() -> bool:
    return True


@pytest.fixture
def mode() -> str:
    return "insert-only"


@pytest.fixture
def identified_by() -> str:
    return 'reference = "EOL-" + trim(code)'


@pytest.fixture
def settings(tmp_path, exact, visma, monkeypatch, mirroring, mode, identified_by):
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENTS.format(mirroring=str(mirroring).lower(), mode=mode, visma=visma.url,
                                                      identified_by=identified_by))
    monkeypatch.setenv("STATUSPAGE_EXACT_CLIENT_SECRET", EXACT_SECRET)
    monkeypatch.setenv("STATUSPAGE_VISMA_NET_CLIENT_SECRET", VISMA_SECRET)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "mirrors.db"),
                                        "STATUSPAGE_EXACT_BASE_URL": exact.url,
                                        "STATUSPAGE_EXACT_CLIENT_ID": EXACT_CLIENT_ID})


@pytest.fixture
def connected(client, exact, tokens):
    """Both environments connected: Exact Online as Petra Jansen signs in, Visma.net with the company's tenant."""
    link = client.app.state.links["exact-online"]
    answer = httpx.post(f"{exact.url}/api/oauth2/auth", data={
        "client_id": EXACT_CLIENT_ID, "redirect_uri": link.redirect_uri, "state": "s", "username": "p.jansen"})
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    client.blocking_portal.call(link.connect, "jansen-groep", code, "test")
    client.blocking_portal.call(client.app.state.links["visma-net"].connect, "jansen-visma", f"{COMPANY}={TENANT}",
                                "test")
    return client


def header(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def control(sandbox: Any, name: str, change: Any = None) -> Any:
    url = f"{sandbox.url}/_sandbox/{name}"
    answer = httpx.get(url) if change is None else httpx.post(url, json=change)
    assert answer.status_code == 200, answer.text
    return answer.json()


def customers(visma: VismaNetSandbox) -> list[dict[str, Any]]:
    return control(visma, f"companies/{COMPANY}/customers")


def mirrored(visma: VismaNetSandbox) -> dict[str, str]:
    """Reference -> name of every customer with a reference; a reference twice fails the test."""
    found: dict[str, str] = {}
    for customer in customers(visma):
        if customer["accountReference"]:
            assert customer["accountReference"] not in found, f"duplicate {customer['accountReference']}"
            found[customer["accountReference"]] = customer["name"]
    return found


def relations(exact: ExactOnlineSandbox, *created: str) -> dict[str, str]:
    """Reference the rule should give -> name, for the generated relations of division 201 and those `created`
    (their IDs), as the sandbox holds them."""
    generated = [str(index) for index in range(control(exact, "data/201")["rows"]["accounts"])]
    rows = [control(exact, f"data/201/accounts/{key}") for key in (*generated, *created)]
    return {f"EOL-{row['Code'].strip()}": row["Name"] for row in rows}


def rule_state(client) -> dict[str, Any]:
    answer = client.get(f"/api/v1/mirrors/{RULE}", headers=header("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def settled(client, after: int = 0, tick: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """The rule once a run newer than `after` is finished and none of its writes waits any more."""
    def check() -> dict[str, Any] | None:
        state = rule_state(client)
        run = state["last_run"]
        done = run is not None and run["id"] > after and run["state"] in ("done", "failed") and state["waiting"] == 0
        return state if done else None

    return wait_for(check, f"a run after {after} settled", tick=tick)


def sync(client, kind: str = "incremental", environment: str = "jansen-groep", administration: str = "201",
         entity: str = "accounts") -> dict[str, Any]:
    answer = client.post("/api/v1/sync-tasks", headers=header("operator"), json={
        "environment": environment, "administration": administration, "kind": kind, "entities": [entity]})
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["id"]

    def finished() -> dict[str, Any] | None:
        task = client.get(f"/api/v1/sync-tasks/{task_id}", headers=header("viewer")).json()
        return task if task["state"] in ("done", "failed") else None

    task = wait_for(finished, f"sync task {task_id} finished")
    assert task["state"] == "done", task
    return task


def first_run(client) -> int:
    """The source synced in full, and the run that follows it settled; its id."""
    sync(client, kind="full")
    return int(settled(client)["last_run"]["id"])


def run_now(client) -> int:
    answer = client.post(f"/api/v1/mirrors/{RULE}/runs", headers=header("operator"))
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] in ("queued", "running")  # the background work may have taken it already
    return int(answer.json()["id"])


def three_relations_added_while_visma_is_switched_off(client, exact: ExactOnlineSandbox) -> int:
    """After a first run (its id is returned), Visma.net switched off, relations N0-N2 added and synced."""
    first = first_run(client)
    off = client.put("/api/v1/integrations/visma-net/switch", headers=header("operator"),
                     json={"enabled": False, "reason": "checking the customer numbers"})
    assert off.status_code == 200, off.text
    for n in range(3):
        control(exact, "data/201/accounts", {"set": {"Code": f"N{n}", "Name": f"Nieuw {n} B.V."}})
    sync(client)
    return first


def last_run_id(client) -> int:
    run = rule_state(client)["last_run"]
    return 0 if run is None else int(run["id"])


# ---------------------------------------------------------------------------------------------------------------


def test_a_first_run_inserts_every_relation_once_with_its_reference_and_name(connected, exact, visma) -> None:
    client = connected
    sync(client, kind="full")  # the rule runs after each sync of its source
    state = settled(client)
    assert mirrored(visma) == relations(exact)
    assert len(relations(exact)) == RELATIONS
    run = state["last_run"]
    assert (run["trigger"], run["state"], run["inserts"], run["source_rows"], run["error"]) == (
        "after_sync", "done", RELATIONS, RELATIONS, None)
    assert (state["inserted"], state["changed"], state["waiting"], state["errors"]) == (RELATIONS, 0, 0, 0)
    assert all(customer["madeBy"] == "api" for customer in customers(visma))


def test_a_second_run_inserts_nothing(connected, exact, visma) -> None:
    client = connected
    first = first_run(client)
    posts = len([x for x in control(visma, "traffic")["exchanges"] if x["method"] == "POST" and x["path"] == "/v1/customer"])
    second = run_now(client)
    state = settled(client, after=first)
    assert state["last_run"]["id"] == second
    assert (state["last_run"]["inserts"], state["last_run"]["unchanged"], state["last_run"]["target_rows"]) == (
        0, RELATIONS, RELATIONS)
    assert len([x for x in control(visma, "traffic")["exchanges"]
                if x["method"] == "POST" and x["path"] == "/v1/customer"]) == posts
    assert len(customers(visma)) == RELATIONS


def test_a_relation_added_in_exact_appears_after_the_next_sync_with_its_padded_code_trimmed(connected, exact,
                                                                                           visma) -> None:
    client = connected
    first = first_run(client)
    created = control(exact, "data/201/accounts", {"set": {"Code": "  A-17 ", "Name": "Nieuwe Relatie B.V."}})
    assert created["Code"] == "A-17".rjust(18)  # as Exact keeps codes: padded to 18 characters
    sync(client)  # incremental, as the nightly run or "Sync now" would
    state = settled(client, after=first)
    assert state["last_run"]["trigger"] == "after_sync" and state["last_run"]["inserts"] == 1
    assert mirrored(visma)["EOL-A-17"] == "Nieuwe Relatie B.V."
    assert len(mirrored(visma)) == RELATIONS + 1


def test_a_customer_made_by_hand_in_visma_is_left_alone(connected, exact, visma) -> None:
    client = connected
    names = relations(exact)
    same_name = next(iter(names.values()))
    hand_made = control(visma, f"companies/{COMPANY}/customers",
                        [{"name": "Gemeente Noorderveld"}, {"name": same_name}])
    before = {c["number"]: c for c in hand_made}
    sync(client, kind="full")
    state = settled(client)
    after = {c["number"]: c for c in customers(visma)}
    for number, customer in before.items():
        assert after[number] == customer, "a hand-made customer is never matched, changed or given a reference"
    assert mirrored(visma) == names  # the relation named like a hand-made customer is inserted all the same
    assert state["last_run"]["target_without_key"] == 2


@pytest.mark.parametrize("mirroring", [False])
def test_the_preview_shows_what_a_run_would_write_before_anything_is_written(connected, exact, visma) -> None:
    client = connected
    control(visma, f"companies/{COMPANY}/customers", [{"name": "Made by hand"},
                                                      {"name": "Mirrored before", "reference": "EOL-100003"}])
    sync(client, kind="full")
    sync(client, kind="full", environment="jansen-visma", administration=COMPANY, entity="customers")
    answer = client.get(f"/api/v1/mirrors/{RULE}/preview?limit=5", headers=header("viewer"))
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert (preview["to_insert"], preview["unchanged"], preview["target_without_key"], preview["target_rows"]) == (
        RELATIONS - 1, 1, 1, 2)
    names = relations(exact)
    assert len(preview["inserts"]) == 5  # of 24: `limit` cuts the list, not the counts
    for write in preview["inserts"]:
        assert write["key"] != "EOL-100003" and write["fields"] == {"name": names[write["key"]]}
    assert len(customers(visma)) == 2, "a preview writes nothing"
    assert client.get("/api/v1/actions?integration=visma-net", headers=header("viewer")).json()["actions"] == []
    assert client.get(f"/api/v1/mirrors/{RULE}/preview?limit=0", headers=header("viewer")).status_code == 400
    assert client.get("/api/v1/mirrors/nothing/preview", headers=header("viewer")).status_code == 404
    assert client.post(f"/api/v1/mirrors/{RULE}/runs", headers=header("viewer")).status_code == 403

    run_now(client)
    client.blocking_portal.call(client.app.state.mirrors.settle)
    client.blocking_portal.call(client.app.state.dispatcher.settle)
    assert len(mirrored(visma)) == RELATIONS


def test_the_console_shows_the_preview_and_runs_the_rule(connected, exact, visma) -> None:
    client = connected
    first = first_run(client)
    sign_in(client, TOKENS["operator"])
    overview = client.get("/console/mirrors")
    assert overview.status_code == 200
    assert f'<td data-count="inserted">{RELATIONS}</td>' in overview.text
    page = client.get(f"/console/mirrors/{RULE}")
    assert page.status_code == 200
    # The run read the target before it wrote: its inserts are not read back yet, and are not planned again.
    assert '<td data-preview="to_insert">0</td>' in page.text
    assert f'<td data-preview="sent">{RELATIONS}</td>' in page.text
    answer = client.post(f"/console/mirrors/{RULE}/run", data={"_csrf_token": csrf_of(page.text)},
                         follow_redirects=False)
    assert answer.status_code in (302, 303) and answer.headers["location"] == f"/console/mirrors/{RULE}"
    assert settled(client, after=first)["last_run"]["trigger"] == "manual"
    page = client.get(f"/console/mirrors/{RULE}")
    assert f'<td data-preview="unchanged">{RELATIONS}</td>' in page.text
    assert '<td data-preview="sent">0</td>' in page.text


def test_the_visma_kill_switch_holds_the_inserts_as_delayed_and_replays_them_once(connected, exact, visma) -> None:
    client = connected
    first = three_relations_added_while_visma_is_switched_off(client, exact)

    def held() -> dict[str, Any] | None:
        state = rule_state(client)
        run = state["last_run"]
        return state if run["id"] > first and run["state"] == "done" else None

    state = wait_for(held, "the run while switched off")
    assert (state["waiting"], state["delayed"]) == (3, 3)
    assert "switched off" in state["last_run"]["target_note"]
    assert len(mirrored(visma)) == RELATIONS, "nothing is sent while the switch is off"
    delayed = client.get("/api/v1/actions?integration=visma-net&state=delayed", headers=header("viewer")).json()
    assert sorted(action["kind"] for action in delayed["actions"]) == ["mirror_insert"] * 3

    on = client.put("/api/v1/integrations/visma-net/switch", headers=header("operator"),
                    json={"enabled": True, "reason": "numbers checked"})
    assert on.status_code == 200, on.text
    client.blocking_portal.call(client.app.state.dispatcher.settle)
    assert {f"EOL-N{n}" for n in range(3)} <= set(mirrored(visma))
    assert len(mirrored(visma)) == RELATIONS + 3
    again = run_now(client)
    state = settled(client, after=again - 1)
    assert (state["last_run"]["inserts"], state["inserted"], state["delayed"]) == (0, RELATIONS + 3, 0)
    assert len(mirrored(visma)) == RELATIONS + 3


@pytest.mark.parametrize("faults", [
    {"fail_rate": 0.5, "after_insert": True},      # the insert is stored, its answer lost
    {"fail_rate": 0.3, "fail_status": 503},        # any call may fail before it does anything
    {"throttle_next": 7, "throttle_retry_after": 1},
])
def test_a_flapping_visma_ends_with_the_same_customers_and_no_duplicate(connected, exact, visma, clock,
                                                                        faults) -> None:
    client = connected
    control(visma, "faults", faults)
    sync(client, kind="full")
    state = settled(client, tick=lambda: clock.advance(seconds=5))  # retries come due as the clock moves on
    assert mirrored(visma) == relations(exact)
    control(visma, "faults", {"fail_rate": 0.0, "throttle_next": 0})
    again = run_now(client)
    state = settled(client, after=again - 1, tick=lambda: clock.advance(seconds=5))
    assert state["last_run"]["inserts"] == 0 and state["errors"] == 0
    assert mirrored(visma) == relations(exact)


@pytest.mark.parametrize("mode", ["insert-and-update"])
def test_in_insert_and_update_mode_a_renamed_relation_is_renamed_in_visma(connected, exact, visma) -> None:
    client = connected
    first = first_run(client)
    control(exact, "data/201/accounts/4", {"set": {"Name": "Hernoemd B.V."}})
    sync(client)
    state = settled(client, after=first)
    assert (state["last_run"]["changes"], state["changed"]) == (1, 1)
    assert mirrored(visma)["EOL-100004"] == "Hernoemd B.V."
    assert len(customers(visma)) == RELATIONS


def test_visma_budget_shows_the_hour_it_stated(connected, exact, visma) -> None:
    client = connected
    sync(client, kind="full")
    settled(client)
    budgets = client.get("/api/v1/budgets", headers=header("viewer")).json()
    [row] = [row for row in budgets if row["integration"] == "visma-net"]
    assert row["administration"] == COMPANY
    assert row["daily"]["limit"] == VismaFaults().hourly_limit
    assert row["calls_today"]["booking"] >= RELATIONS and row["calls_today"]["sync"] >= 1


@pytest.mark.parametrize("mirroring", [False])
def test_a_run_left_running_by_a_stopped_process_is_failed_and_the_next_run_does_its_work(connected, exact,
                                                                                         visma) -> None:
    client = connected
    mirrors = client.app.state.mirrors
    sync(client, kind="full")
    stopped = client.blocking_portal.call(mirrors.store.write, lambda db: storage.insert_mirror_run(
        db, rule=RULE, trigger="manual", state="running", now=client.app.state.clock(), source_sync_run=None))
    assert client.blocking_portal.call(mirrors.recover) == 1
    [run] = [run for run in rule_state(client)["runs"] if run["id"] == stopped]
    assert run["state"] == "failed" and "stopped during this run" in run["error"]
    client.blocking_portal.call(mirrors.settle)  # the source's sync is newer than any finished run: due
    client.blocking_portal.call(client.app.state.dispatcher.settle)
    assert mirrored(visma) == relations(exact)


def test_an_operator_connects_visma_from_the_console_with_company_and_tenant(client, tokens, visma) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/connections")
    assert 'data-environment="jansen-visma" data-integration="visma-net"' in page.text
    assert "COMPANY=TENANT for each company" in page.text
    wrong = client.post("/console/connections/jansen-visma/visma-net", follow_redirects=False,
                        data={"credentials": TENANT, "_csrf_token": csrf_of(page.text)})
    assert "is not COMPANY=TENANT" in client.get(wrong.headers["location"]).text
    answer = client.post("/console/connections/jansen-visma/visma-net", follow_redirects=False,
                         data={"credentials": f"{COMPANY}={TENANT}", "_csrf_token": csrf_of(page.text)})
    assert answer.headers["location"] == "/console/connections?connected=jansen-visma"
    confirmed = client.get(answer.headers["location"]).text
    assert "Visma.net service integration (client credentials)" in confirmed
    assert "That user can reach every linked administration." in confirmed


def test_a_mirrored_customer_deleted_by_hand_is_inserted_again_once_a_full_read_misses_it(connected, exact, visma,
                                                                                          clock) -> None:
    client = connected
    first = first_run(client)
    gone = next(c for c in customers(visma) if c["accountReference"] == "EOL-100007")
    control(visma, f"companies/{COMPANY}/customers/{gone['number']}", {"delete": True})
    second = run_now(client)  # an incremental read cannot see a delete: the customer still counts as there
    state = settled(client, after=first)
    assert state["last_run"]["id"] == second and state["last_run"]["inserts"] == 0
    assert "EOL-100007" not in mirrored(visma)

    clock.advance(seconds=1)  # the read below begins after the insert ended, so it must show the customer
    sync(client, kind="full", environment="jansen-visma", administration=COMPANY, entity="customers")
    third = run_now(client)
    state = settled(client, after=second)
    assert state["last_run"]["id"] == third and state["last_run"]["inserts"] == 1
    assert mirrored(visma) == relations(exact)  # seed 001: every relation exists as a customer, once
    assert next(c for c in customers(visma) if c["accountReference"] == "EOL-100007")["number"] != gone["number"]


def test_a_reference_cleared_by_hand_is_left_alone_and_the_relation_inserted_again(connected, exact, visma,
                                                                                   clock) -> None:
    client = connected
    first = first_run(client)
    edited = next(c for c in customers(visma) if c["accountReference"] == "EOL-100003")
    control(visma, f"companies/{COMPANY}/customers/{edited['number']}", {"set": {"reference": None}})
    clock.advance(seconds=1)
    run_now(client)  # its read sees the change: the customer has no key now, so it is someone else's
    state = settled(client, after=first)
    assert state["last_run"]["inserts"] == 1 and state["last_run"]["target_without_key"] == 1
    kept = next(c for c in customers(visma) if c["number"] == edited["number"])
    assert (kept["accountReference"], kept["name"]) == (None, edited["name"])
    assert mirrored(visma) == relations(exact)


# ---------------------------------------------------------------------------------------------------------------
# "Run now" and the mirrors API's shapes


@pytest.mark.parametrize("mirroring", [False])
def test_run_now_asked_again_while_a_run_is_queued_answers_that_run(client, tokens) -> None:
    answers = [client.post(f"/api/v1/mirrors/{RULE}/runs", headers=header("operator")) for _ in range(10)]
    assert [answer.status_code for answer in answers] == [202] * 10, answers[0].text
    assert {answer.json()["id"] for answer in answers} == {answers[0].json()["id"]}
    assert [run["state"] for run in rule_state(client)["runs"]] == ["queued"]


@pytest.mark.parametrize("mirroring", [False])
@pytest.mark.parametrize(("body", "problem"), [
    (b"run please", "the body is not JSON: send no body, or {}"),
    (b'{"kind": "full"}', "a run takes no options: send no body, or {}"),
    (b"[]", "a run takes no options"),
])
def test_run_now_with_a_body_other_than_nothing_or_an_empty_object_is_a_400(client, tokens, body, problem) -> None:
    answer = client.post(f"/api/v1/mirrors/{RULE}/runs", content=body,
                         headers={**header("operator"), "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert problem in answer.json()["detail"]
    assert rule_state(client)["runs"] == []
    accepted = client.post(f"/api/v1/mirrors/{RULE}/runs", json={}, headers=header("operator"))
    assert accepted.status_code == 202, accepted.text


@pytest.mark.parametrize("mirroring", [False])
def test_the_mirrors_api_writes_times_as_the_sync_api_does_and_lists_rules_without_runs(connected) -> None:
    client = connected
    run = client.post(f"/api/v1/mirrors/{RULE}/runs", headers=header("operator")).json()
    task = client.post("/api/v1/sync-tasks", headers=header("operator"), json={
        "environment": "jansen-groep", "administration": "201", "kind": "incremental", "entities": ["accounts"]}
                       ).json()
    shape = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
    assert shape.match(task["created_at"]), task["created_at"]
    assert shape.match(run["started_at"]), run["started_at"]
    assert run["started_at"][-1:].isalpha() == task["created_at"][-1:].isalpha()  # both "Z", or both an offset
    [listed] = client.get("/api/v1/mirrors", headers=header("viewer")).json()
    assert "runs" not in listed
    assert listed["last_run"]["started_at"] == run["started_at"]


def test_an_unknown_rule_is_a_404_quoting_at_most_100_characters_of_its_key(client, tokens) -> None:
    asked = "x" * 5000
    answer = client.get(f"/api/v1/mirrors/{asked}", headers=header("viewer"))
    assert answer.status_code == 404
    detail = answer.json()["detail"]
    assert f"no mirror rule '{'x' * 100}'..." in detail and "x" * 101 not in detail
    assert "configured: relations" in detail


# ---------------------------------------------------------------------------------------------------------------
# What monitoring says of rows that cannot be mirrored


def rule_page(client) -> str:
    sign_in(client, TOKENS["viewer"])
    page = client.get(f"/console/mirrors/{RULE}")
    assert page.status_code == 200
    return page.text


def test_a_write_visma_refuses_for_good_is_not_planned_again_until_the_relation_changes(connected, exact, visma,
                                                                                     clock) -> None:
    client = connected
    after = first_run(client)
    too_long = "Installatiebedrijf Gebroeders van der Heijden-Vermeulen en Zonen B.V."
    assert len(too_long) > 60
    created = control(exact, "data/201/accounts", {"set": {"Code": "NC002", "Name": too_long}})
    control(exact, "data/201/accounts", {"set": {"Code": "NC003", "Name": ""}})
    runs = []
    for _ in range(3):  # each sync is followed by a run, each reading the target again
        sync(client)
        state = settled(client, after=after, tick=lambda: clock.advance(seconds=5))
        after = state["last_run"]["id"]
        runs.append(state["last_run"])
    failed = client.get("/api/v1/actions?integration=visma-net&state=failed", headers=header("viewer")).json()
    assert len(failed["actions"]) == 1, "one refused insert, never sent again; the nameless relation never sent at all"
    assert state["failed"] == 1
    assert [run["errors"] for run in runs[1:]] == [2, 2]
    problems = {problem["key"]: problem["reason"] for problem in runs[-1]["problems"]}
    assert "Name: 1 to 60 characters" in problems["EOL-NC002"] and "until the source row changes" in problems["EOL-NC002"]
    assert "the source row gives no name" in problems["EOL-NC003"]
    detail = client.get(f"/api/v1/mirrors/{RULE}", headers=header("viewer")).json()
    [failed] = detail["writes_failed"]
    assert (failed["key"], failed["name"], failed["state"]) == ("EOL-NC002", too_long, "failed")
    action = client.get(f"/api/v1/actions/{failed['action']}", headers=header("viewer"))
    assert action.status_code == 200 and action.json()["kind"] == "mirror_insert"
    assert "EOL-NC002" not in mirrored(visma) and "EOL-NC003" not in mirrored(visma)
    page = rule_page(client)
    assert '<tr data-key="EOL-NC002"><td>EOL-NC002</td><td>the target refused it for good' in page
    assert '<td data-preview="refused">2</td>' in page

    control(exact, f"data/201/accounts/{created['ID']}", {"set": {"Name": "Gebr. van der Heijden B.V."}})
    sync(client)
    state = settled(client, after=after, tick=lambda: clock.advance(seconds=5))
    assert mirrored(visma)["EOL-NC002"] == "Gebr. van der Heijden B.V."
    assert [problem["key"] for problem in state["last_run"]["problems"]] == ["EOL-NC003"]


@pytest.mark.parametrize("identified_by", ['reference = "EOL-"'])
def test_keys_several_relations_share_are_counted_as_errors_and_shown_in_the_console(connected, exact, visma) -> None:
    client = connected
    sync(client, kind="full")
    state = settled(client)
    assert list(mirrored(visma)) == ["EOL-"]
    run = state["last_run"]
    assert (run["duplicate_keys"], run["errors"], state["errors"]) == (1, 1, 1)
    [problem] = run["problems"]
    assert problem["key"] == "EOL-"
    assert f"{RELATIONS} source rows map to this key" in problem["reason"]
    assert f"{RELATIONS - 1} are not mirrored" in problem["reason"]
    page = rule_page(client)
    assert '<td data-preview="duplicate_source_keys">1</td>' in page
    assert '<tr data-key="EOL-"><td>EOL-</td><td>25 source rows map to this key' in page
    overview = client.get("/console/mirrors").text
    assert '<td data-count="errors">1 <span class="muted">EOL-: 25 source rows' in overview


def test_a_reference_two_customers_carry_is_counted_as_an_error(connected, exact, visma) -> None:
    client = connected
    control(visma, f"companies/{COMPANY}/customers", [{"name": "Made by hand", "reference": "EOL-100001"},
                                                      {"name": "Made by hand too", "reference": "EOL-100001"}])
    sync(client, kind="full")
    state = settled(client)
    assert state["errors"] == 1
    [problem] = state["last_run"]["problems"]
    assert problem["key"] == "EOL-100001" and "several target rows carry this reference" in problem["reason"]
    preview = client.get(f"/api/v1/mirrors/{RULE}/preview", headers=header("viewer")).json()
    assert preview["duplicate_target_keys"] == ["EOL-100001"]
    assert '<td data-preview="duplicate_target_keys">1</td>' in rule_page(client)


def test_writes_delayed_by_the_kill_switch_are_listed_with_key_and_name(connected, exact, visma) -> None:
    client = connected
    first = three_relations_added_while_visma_is_switched_off(client, exact)
    wait_for(lambda: rule_state(client)["delayed"] == 3 or None, "three writes delayed")
    expected = [(f"EOL-N{n}", f"Nieuw {n} B.V.", "delayed") for n in range(3)]
    detail = rule_state(client)
    assert sorted((w["key"], w["name"], w["state"]) for w in detail["writes_delayed"]) == expected
    assert detail["writes_waiting"] == [] and detail["last_run"]["id"] > first
    preview = client.get(f"/api/v1/mirrors/{RULE}/preview", headers=header("viewer")).json()
    assert preview["waiting"] == 3
    assert sorted((w["key"], w["name"], w["state"]) for w in preview["writes_delayed"]) == expected
    page = rule_page(client)
    assert "Writes delayed by a kill switch" in page and '<td>EOL-N1</td><td>Nieuw 1 B.V.</td>' in page


def test_an_action_of_a_mirror_write_names_the_key_and_name_it_writes(connected, exact, visma) -> None:
    client = connected
    three_relations_added_while_visma_is_switched_off(client, exact)
    wait_for(lambda: rule_state(client)["delayed"] == 3 or None, "three writes delayed")
    expected = [f"customers EOL-N{n} Nieuw {n} B.V." for n in range(3)]
    listed = client.get("/api/v1/actions?integration=visma-net&state=delayed", headers=header("viewer")).json()
    assert sorted(action["subject"] for action in listed["actions"]) == expected
    first = listed["actions"][0]
    assert first["idempotency_key"].startswith("mi-") and "kind" in first and "entry_number" in first
    one = client.get(f"/api/v1/actions/{first['id']}", headers=header("viewer")).json()
    assert one["subject"] == first["subject"]
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/actions?state=delayed").text
    for subject in expected:
        assert f'<td class="action-subject">{subject}</td>' in page


def visma_actions(client, state: str = "") -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/actions?integration=visma-net&limit=1000{'&state=' + state if state else ''}",
                        headers=header("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()["actions"]


def test_inserts_visma_refuses_access_wait_for_a_run_by_hand_not_for_the_next_sync(connected, exact, visma,
                                                                                   clock) -> None:
    """The app's token may read customers but not create them (the create scope was not given to the app in the
    Developer Portal): each insert is refused with a 403, a call each. The next sync must not spend those calls
    again; an operator who has mended the app's scopes runs the rule by hand, and that run inserts them."""
    client = connected
    control(visma, "faults", {"withheld_scopes": ["vismanet_erp_service_api:create"], "expire_access_tokens": True})
    after = first_run(client)
    refused = visma_actions(client, "undone")
    assert len(refused) == RELATIONS
    assert "lacks the scope vismanet_erp_service_api:create" in refused[0]["error"]

    control(exact, "data/201/accounts", {"set": {"Code": "NA1", "Name": "Nieuw Na Weigering B.V."}})
    for _ in range(2):  # each sync is followed by a run, each reading the target again
        sync(client)
        state = settled(client, after=after, tick=lambda: clock.advance(seconds=5))
        after = state["last_run"]["id"]
    assert len(visma_actions(client)) == RELATIONS + 1, "only the new relation's insert was tried"
    problems = {problem["key"]: problem["reason"] for problem in state["last_run"]["problems"]}
    assert len(problems) == RELATIONS + 1
    assert all("refused access" in reason and "run by hand" in reason for reason in problems.values()), problems

    control(visma, "faults", {"withheld_scopes": [], "expire_access_tokens": True})  # the scope given to the app
    run_now(client)
    state = settled(client, after=state["last_run"]["id"], tick=lambda: clock.advance(seconds=5))
    assert len(mirrored(visma)) == RELATIONS + 1
    assert state["last_run"]["problems"] == []
