"""The master-data sync end to end: the app against the Exact Online sandbox over HTTP (issue 13).

The sandbox's demo data set per division: 25 accounts, 20 GL accounts, 5 cost centres, 3 cost units, 8 projects,
12 purchase order lines, 30 transaction lines, 10 payments. Time stands still (the `clock` fixture): nothing
here depends on the wall clock, only on what happened before what."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from conftest import TEST_CONFIG, TOKENS, live, wait_for
from exact_online_helpers import control
from exact_online_service_helpers import sandbox_code
from litestar.testing import TestClient

from integrations.exact_online.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Faults,
    demo_scenario,
)
from integrations.exact_online.sync import ENTITIES
from statuspage.app import create_app
from statuspage.config import load_settings
from statuspage.core.settings import Settings

ENVIRONMENTS = """
[sync]
poll_seconds = 0.05
page_size = 100

[[environments]]
key = "bakkerij-de-vries"
name = "Bakkerij De Vries"
profile = "scan-book-archive"
administrations = [{ code = "101", name = "Bakkerij De Vries B.V." }, { code = "102", name = "De Vries Vastgoed B.V." }]

[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{ code = "201", name = "Jansen Installatietechniek B.V." },
                   { code = "202", name = "Jansen Holding B.V." }, { code = "203", name = "Jansen Verhuur B.V." }]
"""
CONNECTION_USERS = {"bakkerij-de-vries": "j.devries", "jansen-groep": "p.jansen"}
DEMO_SIZES = {"accounts": 25, "gl_accounts": 20, "cost_centers": 5, "cost_units": 3, "projects": 8,
              "purchase_order_lines": 12, "transaction_lines": 30, "payments": 10}
WAIT_SECONDS = 60
TICK = 0.05
"""Seconds the test's clock moves each time a test looks again while it waits: the call budget lets sync call
only once bookings have been quiet for a second (integrations.budget.BUSY_GAP), by the clock."""
_clock: list = []


@pytest.fixture(autouse=True)
def moving_clock(clock):
    _clock[:] = [clock]
    yield
    _clock.clear()


def tick() -> None:
    _clock[0].advance(seconds=TICK)


@pytest.fixture
def sandbox(clock) -> Iterator[ExactOnlineSandbox]:
    # Pacing at 60 a minute has its own test with a clock that moves (test_sync_budget.py); here the
    # order of calls is under test, so the limits are out of the way.
    sandbox = ExactOnlineSandbox(demo_scenario(), clock=clock, seed=5,
                                 faults=Faults(minutely_limit=1_000_000, daily_limit=100_000_000)).start()
    yield sandbox
    statuses = httpx.get(f"{sandbox.url}/_sandbox/traffic").json()["statuses"]
    sandbox.stop()
    assert "429" not in statuses, "the sync must never cause a 429"


@pytest.fixture
def sync_enabled() -> bool:
    return True


@pytest.fixture
def settings(tmp_path, sandbox, monkeypatch, sync_enabled) -> Settings:
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENTS.replace("[sync]", f"[sync]\nenabled = {str(sync_enabled).lower()}"))
    monkeypatch.setenv("STATUSPAGE_EXACT_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "sync.db"),
                                        "STATUSPAGE_EXACT_BASE_URL": sandbox.url,
                                        "STATUSPAGE_EXACT_CLIENT_ID": SANDBOX_CLIENT_ID})


def connect_all(client: TestClient, sandbox: ExactOnlineSandbox) -> None:
    link = client.app.state.links["exact-online"]
    for environment, username in CONNECTION_USERS.items():
        client.blocking_portal.call(link.connect, environment, sandbox_code(sandbox, link.redirect_uri, username), "test")


@pytest.fixture
def connected(client, sandbox, tokens) -> TestClient:
    connect_all(client, sandbox)
    return client


def traffic(sandbox: ExactOnlineSandbox) -> list[dict[str, Any]]:
    return control(sandbox, "traffic")["exchanges"]


def ask(client: TestClient, token: str = "operator", **task: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/sync-tasks", json=task, headers=header(token))
    assert answer.status_code == 202, answer.text
    return answer.json()


def header(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def task_of(client: TestClient, task_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/sync-tasks/{task_id}", headers=header("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def settled_task(client: TestClient, task_id: int, *states: str) -> dict[str, Any]:
    """The task once it is in one of `states` (default: finished), the test's clock ticking while it waits."""
    wanted = states or ("done", "failed")
    return wait_for(lambda: (task := task_of(client, task_id))["state"] in wanted and task,
                    f"task {task_id} in {wanted}", WAIT_SECONDS, tick)


