"""Several real processes on one database: `serve --workers 3` runs the background work exactly once.

Each test starts `statuspage serve --workers 3` on a free 127.0.0.1 port in its own session and kills
that whole session afterwards. The background work runs only in the holder of the lease
(statuspage/background.py); these tests count what it did in the database and at the sandbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest
from conftest import TEST_CONFIG, free_port, wait_for
from exact_online_service_helpers import DEMO_ENVIRONMENTS, book, sandbox_code
from process_helpers import booked_refs, callback_url, exchanged, query, seeding, service_environ, start, stop
from webhook_helpers import Receiver

from integrations.exact_online.oauth import OAuthApp, exchange_code
from integrations.exact_online.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, ExactOnlineSandbox, Faults, demo_scenario
from statuspage.core import lease, storage

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


def seed(tmp_path, sandbox, port: int, *, backlog: int = 0, webhook: str | None = None) -> dict[str, str]:
    """A database with tokens, a connection at the sandbox, `backlog` actions held by the switch, and a
    webhook subscriber; returns the environment to start the service with."""
    config = TEST_CONFIG.replace("send_every_seconds = 3600", "send_every_seconds = 1") + DEMO_ENVIRONMENTS + EXTRA_CONFIG
    environ = service_environ(tmp_path, port, config, "workers.db", STATUSPAGE_EXACT_BASE_URL=sandbox.url,
                              STATUSPAGE_EXACT_CLIENT_ID=SANDBOX_CLIENT_ID)
    app = OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET,
                   redirect_uri=callback_url(environ, EXACT_ONLINE), base_url=sandbox.url)
    issued = exchanged(exchange_code, app, sandbox_code(sandbox, app.redirect_uri, "j.devries"))
    with seeding(environ) as seeded:
        seeded.token("workers-operator", "operator", "sp_workers-operator")
        seeded.token("invoice-product", "client", "sp_workers-client")
        seeded.connection("bakkerij-de-vries", EXACT_ONLINE, issued)
        if webhook:
            storage.insert_subscriber(seeded.db, kind="webhook", address=webhook, secret="s", components=None,
                                      now=seeded.now, confirmed=True)
        if backlog:
            seeded.held(EXACT_ONLINE, (book(f"W-{n}", administration=("101", "102")[n % 2]) for n in range(backlog)))
    return environ


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
    service = start(environ, "--workers", "3")
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
        wait_for(lambda: len(booked_refs(fast_sandbox)) >= 500, "500 bookings", seconds=120)
        delivered = "SELECT count(*) AS n FROM deliveries WHERE state = 'delivered'"
        wait_for(lambda: query(environ, delivered)[0]["n"] >= 2, "the incident's and the component's notice")
        elapsed = time.monotonic() - began

        refs = booked_refs(fast_sandbox)
        assert sorted(refs) == sorted(f"W-{n}" for n in range(500))  # each exactly once
        sends = query(environ, "SELECT count(*) AS n FROM action_transitions WHERE to_state = 'running'")[0]["n"]
        assert sends == 500  # no action was claimed twice
        ids = receiver.delivery_ids()
        assert len(ids) == len(set(ids)) >= 2  # each notice heard once
        # Each claimed and tried once: a second sender would have had to claim it again.
        sent = query(environ, "SELECT id, attempts FROM deliveries WHERE state = 'delivered'")
        assert all(row["attempts"] == 1 for row in sent) and {str(row["id"]) for row in sent} <= set(ids)
        runs = query(environ, "SELECT count(*) AS n FROM probe_results WHERE probe = 'backlog'")[0]["n"]
        # One process probes every PROBE_INTERVAL seconds (jitter a tenth); three would run about three times as often.
        assert 1 <= runs <= elapsed / PROBE_INTERVAL + 2, (runs, elapsed)
        holders = query(environ, "SELECT DISTINCT claimed_by FROM actions")
        assert holders == [{"claimed_by": None}]  # every claim was let go when its action finished
    finally:
        stop(service)
        receiver.close()


def test_killing_the_lease_holder_hands_the_background_work_to_another_worker(tmp_path, slow_sandbox) -> None:
    port = free_port()
    environ = seed(tmp_path, slow_sandbox, port, backlog=150)
    base = f"http://127.0.0.1:{port}"
    service = start(environ, "--workers", "3")
    try:
        wait_for(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200, "the service")
        wait_for(lambda: holder_pid(environ) is not None, "a lease holder")
        on = httpx.put(f"{base}/api/v1/integrations/exact-online/switch", headers=OPERATOR,
                       json={"enabled": True, "reason": "replay"})
        assert on.json()["actions_moved"] == 150
        wait_for(lambda: len(booked_refs(slow_sandbox)) >= 40, "part of the replay")
        victim = holder_pid(environ)
        assert victim is not None and victim != service.pid
        os.kill(victim, signal.SIGKILL)
        at_kill = len(booked_refs(slow_sandbox))
        assert at_kill < 150, "the replay finished before the kill; slow the sandbox down"

        wait_for(lambda: holder_pid(environ) not in (None, victim), "another holder", seconds=30)
        finished = "SELECT count(*) AS n FROM actions WHERE state = 'done'"
        wait_for(lambda: query(environ, finished)[0]["n"] == 150, "the rest of the replay")
        refs = booked_refs(slow_sandbox)  # every action is done: a second send would have come before that
        assert sorted(refs) == sorted(f"W-{n}" for n in range(150))  # nothing lost, nothing twice
        states = query(environ, "SELECT state, count(*) AS n FROM actions GROUP BY state")
        assert states == [{"state": "done", "n": 150}]
        assert httpx.get(f"{base}/api/v2/status.json").status_code == 200  # the others served on
    finally:
        stop(service)
