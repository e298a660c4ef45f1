"""The public JSON API matches the hosted status pages' API v2 field for field.

The fixtures in tests/fixtures/statuspage_v2 are real responses of that API (see SOURCES.md):
every object we emit must have exactly their keys, in their order, with their vocabularies.
"""

import json
import re
from pathlib import Path

import pytest
from conftest import seed_bad_day

FIXTURES = Path(__file__).parent / "fixtures" / "statuspage_v2"
ENDPOINTS = {
    "summary.json": "summary.json",
    "status.json": "status.json",
    "components.json": "components.json",
    "incidents.json": "incidents.json",
    "incidents/unresolved.json": "incidents_unresolved.json",
    "scheduled-maintenances.json": "scheduled_maintenances.json",
    "scheduled-maintenances/upcoming.json": "scheduled_maintenances_upcoming.json",
    "scheduled-maintenances/active.json": "scheduled_maintenances_active.json",
}
COMPONENT_STATUSES = {"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def keys_of(kind: str) -> list[str]:
    """The keys, in order, that the real API writes on one kind of object."""
    summary, components = fixture("summary.json"), fixture("components.json")["components"]
    incident = fixture("incidents.json")["incidents"][0]
    maintenance = fixture("scheduled_maintenances.json")["scheduled_maintenances"][0]
    return list(
        {
            "page": summary["page"],
            "status": summary["status"],
            "component": next(c for c in components if not c["group"]),
            "group": next(c for c in components if c["group"]),
            "incident": incident,
            "update": summary["incidents"][0]["incident_updates"][0],
            "affected": summary["incidents"][0]["incident_updates"][0]["affected_components"][0],
            "maintenance": maintenance,
        }[kind]
    )


@pytest.fixture
def bad_day(seed, clock):
    return seed_bad_day(seed, clock)


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_every_document_has_the_top_level_keys_of_the_real_api(client, bad_day, path: str) -> None:
    response = client.get(f"/api/v2/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert list(response.json()) == list(fixture(ENDPOINTS[path]))


def check_component(component: dict) -> None:
    assert list(component) == keys_of("group" if component["group"] else "component")
    assert component["status"] in COMPONENT_STATUSES
    assert TIMESTAMP.match(component["created_at"]) and TIMESTAMP.match(component["updated_at"])


def check_incident(incident: dict, kind: str) -> None:
    assert list(incident) == keys_of(kind)
    assert incident["status"] in (MAINTENANCE_STATUSES if kind == "maintenance" else INCIDENT_STATUSES)
    assert incident["impact"] in {"none", "minor", "major", "critical", "maintenance"}
    for key in ("created_at", "updated_at", "started_at"):
        assert TIMESTAMP.match(incident[key]), incident[key]
    for update in incident["incident_updates"]:
        assert list(update) == keys_of("update")
        assert update["status"] in INCIDENT_STATUSES | MAINTENANCE_STATUSES
        for affected in update["affected_components"] or []:
            assert list(affected) == keys_of("affected")
            assert {affected["old_status"], affected["new_status"]} <= COMPONENT_STATUSES
    for component in incident["components"]:
        check_component(component)


def test_summary_nests_objects_like_the_real_api(client, bad_day) -> None:
    summary = client.get("/api/v2/summary.json").json()
    assert list(summary["page"]) == keys_of("page")
    assert list(summary["status"]) == keys_of("status")
    for component in summary["components"]:
        check_component(component)
    for incident in summary["incidents"]:
        check_incident(incident, "incident")
    for maintenance in summary["scheduled_maintenances"]:
        check_incident(maintenance, "maintenance")


def test_summary_lists_groups_and_children_flat_with_links_both_ways(client) -> None:
    components = client.get("/api/v2/summary.json").json()["components"]
    by_id = {component["id"]: component for component in components}
    group = by_id["integrations"]
    assert group["group"] is True and group["group_id"] is None
    assert group["components"] == ["exact-online", "twinfield"]
    assert by_id["exact-online"]["group_id"] == "integrations" and "components" not in by_id["exact-online"]
    assert by_id["login"]["group_id"] is None
    assert [c["position"] for c in components] == [1, 2, 3, 4]
    assert {c["page_id"] for c in components} == {"test-page"}


def test_the_page_and_times_are_in_the_page_time_zone(client) -> None:
    page = client.get("/api/v2/status.json").json()["page"]
    assert page == {
        "id": "test-page",
        "name": "Test status",
        "url": "https://status.example.test",
        "time_zone": "Europe/Amsterdam",
        "updated_at": "2026-11-23T10:30:00.000+01:00",
    }


def test_summary_holds_only_unresolved_incidents_and_current_or_coming_maintenance(client, bad_day) -> None:
    summary = client.get("/api/v2/summary.json").json()
    assert [incident["id"] for incident in summary["incidents"]] == [bad_day.outage]
    assert [(m["id"], m["status"]) for m in summary["scheduled_maintenances"]] == [
        (bad_day.active_maintenance, "in_progress"),
        (bad_day.upcoming_maintenance, "scheduled"),
    ]
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}


def test_an_open_incident_shows_its_updates_newest_first_with_component_changes(client, bad_day) -> None:
    incident = client.get("/api/v2/incidents/unresolved.json").json()["incidents"][0]
    assert incident["name"] == "Bookings to Exact Online are paused"
    assert incident["status"] == "identified" and incident["impact"] == "major"
    assert incident["shortlink"] == f"https://status.example.test/incidents/{bad_day.outage}"
    assert incident["started_at"] == "2026-11-23T08:30:00.000+01:00"
    assert incident["reminder_intervals"] is None
    assert [u["status"] for u in incident["incident_updates"]] == ["identified", "investigating"]
    assert incident["incident_updates"][0]["affected_components"] == [
        {"code": "exact-online", "name": "Koppelingen - Exact Online", "old_status": "partial_outage",
         "new_status": "major_outage"}
    ]
    assert [c["id"] for c in incident["components"]] == ["exact-online"]
    components = {c["id"]: c["status"] for c in client.get("/api/v2/components.json").json()["components"]}
    assert components == {
        "integrations": "major_outage", "exact-online": "major_outage", "twinfield": "operational",
        "login": "under_maintenance",
    }


def test_incidents_json_lists_resolved_ones_too(client, bad_day) -> None:
    incidents = client.get("/api/v2/incidents.json").json()["incidents"]
    assert [incident["id"] for incident in incidents] == [bad_day.outage, bad_day.yesterday]
    resolved = incidents[1]
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] == "2026-11-22T14:30:00.000+01:00"


