"""A service killed at any moment (SIGKILL, mid-replay) restarts with nothing lost and nothing booked twice."""

import httpx
import pytest
from conftest import TEST_CONFIG, free_port, wait_for
from exact_online_service_helpers import DEMO_ENVIRONMENTS, book, sandbox_code
from process_helpers import booked_refs, callback_url, exchanged, seeding, service_environ, start, stop

from integrations.exact_online.oauth import OAuthApp, exchange_code
from integrations.exact_online.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Faults,
    demo_scenario,
)

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


def seed_service(tmp_path, sandbox, port: int) -> dict[str, str]:
    """A database with tokens, a connection made at the sandbox, and a backlog delayed by the switch."""
    environ = service_environ(tmp_path, port, TEST_CONFIG + DEMO_ENVIRONMENTS, "crash.db",
                              STATUSPAGE_EXACT_BASE_URL=sandbox.url, STATUSPAGE_EXACT_CLIENT_ID=SANDBOX_CLIENT_ID)
    app = OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET,
                   redirect_uri=callback_url(environ, EXACT_ONLINE), base_url=sandbox.url)
    issued = exchanged(exchange_code, app, sandbox_code(sandbox, app.redirect_uri, "j.devries"))
    with seeding(environ) as seed:
        seed.token("crash-operator", "operator", "sp_crash-operator")
        seed.connection("bakkerij-de-vries", EXACT_ONLINE, issued)
        seed.held(EXACT_ONLINE, (book(f"CRASH-{n}", administration=("101", "102")[n % 2]) for n in range(ACTIONS)))
    return environ


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
        wait_for(lambda: len(booked_refs(sandbox)) >= ACTIONS // 3, "a third of the replay")
        stop(service)
        at_kill = len(booked_refs(sandbox))
        assert at_kill < ACTIONS, "the replay finished before the kill; slow the sandbox down"

        service = start(environ)
        wait_for(lambda: len(booked_refs(sandbox)) == ACTIONS and httpx.get(
            f"{base}/api/v1/integrations/exact-online/replay", headers=OPERATOR).json()["progress"]["left"] == 0,
            "the rest of the replay")
        refs = booked_refs(sandbox)
        assert sorted(refs) == sorted(f"CRASH-{n}" for n in range(ACTIONS))  # nothing lost, nothing twice
        for division, parity in (("101", 0), ("102", 1)):
            entries = httpx.get(f"{sandbox.url}/_sandbox/ledger").json()["entries"]
            in_division = [ref for ref, entry in zip(refs, entries, strict=True)
                           if str(entry["division"]) == division]
            assert in_division == [f"CRASH-{n}" for n in range(ACTIONS) if n % 2 == parity]
    finally:
        stop(service)
