"""The console's one way of showing a moment: the page's zone with the zone named, and how long ago."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from statuspage.core.i18n import format_relative, format_stamp
from statuspage.web.console import stamp_of

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(("ago", "said"), [
    (timedelta(seconds=10), "just now"),
    (timedelta(seconds=50), "1 minute ago"),
    (timedelta(minutes=3), "3 minutes ago"),
    (timedelta(minutes=59), "59 minutes ago"),
    (timedelta(minutes=58, seconds=30), "59 minutes ago"),
    (timedelta(hours=1), "1 hour ago"),
    (timedelta(hours=5, minutes=10), "5 hours ago"),
    (timedelta(days=2), "2 days ago"),
    (-timedelta(minutes=20), "in 20 minutes"),
    (-timedelta(seconds=5), "in a moment"),
])
def test_relative_times_read_as_a_person_says_them(ago, said) -> None:
    assert format_relative(NOW - ago, NOW) == said


def test_a_stamp_is_in_the_pages_zone_with_the_zone_shown_summer_and_winter() -> None:
    assert format_stamp(NOW, AMSTERDAM) == "2026-11-23 10:30 CET"
    assert format_stamp(datetime(2026, 7, 1, 9, 30, tzinfo=UTC), AMSTERDAM) == "2026-07-01 11:30 CEST"


def test_the_console_stamp_takes_stored_text_and_says_how_long_ago() -> None:
    html = str(stamp_of("2026-11-23T09:27:00.123456+00:00", AMSTERDAM, NOW))
    assert html.startswith('<time datetime="2026-11-23T10:27:00+01:00" title="Monday 23 November 2026, 10:27:00 CET">')
    assert "2026-11-23 10:27 CET</time>" in html and "(3 minutes ago)" in html
    assert ".123456" not in html  # no microseconds
    assert str(stamp_of(None, AMSTERDAM, NOW)) == "–"
    assert "ago" not in str(stamp_of(NOW, AMSTERDAM, NOW, relative=False))


def test_an_operator_picks_the_zone_the_console_speaks(client, tokens) -> None:
    from conftest import TOKENS
    from page_helpers import csrf_of, sign_in

    sign_in(client, TOKENS["operator"])
    client.post("/api/v1/incidents", headers=tokens["operator"], json={"name": "Slow", "message": "m", "components": {}})
    audit = client.get("/console/audit").text
    assert "2026-11-23 10:30 CET" in audit  # the page's zone first
    assert "<th>When (Europe/Amsterdam)</th>" in audit and "(UTC)" not in audit
    moved = client.post("/console/zone", data={"_csrf_token": csrf_of(audit), "tz": "America/New_York",
                                               "back": "/console/audit"}, follow_redirects=False)
    assert moved.status_code in (302, 303) and moved.headers["location"] == "/console/audit"
    audit = client.get("/console/audit").text
    assert "2026-11-23 04:30 EST" in audit and "10:30 CET" not in audit
    assert "<th>When (America/New_York)</th>" in audit
    assert '<option selected>America/New_York</option>' in audit
    refused = client.post("/console/zone", data={"_csrf_token": csrf_of(audit), "tz": "Mars/Olympus"})
    assert "That is not a time zone" in refused.text
    # Elsewhere than the console, nothing can be sent back to.
    away = client.post("/console/zone", data={"_csrf_token": csrf_of(audit), "tz": "UTC", "back": "https://evil.test/"},
                       follow_redirects=False)
    assert away.headers["location"] == "/console"
