"""The operator console: signing in with a token, sessions, CSRF, and running an incident by form."""

import html
import re
from datetime import UTC, datetime

import pytest
from conftest import TOKENS
from page_helpers import csrf_of, sign_in

from statuspage.core.operation import Actor


def test_the_console_sends_strangers_to_sign_in(client) -> None:
    response = client.get("/console", follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == "/console/sign-in"


def test_signing_in_sets_a_session_cookie_that_scripts_cannot_read(client, tokens) -> None:
    response = sign_in(client, TOKENS["operator"])
    assert response.status_code == 302 and response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("statuspage_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie and "Secure" in cookie
    assert TOKENS["operator"] not in cookie
    dashboard = client.get("/console")
    assert dashboard.status_code == 200
    assert "Sign out operator-person (operator)" in dashboard.text


def test_the_cookies_are_secure_over_tls_and_plain_for_a_local_http_page(
    tmp_path, config_file, clock, seed, tokens, client
) -> None:
    from litestar.testing import TestClient

    from statuspage.app import create_app
    from statuspage.config import load_settings

    assert "Secure" in sign_in(client, TOKENS["operator"]).headers["set-cookie"]
    local = load_settings(config_file, environ={"STATUSPAGE_DB": seed.settings.database.path,
                                                "STATUSPAGE_PAGE_URL": "http://127.0.0.1:8080"})
    with TestClient(create_app(local, clock=clock), base_url="http://127.0.0.1:8080") as plain:
        form = plain.get("/console/sign-in")
        assert "Secure" not in form.headers["set-cookie"]
        assert "Secure" not in sign_in(plain, TOKENS["operator"]).headers["set-cookie"]


def test_a_wrong_token_is_refused_and_repeated_failures_must_wait(client, tokens) -> None:
    for _ in range(5):
        response = sign_in(client, "sp_guess")
        assert response.status_code == 401
        assert "That token is unknown or revoked." in response.text
    blocked = sign_in(client, TOKENS["operator"])
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "300"
    assert "Too many failed sign-ins; try again in 300 seconds." in blocked.text


def test_the_failed_sign_in_limit_lifts_after_its_window(client, tokens, clock) -> None:
    for _ in range(5):
        sign_in(client, "sp_guess")
    clock.advance(minutes=5, seconds=1)
    assert sign_in(client, TOKENS["operator"]).status_code == 302


def test_the_invoice_products_token_cannot_sign_in(client, tokens) -> None:
    assert sign_in(client, TOKENS["client"]).status_code == 401


def test_a_form_without_its_csrf_token_is_refused(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    response = client.post("/console/incidents", data={"name": "X", "message": "m"})
    assert response.status_code == 403
    assert client.get("/api/v2/incidents.json").json()["incidents"] == []


def test_a_change_without_a_session_is_refused_with_401(client) -> None:
    response = client.post("/console/incidents", data={"name": "X", "message": "m"})
    assert response.status_code == 401


def test_a_viewer_sees_the_console_but_changes_nothing(client, tokens) -> None:
    sign_in(client, TOKENS["viewer"])
    dashboard = client.get("/console")
    assert dashboard.status_code == 200
    assert "/override" not in dashboard.text  # no forms to change anything
    response = client.post("/console/incidents", data={"name": "X", "message": "m", "_csrf_token": csrf_of(
        client.get("/console/incidents/new").text)})
    assert response.status_code == 403


def test_signing_out_or_revoking_the_token_ends_the_session(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    dashboard = client.get("/console")
    client.post("/console/sign-out", data={"_csrf_token": csrf_of(dashboard.text)})
    assert client.get("/console", follow_redirects=False).status_code == 302

    sign_in(client, TOKENS["operator"])
    assert client.get("/console", follow_redirects=False).status_code == 200
    operator_id = next(t["id"] for t in client.get("/api/v1/tokens", headers=tokens["admin"]).json()
                       if t["name"] == "operator-person")
    client.delete(f"/api/v1/tokens/{operator_id}", headers=tokens["admin"])
    assert client.get("/console", follow_redirects=False).status_code == 302


def test_an_incident_run_from_the_console_reaches_the_public_api_and_the_audit_log(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    form = client.get("/console/incidents/new")
    opened = client.post("/console/incidents", follow_redirects=False, data={
        "_csrf_token": csrf_of(form.text), "name": "Bookings to Exact Online are paused", "status": "identified",
        "impact": "major", "component.exact-online": "major_outage", "component.twinfield": "",
        "message": "We switched the integration off.",
    })
    assert opened.status_code == 302
    page = client.get(opened.headers["location"])
    client.post(f"{opened.headers['location']}/updates", data={
        "_csrf_token": csrf_of(page.text), "status": "monitoring", "message": "Switched on again.",
        "component.exact-online": "degraded_performance"})

    incident = client.get("/api/v2/incidents/unresolved.json").json()["incidents"][0]
    assert incident["name"] == "Bookings to Exact Online are paused"
    assert [u["status"] for u in incident["incident_updates"]] == ["monitoring", "identified"]
    assert [c["status"] for c in incident["components"]] == ["degraded_performance"]
    audit = client.get("/console/audit").text
    assert "incident.open" in audit and "incident.update" in audit and "operator-person" in audit


def test_a_refused_console_change_shows_the_form_again_with_what_to_fix(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    form = client.get("/console/maintenances/new")
    response = client.post("/console/maintenances", data={
        "_csrf_token": csrf_of(form.text), "name": "Upgrade", "message": "m",
        "starts": "2026-11-24T22:00", "ends": "2026-11-24T21:00", "component.exact-online": "on"})
    assert response.status_code == 400
    assert "a maintenance window must end after it starts" in response.text
    assert 'value="Upgrade"' in response.text


# The console validates through the API's own types and limits (issue 11, fault 3).
CONSOLE_INCIDENT = {"name": "Slow", "message": "Looking.", "status": "investigating", "impact": "minor"}


@pytest.mark.parametrize(("change", "says"), [
    ({"status": "on_fire"}, "status: Invalid enum value 'on_fire'; must be one of 'investigating', 'identified'"),
    ({"impact": "apocalyptic"}, "impact: Invalid enum value 'apocalyptic'; must be one of 'none', 'minor'"),
    ({"component.login": "exploded"}, "Invalid enum value 'exploded'; must be one of 'operational'"),
    ({"name": "x" * 100_000}, "name: Expected `str` of length <= 200"),
    ({"message": "m" * 20_001}, "message: Expected `str` of length <= 20000"),
    ({"name": "a\x00b"}, "name: Expected `str` must be one line without control characters"),
    ({"message": "a\x00b"}, "message: Expected `str` must not contain control characters"),
    ({"name": ""}, "name is required"),
])
def test_the_console_refuses_what_the_api_refuses_and_shows_the_form_with_what_to_fix(client, tokens, change, says):
    sign_in(client, TOKENS["operator"])
    form = client.get("/console/incidents/new")
    response = client.post("/console/incidents", data={"_csrf_token": csrf_of(form.text), **CONSOLE_INCIDENT,
                                                       **change})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert says in html.unescape(response.text)
    assert client.get("/api/v2/incidents.json").json()["incidents"] == []
    api = client.post("/api/v1/incidents", headers=tokens["operator"], json={**CONSOLE_INCIDENT, **change})
    assert api.status_code == 400 or "component.login" in change  # the API names components in a dict


def test_console_updates_overrides_and_webhooks_share_the_api_limits(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    form = client.get("/console/incidents/new")
    opened = client.post("/console/incidents", follow_redirects=False,
                         data={"_csrf_token": csrf_of(form.text), **CONSOLE_INCIDENT})
    page = client.get(opened.headers["location"])
    update = client.post(f"{opened.headers['location']}/updates", data={
        "_csrf_token": csrf_of(page.text), "status": "identified", "message": "9" * 9_000_00})
    assert update.status_code == 400 and "message: Expected `str` of length &lt;= 20000" in update.text
    override = client.post("/console/components/login/override", follow_redirects=False, data={
        "_csrf_token": csrf_of(page.text), "status": "sideways", "reason": "x"})
    assert override.status_code == 302 and "Invalid%20enum%20value" in override.headers["location"]
    assert client.get("/api/v1/components/overrides", headers=tokens["viewer"]).json() == []
    incident = client.get("/api/v2/incidents.json").json()["incidents"][0]
    assert [u["status"] for u in incident["incident_updates"]] == ["investigating"]


# Local times that do not exist, or exist twice (issue 11, fault 6). Europe/Amsterdam moves its clocks on
# 2026-03-29 (02:00 CET becomes 03:00 CEST) and on 2026-10-25 (03:00 CEST becomes 02:00 CET).
# Those windows lie ahead of this moment (a window that has ended is refused).
BEFORE_THE_CLOCK_CHANGES = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _schedule(client, **times: str):
    form = client.get("/console/maintenances/new")
    return client.post("/console/maintenances", follow_redirects=False, data={
        "_csrf_token": csrf_of(form.text), "name": "Upgrade", "message": "m", "component.login": "on", **times})


@pytest.mark.parametrize(("starts", "ends"), [("2026-03-29T02:45", "2026-03-29T03:10"),
                                              ("2026-03-29T02:30", "2026-03-29T03:30")])
def test_a_maintenance_time_the_clocks_skip_is_refused_saying_so(client, tokens, clock, starts, ends) -> None:
    clock.now = BEFORE_THE_CLOCK_CHANGES
    sign_in(client, TOKENS["operator"])
    response = _schedule(client, starts=starts, ends=ends)
    assert response.status_code == 400
    assert (f"starts {starts.replace('T', ' ')} does not exist in Europe/Amsterdam: the clocks skip that hour"
            in html.unescape(response.text))
    assert client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"] == []


def test_a_maintenance_time_the_clocks_pass_twice_asks_which_one_and_takes_the_answer(client, tokens, clock) -> None:
    clock.now = BEFORE_THE_CLOCK_CHANGES
    sign_in(client, TOKENS["operator"])
    asked = _schedule(client, starts="2026-10-25T02:30", ends="2026-10-25T04:00")
    assert asked.status_code == 400
    assert ("starts 2026-10-25 02:30 occurs twice in Europe/Amsterdam: the clocks go back that night; choose the "
            "first (UTC+02:00) or the second (UTC+01:00)") in html.unescape(asked.text)
    first = _schedule(client, starts="2026-10-25T02:30", starts_fold="0", ends="2026-10-25T04:00")
    second = _schedule(client, starts="2026-10-25T02:30", starts_fold="1", ends="2026-10-25T04:00")
    assert first.status_code == second.status_code == 302
    windows = client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"]
    assert sorted(w["scheduled_for"] for w in windows) == ["2026-10-25T02:30:00.000+01:00",
                                                           "2026-10-25T02:30:00.000+02:00"]


def test_a_window_across_the_spring_change_is_compared_and_stored_as_instants(client, tokens, clock) -> None:
    clock.now = BEFORE_THE_CLOCK_CHANGES
    sign_in(client, TOKENS["operator"])
    assert _schedule(client, starts="2026-03-29T01:30", ends="2026-03-29T03:30").status_code == 302
    [window] = client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"]
    assert (window["scheduled_for"], window["scheduled_until"]) == ("2026-03-29T01:30:00.000+01:00",
                                                                   "2026-03-29T03:30:00.000+02:00")
    backwards = _schedule(client, starts="2026-10-25T02:30", starts_fold="1", ends="2026-10-25T02:45",
                          ends_fold="0")  # 01:30 UTC to 00:45 UTC: ends before it starts
    assert backwards.status_code == 400 and "must end after it starts" in backwards.text


@pytest.mark.parametrize("path", ["/console", "/console/audit", "/console/incidents/new"])
def test_console_pages_render_for_a_signed_in_operator(client, tokens, path) -> None:
    sign_in(client, TOKENS["operator"])
    assert client.get(path).status_code == 200


def test_a_template_fills_in_the_new_incident_form(client, tokens) -> None:
    from statuspage.core.settings import IncidentTemplateSettings

    client.app.state.settings.incident_templates.append(IncidentTemplateSettings(
        key="paused", name="Paused", title="Bookings to {component} are paused", message="{component} is off."))
    sign_in(client, TOKENS["operator"])
    form = client.get("/console/incidents/new?template=paused&component=exact-online").text
    assert 'value="Bookings to Exact Online are paused"' in form
    assert ">Exact Online is off.</textarea>" in form
    assert '<option value="major_outage" selected>' in form
    missing = client.get("/console/incidents/new?template=paused&component=").text
    assert "needs a value for component" in missing


def test_operators_add_a_webhook_in_the_console_and_see_its_deliveries(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/subscribers")
    assert "No subscribers yet." in page.text
    added = client.post("/console/subscribers", data={"_csrf_token": csrf_of(page.text),
                                                      "url": "http://127.0.0.1:9/hook", "component.twinfield": "on"})
    assert "Its signing secret, shown only now" in added.text
    client.put("/api/v1/components/twinfield/override", headers=tokens["operator"],
               json={"status": "partial_outage", "reason": "slow"})
    listing = client.get("/console/subscribers").text
    assert "http://127.0.0.1:9/hook" in listing and "twinfield" in listing
    assert "<td>component</td><td>pending</td><td>0</td>" in listing
    assert "signing secret" not in listing


def test_operators_remove_a_webhook_in_the_console(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/subscribers")
    client.post("/console/subscribers", data={"_csrf_token": csrf_of(page.text), "url": "http://127.0.0.1:9/gone"})
    listing = client.get("/console/subscribers").text
    subscriber_id = listing.split('data-subscriber="')[1].split('"')[0]
    assert 'aria-label="Remove webhook http://127.0.0.1:9/gone"' in listing
    removed = client.post(f"/console/subscribers/{subscriber_id}/remove", data={"_csrf_token": csrf_of(listing)})
    assert removed.status_code == 200
    listing = client.get("/console/subscribers").text
    assert "left <time" in listing and 'aria-label="Remove webhook' not in listing
    assert client.get("/api/v1/subscribers", headers=tokens["viewer"]).json()[0]["unsubscribed_at"] is not None
    again = client.post(f"/console/subscribers/{subscriber_id}/remove", data={"_csrf_token": csrf_of(listing)})
    assert "no active subscriber" in again.text


def test_the_console_shows_each_probe_with_a_chart_and_why_it_failed(tmp_path, clock, seed) -> None:
    from litestar.testing import TestClient
    from probe_helpers import Target, probes_config

    from statuspage.app import create_app
    from statuspage.config import load_settings
    from statuspage.incidents import operations

    target = Target()
    try:
        path = tmp_path / "probes.toml"
        path.write_text(probes_config(target.url))
        settings = load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "c.db")})
        seed.settings = settings
        seed(lambda db: operations.create_token(db, settings, Actor("t"), clock(), "op", "operator", "sp_op"))
        with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
            sign_in(client, "sp_op")
            page = client.get("/console/probes/twinfield-api")
            client.post("/console/probes/twinfield-api/run", data={"_csrf_token": csrf_of(page.text)})
            target.status = 500
            client.post("/console/probes/twinfield-api/run", data={"_csrf_token": csrf_of(page.text)})
            detail = client.get("/console/probes/twinfield-api").text
            assert '<svg class="chart"' in detail and detail.count("<circle") == 1 and detail.count('class="failed"><title>') == 1
            assert "✕ [STATUS] (500) == 200" in detail
            # The chart's axis: a date no reader can take for another, with the zone.
            assert re.search(r'class="label"[^>]*>2026-11-23 10:\d\d:\d\d CET</text>', detail)
            assert "<th>When (Europe/Amsterdam)</th>" in detail and "(UTC)" not in detail  # the zone shown
            listing = client.get("/console/probes").text
            assert 'data-probe="twinfield-api"' in listing and "FAILED at" in listing
    finally:
        target.close()


def test_operators_see_the_invoice_actions_and_filter_them_by_state(tmp_path, clock, seed) -> None:
    from conftest import TEST_CONFIG
    from exact_online_service_helpers import ENVIRONMENTS, book
    from litestar.testing import TestClient

    from statuspage.app import create_app
    from statuspage.config import load_settings
    from statuspage.incidents import operations

    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENTS)
    settings = load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "actions.db")})
    seed.settings = settings
    for role in ("viewer", "operator", "client"):
        seed(lambda db, role=role: operations.create_token(db, settings, Actor("t"), clock(), role, role,
                                                           f"sp_{role}"))
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        client.put("/api/v1/integrations/exact-online/switch", headers={"Authorization": "Bearer sp_operator"},
                   json={"enabled": False, "reason": "wrong bookings"})
        handed_in = client.post("/api/v1/actions", headers={"Authorization": "Bearer sp_client"},
                                json=book("A-1") | {"environment": "jansen-groep", "administration": "201"})
        assert handed_in.json()["state"] == "delayed"
        sign_in(client, "sp_viewer")
        delayed = client.get("/console/actions?state=delayed").text
        row = delayed.split('data-action="')[1].split("</tr>")[0]
        assert 'data-state="delayed"' in row and '<td class="key">A-1</td>' in row
        assert '<span class="action-state delayed">delayed</span>' in row  # the word, with its icon by CSS
        assert "No actions in state done." in client.get("/console/actions?state=done").text


def test_every_console_page_renders_with_incidents_maintenance_and_overrides_in_place(client, tokens) -> None:
    incident = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        "name": "Slow", "message": "*Slow*", "components": {"twinfield": "degraded_performance"}}).json()
    maintenance = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "name": "Upgrade", "message": "m", "starts": "2026-11-24T22:00:00+01:00", "ends": "2026-11-24T23:00:00+01:00",
        "components": ["login"]}).json()
    client.put("/api/v1/components/login/override", headers=tokens["operator"],
               json={"status": "partial_outage", "reason": "r", "expires_at": "2026-11-24T10:00:00+01:00"})
    sign_in(client, TOKENS["operator"])
    for path in ["/console", f"/console/incidents/{incident['id']}", f"/console/incidents/{maintenance['id']}",
                 "/console/incidents/new", "/console/maintenances/new", "/console/switches", "/console/actions",
                 "/console/probes", "/console/connections", "/console/subscribers", "/console/audit"]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[-500:])
    assert client.get("/console/incidents/nope").status_code == 404
    assert client.get("/console/probes/nope").status_code == 404
    csrf = csrf_of(client.get("/console").text)
    assert client.post("/console/probes/nope/run", data={"_csrf_token": csrf}).status_code == 404
    assert client.post("/console/probes/nope/pause", data={"_csrf_token": csrf, "paused": "yes"}).status_code == 404


