"""The demo `statuspage serve` runs out of the box: connected environments, a trickle of actions, a token."""

import msgspec
import pytest
from litestar.testing import TestClient

from statuspage.app import create_app
from statuspage.config import load_settings


@pytest.fixture
def announced(monkeypatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr("statuspage.demo.announce", lines.append)
    return lines


@pytest.fixture
def demo(tmp_path, clock, announced):
    settings = load_settings(None, environ={"STATUSPAGE_DB": str(tmp_path / "demo.db")})
    settings.demo.seconds_between_actions = 0.05
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        yield client


def test_the_demo_connects_the_sandbox_environments_and_hands_in_actions(demo, announced) -> None:
    import time

    from statuspage.core import storage

    store = demo.app.state.store
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        connections = demo.blocking_portal.call(store.read, storage.connections, "exact-online")
        actions = demo.blocking_portal.call(store.read, lambda db: db.execute("SELECT count(*) FROM actions").fetchone()[0])
        if len([c for c in connections if c.user_name]) == 3 and actions >= 3:
            break
        time.sleep(0.05)
    by_environment = {c.environment: c.user_name for c in connections}
    assert by_environment == {"bakkerij-de-vries": "j.devries", "jansen-groep": "p.jansen", "groen-hoveniers": "m.groen"}
    assert actions >= 3
    [banner] = announced
    lines = banner.strip("\n").splitlines()
    # Framed by rules, so that it stands out among the log lines around it.
    assert lines[0] == lines[-1] == "=" * max(map(len, lines[1:-1]))
    assert lines[1:3] == ["statuspage demo: sign in to the console", "  at     http://127.0.0.1:8080/console"]
    assert lines[3].startswith("  token  sp_")
    token = lines[3].split()[-1]
    assert demo.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["role"] == "operator"


def test_the_demo_syncs_master_data_on_start_and_a_change_in_the_sandbox_reaches_the_mirror(
    tmp_path, clock, announced, monkeypatch
) -> None:
    import time

    from statuspage.core import storage

    monkeypatch.setattr("statuspage.demo.CHANGE_EVERY_SECONDS", 0.3)
    settings = load_settings(None, environ={"STATUSPAGE_DB": str(tmp_path / "demo.db")})
    settings.demo.seconds_between_actions = 0.5
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        store = client.app.state.store

        def tasks() -> list[dict]:
            return client.blocking_portal.call(store.read, lambda db: [
                {**msgspec.structs.asdict(task), "runs": storage.sync_runs_of(db, task.id)}
                for task in storage.recent_sync_tasks(db, 100)])

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = tasks()
            full = [t for t in seen if t["kind"] == "full" and t["requested_by"] == "demo" and t["state"] == "done"
                    and t["environment"] == "bakkerij-de-vries"]
            changed = [t for t in seen if t["kind"] == "incremental" and t["requested_by"] == "demo"
                       and any(run["changed"] for run in t["runs"])]
            if full and changed:
                break
            clock.advance(seconds=0.5)  # the call budget lets sync call once bookings are quiet, by the clock
            time.sleep(0.1)
        assert full, "a full sync of a connected environment finished"
        assert changed, "a renamed relation arrived through an incremental sync"
        live, _ = client.blocking_portal.call(store.read, storage.mirror_counts, "bakkerij-de-vries", "101", "accounts")
        assert live >= 25  # the 25 generated relations, and any the demo added since


def test_the_demo_connects_what_its_sandbox_cannot_know() -> None:
    from datetime import UTC, datetime, timedelta

    from statuspage.core import storage
    from statuspage.demo import needs_connecting

    started = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    before, after = started - timedelta(seconds=1), started + timedelta(seconds=1)

    def connection(user_name: str | None, connected_at: datetime | None) -> storage.Connection:
        return storage.Connection(id=1, environment="jansen-groep", integration="exact-online", user_id=None,
                                  user_name=user_name, full_name=None, current_administration=None,
                                  connected_at=connected_at, connected_by=None, accessible=None, checked_at=None,
                                  refused_at=None, refused_reason=None)

    assert needs_connecting(None, started)  # never connected
    assert needs_connecting(connection(None, None), started)
    assert needs_connecting(connection("p.jansen", before), started)  # the sandbox is younger
    assert not needs_connecting(connection("p.jansen", after), started)
    assert needs_connecting(connection("p.jansen", after), None)  # no start known: fresh


def test_the_demo_mirrors_jansen_s_relations_into_the_visma_net_sandbox(tmp_path, clock, announced) -> None:
    import time

    import httpx

    settings = load_settings(None, environ={"STATUSPAGE_DB": str(tmp_path / "demo.db")})
    settings.demo.seconds_between_actions = 0.5
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        visma = client.app.state.links["visma-net"].base_url
        rule: dict = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if announced:  # the demo's operator token, once it is made
                token = announced[0].strip("\n").splitlines()[3].split()[-1]
                rule = client.get("/api/v1/mirrors/jansen-relations-to-visma",
                                  headers={"Authorization": f"Bearer {token}"}).json()
                if rule["inserted"] >= 25 and rule["waiting"] == 0:
                    break
            clock.advance(seconds=0.5)  # the call budget lets sync call once bookings are quiet, by the clock
            time.sleep(0.1)
        assert rule["last_run"]["trigger"] == "after_sync", rule
        customers = httpx.get(f"{visma}/_sandbox/companies/1896329/customers").json()
        references = [c["accountReference"] for c in customers if c["madeBy"] == "api" and c["accountReference"]]
        assert len(references) == len(set(references)) >= 25
        assert all(reference.startswith("EOL-") for reference in references)
        assert {c["name"] for c in customers if c["madeBy"] == "hand"} == {"Bakkerij De Korenschoof",
                                                                          "Gemeente Noorderveld"}