def feed(client: TestClient, environment: str, administration: str, entity: str, after: int = 0) -> list[dict]:
    rows: list[dict] = []
    while True:
        answer = client.get(f"/api/v1/sync/{environment}/{administration}/{entity}?after={after}&limit=1000",
                            headers=header("client"))
        assert answer.status_code == 200, answer.text
        page = answer.json()
        rows += page["rows"]
        after = page["next_after"]
        if not page["more"]:
            return rows


def book(key: str, administration: str = "201", environment: str = "jansen-groep") -> dict[str, Any]:
    return {"idempotency_key": key, "integration": "exact-online", "environment": environment,
            "administration": administration, "kind": "book",
            "payload": {"journal": "60", "supplier": "S001", "entry_date": "2026-11-20", "description": f"Invoice {key}",
                        "lines": [{"gl_account": "4000", "amount": 121.0, "vat_code": "2"}]}}


# ---------------------------------------------------------------------------------------------


def test_a_first_full_sync_mirrors_every_entity_exactly(connected, sandbox) -> None:
    client = connected
    task = settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="full")["id"])
    assert task["state"] == "done", task
    assert {run["entity"] for run in task["runs"]} == set(ENTITIES)
    for entity, size in DEMO_SIZES.items():
        mirrored = live(feed(client, "jansen-groep", "201", entity))
        assert len(mirrored) == size, entity
        assert {run["entity"]: run["inserted"] for run in task["runs"]}[entity] == size
    accounts = live(feed(client, "jansen-groep", "201", "accounts"))
    for index in range(DEMO_SIZES["accounts"]):
        exact = control(sandbox, f"data/201/accounts/{index}")
        mine = accounts[exact["ID"]]
        assert (mine["code"], mine["name"], mine["is_customer"], mine["is_supplier"], mine["vat_number"]) == (
            exact["Code"].strip(), exact["Name"], exact["IsSales"], exact["IsSupplier"], exact["VATNumber"])
    calls = [x for x in traffic(sandbox) if x["endpoint"].startswith(("sync/", "hrm/", "cashflow/"))]
    assert len(calls) == sum(run["calls"] for run in task["runs"]) == len(ENTITIES), "one page each, nothing more"


