"""The operators' JSON API: who may do what, and what each change does to the page and the audit log."""

import sqlite3

import pytest
from conftest import notice_writes

from statuspage.core.operation import Actor

INCIDENT = {
    "name": "Bookings to Exact Online are paused",
    "message": "We switched the Exact Online integration off while we investigate wrong bookings.",
    "status": "identified",
    "impact": "major",
    "components": {"exact-online": "major_outage"},
}

# (method, path, body, the least role that may do it)
ROUTES = [
    ("GET", "/api/v1/me", None, "viewer"),
    ("GET", "/api/v1/incidents", None, "viewer"),
    ("POST", "/api/v1/incidents", INCIDENT, "operator"),
    ("POST", "/api/v1/maintenances", {"name": "m", "message": "m", "starts": "2026-11-24T10:00:00+01:00",
                                       "ends": "2026-11-24T11:00:00+01:00", "components": ["login"]}, "operator"),
    ("GET", "/api/v1/components", None, "viewer"),
    ("GET", "/api/v1/components/overrides", None, "viewer"),
    ("PUT", "/api/v1/components/twinfield/override", {"status": "degraded_performance", "reason": "slow"}, "operator"),
    ("GET", "/api/v1/audit", None, "viewer"),
    ("GET", "/api/v1/tokens", None, "admin"),
    ("POST", "/api/v1/tokens", {"name": "new-person", "role": "viewer"}, "admin"),
    ("GET", "/api/v1/subscribers", None, "viewer"),
    ("POST", "/api/v1/subscribers", {"url": "https://hooks.example.test/{role}"}, "operator"),
    ("GET", "/api/v1/incident-templates", None, "viewer"),
]
STAFF = ["viewer", "operator", "admin"]


