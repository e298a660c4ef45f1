"""What a visitor of the public page reads, in their language and time zone."""

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from conftest import FakeClock, seed_bad_day
from litestar.testing import TestClient
from page_helpers import text_of

from statuspage.app import create_app
from statuspage.core.i18n import choose_language
from statuspage.core.storage import record_status_changes


@pytest.mark.parametrize(
    ("query", "header", "chosen"),
    [
        ("en", "nl-NL,nl;q=0.9", "en"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "de-DE,de;q=0.9,en;q=0.8,nl;q=0.7", "en"),
        (None, "nl;q=0.4,en;q=0.5", "en"),
        (None, "fr-FR", "nl"),
        (None, "", "nl"),
        (None, "en;q=0", "nl"),
        (None, "garbage;;q=x,,", "nl"),
    ],
)
def test_the_language_is_the_query_then_the_browser_then_the_default(query, header, chosen) -> None:
    assert choose_language(query, header, "nl") == chosen


@pytest.fixture
def bad_day(seed, clock):
    return seed_bad_day(seed, clock)


def test_the_page_shows_the_banner_components_and_their_states(client, bad_day) -> None:
    response = client.get("/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    text = text_of(response.text)
    assert "Partial System Outage" in text
    assert 'data-component="exact-online"' in response.text
    assert '<span class="state major_outage">Major Outage</span>' in response.text
    assert '<span class="state under_maintenance">Maintenance</span>' in response.text
    for state in ("Operational", "Degraded Performance", "Partial Outage", "Major Outage", "Maintenance"):
        assert f">{state}</span></dt>" in response.text  # the legend names every state in words


def test_an_active_incident_shows_its_updates_newest_first_with_status_words_and_times(client, bad_day) -> None:
    text = text_of(client.get("/?lang=en").text)
    incident = text[text.index("Active incidents"):text.index("Scheduled maintenance")]
    assert "Bookings to Exact Online are paused" in incident
    identified = incident.index("Identified – The integration is switched off. Nov 23, 10:00 CET")
    investigating = incident.index("Investigating – Invoices are booked into the wrong administration. We are looking into it.")
    assert identified < investigating
    assert "Affects: Exact Online" in incident


def test_the_page_speaks_dutch_by_default(client, bad_day) -> None:
    text = text_of(client.get("/").text)
    assert "Gedeeltelijke storing" in text
    assert "Oorzaak gevonden – The integration is switched off. 23 nov, 10:00 CET" in text
    assert "Actuele verstoringen" in text and "Gepland onderhoud" in text
    assert "Koppelingen" in text and "Inloggen" in text
    assert "Geen verstoringen gemeld." in text


def test_times_follow_the_visitors_time_zone(client, bad_day) -> None:
    text = text_of(client.get("/?lang=en&tz=America/New_York").text)
    assert "Identified – The integration is switched off. Nov 23, 04:00 EST" in text
    assert "Times in America/New_York" in text


def test_summer_times_are_shown_in_summer_time(tmp_path, config_file, seed) -> None:
    from statuspage.config import load_settings
    from statuspage.core.storage import create_incident

    summer = FakeClock(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
    settings = load_settings(config_file, environ={"STATUSPAGE_DB": str(tmp_path / "summer.db")})
    seed.settings, seed.clock = settings, summer
    seed(create_incident, kind="incident", name="Summer", status="investigating", impact="minor",
         body="Hot.", now=summer(), components={})
    with TestClient(create_app(settings, clock=summer)) as client:
        assert "Investigating – Hot. Jul 1, 12:00 CEST" in text_of(client.get("/?lang=en").text)


def test_past_incidents_cover_fifteen_days_and_say_so_on_quiet_days(client, bad_day) -> None:
    text = text_of(client.get("/?lang=en").text)
    past = text[text.index("Past incidents"):]
    days = re.findall(r"(Nov|Oct) (\d+), 2026", past)
    assert [int(day) for _, day in days] == [23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9]
    yesterday = past[past.index("Nov 22, 2026"):past.index("Nov 21, 2026")]
    assert "Slow text recognition" in yesterday
    assert yesterday.index("Resolved – Back to normal.") < yesterday.index("Investigating – Documents take longer")
    assert past.count("No incidents reported.") == 13


def test_maintenance_shows_its_window_and_phase(client, bad_day) -> None:
    text = text_of(client.get("/?lang=en").text)
    maintenance = text[text.index("Scheduled maintenance"):text.index("Components")]
    assert "Login upgrade (In progress)" in maintenance
    assert "From Nov 23, 10:20 CET until Nov 23, 11:30 CET" in maintenance
    assert "Database move (Scheduled)" in maintenance


def test_the_uptime_bar_has_ninety_days_with_a_tooltip_and_a_percentage(seed, clock, settings) -> None:
    start = clock() - timedelta(days=10)

    def history(db):
        record_status_changes(db, {"exact-online": "operational"}, start)
        record_status_changes(db, {"exact-online": "major_outage"}, clock() - timedelta(days=2, hours=3))
        record_status_changes(db, {"exact-online": "operational"}, clock() - timedelta(days=2))

    seed(history)
    with TestClient(create_app(settings, clock=clock)) as client:
        html = client.get("/?lang=en").text
    item = html[html.index('data-component="exact-online"'):html.index('data-component="twinfield"')]
    cells = re.findall(r'<span class="cell ([a-z_-]+)" title="([^"]*)"', item)
    assert len(cells) == 90
    assert [css for css, _ in cells[:79]] == ["no-data"] * 79
    assert cells[-3] == ("major_outage", "Nov 21, 2026: Major Outage. Down for 3 h 0 min")
    assert cells[-1] == ("operational", "Nov 23, 2026: Operational. No downtime")
    # Three hours down in ten days observed: the figure says it covers those days alone.
    assert "98.75% uptime since Nov 13" in item
    # The bar is announced as a whole, with its uptime and its worst day.
    assert ('role="img" aria-label="Exact Online: 98.75% uptime since Nov 13. '
            'Worst days: Nov 21, 2026 (Major Outage. Down for 3 h 0 min)."') in item


def test_after_ninety_days_of_watching_the_uptime_says_no_since(seed, clock, settings) -> None:
    seed(lambda db: record_status_changes(db, {"exact-online": "operational"}, clock() - timedelta(days=120)))
    with TestClient(create_app(settings, clock=clock)) as client:
        html = client.get("/?lang=nl").text
    item = html[html.index('data-component="exact-online"'):html.index('data-component="twinfield"')]
    assert "100,00% beschikbaar</span>" in item and "sinds" not in item
    assert "Geen uitval in deze periode." in item


def test_the_page_has_an_etag_and_answers_304(client) -> None:
    first = client.get("/", headers={"Accept-Language": "en"})
    assert first.headers["vary"] == "Accept-Language"
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = client.get("/", headers={"Accept-Language": "en", "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    dutch = client.get("/", headers={"Accept-Language": "nl", "If-None-Match": first.headers["etag"]})
    assert dutch.status_code == 200
    assert client.head("/").status_code == 200 and client.head("/").content == b""


def test_serving_the_public_page_writes_nothing(client, bad_day, settings) -> None:
    watcher = sqlite3.connect(settings.database.path)
    events_before = watcher.execute("SELECT count(*) FROM status_events").fetchone()[0]
    before = watcher.execute("PRAGMA data_version").fetchone()[0]
    for path in ["/", "/?lang=en", "/?tz=UTC", "/api/v2/summary.json", "/api/v2/incidents.json"] * 10:
        assert client.get(path).status_code == 200
    # data_version moves whenever another connection commits to the file.
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == before
    assert watcher.execute("SELECT count(*) FROM status_events").fetchone()[0] == events_before
    watcher.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?lang=de", "lang=&#39;de&#39; is not offered; use lang=nl or lang=en"),
    ],
)
def test_bad_query_values_get_a_friendly_400_page_that_says_what_to_fix(client, query, message) -> None:
    response = client.get(f"/{query}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text
    assert 'href="/"' in response.text


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd"])
def test_an_unknown_time_zone_falls_back_to_the_pages_zone_with_a_notice(client, bad_day, zone) -> None:
    response = client.get("/", params={"lang": "en", "tz": zone})
    assert response.status_code == 200
    assert "The time zone in the address is not one we know; times are shown in Europe/Amsterdam." in response.text
    assert "Times in Europe/Amsterdam" in response.text
    assert zone not in response.text  # what the visitor typed is not echoed back
    incident = client.get(f"/incidents/{bad_day.outage}", params={"lang": "nl", "tz": zone})
    assert incident.status_code == 200
    assert "De tijdzone in het adres kennen we niet" in incident.text
    assert "not one we know" not in client.get("/", params={"lang": "en", "tz": "UTC"}).text


@pytest.mark.parametrize("name", ["localtime", "posixrules", "Factory", "US/Eastern", "CET", "EST5EDT", "Etc/GMT+5",
                                  "europe/amsterdam", "Europe/Amsterdam/"])
def test_only_iana_area_location_names_and_utc_are_taken_as_zones(client, name) -> None:
    """Files a zoneinfo directory holds beside the zones, and the database's backward-compatible aliases
    (whose abbreviations and inverted Etc signs mislead), are not zones a visitor can mean."""
    page = client.get("/", params={"lang": "en", "tz": name}).text
    assert "not one we know; times are shown in Europe/Amsterdam" in page and "Times in Europe/Amsterdam" in page


@pytest.mark.parametrize(("name", "shown"), [("UTC", "UTC"), ("Asia/Tokyo", "Asia/Tokyo"),
                                             ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
                                             ("", "Europe/Amsterdam")])
def test_a_zones_name_or_an_empty_tz_shows_times_without_a_notice(client, name, shown) -> None:
    for path in ["/", "/en/"]:
        page = client.get(path, params={"lang": "en", "tz": name}).text
        assert f"Times in {shown}" in page and "not one we know" not in page, (path, name)


def test_an_unknown_page_gets_a_friendly_404_in_the_visitors_language(client) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "Page not found" in response.text and "Back to the status page" in response.text
    dutch = client.get("/no-such-page")
    assert "Pagina niet gevonden" in dutch.text


def test_the_page_keeps_counting_an_ongoing_outage_without_any_new_write(client, seed, clock) -> None:
    from statuspage.core.storage import set_override

    seed(set_override, "twinfield", "major_outage", "down", "test", clock(), None)
    from conftest import notice_writes

    notice_writes(client)
    clock.advance(minutes=30)
    first = client.get("/?lang=en").text
    clock.advance(minutes=30)
    later = client.get("/?lang=en").text
    assert "Down for 30 min" in first and "Down for 1 h 0 min" in later


@pytest.mark.parametrize(("language", "cell"), [
    ("en", "Nov 21, 2026: Major Outage. Down for less than a minute"),
    ("nl", "21 nov 2026: Ernstige storing. minder dan een minuut uitval"),
])
def test_an_outage_shorter_than_a_minute_is_never_called_zero_minutes(seed, clock, settings, language, cell) -> None:
    outage = clock() - timedelta(days=2)

    def history(db):
        record_status_changes(db, {"exact-online": "operational"}, outage - timedelta(days=1))
        record_status_changes(db, {"exact-online": "major_outage"}, outage)
        record_status_changes(db, {"exact-online": "operational"}, outage + timedelta(seconds=20))

    seed(history)
    with TestClient(create_app(settings, clock=clock)) as client:
        html = client.get(f"/?lang={language}").text
    item = html[html.index('data-component="exact-online"'):html.index('data-component="twinfield"')]
    cells = re.findall(r'<span class="cell ([a-z_-]+)" title="([^"]*)"', item)
    assert cells[-3] == ("major_outage", cell)
    assert "0 min" not in item


def test_durations_read_in_minutes_from_a_minute_on() -> None:
    from statuspage.core.i18n import format_duration

    assert [format_duration(s, "en") for s in (1, 59.9, 60, 89, 3600, 3 * 3600 + 300)] == [
        "less than a minute", "less than a minute", "1 min", "1 min", "1 h 0 min", "3 h 5 min"]
    assert format_duration(20, "nl") == "minder dan een minuut"