def test_changes_and_deletions_arrive_through_an_incremental_sync_and_the_change_feed(connected, sandbox, clock
                                                                                   ) -> None:
    client = connected
    settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="full")["id"])
    before = {entity: feed(client, "jansen-groep", "201", entity) for entity in ("accounts", "cost_centers")}
    cursor = {entity: rows[-1]["seq"] for entity, rows in before.items()}
    clock.advance(minutes=1)  # a change in Exact takes the time of the change as its Modified
    renamed = control(sandbox, "data/201/accounts/7", {"set": {"Name": "Bakkerij Nieuw"}})
    gone = control(sandbox, "data/201/accounts/3")
    control(sandbox, "data/201/accounts/3", {"delete": True})
    centre = control(sandbox, "data/201/cost_centers/2", {"set": {"Description": "Werkplaats"}})
    task = settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="incremental")["id"])
    assert task["state"] == "done", task
    changes = feed(client, "jansen-groep", "201", "accounts", after=cursor["accounts"])
    assert [(row["key"], row["deleted"]) for row in changes] == [(renamed["ID"], False), (gone["ID"], True)]
    assert changes[0]["content"]["name"] == "Bakkerij Nieuw"
    assert changes[1]["deleted_at"] is not None and changes[1]["content"]["code"], "a tombstone keeps the row"
    [centre_change] = feed(client, "jansen-groep", "201", "cost_centers", after=cursor["cost_centers"])
    assert (centre_change["key"], centre_change["content"]["description"]) == (centre["ID"], "Werkplaats")
    runs = {run["entity"]: run for run in task["runs"]}
    assert (runs["accounts"]["changed"], runs["accounts"]["deleted"], runs["accounts"]["inserted"]) == (1, 1, 0)
    assert runs["deleted"]["state"] == "done"
    # nothing else changed: the invoice product's copy equals the sandbox's rows
    assert len(live(feed(client, "jansen-groep", "201", "accounts"))) == DEMO_SIZES["accounts"] - 1


def test_a_hard_delete_is_caught_by_the_next_full_sync(connected, sandbox) -> None:
    client = connected
    settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="full",
                         entities=["accounts"])["id"])
    gone = control(sandbox, "data/201/accounts/5")
    control(sandbox, "data/201/accounts/5", {"delete": True, "hard": True})
    incremental = settled_task(client, ask(client, environment="jansen-groep", administration="201",
                                       kind="incremental", entities=["accounts"])["id"])
    assert gone["ID"] in live(feed(client, "jansen-groep", "201", "accounts")), "the Deleted feed did not say"
    assert {run["entity"]: run["deleted"] for run in incremental["runs"]}["accounts"] == 0
    full = settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="full",
                                entities=["accounts"])["id"])
    assert full["runs"][0]["deleted"] == 1
    [tombstone] = [row for row in feed(client, "jansen-groep", "201", "accounts") if row["deleted"]]
    assert tombstone["key"] == gone["ID"]


def test_a_full_sync_killed_halfway_leaves_the_mirror_intact_and_the_next_one_completes(
    settings, clock, sandbox, tokens
) -> None:
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        connect_all(client, sandbox)
        settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="full",
                             entities=["accounts"])["id"])
        before = feed(client, "jansen-groep", "201", "accounts")
        control(sandbox, "data/201", {"accounts": 3000})
        control(sandbox, "faults", {"latency_ms": 15})
        task_id = ask(client, environment="jansen-groep", administration="201", kind="full", entities=["accounts"])["id"]
        wait_for(lambda: any(run["calls"] >= 5 for run in task_of(client, task_id)["runs"]), "five pages read",
                 tick=tick)
    # The service stopped mid-read (its background work cancelled, as at a shutdown or a crash).
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        assert feed(client, "jansen-groep", "201", "accounts") == before, "the mirror is as it was"
        control(sandbox, "faults", {"latency_ms": 0})
        task = settled_task(client, task_id)
        assert task["state"] == "done", task
        accounts = live(feed(client, "jansen-groep", "201", "accounts"))
        assert len(accounts) == 3000
        assert task["runs"][-1]["calls"] == 30


def test_a_failed_full_sync_leaves_the_mirror_as_it_was(connected, sandbox) -> None:
    client = connected
    settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="full",
                         entities=["accounts"])["id"])
    before = feed(client, "jansen-groep", "201", "accounts")
    control(sandbox, "data/201", {"accounts": 500})
    control(sandbox, "faults", {"fail_next": 1000, "fail_status": 500})
    task = settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="full",
                                entities=["accounts"])["id"])
    control(sandbox, "faults", {"fail_next": 0})
    assert task["state"] == "failed"
    assert "Exact Online" in task["runs"][0]["error"]
    assert feed(client, "jansen-groep", "201", "accounts") == before