@pytest.mark.parametrize(("method", "path", "body", "least"), ROUTES)
def test_each_route_needs_a_valid_token_and_a_large_enough_role(client, tokens, method, path, body, least) -> None:
    def call(headers, role="anonymous"):
        # Bodies may name the caller's role, where each successful call must differ from the last.
        filled = {key: value.format(role=role) if isinstance(value, str) else value for key, value in (body or {}).items()}
        return client.request(method, path, json=filled if body is not None else None, headers=headers)

    missing = call({})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer <token>" in missing.json()["detail"]
    assert call({"Authorization": "Bearer sp_made-up"}).status_code == 401
    assert call({"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    for role in STAFF:
        response = call(tokens[role], role)
        if STAFF.index(role) >= STAFF.index(least):
            assert response.status_code in (200, 201), (role, response.text)
        else:
            assert response.status_code == 403, role
            assert response.json()["detail"] == f"this needs the {least} role; '{role}-person' has {role}"


def test_changing_an_existing_incident_needs_the_operator_role(client, tokens) -> None:
    incident = client.post("/api/v1/incidents", json=INCIDENT, headers=tokens["operator"]).json()
    update = incident["incident_updates"][0]["id"]
    base = f"/api/v1/incidents/{incident['id']}/updates"
    attempts = [
        ("POST", base, {"status": "monitoring", "message": "m"}),
        ("PATCH", f"{base}/{update}", {"message": "m"}),
        ("DELETE", f"{base}/{update}", None),
        ("DELETE", "/api/v1/components/login/override", None),
        ("DELETE", "/api/v1/subscribers/1", None),
    ]
    for method, path, body in attempts:
        assert client.request(method, path, json=body, headers=tokens["viewer"]).status_code == 403, path
        assert client.request(method, path, json=body).status_code == 401, path
    assert client.delete("/api/v1/tokens/1", headers=tokens["operator"]).status_code == 403
    after = client.get(f"/api/v1/incidents/{incident['id']}", headers=tokens["viewer"]).json()
    assert after["incident_updates"] == incident["incident_updates"]


def test_the_invoice_products_client_token_cannot_touch_the_page(client, tokens) -> None:
    assert client.get("/api/v1/incidents", headers=tokens["client"]).status_code == 403
    assert client.post("/api/v1/incidents", json=INCIDENT, headers=tokens["client"]).status_code == 403
    assert client.get("/api/v1/me", headers=tokens["client"]).json() == {"name": "client-person", "role": "client"}


def test_a_visitor_can_change_nothing(client) -> None:
    for method, path, body, _ in ROUTES:
        if method != "GET":
            assert client.request(method, path, json=body).status_code == 401
    assert client.delete("/api/v1/incidents/x/updates/y").status_code == 401
    assert client.patch("/api/v1/incidents/x/updates/y", json={"message": "m"}).status_code == 401
    assert client.get("/api/v2/incidents/unresolved.json").json()["incidents"] == []


def test_an_incident_from_first_post_to_resolution(client, tokens, clock) -> None:
    opened = client.post("/api/v1/incidents", json=INCIDENT, headers=tokens["operator"])
    assert opened.status_code == 201
    incident = opened.json()
    assert incident["status"] == "identified" and incident["impact"] == "major"
    assert [c["id"] for c in incident["components"]] == ["exact-online"]
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "major"

    clock.advance(hours=1)
    monitoring = client.post(
        f"/api/v1/incidents/{incident['id']}/updates", headers=tokens["operator"],
        json={"status": "monitoring", "message": "Switched back on; bookings are replayed.",
              "components": {"exact-online": "degraded_performance"}},
    ).json()
    assert monitoring["monitoring_at"] == "2026-11-23T11:30:00.000+01:00"
    assert [u["status"] for u in monitoring["incident_updates"]] == ["monitoring", "identified"]
    assert monitoring["incident_updates"][0]["affected_components"] == [
        {"code": "exact-online", "name": "Koppelingen - Exact Online",
         "old_status": "major_outage", "new_status": "degraded_performance"},
    ]

    clock.advance(hours=1)
    resolved = client.post(
        f"/api/v1/incidents/{incident['id']}/updates", headers=tokens["operator"],
        json={"status": "resolved", "message": "All invoices are booked in the right administration."},
    ).json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] == "2026-11-23T12:30:00.000+01:00"
    # Resolving gives the components back.
    assert resolved["incident_updates"][0]["affected_components"][0]["new_status"] == "operational"
    assert client.get("/api/v2/incidents/unresolved.json").json()["incidents"] == []
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "none"

    reopened = client.post(f"/api/v1/incidents/{incident['id']}/updates", headers=tokens["operator"],
                           json={"status": "investigating", "message": "again"})
    assert reopened.status_code == 400
    assert "open a new incident" in reopened.json()["detail"]


def test_a_wrong_update_can_be_corrected_or_deleted(client, tokens) -> None:
    incident = client.post("/api/v1/incidents", json=INCIDENT, headers=tokens["operator"]).json()
    first = incident["incident_updates"][0]["id"]
    only = client.delete(f"/api/v1/incidents/{incident['id']}/updates/{first}", headers=tokens["operator"])
    assert only.status_code == 400 and "only update" in only.json()["detail"]

    second = client.post(f"/api/v1/incidents/{incident['id']}/updates", headers=tokens["operator"],
                         json={"status": "identified", "message": "Typo in tihs one."}).json()["incident_updates"][0]["id"]
    edited = client.patch(f"/api/v1/incidents/{incident['id']}/updates/{second}", headers=tokens["operator"],
                          json={"message": "No typo in this one."}).json()
    assert edited["incident_updates"][0]["body"] == "No typo in this one."
    assert client.delete(f"/api/v1/incidents/{incident['id']}/updates/{second}", headers=tokens["operator"]).status_code == 204
    after = client.get(f"/api/v1/incidents/{incident['id']}", headers=tokens["viewer"]).json()
    assert [u["id"] for u in after["incident_updates"]] == [first]
    assert client.delete(f"/api/v1/incidents/{incident['id']}/updates/nope", headers=tokens["operator"]).status_code == 404


def _shown_status(client, component: str) -> str:
    return {c["id"]: c["status"] for c in client.get("/api/v2/components.json").json()["components"]}[component]


def test_deleting_the_latest_update_returns_the_incident_and_its_components_to_the_one_before(client, tokens) -> None:
    incident = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        **INCIDENT, "status": "investigating", "components": {"exact-online": "degraded_performance"}}).json()
    base = f"/api/v1/incidents/{incident['id']}/updates"
    worse = client.post(base, headers=tokens["operator"], json={
        "status": "identified", "message": "Worse.", "components": {"exact-online": "major_outage",
                                                                     "twinfield": "partial_outage"}}).json()
    assert _shown_status(client, "exact-online") == "major_outage"

    assert client.delete(f"{base}/{worse['incident_updates'][0]['id']}", headers=tokens["operator"]).status_code == 204
    after = client.get(f"/api/v1/incidents/{incident['id']}", headers=tokens["viewer"]).json()
    assert after["status"] == "investigating"
    assert [(c["id"], c["status"]) for c in client.get("/api/v2/components.json").json()["components"]
            if c["id"] in ("exact-online", "twinfield")] == [("exact-online", "degraded_performance"),
                                                               ("twinfield", "operational")]
    assert [c["id"] for c in after["components"]] == ["exact-online"]
    assert client.get("/api/v2/summary.json").json()["incidents"][0]["status"] == "investigating"


