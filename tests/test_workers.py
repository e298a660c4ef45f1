"""Several real processes on one database: `serve --workers 3` runs the background work exactly once.

Each test starts `statuspage serve --workers 3` on a free 127.0.0.1 port in its own session and kills
that whole session afterwards. The background work runs only in the holder of the lease
(statuspage/background.py); these tests count what it did in the database and at the sandbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import msgspec
import pytest
from conftest import TEST_CONFIG, free_port
from test_outbox import DEMO_ENVIRONMENTS, book, sandbox_code

from integrations.exact_online.oauth import OAuthApp, exchange_code
from integrations.exact_online.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, ExactOnlineSandbox, Faults, demo_scenario
from statuspage.actions import outbox, switches
from statuspage.actions.connections import callback_path
from statuspage.config import load_settings
from statuspage.core import lease, storage
from statuspage.core.operation import Actor
from statuspage.incidents import operations
from statuspage.page.snapshot import component_definitions

EXACT_ONLINE = "exact-online"
OPERATOR = {"Authorization": "Bearer sp_workers-operator"}
CLIENT = {"Authorization": "Bearer sp_workers-client"}
PROBE_INTERVAL = 2

EXTRA_CONFIG = f"""
[probing]
first_run_spread = 0

[[probes]]
key = "backlog"
kind = "backlog"
component = "exact-online"
interval = {PROBE_INTERVAL}
timeout = 1
"""


class Receiver:
    """A webhook receiver on a free port that writes down every delivery id it is sent."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                self.rfile.read(int(self.headers["Content-Length"]))
                received.append(self.headers["X-Statuspage-Delivery"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def seed(tmp_path, sandbox, port: int, *, backlog: int = 0, webhook: str | None = None) -> dict[str, str]:
    """A database with tokens, a connection at the sandbox, `backlog` actions held by the switch, and a
    webhook subscriber; returns the environment to start the service with."""
    config = tmp_path / "statuspage.toml"
    config.write_text(TEST_CONFIG.replace("send_every_seconds = 3600", "send_every_seconds = 1")
                      + DEMO_ENVIRONMENTS + EXTRA_CONFIG)
    environ = {"STATUSPAGE_DB": str(tmp_path / "workers.db"), "STATUSPAGE_EXACT_BASE_URL": sandbox.url,
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
        operations.create_token(db, settings, actor, now, "workers-operator", "operator", "sp_workers-operator")
        operations.create_token(db, settings, actor, now, "invoice-product", "client", "sp_workers-client")
        connection = storage.connection_id(db, "bakkerij-de-vries", EXACT_ONLINE)
        storage.save_connection_tokens(db, connection, msgspec.json.encode(issued).decode())
        if webhook:
            storage.insert_subscriber(db, kind="webhook", address=webhook, secret="s", components=None, now=now,
                                      confirmed=True)
        if backlog:
            switches.switch(db, settings, actor, now, integration="exact-online", environment=None, enabled=False,
                            reason="hold the backlog")
            for n in range(backlog):
                request = msgspec.convert(book(f"W-{n}", administration=("101", "102")[n % 2]), outbox.ActionRequest)
                outbox.accept(db, settings, "invoice-product", now, request)
    db.close()
    return environ


def start(environ: dict[str, str], workers: int = 3) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "statuspage", "serve", "--workers", str(workers)],
                            env=os.environ | environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(service: subprocess.Popen) -> None:
    with_group = service.poll() is None
    if with_group:
        os.killpg(service.pid, signal.SIGKILL)
    service.wait()


def wait_for(check, what: str, seconds: float = 60) -> float:
    """Poll `check` until true; returns the seconds it took. Raises AssertionError after `seconds`."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        try:
            if check():
                return time.monotonic() - began
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def booked(sandbox) -> list[str]:
    return [entry["your_ref"] for entry in httpx.get(f"{sandbox.url}/_sandbox/ledger").json()["entries"]]


def query(environ, sql: str, params=()) -> list[dict]:
    db = storage.connect(environ["STATUSPAGE_DB"], read_only=True)
    try:
        return list(db.query(sql, params))
    finally:
        db.close()


def holder_pid(environ) -> int | None:
    rows = query(environ, "SELECT holder FROM leases WHERE name = ?", [lease.BACKGROUND])
    return int(rows[0]["holder"].rpartition(":")[2]) if rows else None


@pytest.fixture
def fast_sandbox():
    sandbox = ExactOnlineSandbox(demo_scenario(), seed=5,
                                 faults=Faults(latency_ms=0, minutely_limit=1_000_000, daily_limit=100_000_000)).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def slow_sandbox():
    sandbox = ExactOnlineSandbox(demo_scenario(), seed=6,
                                 faults=Faults(latency_ms=15, minutely_limit=1_000_000, daily_limit=100_000_000)).start()
    yield sandbox
    sandbox.stop()


def test_three_workers_book_500_actions_each_once_probe_once_per_interval_and_notify_once(
        tmp_path, fast_sandbox) -> None:
    port = free_port()
    receiver = Receiver()
    environ = seed(tmp_path, fast_sandbox, port, webhook=receiver.url)
    base = f"http://127.0.0.1:{port}"
    service = start(environ)
    try:
        wait_for(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200, "the service")
        began = time.monotonic()

        async def hand_in() -> None:
            async with httpx.AsyncClient(base_url=base, headers=CLIENT, timeout=30) as http:
                limit = asyncio.Semaphore(8)

                async def one(n: int) -> None:
                    async with limit:
                        answer = await http.post("/api/v1/actions",
                                                 json=book(f"W-{n}", administration=("101", "102")[n % 2]))
                        assert answer.status_code == 201, answer.text

                await asyncio.gather(*(one(n) for n in range(500)))

        asyncio.run(hand_in())
        incident = httpx.post(f"{base}/api/v1/incidents", headers=OPERATOR, json={
            "name": "Bookings slow", "message": "Looking.", "status": "investigating", "impact": "minor",
            "components": {"exact-online": "degraded_performance"}})
        assert incident.status_code == 201, incident.text
        wait_for(lambda: len(booked(fast_sandbox)) >= 500, "500 bookings", seconds=120)
        wait_for(lambda: receiver.received, "the notice")
        time.sleep(3)  # time enough for a second sender to send it again, were there one
        elapsed = time.monotonic() - began

        refs = booked(fast_sandbox)
        assert sorted(refs) == sorted(f"W-{n}" for n in range(500))  # each exactly once
        sends = query(environ, "SELECT count(*) AS n FROM action_transitions WHERE to_state = 'running'")[0]["n"]
        assert sends == 500  # no action was claimed twice
        assert len(receiver.received) == len(set(receiver.received)) >= 1
        runs = query(environ, "SELECT count(*) AS n FROM probe_results WHERE probe = 'backlog'")[0]["n"]
        # One process probes every PROBE_INTERVAL seconds (jitter a tenth); three would run about three times as often.
        assert 1 <= runs <= elapsed / PROBE_INTERVAL + 2, (runs, elapsed)
        holders = query(environ, "SELECT DISTINCT claimed_by FROM actions")
        assert holders == [{"claimed_by": None}]  # every claim was let go when its action finished
    finally:
        stop(service)
        receiver.stop()


def test_killing_the_lease_holder_hands_the_background_work_to_another_worker(tmp_path, slow_sandbox) -> None:
    port = free_port()
    environ = seed(tmp_path, slow_sandbox, port, backlog=150)
    base = f"http://127.0.0.1:{port}"
    service = start(environ)
    try:
        wait_for(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200, "the service")
        wait_for(lambda: holder_pid(environ) is not None, "a lease holder")
        on = httpx.put(f"{base}/api/v1/integrations/exact-online/switch", headers=OPERATOR,
                       json={"enabled": True, "reason": "replay"})
        assert on.json()["actions_moved"] == 150
        wait_for(lambda: len(booked(slow_sandbox)) >= 40, "part of the replay")
        victim = holder_pid(environ)
        assert victim is not None and victim != service.pid
        os.kill(victim, signal.SIGKILL)
        at_kill = len(booked(slow_sandbox))
        assert at_kill < 150, "the replay finished before the kill; slow the sandbox down"

        took = wait_for(lambda: holder_pid(environ) not in (None, victim), "another holder", seconds=30)
        assert took < 30
        wait_for(lambda: len(booked(slow_sandbox)) == 150, "the rest of the replay")
        time.sleep(1)
        refs = booked(slow_sandbox)
        assert sorted(refs) == sorted(f"W-{n}" for n in range(150))  # nothing lost, nothing twice
        states = query(environ, "SELECT state, count(*) AS n FROM actions GROUP BY state")
        assert states == [{"state": "done", "n": 150}]
        assert httpx.get(f"{base}/api/v2/status.json").status_code == 200  # the others served on
    finally:
        stop(service)
