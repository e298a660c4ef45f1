"""Twinfield's master data into the mirror, through the service against the Twinfield sandbox over HTTP (issue 14):
dimensions read with the Finder, incrementally by `modifiedsince`, hidden dimensions as tombstones, every call
through the call budget after the bookings, and the sync-freshness probe judging Twinfield's environments.

The sandbox's generated data per office: 25 suppliers (`2000`-`2024`, and a hidden `2999`), 25 customers
(`1000`-`1024`), 5 balance-sheet and 4 profit-and-loss accounts, 5 cost centres, 3 projects. The service's clock
and the sandbox's are one `FakeClock`: nothing here waits on the wall clock except the bound of a poll."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import TEST_CONFIG, TOKENS, live, wait_for
from litestar.testing import TestClient
from twinfield_helpers import control
from twinfield_service_helpers import (  # noqa: F401 (fixtures)
    CONNECTION_USERS,
    TWINFIELD_ENVIRONMENTS,
    book,
    sandbox_code,
    service_sandbox_fixture,
    switch,
)

from integrations.twinfield.sandbox import SANDBOX_CLIENT_SECRET, TwinfieldSandbox
from integrations.twinfield.sync import DIMENSION_ENTITIES
from statuspage.app import create_app
from statuspage.config import load_settings

SIZES = {"suppliers": 25, "customers": 25, "gl_accounts": 9, "cost_centers": 5, "projects": 3}
TYPES = {"suppliers": ("CRD",), "customers": ("DEB",), "gl_accounts": ("BAS", "PNL"), "cost_centers": ("KPL",),
         "projects": ("PRJ",)}
WAIT_SECONDS = 60
SYNC_PROBE = """
[sync]
enabled = {enabled}
poll_seconds = 0.05
page_size = 10

[[probes]]
key = "twinfield-sync"
kind = "sync"
integration = "twinfield"
due_by = "07:00"
interval = 3600
conditions = ["[LATE] == 0", "[NEVER] == 0"]
"""


@pytest.fixture
def sync_enabled() -> bool:
    return False


@pytest.fixture
def settings(tmp_path, sandbox, monkeypatch, sync_enabled):
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + TWINFIELD_ENVIRONMENTS + SYNC_PROBE.format(enabled=str(sync_enabled).lower())
                    + f'\n[integrations.twinfield]\nbase_url = "{sandbox.url}"\n')
    monkeypatch.setenv("STATUSPAGE_TWINFIELD_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "twinfield-sync.db")})


def connect_all(client: TestClient, sandbox: TwinfieldSandbox) -> None:
    link = client.app.state.links["twinfield"]
    for environment, user in CONNECTION_USERS.items():
        client.blocking_portal.call(link.connect, environment, sandbox_code(sandbox, link.redirect_uri, user), "test")


@pytest.fixture
def client(settings, sandbox, clock, tokens):
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as test_client:
        connect_all(test_client, sandbox)
        yield test_client


def header(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def ask(client: TestClient, **task: Any) -> int:
    answer = client.post("/api/v1/sync-tasks", json=task, headers=header("operator"))
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def task_of(client: TestClient, task_id: int) -> dict[str, Any]:
    return client.get(f"/api/v1/sync-tasks/{task_id}", headers=header("viewer")).json()


def settle(client: TestClient, task_id: int) -> dict[str, Any]:
    client.blocking_portal.call(client.app.state.sync.settle)
    return task_of(client, task_id)


def feed(client: TestClient, office: str, entity: str, after: int = 0,
         environment: str = "jansen-twinfield") -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/sync/{environment}/{office}/{entity}?after={after}&limit=1000",
                        headers=header("client"))
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"]


def sandbox_dimensions(sandbox: TwinfieldSandbox, office: str, entity: str) -> dict[str, dict[str, Any]]:
    """What the sandbox holds of the entity's dimension types, hidden ones left out."""
    return {d["code"]: {"code": d["code"], "name": d["name"], "dimension_type": d["type"]}
            for kind in TYPES[entity] for d in control(sandbox, f"dimensions/{office}/{kind}") if not d["hidden"]}


def finder_calls(sandbox: TwinfieldSandbox) -> list[dict[str, Any]]:
    return [x for x in control(sandbox, "traffic")["exchanges"] if x["service"] == "Finder" and x["operation"] == "DIM"]