def test_deleting_the_update_that_resolved_an_incident_opens_it_again(client, tokens) -> None:
    incident = client.post("/api/v1/incidents", headers=tokens["operator"], json=INCIDENT).json()
    base = f"/api/v1/incidents/{incident['id']}/updates"
    resolved = client.post(base, headers=tokens["operator"], json={"status": "resolved", "message": "Oops, not yet."})
    assert _shown_status(client, "exact-online") == "operational"

    client.delete(f"{base}/{resolved.json()['incident_updates'][0]['id']}", headers=tokens["operator"])
    after = client.get(f"/api/v1/incidents/{incident['id']}", headers=tokens["viewer"]).json()
    assert (after["status"], after["resolved_at"]) == ("identified", None)
    assert _shown_status(client, "exact-online") == "major_outage"
    assert client.post(base, headers=tokens["operator"], json={"status": "monitoring", "message": "Better."}).status_code == 201


def test_an_update_is_reached_only_through_its_own_incident(client, tokens) -> None:
    a = client.post("/api/v1/incidents", headers=tokens["operator"], json=INCIDENT).json()
    b = client.post("/api/v1/incidents", headers=tokens["operator"], json={**INCIDENT, "name": "B"}).json()
    b_base = f"/api/v1/incidents/{b['id']}/updates"
    b_second = client.post(b_base, headers=tokens["operator"], json={"status": "monitoring", "message": "B two."})
    update = b_second.json()["incident_updates"][0]["id"]

    edited = client.patch(f"/api/v1/incidents/{a['id']}/updates/{update}", headers=tokens["operator"],
                          json={"message": "Hijacked."})
    assert edited.status_code == 404
    assert update in edited.json()["detail"] and a["id"] in edited.json()["detail"]
    assert client.delete(f"/api/v1/incidents/{a['id']}/updates/{update}", headers=tokens["operator"]).status_code == 404
    still = client.get(f"/api/v1/incidents/{b['id']}", headers=tokens["viewer"]).json()
    assert [u["body"] for u in still["incident_updates"]] == ["B two.", INCIDENT["message"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**INCIDENT, "components": {"exact": "major_outage"}},
         "unknown component 'exact'; known: exact-online, login, twinfield"),
        ({**INCIDENT, "impact": "huge"}, "Invalid enum value 'huge'; impact must be one of 'none', 'minor', 'major', 'critical'"),
        (
            {**INCIDENT, "components": {"login": "broken"}},
            "Invalid enum value 'broken'; components[...] must be one of 'operational', 'degraded_performance', ",
        ),
        ({**INCIDENT, "colour": "red"}, "Object contains unknown field `colour`"),
        ({**INCIDENT, "name": ""}, "name is required, in at least one language"),
    ],
)
def test_bad_incidents_are_refused_with_a_message_that_says_what_to_fix(client, tokens, body, message) -> None:
    response = client.post("/api/v1/incidents", json=body, headers=tokens["operator"])
    assert response.status_code == 400
    assert message in response.text
    assert client.get("/api/v2/incidents.json").json()["incidents"] == []