def test_maintenance_lists_split_by_phase(client, bad_day) -> None:
    upcoming = client.get("/api/v2/scheduled-maintenances/upcoming.json").json()["scheduled_maintenances"]
    active = client.get("/api/v2/scheduled-maintenances/active.json").json()["scheduled_maintenances"]
    everything = client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"]
    assert [m["id"] for m in upcoming] == [bad_day.upcoming_maintenance]
    assert [m["id"] for m in active] == [bad_day.active_maintenance]
    assert {m["id"] for m in everything} == {bad_day.upcoming_maintenance, bad_day.active_maintenance}
    assert active[0]["scheduled_for"] == "2026-11-23T10:20:00.000+01:00"
    assert active[0]["scheduled_until"] == "2026-11-23T11:30:00.000+01:00"


def test_a_page_kept_in_utc_writes_z(tmp_path, config_file) -> None:
    from conftest import WINTER_MORNING, FakeClock
    from litestar.testing import TestClient

    from statuspage.app import create_app
    from statuspage.config import load_settings

    settings = load_settings(config_file, environ={"STATUSPAGE_TIME_ZONE": "UTC", "STATUSPAGE_DB": str(tmp_path / "u.db")})
    with TestClient(create_app(settings, clock=FakeClock(WINTER_MORNING))) as client:
        assert client.get("/api/v2/status.json").json()["page"]["updated_at"] == "2026-11-23T09:30:00.000Z"


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_head_answers_like_get_without_a_body(client, path: str) -> None:
    get, head = client.get(f"/api/v2/{path}"), client.head(f"/api/v2/{path}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))


def test_a_matching_if_none_match_gets_304_without_a_body(client) -> None:
    first = client.get("/api/v2/summary.json")
    assert first.headers["cache-control"] == "public, max-age=10"
    again = client.get("/api/v2/summary.json", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    listed = client.get("/api/v2/summary.json", headers={"If-None-Match": f'"other", W/{first.headers["etag"]}'})
    assert listed.status_code == 304
    stale = client.get("/api/v2/summary.json", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content == first.content
    # A list header may come as several lines (RFC 9110, 5.3): each counts.
    repeated = client.get("/api/v2/summary.json",
                          headers=[("If-None-Match", '"other"'), ("If-None-Match", first.headers["etag"])])
    assert repeated.status_code == 304


def test_a_change_in_the_data_changes_the_etag(client, seed, clock) -> None:
    from conftest import notice_writes

    from statuspage.core.storage import set_override

    before = client.get("/api/v2/summary.json")
    seed(set_override, "twinfield", "degraded_performance", "Slow answers from Twinfield", "test", clock(), None)
    notice_writes(client)
    after = client.get("/api/v2/summary.json", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    twinfield = next(c for c in after.json()["components"] if c["id"] == "twinfield")
    assert twinfield["status"] == "degraded_performance"


def test_unknown_api_paths_and_methods_answer_json_with_a_clear_message(client) -> None:
    missing = client.get("/api/v2/summry.json")
    assert missing.status_code == 404
    assert missing.json() == {
        "status_code": 404,
        "detail": "No such endpoint: /api/v2/summry.json. The public API is described at /api/schema.",
    }
    wrong = client.post("/api/v2/summary.json", json={})
    assert wrong.status_code == 405
    assert wrong.json()["detail"] == "POST is not allowed on /api/v2/summary.json; use GET, HEAD, OPTIONS"
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS"


def test_the_openapi_schema_describes_the_documents(client) -> None:
    schema = client.get("/api/schema/openapi.json").json()
    assert "/api/v2/summary.json" in schema["paths"]
    summary = schema["components"]["schemas"]["SummaryDocument"]
    assert set(summary["properties"]) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
