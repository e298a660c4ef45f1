"""A real `statuspage serve` killed (SIGKILL) mid-replay into Twinfield restarts with nothing lost and nothing
booked twice (the Twinfield twin of tests/test_crash_recovery.py)."""

import asyncio
import os
import signal
from datetime import UTC, datetime

import httpx
import msgspec
import pytest
from conftest import TEST_CONFIG, free_port
from test_crash_recovery import start, wait_for
from test_twinfield_service import TWINFIELD_ENVIRONMENTS, book, sandbox_code, twinfield_settings

from integrations.twinfield.oauth import OAuthApp, exchange_code
from integrations.twinfield.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Faults, TwinfieldSandbox, demo_scenario
from statuspage.actions import outbox, switches
from statuspage.actions.connections import callback_path
from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.operation import Actor
from statuspage.incidents import operations
from statuspage.page.snapshot import component_definitions

TWINFIELD = "twinfield"
ACTIONS = 120
OPERATOR = {"Authorization": "Bearer sp_crash-operator"}


@pytest.fixture
def sandbox():
    # Slow enough that the replay is surely under way when the service is killed.
    sandbox = TwinfieldSandbox(demo_scenario(), seed=3, faults=Faults(latency_ms=15, credits_per_minute=1_000_000)).start()
    yield sandbox
    sandbox.stop()


def seed_service(tmp_path, sandbox, port: int) -> dict[str, str]:
    config = tmp_path / "statuspage.toml"
    config.write_text(TEST_CONFIG + TWINFIELD_ENVIRONMENTS + twinfield_settings(sandbox.url)
                      .replace("read_timeout = 0.5", "read_timeout = 5"))
    environ = {"STATUSPAGE_DB": str(tmp_path / "crash.db"), "STATUSPAGE_PAGE_URL": f"http://127.0.0.1:{port}",
               "STATUSPAGE_PORT": str(port), "STATUSPAGE_CONFIG": str(config),
               "STATUSPAGE_TWINFIELD_CLIENT_SECRET": SANDBOX_CLIENT_SECRET}
    settings = load_settings(config, environ=environ)
    app = OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET,
                   redirect_uri=settings.page.url + callback_path(TWINFIELD), login_url=sandbox.url)

    async def tokens():
        async with httpx.AsyncClient() as http:
            return await exchange_code(app, sandbox_code(sandbox, app.redirect_uri, "PJANSEN"), http=http,
                                       clock=lambda: datetime.now(UTC))

    issued = asyncio.run(tokens())
    now = datetime.now(UTC)
    db = storage.open_database(settings.database.path)
    with storage.write_transaction(db):
        storage.sync_components(db, component_definitions(settings), now)
        actor = Actor("test")
        operations.create_token(db, settings, actor, now, "crash-operator", "operator", "sp_crash-operator")
        connection = storage.connection_id(db, "jansen-twinfield", TWINFIELD)
        storage.save_connection_tokens(db, connection, msgspec.json.encode(issued).decode())
        switches.switch(db, settings, actor, now, integration=TWINFIELD, environment=None, enabled=False,
                        reason="hold the backlog")
        for n in range(ACTIONS):
            request = msgspec.convert(book(f"CRASH-{n}", office=("NLA201", "NLA202")[n % 2]), outbox.ActionRequest)
            outbox.accept(db, settings, "invoice-product", now, request)
    db.close()
    return environ


def booked(sandbox) -> list[dict]:
    return httpx.get(f"{sandbox.url}/_sandbox/ledger").json()["transactions"]


def test_a_service_killed_mid_replay_into_twinfield_restarts_without_loss_or_double_booking(tmp_path, sandbox) -> None:
    port = free_port()
    environ = seed_service(tmp_path, sandbox, port)
    base = f"http://127.0.0.1:{port}"
    service = start(environ)
    try:
        wait_for(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200, "the service")
        on = httpx.put(f"{base}/api/v1/integrations/{TWINFIELD}/switch", headers=OPERATOR,
                       json={"enabled": True, "reason": "replay"})
        assert on.json()["actions_moved"] == ACTIONS
        wait_for(lambda: len(booked(sandbox)) >= ACTIONS // 3, "a third of the replay")
        os.killpg(service.pid, signal.SIGKILL)
        service.wait()
        assert len(booked(sandbox)) < ACTIONS, "the replay finished before the kill; slow the sandbox down"

        service = start(environ)
        wait_for(lambda: len(booked(sandbox)) == ACTIONS and httpx.get(
            f"{base}/api/v1/integrations/{TWINFIELD}/replay", headers=OPERATOR).json()["progress"]["left"] == 0,
            "the rest of the replay")
        transactions = booked(sandbox)
        assert sorted(t["invoice_number"] for t in transactions) == sorted(f"CRASH-{n}" for n in range(ACTIONS))
        for office, parity in (("NLA201", 0), ("NLA202", 1)):
            in_office = [t["invoice_number"] for t in transactions if t["office"] == office]
            assert in_office == [f"CRASH-{n}" for n in range(ACTIONS) if n % 2 == parity]  # in order, once each
    finally:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait()