def test_maintenance_moves_by_the_clock_and_says_so(client, tokens, clock) -> None:
    window = {"name": "Database upgrade", "message": "Booking pauses for an hour.", "components": ["exact-online"],
              "starts": "2026-11-23T12:00:00+01:00", "ends": "2026-11-23T13:00:00+01:00"}
    maintenance = client.post("/api/v1/maintenances", json=window, headers=tokens["operator"]).json()
    assert maintenance["status"] == "scheduled"
    upcoming = client.get("/api/v2/scheduled-maintenances/upcoming.json").json()["scheduled_maintenances"]
    assert upcoming[0]["id"] == maintenance["id"]

    def tick() -> None:
        from statuspage.background import keep_up_with_the_clock

        state = client.app.state
        client.blocking_portal.call(keep_up_with_the_clock, state.store, state.settings, state.clock)

    clock.advance(hours=1, minutes=30)  # 11:00 in Amsterdam... 09:30 UTC + 1:30 = 11:00 UTC = 12:00 local
    tick()
    active = client.get("/api/v2/scheduled-maintenances/active.json").json()["scheduled_maintenances"]
    assert [m["id"] for m in active] == [maintenance["id"]]
    assert active[0]["incident_updates"][0]["status"] == "in_progress"
    # The v2 JSON carries the page's language (Dutch).
    assert active[0]["incident_updates"][0]["body"].startswith("Het geplande onderhoud is begonnen")
    components = {c["id"]: c["status"] for c in client.get("/api/v2/components.json").json()["components"]}
    assert components["exact-online"] == "under_maintenance"
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "maintenance"

    clock.advance(hours=1)
    tick()
    done = client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"][0]
    assert done["status"] == "completed"
    assert [u["status"] for u in done["incident_updates"]] == ["completed", "in_progress", "scheduled"]
    assert done["resolved_at"] == "2026-11-23T13:00:00.000+01:00"
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "none"

    tick()  # nothing left to do: no more updates
    again = client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"][0]
    assert len(again["incident_updates"]) == 3


def test_a_maintenance_window_needs_times_with_a_zone_and_an_end_after_its_start(client, tokens) -> None:
    naive = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "name": "m", "message": "m", "starts": "2026-11-24T10:00:00", "ends": "2026-11-24T11:00:00+01:00"})
    assert naive.status_code == 400 and "Expected `datetime` with a timezone component" in naive.text
    backwards = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "name": "m", "message": "m", "starts": "2026-11-24T11:00:00+01:00", "ends": "2026-11-24T10:00:00+01:00"})
    assert backwards.status_code == 400
    assert backwards.json()["detail"] == "a maintenance window must end after it starts"


def test_an_override_shows_until_it_expires(client, tokens, clock) -> None:
    response = client.put("/api/v1/components/twinfield/override", headers=tokens["operator"], json={
        "status": "partial_outage", "reason": "Twinfield answers slowly", "expires_at": "2026-11-23T11:00:00+01:00"})
    assert response.status_code == 200
    statuses = {c["id"]: c["status"] for c in response.json()["components"]}
    assert statuses["twinfield"] == "partial_outage"
    overrides = client.get("/api/v1/components/overrides", headers=tokens["viewer"]).json()
    assert overrides == [{"component": "twinfield", "status": "partial_outage", "reason": "Twinfield answers slowly",
                          "set_by": "operator-person", "set_at": "2026-11-23T09:30:00.000000+00:00",
                          "expires_at": "2026-11-23T10:00:00.000000+00:00"}]
    clock.advance(minutes=31)
    statuses = {c["id"]: c["status"] for c in client.get("/api/v2/components.json").json()["components"]}
    assert statuses["twinfield"] == "operational"


