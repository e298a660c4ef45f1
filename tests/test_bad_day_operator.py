"""What an operator has to go on when Twinfield books wrongly: the misrouted action says where it landed, and the
log tells of the misroute, the switch it tripped and the operators' own flips, in one line each and with no secret.
End to end: actions over the API, the dispatcher through the connector, the Twinfield sandbox on loopback."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import TEST_CONFIG

from integrations.twinfield.oauth import AUTHORIZE_PATH, TOKEN_PATH
from integrations.twinfield.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Faults, TwinfieldSandbox, demo_scenario
from statuspage.config import load_settings
from statuspage.core import storage

# Jansen Groep in Twinfield, two of its offices.
ENVIRONMENT = """
[[environments]]
key = "jansen-twinfield"
name = "Jansen Groep"
integration = "twinfield"
administrations = [{ code = "NLA201", name = "Installatietechniek" }, { code = "NLA202", name = "Holding" }]
"""


@pytest.fixture
def sandbox(clock):
    running = TwinfieldSandbox(demo_scenario(), clock=clock, seed=5, faults=Faults(credits_per_minute=1_000_000)).start()
    yield running
    running.stop()


@pytest.fixture
def settings(tmp_path, sandbox, monkeypatch):
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENT + f'\n[integrations.twinfield]\nbase_url = "{sandbox.url}"\n'
                    "read_timeout = 0.5\nconnect_timeout = 0.5\nbase_delay = 0.01\nmax_delay = 0.05\n")
    monkeypatch.setenv("STATUSPAGE_TWINFIELD_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "bad-day.db")})


def connect(client, sandbox: TwinfieldSandbox, user: str) -> None:
    link = client.app.state.links["twinfield"]
    answer = httpx.post(f"{sandbox.url}{AUTHORIZE_PATH}", data={
        "client_id": SANDBOX_CLIENT_ID, "redirect_uri": link.redirect_uri, "state": "s", "user": user})
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    client.blocking_portal.call(link.connect, "jansen-twinfield", code, "test")


def hand_in(client, tokens, key: str, office: str) -> int:
    answer = client.post("/api/v1/actions", headers=tokens["client"], json={
        "idempotency_key": key, "integration": "twinfield", "environment": "jansen-twinfield", "administration": office,
        "kind": "book", "payload": {"journal": "INK", "supplier": "2003", "entry_date": "2026-11-20",
                                    "description": f"Invoice {key}",
                                    "lines": [{"gl_account": "7000", "amount": 100.0, "vat_code": "IH"}]}})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def settle(client) -> None:
    client.blocking_portal.call(client.app.state.dispatcher.settle)


def stored_tokens(settings) -> list[str]:
    """Each connection's tokens (JSON), as the database keeps them."""
    db = storage.open_database(settings.database.path)
    try:
        return [row["tokens"] for row in db.query("SELECT tokens FROM connections WHERE tokens IS NOT NULL")]
    finally:
        db.close()


def stored_secrets(settings) -> list[str]:
    """Every token the connections hold: none may reach the log."""
    return [value for row in stored_tokens(settings) for value in json.loads(row).values()
            if isinstance(value, str) and len(value) >= 16]


def test_a_misrouted_action_says_where_it_landed_and_the_log_tells_of_the_misroute_and_the_switch(
        client, tokens, sandbox, settings, caplog) -> None:
    caplog.set_level(logging.INFO)
    # Anna can open NLA202; the rights check learns so with a first booking there.
    connect(client, sandbox, "ABAKKER")
    hand_in(client, tokens, "FIRST", "NLA202")
    settle(client)
    # Then she loses NLA202 within the check's cache time, and Twinfield books into her default office, as in 2019.
    httpx.post(f"{sandbox.url}/_sandbox/users/ABAKKER", json={"offices": ["NLA201"], "default_office": "NLA201"})
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"misroute_bug": True})
    misrouted = hand_in(client, tokens, "WRONG-1", "NLA202")
    settle(client)

    [landed] = [t for t in httpx.get(f"{sandbox.url}/_sandbox/ledger").json()["transactions"]
                if t["invoice_number"] == "WRONG-1"]
    assert (landed["asked_office"], landed["office"]) == ("NLA202", "NLA201")
    action = client.get(f"/api/v1/actions/{misrouted}", headers=tokens["client"]).json()
    assert (action["state"], action["administration"]) == ("failed", "NLA202")
    assert (action["administration_booked"], action["entry_number"]) == ("NLA201", landed["number"])
    [report] = client.get("/api/v1/misroutes", headers=tokens["viewer"]).json()
    assert (report["administration_booked"], report["entry_number"]) == (action["administration_booked"],
                                                                         action["entry_number"])

    lines = [record for record in caplog.records if record.name.startswith("statuspage.actions")]
    [misroute] = [record for record in lines if "misroute:" in record.getMessage() and record.levelno == logging.ERROR]
    for fact in (f"action {misrouted}", "twinfield", "jansen-twinfield", "NLA202", "NLA201", landed["number"]):
        assert fact in misroute.getMessage()
    [tripped] = [record for record in lines if "switched off" in record.getMessage()]
    assert tripped.getMessage().startswith("kill switch integration:twinfield switched off by the service itself: "
                                           f"misroute: action {misrouted}")

    # The operator switches it on again: that is logged too, with who and why.
    answer = client.put("/api/v1/integrations/twinfield/switch", headers=tokens["operator"],
                        json={"enabled": True, "reason": "Anna has NLA202 again"})
    assert answer.status_code == 200
    [on] = [record for record in caplog.records if "switched on" in record.getMessage()]
    assert on.getMessage() == ("kill switch integration:twinfield switched on by operator-person: Anna has NLA202 again "
                               "(0 action(s) released for replay)")
    secrets = stored_secrets(settings)
    assert secrets, "the connection holds tokens"
    assert not [secret for secret in secrets if secret in caplog.text]


def test_an_action_failing_because_the_connection_cannot_sign_in_is_logged_with_the_connection_and_no_token(
        client, tokens, sandbox, settings, caplog) -> None:
    caplog.set_level(logging.INFO)
    connect(client, sandbox, "PJANSEN")
    # Someone else spends the connection's refresh token (a copy of it, elsewhere), and its access token expires.
    [stolen] = [json.loads(row)["refresh_token"] for row in stored_tokens(settings)]
    spent = httpx.post(f"{sandbox.url}{TOKEN_PATH}", auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET),
                       data={"grant_type": "refresh_token", "refresh_token": stolen})
    assert spent.status_code == 200
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"expire_access_tokens": True})
    secrets = stored_secrets(settings) + list(spent.json().values())
    refused = hand_in(client, tokens, "AFTER-THEFT", "NLA201")
    settle(client)

    action = client.get(f"/api/v1/actions/{refused}", headers=tokens["client"]).json()
    assert action["state"] == "queued" and "invalid_grant" in action["error"]
    [line] = [record for record in caplog.records if "cannot sign in" in record.getMessage()]
    assert line.levelno == logging.WARNING
    for fact in (f"action {refused}", "twinfield", "jansen-twinfield", "NLA201", "invalid_grant", "reconnect"):
        assert fact in line.getMessage()
    assert not [secret for secret in secrets if isinstance(secret, str) and len(secret) >= 16 and secret in caplog.text]
