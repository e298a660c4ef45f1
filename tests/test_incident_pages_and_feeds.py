"""Each incident has a public page; the history is offered as Atom and RSS that feed readers accept."""

import feedparser
import pytest
from page_helpers import text_of


def test_an_incident_has_its_own_page_with_every_update(client, bad_day) -> None:
    response = client.get(f"/incidents/{bad_day.outage}?lang=en")
    assert response.status_code == 200
    text = text_of(response.text)
    assert "Bookings to Exact Online are paused" in text
    assert "Identified · Major impact" in text
    assert "Affects: Exact Online" in text
    assert text.index("Identified – The integration is switched off.") < text.index("Investigating – Invoices are booked")
    assert '<a href="/en/">' in response.text  # back to the page, in the language read
    again = client.get(f"/incidents/{bad_day.outage}?lang=en", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_the_status_page_links_to_the_incident_pages(client, bad_day) -> None:
    html = client.get("/?lang=en").text
    assert f'<a href="/en/incidents/{bad_day.outage}">' in html
    assert f'<a href="/en/incidents/{bad_day.yesterday}">' in html


def test_a_maintenance_page_shows_its_window(client, bad_day) -> None:
    text = text_of(client.get(f"/incidents/{bad_day.active_maintenance}?lang=en").text)
    assert "From Nov 23, 10:20 CET until Nov 23, 11:30 CET · In progress" in text


def test_an_unknown_incident_gets_a_friendly_404(client) -> None:
    response = client.get("/incidents/doesnotexist?lang=en", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "There is no incident with this address" in response.text


def test_markdown_in_updates_is_rendered_and_html_in_them_is_not(client, tokens) -> None:
    body = "**Bold** and a [link](https://example.test). <script>alert('x')</script> [bad](javascript:alert(1))"
    incident = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        "name": "Markdown", "message": body, "components": {}}).json()
    html = client.get(f"/incidents/{incident['id']}").text
    assert "<strong>Bold</strong>" in html
    assert '<a href="https://example.test">link</a>' in html
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert 'href="javascript:' not in html


def test_the_atom_feed_is_valid_and_lists_updates_newest_first(client, bad_day) -> None:
    response = client.get("/history.atom")
    assert response.headers["content-type"] == "application/atom+xml"
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    # In the page's language (Dutch) unless the reader asks for another: never an English title over
    # Dutch status words.
    assert feed.feed.title == "Test status - Geschiedenis van verstoringen"
    entries = {entry.title: entry for entry in feed.entries}
    assert set(entries) == {"Bookings to Exact Online are paused", "Slow text recognition", "Login upgrade", "Database move"}
    outage = entries["Bookings to Exact Online are paused"]
    assert outage.id == f"tag:status.example.test,2005:Incident/{bad_day.outage}"
    assert outage.link == f"https://status.example.test/incidents/{bad_day.outage}"
    content = outage.content[0].value
    # Feed readers take the first <strong> as the current status.
    assert content.index("<strong>Oorzaak gevonden</strong>") < content.index("<strong>In onderzoek</strong>")
    assert "<small>23 nov, 10:00 CET</small>" in content

    english = feedparser.parse(client.get("/history.atom?lang=en").content)
    assert english.feed.title == "Test status - Incident History"
    content = {entry.title: entry for entry in english.entries}["Bookings to Exact Online are paused"].content[0].value
    assert content.index("<strong>Identified</strong>") < content.index("<strong>Investigating</strong>")
    assert "Oorzaak" not in content and "<small>Nov 23, 10:00 CET</small>" in content
    assert client.get("/history.atom?lang=de").status_code == 400


def test_the_rss_feed_is_valid_and_matches_the_atom_feed(client, bad_day) -> None:
    response = client.get("/history.rss")
    assert response.headers["content-type"] == "application/rss+xml"
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "rss20"
    atom = feedparser.parse(client.get("/history.atom").content)
    assert [entry.id for entry in feed.entries] == [entry.id for entry in atom.entries]
    assert all(entry.published_parsed for entry in feed.entries)
    assert client.head("/history.rss").status_code == 200


# ---------------------------------------------------------------------------------------------
# Text that XML cannot carry (issue 11, fault 4)

ILLEGAL_IN_XML = ["A\u0010B", "a\u0000b", "x\uffffy", "bell\u0007", "form\u000cfeed"]


@pytest.mark.parametrize("text", ILLEGAL_IN_XML)
def test_text_that_xml_cannot_carry_is_refused_in_names_and_updates(client, tokens, text) -> None:
    incident = {"name": "Slow", "message": "Looking.", "status": "investigating", "impact": "minor"}
    named = client.post("/api/v1/incidents", headers=tokens["operator"], json={**incident, "name": text})
    assert named.status_code == 400
    assert named.json()["extra"][0] == {"message": "Expected `str` must be one line without control characters",
                                        "key": "name", "source": "body"}
    opened = client.post("/api/v1/incidents", headers=tokens["operator"], json=incident).json()
    update = client.post(f"/api/v1/incidents/{opened['id']}/updates", headers=tokens["operator"],
                         json={"status": "identified", "message": f"Found it: {text}"})
    assert update.status_code == 400
    assert "must not contain control characters" in update.json()["extra"][0]["message"]
    maintenance = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "name": "m", "message": text, "starts": "2026-11-24T10:00:00+01:00", "ends": "2026-11-24T11:00:00+01:00"})
    assert maintenance.status_code == 400


def test_tabs_and_line_breaks_stay_allowed_in_updates(client, tokens) -> None:
    opened = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        "name": "Slow", "message": "Line one.\r\n\tLine two.", "status": "investigating", "impact": "minor"})
    assert opened.status_code == 201


def test_the_feeds_stay_well_formed_whatever_text_was_stored(client, seed, clock) -> None:
    from xml.etree import ElementTree

    from conftest import notice_writes

    from statuspage.core.storage import add_incident_update, create_incident

    def work(db):
        incident = create_incident(db, kind="incident", name="A\u0010B a\u0000b", status="investigating",
                                   impact="minor", body="first \uffff", now=clock(), components={})
        add_incident_update(db, incident, status="identified", body="second \u0001 \ufffe", now=clock(), components={})

    seed(work)
    notice_writes(client)
    for path in ("/history.atom", "/history.rss"):
        body = client.get(path).content
        ElementTree.fromstring(body)  # a strict parser: raises on any character XML cannot carry
        feed = feedparser.parse(body)
        assert not feed.bozo, feed.bozo_exception
        assert feed.entries[0].title == "AB ab"


def test_a_time_in_another_year_than_the_visitors_current_one_shows_its_year(client, tokens) -> None:
    # The test clock says 2026-11-23; this window runs across New Year's Eve in UTC.
    maintenance = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "name": "Jaarafsluiting", "message": "m", "starts": "2026-12-31T23:30:00Z", "ends": "2027-01-01T00:30:00Z",
        "components": ["login"]}).json()
    london = text_of(client.get(f"/incidents/{maintenance['id']}?lang=en&tz=Europe/London").text)
    assert "From Dec 31, 23:30 GMT until Jan 1, 2027, 00:30 GMT" in london
    tokyo = text_of(client.get(f"/incidents/{maintenance['id']}?lang=nl&tz=Asia/Tokyo").text)
    assert "Van 1 jan 2027, 08:30 JST tot 1 jan 2027, 09:30 JST" in tokyo
    assert "From Jan 1, 2027, 00:30 CET until Jan 1, 2027, 01:30 CET" in text_of(client.get("/?lang=en").text)