def test_every_change_is_in_the_audit_log_with_who_and_before_and_after(client, tokens, clock, settings) -> None:
    incident = client.post("/api/v1/incidents", json=INCIDENT, headers=tokens["operator"]).json()
    clock.advance(minutes=5)
    client.post(f"/api/v1/incidents/{incident['id']}/updates", headers=tokens["operator"],
                json={"status": "monitoring", "message": "Better."})
    client.put("/api/v1/components/login/override", headers=tokens["operator"], json={"status": "major_outage", "reason": "x"})
    client.delete("/api/v1/components/login/override", headers=tokens["operator"])

    entries = client.get("/api/v1/audit", headers=tokens["viewer"]).json()
    assert [(e["action"], e["actor"], e["subject_id"]) for e in entries[:4]] == [
        ("component.clear_override", "operator-person", "login"),
        ("component.override", "operator-person", "login"),
        ("incident.update", "operator-person", incident["id"]),
        ("incident.open", "operator-person", incident["id"]),
    ]
    update = entries[2]
    assert update["before"]["status"] == "identified" and update["after"]["status"] == "monitoring"
    assert update["at"] == "2026-11-23T09:35:00.000000+00:00"
    assert entries[1]["before"] is None and entries[1]["after"]["status"] == "major_outage"
    page = client.get(f"/api/v1/audit?before_id={entries[1]['id']}&limit=1", headers=tokens["viewer"]).json()
    assert [e["id"] for e in page] == [entries[2]["id"]]

    raw = sqlite3.connect(settings.database.path)
    with pytest.raises(sqlite3.IntegrityError, match="the audit log cannot be changed"):
        raw.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="the audit log cannot be changed"):
        raw.execute("DELETE FROM audit_log")
    raw.close()


def test_an_admin_makes_and_revokes_tokens_and_a_revoked_token_stops_working(client, tokens) -> None:
    made = client.post("/api/v1/tokens", json={"name": "bob", "role": "operator"}, headers=tokens["admin"])
    assert made.status_code == 201
    bob = {"Authorization": f"Bearer {made.json()['token']}"}
    assert client.get("/api/v1/me", headers=bob).json() == {"name": "bob", "role": "operator"}
    listed = client.get("/api/v1/tokens", headers=tokens["admin"]).json()
    assert "bob" in [t["name"] for t in listed]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert client.post("/api/v1/tokens", json={"name": "bob", "role": "viewer"}, headers=tokens["admin"]).status_code == 400
    assert client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=tokens["admin"]).status_code == 204
    assert client.get("/api/v1/me", headers=bob).status_code == 401


def test_changes_made_by_another_process_reach_the_api(client, tokens, seed) -> None:
    from statuspage.incidents import operations

    seed(lambda db: operations.open_incident(db, seed.settings, Actor("cli"), seed.clock(), **INCIDENT))
    notice_writes(client)
    assert len(client.get("/api/v1/incidents", headers=tokens["viewer"]).json()["incidents"]) == 1


