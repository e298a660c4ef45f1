"""'Connect to Exact Online' for an environment, against the sandbox, and what the console then knows:
who the connection runs under and which linked administrations that user cannot reach."""

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import TOKENS
from exact_online_service_helpers import ENVIRONMENTS
from page_helpers import csrf_of, sign_in

from statuspage.actions.connections import make_state, read_state


@pytest.fixture
def config_file(tmp_path):
    from conftest import TEST_CONFIG

    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENTS)
    return path


def connect_as(client, environment: str, username: str):
    """Click "Connect to Exact Online", sign in at the (sandbox) Exact Online as `username`, come back."""
    page = client.get("/console/connections")
    to_exact = client.post(f"/console/connections/{environment}/exact-online", follow_redirects=False,
                           data={"_csrf_token": csrf_of(page.text)})
    assert to_exact.status_code == 302
    authorize_url = to_exact.headers["location"]
    sign_in_page = httpx.get(authorize_url)
    assert sign_in_page.status_code == 200 and "Authorize" in sign_in_page.text
    fields = dict(re.findall(r'name="(client_id|redirect_uri|state)" value="([^"]*)"', sign_in_page.text))
    back = httpx.post(urlsplit(authorize_url)._replace(query="").geturl(), data={**fields, "username": username})
    assert back.status_code == 302
    callback = urlsplit(back.headers["location"])
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def test_connecting_shows_the_connection_user_and_the_administration_it_cannot_reach(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    assert "Not connected." in client.get("/console/connections").text

    done = connect_as(client, "jansen-groep", "p.jansen")
    assert done.status_code == 302 and done.headers["location"] == "/console/connections?connected=jansen-groep"
    confirmed = client.get(done.headers["location"]).text
    assert "Jansen Groep is now connected and runs under\n  <strong>Petra Jansen</strong> (p.jansen)" in confirmed
    assert "That user cannot reach Jansen Verhuur B.V. (203):" in confirmed
    page = client.get("/console/connections").text
    assert "is now connected" not in page
    assert '<strong class="connection-user">Petra Jansen</strong> (p.jansen)' in page
    rows = dict(re.findall(r'data-administration="(\d+)">.*?<td>.*?</td>\s*<td>(.*?)</td>', page, flags=re.S))
    assert "reachable" in rows["201"] and "reachable" in rows["202"]
    assert "cannot reach: bookings here are refused" in rows["203"]

    # The fix of 2019: connect under a user who can open every administration.
    again = connect_as(client, "jansen-groep", "a.bakker")
    assert "That user can reach every linked administration." in client.get(again.headers["location"]).text
    page = client.get("/console/connections").text
    assert "Anna Bakker" in page and "cannot reach" not in page
    audit = client.get("/api/v1/audit", headers=tokens["viewer"]).json()
    assert [(e["action"], e["after"]["user_name"]) for e in audit[:2]] == [
        ("connection.connect", "a.bakker"), ("connection.connect", "p.jansen")]


def test_tokens_are_kept_but_never_shown(client, tokens, settings) -> None:
    import sqlite3

    sign_in(client, TOKENS["operator"])
    connect_as(client, "jansen-groep", "p.jansen")
    stored = sqlite3.connect(settings.database.path).execute("SELECT tokens FROM connections").fetchone()[0]
    access_token = __import__("json").loads(stored)["access_token"]
    assert access_token
    for path in ["/console/connections", "/console/audit", "/console"]:
        assert access_token not in client.get(path).text
    assert access_token not in client.get("/api/v1/audit", headers=tokens["viewer"]).text


def test_a_callback_that_did_not_start_here_connects_nothing(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    forged = client.get("/console/connections/exact-online/callback?code=abc&state=jansen-groep.9999999999.00",
                        follow_redirects=False)
    assert forged.status_code == 302
    assert "did%20not%20start%20here" in forged.headers["location"]
    assert "Not connected." in client.get("/console/connections").text


def test_a_viewer_cannot_connect(client, tokens) -> None:
    sign_in(client, TOKENS["viewer"])
    page = client.get("/console/connections")
    assert "Connect to Exact Online</button>" not in page.text
    response = client.post("/console/connections/jansen-groep/exact-online", data={"_csrf_token": csrf_of(page.text)})
    assert response.status_code == 403


def test_the_oauth_state_is_bound_to_environment_session_and_time(clock) -> None:
    import base64
    from datetime import timedelta

    state = make_state("secret", "jansen-groep", "session-a", clock() + timedelta(minutes=15))
    assert read_state("secret", state, "session-a", clock()) == "jansen-groep"
    assert read_state("secret", state, "session-b", clock()) is None
    assert read_state("other", state, "session-a", clock()) is None
    # The environment rewritten inside the token, its signature kept: refused.
    payload, signature = state.rsplit(".", 1)
    padded = payload + "=" * (-len(payload) % 4)
    forged_payload = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(padded).replace(b"jansen-groep", b"bakkerij-dv")).rstrip(b"=").decode()
    assert forged_payload != payload
    assert read_state("secret", f"{forged_payload}.{signature}", "session-a", clock()) is None
    assert read_state("secret", state, "session-a", clock() + timedelta(minutes=16)) is None
    assert parse_qs("state=" + state)["state"] == [state]  # safe in a query string as it is


def test_checking_an_unknown_environment_makes_no_connection(client, tokens, settings) -> None:
    import sqlite3

    sign_in(client, TOKENS["operator"])
    page = client.get("/console/connections")
    answer = client.post("/console/connections/nowhere/exact-online/check", data={"_csrf_token": csrf_of(page.text)},
                         follow_redirects=False)
    assert answer.status_code == 302 and "no%20environment%20%27nowhere%27" in answer.headers["location"]
    db = sqlite3.connect(settings.database.path)
    assert db.execute("SELECT count(*) FROM connections WHERE environment = 'nowhere'").fetchone() == (0,)
    db.close()
