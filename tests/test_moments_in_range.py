"""Every moment the service accepts lies between 2000 and 2100 (UTC), or is refused with a 400 naming its
field; and a stored moment outside that range never stops the page from rendering (issue 11, fault 2)."""

from datetime import UTC, datetime

import pytest
from conftest import notice_writes

from statuspage.core.clock import local, out_of_range
from statuspage.core.storage import create_incident, set_override

OUT_OF_RANGE = ["9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00",
                "1999-12-31T23:59:59+00:00", "2100-01-01T00:00:00+00:00"]


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["starts", "ends"])
def test_a_maintenance_window_outside_the_range_is_refused_naming_the_field(client, tokens, field, moment) -> None:
    body = {"name": "m", "message": "m", "starts": "2026-11-24T10:00:00+01:00", "ends": "2026-11-24T11:00:00+01:00",
            "components": ["login"], field: moment}
    response = client.post("/api/v1/maintenances", headers=tokens["operator"], json=body)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{field} must lie between 2000-01-01 and 2100-01-01 (UTC)")


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_an_override_expiry_outside_the_range_is_refused_naming_the_field(client, tokens, moment) -> None:
    response = client.put("/api/v1/components/login/override", headers=tokens["operator"],
                          json={"status": "major_outage", "reason": "x", "expires_at": moment})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("expires_at must lie between")


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["started_at", "finished_at"])
def test_a_sync_report_outside_the_range_is_refused_naming_the_field(client, tokens, field, moment) -> None:
    report = {"environment": "jansen-groep", "integration": "exact-online", "kind": "incremental",
              "started_at": "2026-11-22T23:00:00+01:00", "finished_at": "2026-11-23T01:10:00+01:00", field: moment}
    response = client.post("/api/v1/syncs", json=report, headers=tokens["client"])
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{field} must lie between")


def test_the_range_is_inclusive_at_its_start_and_exclusive_at_its_end() -> None:
    assert out_of_range(datetime(2000, 1, 1, tzinfo=UTC), "x") is None
    assert out_of_range(datetime(2099, 12, 31, 23, 59, tzinfo=UTC), "x") is None
    assert out_of_range(datetime(2100, 1, 1, tzinfo=UTC), "x") is not None


def test_a_stored_moment_at_the_end_of_time_still_renders_in_every_zone(client, seed, clock) -> None:
    far = datetime(9999, 12, 31, 20, tzinfo=UTC)

    def work(db):
        end_of_time = datetime(9999, 12, 31, 23, tzinfo=UTC)
        set_override(db, "twinfield", "degraded_performance", "slow", "op", clock(), end_of_time)
        return create_incident(db, kind="maintenance", name="Far away", status="scheduled", impact="maintenance",
                               body="b", now=clock(), components={"login": "under_maintenance"},
                               scheduled_for=far, scheduled_until=datetime(9999, 12, 31, 23, tzinfo=UTC))

    maintenance = seed(work)
    notice_writes(client)
    for path in ["/?tz=Asia/Tokyo", f"/incidents/{maintenance}?tz=Pacific/Kiritimati", "/api/v2/summary.json",
                 "/api/v2/scheduled-maintenances.json", "/history.atom", "/history.rss"]:
        assert client.get(path).status_code == 200, path
    upcoming = client.get("/api/v2/scheduled-maintenances/upcoming.json").json()["scheduled_maintenances"]
    assert upcoming[0]["scheduled_for"] == "9999-12-31T21:00:00.000+01:00"
    assert upcoming[0]["scheduled_until"] == "9999-12-31T23:00:00.000Z"  # in UTC: the page's zone cannot hold it
    assert local(far, UTC) == far
