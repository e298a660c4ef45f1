"""`statuspage serve` and `statuspage probe run`, real processes on one database, share one connection through a
sandbox that rotates refresh tokens: each round, the access tokens die early (the sandbox's expiry command) once
before the command line's turn and once before the service's, so each process in turn meets a dead token and
refreshes with the refresh token the other one last rotated. Neither ends disconnected, and no refresh token is
ever sent twice. The rounds follow each other by what happened (bookings done, the command finished), not by
the clock; tests/test_shared_connection.py races two processes' refreshes against each other on a fake clock."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from conftest import TEST_CONFIG, free_port, wait_for
from exact_online_service_helpers import DEMO_ENVIRONMENTS, book, sandbox_code
from process_helpers import callback_url, exchanged, seeding, service_environ, start, stop

from integrations.exact_online.oauth import OAuthApp, exchange_code
from integrations.exact_online.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Faults,
    demo_scenario,
)
from integrations.exact_online.tokens import guard_of
from statuspage.core import storage

ROUNDS = 3
OPERATOR = {"Authorization": "Bearer sp_two-operator"}
CLIENT = {"Authorization": "Bearer sp_two-client"}
PROBE = """
[probing]
first_run_spread = 0

[[probes]]
key = "rights"
kind = "rights"
integration = "exact-online"
interval = 3600
timeout = 30
conditions = ["[ERRORS] == 0", "[CONNECTIONS] == 1"]
"""


@pytest.fixture
def sandbox():
    # Tokens live their full 600 s: every refresh here is one a dead token asked for.
    sandbox = ExactOnlineSandbox(demo_scenario(), seed=9,
                                 faults=Faults(minutely_limit=1_000_000, daily_limit=100_000_000)).start()
    yield sandbox
    sandbox.stop()


def seed(tmp_path, sandbox, port: int) -> dict[str, str]:
    """A database with one connection made at the sandbox (its tokens stored), and tokens for the API."""
    environ = service_environ(tmp_path, port, TEST_CONFIG + DEMO_ENVIRONMENTS + PROBE, "two.db",
                              STATUSPAGE_EXACT_BASE_URL=sandbox.url, STATUSPAGE_EXACT_CLIENT_ID=SANDBOX_CLIENT_ID,
                              STATUSPAGE_EXACT_CLIENT_SECRET=SANDBOX_CLIENT_SECRET, STATUSPAGE_DEMO="false")
    app = OAuthApp(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET,
                   redirect_uri=callback_url(environ, "exact-online"), base_url=sandbox.url)
    issued = exchanged(exchange_code, app, sandbox_code(sandbox, app.redirect_uri, "j.devries"))
    with seeding(environ) as seeded:
        for name, role in (("two-operator", "operator"), ("two-client", "client")):
            seeded.token(name, role, f"sp_{name}")
        connection = seeded.connection("bakkerij-de-vries", "exact-online", issued, guard_of(issued))
        storage.record_connection_user(seeded.db, connection, user_id="u", user_name="j.devries", full_name="Jan de Vries",
                                       current_administration="101", connected_by="test", now=seeded.now)
    return environ


def probe_run(environ: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "statuspage", "probe", "run", "rights"], env=os.environ | environ,
                          capture_output=True, text=True, timeout=90)


def test_serve_and_the_command_line_share_one_connection_without_losing_it(tmp_path, sandbox) -> None:
    port = free_port()
    environ = seed(tmp_path, sandbox, port)
    base = f"http://127.0.0.1:{port}"
    service = start(environ)
    try:
        wait_for(lambda: httpx.get(f"{base}/api/v2/status.json").status_code == 200, "the service")
        handed_in, probes = 0, []

        def all_done() -> bool:
            page = httpx.get(f"{base}/api/v1/actions?limit=1000", headers=OPERATOR).json()["actions"]
            return len(page) == handed_in and all(action["state"] == "done" for action in page)

        for _ in range(ROUNDS):
            expire_access_tokens(sandbox)  # the service's next booking meets a dead token
            for _ in range(3):
                answer = httpx.post(f"{base}/api/v1/actions", headers=CLIENT,
                                    json=book(f"TWO-{handed_in}", administration=("101", "102")[handed_in % 2]))
                assert answer.status_code == 201, answer.text
                handed_in += 1
            wait_for(all_done, "every booking done")
            expire_access_tokens(sandbox)  # and so does the command line's first call
            probes.append(probe_run(environ))
    finally:
        stop(service)

    assert [run.returncode for run in probes] == [0] * ROUNDS, [run.stdout + run.stderr for run in probes]
    refs = sorted(entry["your_ref"] for entry in httpx.get(f"{sandbox.url}/_sandbox/ledger").json()["entries"])
    assert refs == sorted(f"TWO-{n}" for n in range(handed_in))  # each once
    token_calls = [x for x in httpx.get(f"{sandbox.url}/_sandbox/traffic").json()["exchanges"]
                   if x["endpoint"] == "oauth2/token"]
    rotations = [x for x in token_calls if x["note"] == "refresh_token"]
    # One refresh per dead token, by whichever process met it, from the refresh token the other one left.
    assert len(rotations) == 2 * ROUNDS
    assert [x for x in token_calls if x["status"] != 200] == []  # so no refresh token was ever sent twice


def expire_access_tokens(sandbox) -> None:
    answer = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"expire_access_tokens": True})
    assert answer.status_code == 200, answer.text