def test_a_scan_book_archive_environment_makes_no_payment_calls(connected, sandbox) -> None:
    client = connected
    task = settled_task(client, ask(client, environment="bakkerij-de-vries", kind="full")["id"])
    assert task["state"] == "done", task
    assert "payments" not in {run["entity"] for run in task["runs"]}
    assert not [x for x in traffic(sandbox) if x["endpoint"] == "cashflow/Payments"]
    refused = client.post("/api/v1/sync-tasks", headers=header("operator"),
                          json={"environment": "bakkerij-de-vries", "kind": "full", "entities": ["payments"]})
    assert refused.status_code == 400 and "scan-book-archive" in refused.json()["detail"]


def test_an_administration_the_user_cannot_open_fails_in_plain_words_and_the_others_sync(connected) -> None:
    client = connected
    task = settled_task(client, ask(client, environment="jansen-groep", kind="incremental",
                                entities=["gl_accounts"])["id"])
    assert task["state"] == "failed"
    runs = {run["administration"]: run for run in task["runs"]}
    assert (runs["201"]["state"], runs["202"]["state"], runs["203"]["state"]) == ("done", "done", "failed")
    assert "cannot open administration 203" in runs["203"]["error"]


def test_a_booking_handed_in_during_a_large_sync_is_sent_before_the_syncs_next_page(connected, sandbox) -> None:
    client = connected
    control(sandbox, "data/201", {"accounts": 5000})
    control(sandbox, "faults", {"latency_ms": 10})
    task_id = ask(client, environment="jansen-groep", administration="201", kind="full", entities=["accounts"])["id"]
    wait_for(lambda: task_of(client, task_id)["runs"] and task_of(client, task_id)["runs"][0]["calls"] >= 3,
             "three pages read", tick=tick)
    pages_then = len([x for x in traffic(sandbox) if x["endpoint"] == "sync/CRM/Accounts"])
    handed_in = client.post("/api/v1/actions", json=book("INV-SYNC-1"), headers=header("client"))
    assert handed_in.status_code == 201
    task = settled_task(client, task_id)
    control(sandbox, "faults", {"latency_ms": 0})
    assert task["state"] == "done"
    exchanges = traffic(sandbox)
    booked = next(i for i, x in enumerate(exchanges) if x["method"] == "POST" and x["division"] == 201)
    pages_before_booking = len([x for x in exchanges[:booked] if x["endpoint"] == "sync/CRM/Accounts"])
    assert pages_before_booking <= pages_then + 1, "at most the page in flight went before the booking"
    assert pages_before_booking < 50, "the booking did not wait for the sync to end"
    action = client.get(f"/api/v1/actions/{handed_in.json()['id']}", headers=header("client")).json()
    assert action["state"] == "done"


def test_the_kill_switch_pauses_sync_and_it_resumes_after_the_replay(connected, sandbox) -> None:
    client = connected
    control(sandbox, "data/201", {"accounts": 3000})
    control(sandbox, "faults", {"latency_ms": 10})
    task_id = ask(client, environment="jansen-groep", administration="201", kind="full", entities=["accounts"])["id"]
    wait_for(lambda: task_of(client, task_id)["runs"] and task_of(client, task_id)["runs"][0]["calls"] >= 2,
             "two pages read", tick=tick)
    off = client.put("/api/v1/integrations/exact-online/switch", headers=header("operator"),
                     json={"enabled": False, "reason": "wrong bookings"})
    assert off.status_code == 200
    paused = settled_task(client, task_id, "paused_by_switch")
    assert paused["runs"][0]["state"] == "paused_by_switch"
    calls_paused = paused["runs"][0]["calls"]
    handed_in = client.post("/api/v1/actions", json=book("INV-HELD-1"), headers=header("client")).json()
    assert handed_in["state"] == "delayed"
    time.sleep(0.3)
    assert task_of(client, task_id)["runs"][0]["calls"] <= calls_paused + 1, "no page while switched off"
    pages_paused = len([x for x in traffic(sandbox) if x["endpoint"] == "sync/CRM/Accounts"])
    on = client.put("/api/v1/integrations/exact-online/switch", headers=header("operator"),
                    json={"enabled": True, "reason": "fixed"})
    assert on.status_code == 200
    task = settled_task(client, task_id)
    control(sandbox, "faults", {"latency_ms": 0})
    assert task["state"] == "done"
    exchanges = traffic(sandbox)
    booked = next(i for i, x in enumerate(exchanges) if x["method"] == "POST" and x["division"] == 201)
    assert len([x for x in exchanges[:booked] if x["endpoint"] == "sync/CRM/Accounts"]) == pages_paused, \
        "the replayed booking went before the sync's next page"
    assert len(live(feed(client, "jansen-groep", "201", "accounts"))) == 3000