def test_the_switches_page_shows_each_connections_own_backlog_and_replay(tmp_path, clock, seed) -> None:
    from conftest import TEST_CONFIG
    from exact_online_service_helpers import ENVIRONMENTS, book
    from litestar.testing import TestClient

    from statuspage.app import create_app
    from statuspage.config import load_settings
    from statuspage.incidents import operations

    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENTS)
    settings = load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "switches.db")})
    seed.settings = settings
    for role in ("operator", "client"):
        seed(lambda db, role=role: operations.create_token(db, settings, Actor("t"), clock(), role, role,
                                                           f"sp_{role}"))
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        sign_in(client, "sp_operator")
        page = client.get("/console/switches")
        client.post("/console/switches/exact-online", data={
            "_csrf_token": csrf_of(page.text), "environment": "jansen-groep", "enabled": "off", "reason": "rights"})
        for n in range(2):
            client.post("/api/v1/actions", headers={"Authorization": "Bearer sp_client"},
                        json=book(f"J-{n}") | {"environment": "jansen-groep", "administration": "201"})
        row = client.get("/console/switches").text.split('data-connection="jansen-groep"')[1].split("</tr>")[0]
        assert "2 delayed" in row and "off" in row


def test_an_incident_is_opened_in_two_languages_and_updated_in_one(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    form = client.get("/console/incidents/new").text
    opened = client.post("/console/incidents", data={
        "_csrf_token": csrf_of(form), "language": "en", "name": "Twinfield is slow", "message": "We are looking.",
        "name_other": "Twinfield is traag", "message_other": "We kijken ernaar.", "status": "investigating",
        "impact": "minor", "component.twinfield": "degraded_performance"}, follow_redirects=False)
    incident = opened.headers["location"]
    page = client.get(incident).text
    client.post(f"{incident}/updates", data={"_csrf_token": csrf_of(page), "status": "identified",
                                              "language": "nl", "message": "Oorzaak bij Twinfield."})
    public_id = incident.rsplit("/", 1)[1]
    dutch = client.get(f"/incidents/{public_id}?lang=nl").text
    english = client.get(f"/incidents/{public_id}?lang=en").text
    assert "Twinfield is traag" in dutch and "We kijken ernaar." in dutch and "We are looking." not in dutch
    assert "Twinfield is slow" in english and "We are looking." in english and "We kijken ernaar." not in english
    # The Dutch-only update reaches English visitors marked with its language.
    assert '<p class="written-in muted" lang="en">In Dutch</p>' in english and "Oorzaak bij Twinfield." in english
    assert "In het" not in dutch


def test_an_override_expiry_the_clocks_pass_twice_is_taken_as_the_chosen_one(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console")
    assert 'name="expires_at_fold"' in page.text
    asked = client.post("/console/components/login/override", follow_redirects=False, data={
        "_csrf_token": csrf_of(page.text), "status": "major_outage", "reason": "x", "expires_at": "2027-10-31T02:30"})
    assert "occurs%20twice" in asked.headers["location"]
    client.post("/console/components/login/override", data={
        "_csrf_token": csrf_of(page.text), "status": "major_outage", "reason": "x", "expires_at": "2027-10-31T02:30",
        "expires_at_fold": "1"})
    [override] = client.get("/api/v1/components/overrides", headers=tokens["viewer"]).json()
    assert override["expires_at"] == "2027-10-31T01:30:00.000000+00:00"
