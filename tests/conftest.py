from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from litestar.testing import TestClient

from statuspage.app import create_app
from statuspage.config import load_settings
from statuspage.core.operation import Actor
from statuspage.core.settings import Settings
from statuspage.core.storage import Store, open_database, sync_components, write_transaction
from statuspage.incidents.status_history import record_statuses_now
from statuspage.page.snapshot import component_definitions

T = TypeVar("T")

# A Monday in winter: Europe/Amsterdam is UTC+1 (CET).
WINTER_MORNING = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

TEST_CONFIG = """
# Tests send the outbox when they say so, so that what was sent is never a matter of timing.
[notifications]
send_every_seconds = 3600
# The tests' receivers listen on 127.0.0.1: allowed here on purpose (refused by default).
allow_private_targets = true

[page]
id = "test-page"
name = "Test status"
url = "https://status.example.test"
time_zone = "Europe/Amsterdam"
language = "nl"

[[groups]]
key = "integrations"
name = { en = "Accounting integrations", nl = "Koppelingen" }

[[components]]
key = "exact-online"
group = "integrations"
name = "Exact Online"
description = { en = "Booking with Exact Online", nl = "Boeken in Exact Online" }

[[components]]
key = "twinfield"
group = "integrations"
name = "Twinfield"

[[components]]
key = "login"
name = { en = "Login", nl = "Inloggen" }
"""


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WINTER_MORNING)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG)
    return path


@pytest.fixture
def settings(tmp_path: Path, config_file: Path) -> Settings:
    return load_settings(config_file, environ={}, overrides={("database", "path"): str(tmp_path / "status.db")})


@dataclass
class Seeder:
    """Writes page state straight into the SQLite file, as operators' tools will."""

    settings: Settings
    clock: FakeClock

    def __call__(self, work, *args, **kwargs):
        db = open_database(self.settings.database.path)
        try:
            with write_transaction(db):
                sync_components(db, component_definitions(self.settings), self.clock())
                result = work(db, *args, **kwargs)
                record_statuses_now(db, self.settings, self.clock())
            return result
        finally:
            db.close()


@pytest.fixture
def seed(settings: Settings, clock: FakeClock) -> Seeder:
    return Seeder(settings, clock)


@pytest.fixture
def client(settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    # Visitors reach the page at its configured address, over TLS.
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as test_client:
        yield test_client


def notice_writes(client: TestClient) -> None:
    """Have the running app look for writes made by others now, instead of within a second."""
    store: Store = client.app.state.pages.store
    client.blocking_portal.call(store.notice_external_changes)


def run_statuspage(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the `statuspage` command to its end, in a session of its own; one that runs on past `timeout` (it
    serves, say, where it should have refused) is killed with every process it started, and fails the test."""
    process = subprocess.Popen([sys.executable, "-m", "statuspage", *args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"statuspage {' '.join(args)} did not end within {timeout} s") from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def settle(client: TestClient) -> None:
    """Let the app's dispatcher send everything it may send now, then return."""
    client.blocking_portal.call(client.app.state.dispatcher.settle)


def states(client: TestClient, tokens: dict[str, dict[str, str]]) -> dict[str, int]:
    """How many actions are in each state, over every page of GET /api/v1/actions."""
    counts: dict[str, int] = {}
    after = 0
    while True:
        page = client.get(f"/api/v1/actions?after_id={after}&limit=1000", headers=tokens["viewer"]).json()
        for action in page["actions"]:
            counts[action["state"]] = counts.get(action["state"], 0) + 1
        if page["next_after_id"] is None:
            return counts
        after = page["next_after_id"]


def live(rows: list[dict]) -> dict[str, dict]:
    """The copy the invoice product keeps: the feed applied in order."""
    copy: dict[str, dict] = {}
    for row in rows:
        if row["deleted"]:
            copy.pop(row["key"], None)
        else:
            copy[row["key"]] = row["content"]
    return copy


def wait_for(check: Callable[[], T], what: str, seconds: float = 60, tick: Callable[[], object] = lambda: None) -> T:
    """Poll `check` until it answers something true, and return that answer. A refused connection, or a file
    not there (yet), counts as not yet. `tick` runs between polls: a test that moves its clock on there makes
    the work due by that clock come due while it waits.

    The wall clock bounds the wait only: it is never the thing a test asserts. Raises AssertionError naming
    `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if answer := check():
                return answer
        except (httpx.TransportError, OSError):
            pass
        tick()
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class BadDay:
    outage: str
    yesterday: str
    active_maintenance: str
    upcoming_maintenance: str


def seed_bad_day(seed: Seeder, clock: FakeClock) -> BadDay:
    """The morning of an Exact Online outage, with some history and maintenance around it."""
    from statuspage.core.storage import add_incident_update, create_incident

    now = clock()

    def work(db):
        yesterday = create_incident(
            db, kind="incident", name="Slow text recognition", status="investigating", impact="minor",
            body="Documents take longer than usual.", now=now - timedelta(days=1),
            components={"twinfield": "degraded_performance"},
        )
        add_incident_update(db, yesterday, status="resolved", body="Back to normal.", now=now - timedelta(hours=20),
                            components={"twinfield": "operational"})
        outage = create_incident(
            db, kind="incident", name="Bookings to Exact Online are paused", status="investigating", impact="major",
            body="Invoices are booked into the wrong administration.\nWe are looking into it.",
            now=now - timedelta(hours=2), components={"exact-online": "partial_outage"},
        )
        add_incident_update(db, outage, status="identified", body="The integration is switched off.",
                            now=now - timedelta(minutes=30), components={"exact-online": "major_outage"})
        active = create_incident(
            db, kind="maintenance", name="Login upgrade", status="scheduled", impact="maintenance",
            body="We upgrade the login service.", now=now - timedelta(days=2), components={"login": "under_maintenance"},
            scheduled_for=now - timedelta(minutes=10), scheduled_until=now + timedelta(hours=1),
        )
        upcoming = create_incident(
            db, kind="maintenance", name="Database move", status="scheduled", impact="maintenance",
            body="A short interruption.", now=now - timedelta(days=1), components={"twinfield": "under_maintenance"},
            scheduled_for=now + timedelta(days=2), scheduled_until=now + timedelta(days=2, hours=2),
        )
        return BadDay(outage, yesterday, active, upcoming)

    return seed(work)


TOKENS = {"viewer": "sp_viewer-token", "operator": "sp_operator-token", "admin": "sp_admin-token", "client": "sp_client-token"}


@pytest.fixture
def tokens(seed) -> dict[str, dict[str, str]]:
    """One token per role, as request headers: tokens['operator'] == {'Authorization': 'Bearer ...'}."""
    from statuspage.incidents import operations

    for role, token in TOKENS.items():
        seed(lambda db, role=role, token=token: operations.create_token(
            db, seed.settings, Actor("test-setup"), seed.clock(), f"{role}-person", role, token))
    return {role: {"Authorization": f"Bearer {token}"} for role, token in TOKENS.items()}


@pytest.fixture
def bad_day(seed, clock) -> BadDay:
    return seed_bad_day(seed, clock)