@pytest.mark.parametrize("sync_enabled", [False])
def test_the_same_manual_task_asked_twice_while_queued_is_one_task(connected) -> None:
    client = connected
    first = ask(client, environment="jansen-groep", administration="201", kind="full")
    second = ask(client, environment="jansen-groep", administration="201", kind="full")
    other = ask(client, environment="jansen-groep", administration="201", kind="incremental")
    by_client = ask(client, token="client", environment="jansen-groep", administration="201", kind="full")
    assert first["id"] == second["id"] == by_client["id"] != other["id"]
    assert first["state"] == "queued"
    client.blocking_portal.call(client.app.state.sync.settle)
    assert task_of(client, first["id"])["state"] == "done"
    again = ask(client, environment="jansen-groep", administration="201", kind="full")
    assert again["id"] != first["id"], "once it ran, asking again is a new task"


@pytest.mark.parametrize("sync_enabled", [False])
def test_a_booking_refreshes_its_entry_and_relation_on_send(connected, sandbox, clock) -> None:
    client = connected
    engine = client.app.state.sync
    client.blocking_portal.call(engine.plan)  # the engine starts watching bookings from here
    client.post("/api/v1/sync-tasks", json={"environment": "jansen-groep", "administration": "201",
                                            "kind": "full"}, headers=header("operator"))
    client.blocking_portal.call(engine.settle)
    after = feed(client, "jansen-groep", "201", "transaction_lines")[-1]["seq"]
    action_id = client.post("/api/v1/actions", json=book("INV-ON-SEND"), headers=header("client")).json()["id"]
    client.blocking_portal.call(client.app.state.dispatcher.settle)
    action = client.get(f"/api/v1/actions/{action_id}", headers=header("client")).json()
    clock.advance(seconds=2)  # bookings quiet for a moment: sync may call (integrations.budget.BUSY_GAP)
    client.blocking_portal.call(engine.settle)
    [task] = [t for t in client.get("/api/v1/sync/runs", headers=header("viewer")).json()["tasks"]
              if t["trigger"] == "on_send"]
    assert (task["administration"], task["entities"], task["state"]) == ("201", ["accounts", "transaction_lines"],
                                                                         "done")
    lines = feed(client, "jansen-groep", "201", "transaction_lines", after=after)
    assert lines and {str(row["content"]["entry_number"]) for row in lines} == {action["entry_number"]}


def test_the_change_feed_is_for_the_invoice_product_and_checks_what_it_is_asked(connected) -> None:
    client = connected
    assert client.get("/api/v1/sync/jansen-groep/201/accounts", headers=header("viewer")).status_code == 403
    assert client.get("/api/v1/sync/jansen-groep/201/accounts").status_code == 401
    assert client.get("/api/v1/sync/nobody/201/accounts", headers=header("client")).status_code == 404
    assert client.get("/api/v1/sync/jansen-groep/999/accounts", headers=header("client")).status_code == 404
    assert client.get("/api/v1/sync/jansen-groep/201/ledgers", headers=header("client")).status_code == 400
    assert client.get("/api/v1/sync/jansen-groep/201/accounts?limit=0", headers=header("client")).status_code == 400
    empty = client.get("/api/v1/sync/jansen-groep/201/accounts?after=5", headers=header("client")).json()
    # Nothing was synced yet: the feed says so, so an empty page is not read as an empty administration.
    assert empty == {"rows": [], "next_after": 5, "more": False, "synced_at": None, "last_error": None}


