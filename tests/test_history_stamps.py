"""The status history records a change at the moment it took effect, even when the service was not running
then (issue 11, fault 7)."""

from datetime import UTC, datetime

from litestar.testing import TestClient

from statuspage.app import create_app
from statuspage.core.storage import open_database

# The tests' clock starts at 10:30 in Amsterdam (09:30 UTC), when the fixtures record the first statuses.
LATER = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 14:00 in Amsterdam


def _run(settings, clock, work):
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        return work(client)


def _events(settings, component: str) -> list[tuple[str, str]]:
    db = open_database(settings.database.path)
    try:
        return [(row["status"], row["at"]) for row in db.query(
            "SELECT status, at FROM status_events WHERE component_id = ? ORDER BY id", [component])]
    finally:
        db.close()


def test_an_override_that_expired_while_the_service_was_down_ends_at_its_expiry(settings, clock, tokens) -> None:
    _run(settings, clock, lambda client: client.put(
        "/api/v1/components/login/override", headers=tokens["operator"],
        json={"status": "major_outage", "reason": "down", "expires_at": "2026-11-23T11:30:00+01:00"}))
    clock.advance(minutes=45)  # stopped at 11:15
    clock.now = LATER  # started again at 14:00
    page = _run(settings, clock, lambda client: client.get("/?lang=en").text)

    assert _events(settings, "login")[-2:] == [("major_outage", "2026-11-23T09:30:00.000000+00:00"),
                                               ("operational", "2026-11-23T10:30:00.000000+00:00")]
    assert "Nov 23, 2026: Major Outage. Down for 1 h 0 min" in page


def test_a_maintenance_window_that_passed_while_the_service_was_down_keeps_its_own_times(settings, clock,
                                                                                          tokens) -> None:
    maintenance = _run(settings, clock, lambda client: client.post(
        "/api/v1/maintenances", headers=tokens["operator"],
        json={"name": "Upgrade", "message": "m", "starts": "2026-11-23T12:00:00+01:00",
              "ends": "2026-11-23T12:30:00+01:00", "components": ["login"]}).json())
    clock.now = LATER  # stopped right after, started again at 14:00
    done = _run(settings, clock, lambda client: client.get(f"/api/v1/incidents/{maintenance['id']}",
                                                           headers=tokens["viewer"]).json())

    assert [(u["status"], u["created_at"]) for u in done["incident_updates"]] == [
        ("completed", "2026-11-23T12:30:00.000+01:00"), ("in_progress", "2026-11-23T12:00:00.000+01:00"),
        ("scheduled", "2026-11-23T10:30:00.000+01:00")]
    assert _events(settings, "login")[-2:] == [("under_maintenance", "2026-11-23T11:00:00.000000+00:00"),
                                               ("operational", "2026-11-23T11:30:00.000000+00:00")]