def test_an_incident_from_a_template_names_the_chosen_component(client, tokens, tmp_path, clock) -> None:
    from litestar.testing import TestClient

    from statuspage.app import create_app
    from statuspage.config import load_settings

    # The sample configuration ships the templates; run it on this test's database.
    settings = load_settings(None, environ={"STATUSPAGE_DB": client.app.state.settings.database.path,
                                           "STATUSPAGE_DEMO": "false"})
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as sample:
        listed = sample.get("/api/v1/incident-templates", headers=tokens["viewer"]).json()
        assert [t["key"] for t in listed] == ["bookings-paused", "integration-slow"]
        response = sample.post("/api/v1/incidents/from-template", headers=tokens["operator"],
                               json={"template": "bookings-paused", "component": "exact-online", "language": "en"})
        assert response.status_code == 201, response.text
        incident = response.json()
        assert incident["name"] == "Bookings to Exact Online are paused"
        assert incident["incident_updates"][0]["body"].startswith("We have switched the Exact Online integration off")
        assert (incident["status"], incident["impact"]) == ("identified", "major")
        assert [(c["id"], c["status"]) for c in incident["components"]] == [("exact-online", "major_outage")]
        # Written in English on a Dutch page: Dutch visitors read it marked as English.
        assert "In het Engels" in sample.get(f"/incidents/{incident['id']}?lang=nl").text
        assert "In het Engels" not in sample.get(f"/incidents/{incident['id']}?lang=en").text

        dutch = sample.post("/api/v1/incidents/from-template", headers=tokens["operator"],
                            json={"template": "integration-slow", "component": "twinfield"}).json()
        assert dutch["name"] == "Twinfield reageert traag"

        missing = sample.post("/api/v1/incidents/from-template", headers=tokens["operator"],
                              json={"template": "bookings-paused"})
        assert missing.status_code == 400
        assert missing.json()["detail"] == "template 'bookings-paused' needs a value for component (pick a component)"
        unknown = sample.post("/api/v1/incidents/from-template", headers=tokens["operator"], json={"template": "x"})
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == "no incident template 'x'; known: bookings-paused, integration-slow"


def test_a_draft_is_read_by_its_id_published_once_and_an_only_update_is_corrected_not_deleted(
    client, tokens, seed
) -> None:
    from statuspage.core import storage

    draft_id = seed(lambda db: storage.create_incident(
        db, kind="incident", name="Boekingen gepauzeerd", status="identified", impact="major", body="Koppeling uit.",
        now=seed.clock(), components={"exact-online": "major_outage"}, draft=True))
    notice_writes(client)
    draft = client.get(f"/api/v1/incidents/{draft_id}", headers=tokens["viewer"])
    assert draft.status_code == 200, draft.text
    assert (draft.json()["name"], draft.json()["incident_updates"][0]["body"]) == ("Boekingen gepauzeerd", "Koppeling uit.")
    assert client.get("/api/v2/incidents.json").json()["incidents"] == []  # not public yet
    missing = client.get("/api/v1/incidents/nope", headers=tokens["viewer"])
    assert missing.status_code == 404 and missing.json()["detail"] == "no incident or maintenance with id 'nope'"

    assert client.post(f"/api/v1/incidents/{draft_id}/publish", headers=tokens["operator"]).status_code == 200
    again = client.post(f"/api/v1/incidents/{draft_id}/publish", headers=tokens["operator"])
    assert again.status_code == 409 and again.json()["detail"] == f"incident {draft_id!r} is published already"
    assert client.post("/api/v1/incidents/nope/publish", headers=tokens["operator"]).status_code == 404

    only = draft.json()["incident_updates"][0]["id"]
    refused = client.delete(f"/api/v1/incidents/{draft_id}/updates/{only}", headers=tokens["operator"])
    assert refused.status_code == 400
    assert refused.json()["detail"] == ("this is the incident's only update, and an incident keeps at least one: "
                                        "correct its text instead")
    wrong = client.post(f"/api/v1/incidents/{draft_id}/updates", headers=tokens["operator"],
                        json={"status": "completed", "message": "Klaar."})
    assert wrong.status_code == 400 and wrong.json()["detail"].startswith("an incident update needs a status among")


def test_a_window_that_has_ended_already_is_refused(client, tokens) -> None:
    past = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "name": "m", "message": "m", "starts": "2020-01-01T11:00:00+01:00", "ends": "2020-01-01T12:00:00+01:00"})
    assert past.status_code == 400
    assert past.json()["detail"].startswith("ends (2020-01-01T12:00:00+01:00) lies in the past: a window that has "
                                            "ended already cannot be scheduled")
    assert client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"] == []
    # Work under way (begun, not ended) may still be put on the page: the test clock says 10:30 in Amsterdam.
    under_way = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "name": "m", "message": "m", "starts": "2026-11-23T10:00:00+01:00", "ends": "2026-11-23T11:00:00+01:00"})
    assert under_way.status_code == 201 and under_way.json()["status"] == "in_progress"