def test_a_first_full_sync_fills_the_mirror_with_every_visible_dimension(client, sandbox) -> None:
    task = settle(client, ask(client, environment="jansen-twinfield", administration="NLA201", kind="full"))
    assert task["state"] == "done", task
    assert {run["entity"] for run in task["runs"]} == set(DIMENSION_ENTITIES) == set(SIZES)
    for entity, size in SIZES.items():
        mirrored = live(feed(client, "NLA201", entity))
        assert len(mirrored) == size, entity
        assert mirrored == sandbox_dimensions(sandbox, "NLA201", entity), entity
    assert "2999" not in live(feed(client, "NLA201", "suppliers")), "a hidden supplier is not mirrored"
    runs = {run["entity"]: run for run in task["runs"]}
    # page_size 10: suppliers 3 pages, GL accounts one page of each type.
    assert (runs["suppliers"]["calls"], runs["gl_accounts"]["calls"], runs["projects"]["calls"]) == (3, 2, 1)
    assert len(finder_calls(sandbox)) == sum(run["calls"] for run in task["runs"]), "each call counted, none more"


def test_changed_added_and_hidden_dimensions_arrive_with_the_next_incremental_sync(client, sandbox, clock) -> None:
    settle(client, ask(client, environment="jansen-twinfield", administration="NLA201", kind="full"))
    after = {entity: feed(client, "NLA201", entity)[-1]["seq"] for entity in ("suppliers", "customers")}
    untouched = feed(client, "NLA202", "suppliers")
    clock.advance(minutes=10)
    control(sandbox, "dimensions/NLA201/CRD/2003", {"name": "Bakker Nieuw B.V."})
    control(sandbox, "dimensions/NLA201/CRD/2100", {"name": "Nieuwe Leverancier B.V."})
    gone = control(sandbox, "dimensions/NLA201/CRD/2005", {"hidden": True})
    control(sandbox, "dimensions/NLA201/DEB/1007", {"name": "Klant Hernoemd B.V."})
    calls_before = len(finder_calls(sandbox))

    task = settle(client, ask(client, environment="jansen-twinfield", administration="NLA201", kind="incremental"))
    assert task["state"] == "done", task
    changes = feed(client, "NLA201", "suppliers", after["suppliers"])
    assert sorted((row["key"], row["deleted"], row["content"]["name"]) for row in changes) == [
        ("2003", False, "Bakker Nieuw B.V."), ("2005", True, gone["name"]), ("2100", False, "Nieuwe Leverancier B.V.")]
    [customer] = feed(client, "NLA201", "customers", after["customers"])
    assert (customer["key"], customer["content"]["name"]) == ("1007", "Klant Hernoemd B.V.")
    runs = {run["entity"]: run for run in task["runs"]}
    assert (runs["suppliers"]["inserted"], runs["suppliers"]["changed"], runs["suppliers"]["deleted"]) == (1, 1, 1)
    assert "deleted" not in runs, "Twinfield has no deletion feed to read"
    assert len(finder_calls(sandbox)) - calls_before == sum(run["calls"] for run in task["runs"])
    assert live(feed(client, "NLA201", "suppliers")) == sandbox_dimensions(sandbox, "NLA201", "suppliers")
    assert feed(client, "NLA202", "suppliers") == untouched, "another office's mirror is not touched"

    # Nothing changed since: one Finder call a dimension type, except where the overlap (5 minutes before the last
    # read began) reads the last changes again; read again unchanged, they add nothing to the feed.
    clock.advance(minutes=10)
    seq = {entity: feed(client, "NLA201", entity)[-1]["seq"] for entity in SIZES}
    quiet = settle(client, ask(client, environment="jansen-twinfield", administration="NLA201", kind="incremental"))
    runs = {run["entity"]: run for run in quiet["runs"]}
    assert {entity: runs[entity]["calls"] for entity in SIZES} == {
        "suppliers": 2, "customers": 2, "gl_accounts": 2, "cost_centers": 1, "projects": 1}
    assert {entity: feed(client, "NLA201", entity)[-1]["seq"] for entity in SIZES} == seq

    # Shown again, the supplier comes back to life; a full sync agrees with the incremental ones.
    clock.advance(minutes=10)
    control(sandbox, "dimensions/NLA201/CRD/2005", {"hidden": False})
    settle(client, ask(client, environment="jansen-twinfield", administration="NLA201", kind="incremental",
                       entities=["suppliers"]))
    assert "2005" in live(feed(client, "NLA201", "suppliers"))
    full = settle(client, ask(client, environment="jansen-twinfield", administration="NLA201", kind="full",
                              entities=["suppliers"]))
    assert (full["runs"][0]["inserted"], full["runs"][0]["changed"], full["runs"][0]["deleted"]) == (0, 0, 0)


def test_an_office_the_connection_user_cannot_open_fails_in_plain_words(client) -> None:
    task = settle(client, ask(client, environment="jansen-twinfield", kind="incremental", entities=["projects"]))
    runs = {run["administration"]: run for run in task["runs"]}
    assert (task["state"], runs["NLA201"]["state"], runs["NLA202"]["state"], runs["NLA203"]["state"]) == (
        "failed", "done", "done", "failed")
    assert "cannot open administration NLA203" in runs["NLA203"]["error"]


