"""A connection whose credentials the accounting system refuses (invalid_grant: Exact Online no longer knows its
refresh token) needs a person: it is marked so for every process and logged once without secrets, the console and
the API say so, its actions wait queued without a try more (their attempts do not rise), the rights probe does not
spend token calls on it, and a reconnect lets them go at once.

The refusal is the newcomer's: the demo's sandbox started afresh (same port, new state) knows none of the tokens
the service stored."""

from __future__ import annotations

import html
import logging

import httpx
import pytest
from conftest import TEST_CONFIG, TOKENS
from exact_online_service_helpers import CONNECTION_USERS, DEMO_ENVIRONMENTS, book, sandbox_code
from page_helpers import sign_in

from integrations.exact_online.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Faults,
    demo_scenario,
)
from statuspage.config import load_settings
from statuspage.core import storage

LIMITS = Faults(minutely_limit=1_000_000, daily_limit=100_000_000)
PROBE = """
[[probes]]
key = "rights"
kind = "rights"
integration = "exact-online"
interval = 3600
conditions = ["[ERRORS] == 0"]
"""


@pytest.fixture
def sandbox(clock):
    """The sandbox the connections are made at; the test restarts it afresh on the same port."""
    running = ExactOnlineSandbox(demo_scenario(), clock=clock, seed=21, faults=LIMITS).start()
    holder = {"sandbox": running}
    yield holder
    holder["sandbox"].stop()


@pytest.fixture
def settings(tmp_path, sandbox, monkeypatch):
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + DEMO_ENVIRONMENTS + PROBE)
    monkeypatch.setenv("STATUSPAGE_EXACT_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "refused.db"),
                                        "STATUSPAGE_EXACT_BASE_URL": sandbox["sandbox"].url,
                                        "STATUSPAGE_EXACT_CLIENT_ID": SANDBOX_CLIENT_ID})


@pytest.fixture
def connected(client, sandbox):
    link = client.app.state.links["exact-online"]
    for environment, username in CONNECTION_USERS.items():
        code = sandbox_code(sandbox["sandbox"], link.redirect_uri, username)
        client.blocking_portal.call(link.connect, environment, code, "test")
    return client


def restart_afresh(sandbox: dict, clock) -> ExactOnlineSandbox:
    """Stop the sandbox and start a new one where it listened: it knows no token issued before."""
    old = sandbox["sandbox"]
    port = int(old.url.rsplit(":", 1)[1])
    old.stop()
    sandbox["sandbox"] = ExactOnlineSandbox(demo_scenario(), clock=clock, port=port, seed=22, faults=LIMITS).start()
    return sandbox["sandbox"]


def calls_made(sandbox: ExactOnlineSandbox) -> int:
    return sum(httpx.get(f"{sandbox.url}/_sandbox/traffic").json()["statuses"].values())


def attempts(client) -> dict[str, tuple[str, int]]:
    rows = client.blocking_portal.call(client.app.state.store.read, lambda db: list(
        db.query("SELECT idempotency_key, state, attempts FROM actions ORDER BY id")))
    return {row["idempotency_key"]: (row["state"], row["attempts"]) for row in rows}


def settle(client, clock, minutes: float = 0) -> None:
    clock.advance(minutes=minutes)
    client.blocking_portal.call(client.app.state.dispatcher.settle)


def test_refused_credentials_hold_the_connections_actions_until_a_person_reconnects(
        connected, tokens, sandbox, clock, caplog) -> None:
    client = connected
    stored = client.blocking_portal.call(client.app.state.store.read, lambda db: [
        storage.connection_tokens(db, row.id) for row in storage.connections(db, "exact-online")])
    fresh = restart_afresh(sandbox, clock)
    clock.advance(minutes=10)  # the access tokens are due for a refresh, which the fresh sandbox refuses
    for key, administration in (("A-1", "101"), ("A-2", "101"), ("A-3", "102")):
        assert client.post("/api/v1/actions", json=book(key, administration=administration),
                           headers=tokens["client"]).status_code == 201
    assert client.post("/api/v1/actions", json=book("J-1", administration="201", environment="jansen-groep"),
                       headers=tokens["client"]).status_code == 201

    with caplog.at_level(logging.WARNING, logger="statuspage.actions.connections"):
        settle(client, clock)
        tried = attempts(client)
        calls = calls_made(fresh)
        for _ in range(5):  # time passes, the dispatcher looks again and again: nothing more is tried
            settle(client, clock, minutes=30)
    # Each connection's first action was tried once and met the refusal; nothing was tried since.
    assert attempts(client) == tried == {"A-1": ("queued", 1), "A-2": ("queued", 0), "A-3": ("queued", 1),
                                         "J-1": ("queued", 1)}
    assert calls_made(fresh) == calls
    # Logged once per connection, in the system's words, without a secret.
    warnings = [record.getMessage() for record in caplog.records
                if record.levelno == logging.WARNING and record.name == "statuspage.actions.connections"]
    assert len(warnings) == 2
    assert {w.split("'s connection")[0].rsplit(" ", 1)[1] for w in warnings} == {"bakkerij-de-vries", "jansen-groep"}
    assert all("invalid_grant" in warning and "connect it again" in warning for warning in warnings)
    for secrets in stored:
        assert secrets is not None
        for value in secrets.split('"'):
            if len(value) > 20:  # the tokens themselves
                assert all(value not in record.getMessage() for record in caplog.records)

    # The API and the console say a person is needed; the console no longer says "reachable".
    listed = {row["environment"]: row for row in client.get("/api/v1/connections", headers=tokens["viewer"]).json()}
    assert listed["bakkerij-de-vries"]["refused_reason"] == "invalid_grant: Invalid refresh token."
    assert listed["bakkerij-de-vries"]["refused_at"] is not None
    sign_in(client, TOKENS["operator"])
    page = html.unescape(client.get("/console/connections").text)
    card = page.split('data-environment="bakkerij-de-vries"')[1].split("</article>")[0]
    assert "Needs a person" in card and "invalid_grant: Invalid refresh token." in card
    assert "reachable</span>" not in card

    # The rights probe reports the refusal without asking the system again.
    run = client.blocking_portal.call(client.app.state.prober.run, "rights")
    assert not run.success and len(run.detail["errors"]) == 2
    assert calls_made(fresh) == calls

    # A person connects Bakkerij De Vries again: its actions go at once; Jansen Groep's still wait.
    link = client.app.state.links["exact-online"]
    client.blocking_portal.call(link.connect, "bakkerij-de-vries",
                                sandbox_code(fresh, link.redirect_uri, "j.devries"), "operator")
    settle(client, clock)
    after = attempts(client)
    assert {key: state for key, (state, _) in after.items()} == {"A-1": "done", "A-2": "done", "A-3": "done",
                                                                 "J-1": "queued"}
    listed = {row["environment"]: row for row in client.get("/api/v1/connections", headers=tokens["viewer"]).json()}
    assert listed["bakkerij-de-vries"]["refused_at"] is None and listed["jansen-groep"]["refused_at"] is not None