def test_monitoring_shows_state_counts_calls_and_the_schedule(connected) -> None:
    client = connected
    settled_task(client, ask(client, environment="jansen-groep", administration="201", kind="full")["id"])
    overview = client.get("/api/v1/sync/runs", headers=header("viewer")).json()
    jansen = next(e for e in overview["environments"] if e["key"] == "jansen-groep")
    assert 1 <= jansen["full_sync_day"] <= 28 and jansen["nightly_window"] == "01:00-06:00"
    # 09:30 UTC on 23 November is 10:30 in Amsterdam: the next window opens at 01:00 on the 24th.
    assert jansen["next_nightly"] == "2026-11-24T01:00:00+01:00"
    accounts = next(r for r in jansen["runs"] if r["entity"] == "accounts")
    assert (accounts["state"], accounts["inserted"], accounts["calls"]) == ("done", 25, 1)
    assert accounts["last_success"] is not None
    admin = next(a for a in jansen["administrations"] if a["code"] == "201")
    assert admin["daily_limit"] == 100_000_000 and admin["calls_left_today"] < admin["daily_limit"]
    page = client.get("/console/sync")
    assert page.status_code in (200, 302, 303, 307)


@pytest.mark.parametrize("sync_enabled", [False])
def test_the_nightly_run_is_queued_once_inside_the_window_and_full_on_the_drawn_day(connected, clock) -> None:
    client = connected
    engine = client.app.state.sync

    def tasks() -> list[dict]:
        return client.get("/api/v1/sync/runs", headers=header("viewer")).json()["tasks"]

    client.blocking_portal.call(engine.plan)
    assert tasks() == [], "10:30 in Amsterdam is outside the window"
    day = client.get("/api/v1/sync/runs", headers=header("viewer")).json()["environments"][1]["full_sync_day"]
    other = day % 28 + 1
    clock.now = datetime(2026, 12, other, 0, 30, tzinfo=UTC)  # 01:30 in Amsterdam
    client.blocking_portal.call(engine.plan)
    client.blocking_portal.call(engine.plan)
    [nightly] = [t for t in tasks() if t["environment"] == "jansen-groep"]
    assert (nightly["kind"], nightly["trigger"]) == ("incremental", "nightly")
    assert nightly["administration"] is None and nightly["entities"] is None
    client.blocking_portal.call(engine.settle)
    clock.now = datetime(2026, 12, day, 0, 30, tzinfo=UTC)
    client.blocking_portal.call(engine.plan)
    monthly = [t for t in tasks() if t["environment"] == "jansen-groep" and t["trigger"] == "monthly"]
    assert [(t["kind"], t["state"]) for t in monthly] == [("full", "queued")]
    after = client.get("/api/v1/sync/runs", headers=header("viewer")).json()["environments"][1]["full_sync_day"]
    assert after == day, "the month's day is drawn once and kept"


def test_an_id_or_cursor_beyond_sqlites_integers_is_a_400_not_a_500(connected) -> None:
    too_big = 2**63  # SQLite's integers end at 2^63 - 1: passed on, the query would overflow
    task = connected.get(f"/api/v1/sync-tasks/{too_big}", headers=header("viewer"))
    rows = connected.get(f"/api/v1/sync/jansen-groep/201/accounts?after={too_big}", headers=header("client"))
    for answer in (task, rows):
        assert answer.status_code == 400, answer.text
        assert "<= 9223372036854775807" in answer.text  # says what to fix