@pytest.mark.parametrize("sync_enabled", [True])
def test_sync_waits_for_the_bookings_and_its_calls_pass_the_call_budget(client, sandbox, tokens, clock) -> None:
    switch(client, tokens, enabled=False)
    held = client.post("/api/v1/actions", json=book("TW-SYNC-1"), headers=tokens["client"]).json()
    assert held["state"] == "delayed"
    task_id = ask(client, environment="jansen-twinfield", administration="NLA201", kind="full")
    paused = settled_task(client, clock, task_id, "paused_by_switch")
    assert paused["runs"][0]["state"] == "paused_by_switch"
    assert finder_calls(sandbox) == [], "no Finder call while switched off"

    switch(client, tokens, enabled=True, reason="fixed")
    task = settled_task(client, clock, task_id, "done", "failed")
    assert task["state"] == "done", task
    exchanges = control(sandbox, "traffic")["exchanges"]
    booked = next(i for i, x in enumerate(exchanges) if x["service"] == "ProcessXml" and x["operation"] == "transaction")
    first_read = next(i for i, x in enumerate(exchanges) if x["service"] == "Finder" and x["operation"] == "DIM")
    assert booked < first_read, "the replayed booking went before the sync's first call"
    # The booking done, its suppliers and customers are read again (on send); then every sync call is counted.
    tasks = wait_for(lambda: all_settled(client), "every sync task settled", WAIT_SECONDS,
                     lambda: clock.advance(seconds=0.05))
    assert {(t["trigger"], t["state"]) for t in tasks} == {("manual", "done"), ("on_send", "done")}
    budgets = {(b["integration"], b["administration"]): b
               for b in client.get("/api/v1/budgets", headers=header("viewer")).json()}
    calls = budgets[("twinfield", "JANSEN")]["calls_today"]
    assert calls["sync"] == len(finder_calls(sandbox)) == sum(run["calls"] for t in tasks for run in t["runs"])
    assert calls["booking"] >= 1


def settled_task(client: TestClient, clock: Any, task_id: int, *states: str) -> dict[str, Any]:
    """The task once it is in one of `states`, the shared clock moving a little while it waits (sync calls only
    once bookings have been quiet for a second by the clock, integrations.budget.BUSY_GAP)."""
    return wait_for(lambda: (task := task_of(client, task_id))["state"] in states and task,
                    f"task {task_id} in {states}", WAIT_SECONDS, lambda: clock.advance(seconds=0.05))


def all_settled(client: TestClient) -> list[dict[str, Any]] | None:
    """Every recent task, once none is queued or under way (and a booking's refresh was asked)."""
    tasks = client.get("/api/v1/sync/runs", headers=header("viewer")).json()["tasks"]
    busy = any(t["state"] not in ("done", "failed") for t in tasks)
    return None if busy or not any(t["trigger"] == "on_send" for t in tasks) else tasks


def test_the_sync_freshness_probe_judges_twinfields_environments_by_their_own_syncs(settings, sandbox, clock,
                                                                                     tokens) -> None:
    clock.now = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 05:00 in Amsterdam, inside the nightly window
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        link = client.app.state.links["twinfield"]

        def connect(environment: str) -> None:
            code = sandbox_code(sandbox, link.redirect_uri, CONNECTION_USERS[environment])
            client.blocking_portal.call(link.connect, environment, code, "test")

        connect("devries-twinfield")
        prober = client.app.state.prober
        before = client.blocking_portal.call(prober.run, "twinfield-sync")
        assert before.detail == {"late": [], "never": ["jansen-twinfield", "devries-twinfield"]}

        assert settle(client, ask(client, environment="devries-twinfield", kind="full"))["state"] == "done"
        clock.now = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # 07:30: judged after the due time
        judged = client.blocking_portal.call(prober.run, "twinfield-sync")
        assert judged.detail == {"late": [], "never": ["jansen-twinfield"]}
        assert [r.description for r in judged.results] == ["[LATE] (0) == 0", "[NEVER] (1) == 0"]
        assert not judged.success

        connect("jansen-twinfield")
        failed = settle(client, ask(client, environment="jansen-twinfield", kind="full"))
        assert failed["state"] == "failed", "Petra Jansen cannot open NLA203"
        judged = client.blocking_portal.call(prober.run, "twinfield-sync")
        assert judged.detail == {"late": [], "never": []}, "all she can open was read: the rights check reports NLA203"
        assert judged.success
        assert live(feed(client, "NLA102", "suppliers", environment="devries-twinfield")), "the mirror was filled"
