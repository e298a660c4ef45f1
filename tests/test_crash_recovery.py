"""A service killed at any moment (SIGKILL, mid-replay) restarts with nothing lost and nothing booked twice."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import msgspec
import pytest
from conftest import TEST_CONFIG, free_port
from test_outbox import DEMO_ENVIRONMENTS, book, sandbox_code

from integrations.exact_online.oauth import OAuthApp, exchange_code
from integrations.exact_online.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Faults,
    demo_scenario,
)
from statuspage.actions import outbox, switches
from statuspage.actions.connections import callback_path
from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.operation import Actor
from statuspage.incidents import operations
from statuspage.page.snapshot import component_definitions

EXACT_ONLINE = "exact-online"
ACTIONS = 150
OPERATOR = {"Authorization": "Bearer sp_crash-operator"}


@pytest.fixture
def sandbox():
    # Slow enough that the replay is surely under way when the service is killed.
    sandbox = ExactOnlineSandbox(demo_scenario(), seed=3,
                                 faults=Faults(latency_ms=15, minutely_limit=1_000_000, daily_limit=100_000_000)).start()
    yield sandbox
    sandbox.stop()


def seed_service(tmp_path, sandbox, port: int):
    """A database with tokens, a connection made at the sandbox, and a backlog delayed by the switch."""
    config = tmp_path / "statuspage.toml"
    config.write_text(TEST_CONFIG + DEMO_ENVIRONMENTS)
    environ = {"STATUSPAGE_DB": str(tmp_path / "crash.db"), "STATUSPAGE_EXACT_BASE_URL": sandbox.url,
               "STATUSPAGE_EXACT_CLIENT_ID": SANDBOX_CLIENT_ID, "STATUSPAGE_PAGE_URL": f"http://127.0.0.1:{port}",
               "STATUSPAGE_PORT": str(port), "STATUSPAGE_CONFIG": str(config)}
    settings = load_settings(config, environ=environ)
    app = OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET,
                   redirect_uri=settings.page.url + callback_path(EXACT_ONLINE), base_url=sandbox.url)

    async def tokens():
        async with httpx.AsyncClient() as http:
            return await exchange_code(app, sandbox_code(sandbox, app.redirect_uri, "j.devries"), http=http,
                                       clock=lambda: datetime.now(UTC))

    issued = asyncio.run(tokens())
    now = datetime.now(UTC)
    db = storage.open_database(settings.database.path)
    with storage.write_transaction(db):
        storage.sync_components(db, component_definitions(settings), now)
        actor = Actor("test")
        operations.create_token(db, settings, actor, now, "crash-operator", "operator", "sp_crash-operator")
        connection = storage.connection_id(db, "bakkerij-de-vries", EXACT_ONLINE)
        storage.save_connection_tokens(db, connection, msgspec.json.encode(issued).decode())
        switches.switch(db, settings, actor, now, integration="exact-online", environment=None, enabled=False,
                      reason="hold the backlog")
        for n in range(ACTIONS):
            request = msgspec.convert(book(f"CRASH-{n}", administration=("101", "102")[n % 2]), outbox.ActionRequest)
            outbox.accept(db, settings, "invoice-product", now, request)
    db.close()
    return environ


def start(environ) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "statuspage", "serve"], env=os.environ | environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def wait_for(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def booked(sandbox) -> list[str]:
    return [entry["your_ref"] for entry in httpx.get(f"{sandbox.url}/_sandbox/ledger").json()["entries"]]


def test_a_service_killed_mid_replay_restarts_without_loss_or_double_booking(tmp_path, sandbox) -> None:
    port = free_port()
    environ = seed_service(tmp_path, sandbox, port)
    base = f"http://127.0.0.1:{port}"
    service = start(environ)
    try:
        wait_for(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200, "the service")
        on = httpx.put(f"{base}/api/v1/integrations/exact-online/switch", headers=OPERATOR,
                       json={"enabled": True, "reason": "replay"})
        assert on.json()["actions_moved"] == ACTIONS
        wait_for(lambda: len(booked(sandbox)) >= ACTIONS // 3, "a third of the replay")
        os.killpg(service.pid, signal.SIGKILL)
        service.wait()
        at_kill = len(booked(sandbox))
        assert at_kill < ACTIONS, "the replay finished before the kill; slow the sandbox down"

        service = start(environ)
        wait_for(lambda: len(booked(sandbox)) == ACTIONS and httpx.get(
            f"{base}/api/v1/integrations/exact-online/replay", headers=OPERATOR).json()["progress"]["left"] == 0,
            "the rest of the replay")
        refs = booked(sandbox)
        assert sorted(refs) == sorted(f"CRASH-{n}" for n in range(ACTIONS))  # nothing lost, nothing twice
        for division, parity in (("101", 0), ("102", 1)):
            entries = httpx.get(f"{sandbox.url}/_sandbox/ledger").json()["entries"]
            in_division = [ref for ref, entry in zip(refs, entries, strict=True)
                           if str(entry["division"]) == division]
            assert in_division == [f"CRASH-{n}" for n in range(ACTIONS) if n % 2 == parity]
    finally:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait()
