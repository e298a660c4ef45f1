"""A real `statuspage serve` killed (SIGKILL) mid-replay into Twinfield restarts with nothing lost and nothing
booked twice (the Twinfield twin of tests/test_crash_recovery.py)."""

import httpx
import pytest
from conftest import TEST_CONFIG, free_port, wait_for
from process_helpers import callback_url, exchanged, seeding, service_environ, start, stop
from twinfield_helpers import ledger
from twinfield_service_helpers import TWINFIELD, TWINFIELD_ENVIRONMENTS, book, sandbox_code, twinfield_settings

from integrations.twinfield.oauth import OAuthApp, exchange_code
from integrations.twinfield.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Faults, TwinfieldSandbox, demo_scenario

ACTIONS = 120
OPERATOR = {"Authorization": "Bearer sp_crash-operator"}


@pytest.fixture
def sandbox():
    # Slow enough that the replay is surely under way when the service is killed.
    sandbox = TwinfieldSandbox(demo_scenario(), seed=3, faults=Faults(latency_ms=15, credits_per_minute=1_000_000)).start()
    yield sandbox
    sandbox.stop()


def seed_service(tmp_path, sandbox, port: int) -> dict[str, str]:
    """A database with tokens, a connection made at the sandbox, and a backlog delayed by the switch."""
    config = TEST_CONFIG + TWINFIELD_ENVIRONMENTS + twinfield_settings(sandbox.url, read_timeout=5)
    environ = service_environ(tmp_path, port, config, "crash.db", STATUSPAGE_TWINFIELD_CLIENT_SECRET=SANDBOX_CLIENT_SECRET)
    app = OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET,
                   redirect_uri=callback_url(environ, TWINFIELD), login_url=sandbox.url)
    issued = exchanged(exchange_code, app, sandbox_code(sandbox, app.redirect_uri, "PJANSEN"))
    with seeding(environ) as seed:
        seed.token("crash-operator", "operator", "sp_crash-operator")
        seed.connection("jansen-twinfield", TWINFIELD, issued)
        seed.held(TWINFIELD, (book(f"CRASH-{n}", office=("NLA201", "NLA202")[n % 2]) for n in range(ACTIONS)))
    return environ


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
        wait_for(lambda: len(ledger(sandbox)) >= ACTIONS // 3, "a third of the replay")
        stop(service)
        assert len(ledger(sandbox)) < ACTIONS, "the replay finished before the kill; slow the sandbox down"

        service = start(environ)
        wait_for(lambda: len(ledger(sandbox)) == ACTIONS and httpx.get(
            f"{base}/api/v1/integrations/{TWINFIELD}/replay", headers=OPERATOR).json()["progress"]["left"] == 0,
            "the rest of the replay")
        transactions = ledger(sandbox)
        assert sorted(t["invoice_number"] for t in transactions) == sorted(f"CRASH-{n}" for n in range(ACTIONS))
        for office, parity in (("NLA201", 0), ("NLA202", 1)):
            in_office = [t["invoice_number"] for t in transactions if t["office"] == office]
            assert in_office == [f"CRASH-{n}" for n in range(ACTIONS) if n % 2 == parity]  # in order, once each
    finally:
        stop(service)
