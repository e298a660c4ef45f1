"""Incidents, updates, corrections and maintenance written in Dutch, English or both: what each visitor reads.

The test page's language is Dutch (`conftest.TEST_CONFIG`): a plain `name` or `message` is the Dutch text.
"""

from __future__ import annotations

import re

from conftest import TOKENS
from page_helpers import csrf_of, sign_in

BOTH = {
    "names": {"nl": "Boekingen gepauzeerd", "en": "Bookings paused"},
    "messages": {"nl": "We hebben de koppeling uitgezet.", "en": "We switched the integration off."},
    "status": "identified", "impact": "major", "components": {"exact-online": "major_outage"},
}


def update_texts(html: str) -> list[str]:
    """The text of each update on a public page, newest first, its language mark included."""
    return [" ".join(re.sub(r"<[^>]+>", " ", body).split())
            for body in re.findall(r'<div class="update-body".*?</div>', html, flags=re.S)]


def test_names_and_messages_stand_instead_of_name_and_message(client, tokens) -> None:
    opened = client.post("/api/v1/incidents", headers=tokens["operator"], json=BOTH)
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    # Where no language is chosen (the v2 JSON), the page's language.
    assert incident["name"] == "Boekingen gepauzeerd"
    assert incident["incident_updates"][0]["body"] == "We hebben de koppeling uitgezet."
    english = client.get(f"/incidents/{incident['id']}?lang=en").text
    assert "Bookings paused" in english and update_texts(english) == ["We switched the integration off."]
    dutch = client.get(f"/incidents/{incident['id']}?lang=nl").text
    assert "Boekingen gepauzeerd" in dutch and update_texts(dutch) == ["We hebben de koppeling uitgezet."]


def test_a_plain_name_and_message_are_the_page_languages_beside_the_other_ones(client, tokens) -> None:
    opened = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        "name": "Twinfield traag", "names": {"en": "Twinfield slow"}, "message": "We kijken ernaar.",
        "messages": {"en": "We are looking."}, "status": "investigating", "impact": "minor", "components": {}})
    assert opened.status_code == 201, opened.text
    incident_id = opened.json()["id"]
    assert opened.json()["name"] == "Twinfield traag"
    dutch = client.get("/nl/").text
    assert "Twinfield traag" in dutch and "Twinfield slow" not in dutch
    # The Dutch given, not the English marked "In het Engels" (active, and under today's past incidents).
    assert update_texts(dutch) == ["We kijken ernaar."] * 2
    english = client.get("/en/").text
    assert "Twinfield slow" in english and update_texts(english) == ["We are looking."] * 2

    # A plain message alone is Dutch too: English visitors read it marked as such.
    client.post(f"/api/v1/incidents/{incident_id}/updates", headers=tokens["operator"],
                json={"status": "identified", "message": "Oorzaak gevonden."})
    assert update_texts(client.get(f"/incidents/{incident_id}?lang=en").text)[0] == "In Dutch Oorzaak gevonden."
    assert update_texts(client.get(f"/incidents/{incident_id}?lang=nl").text)[0] == "Oorzaak gevonden."


def test_a_plain_text_and_the_page_languages_entry_may_not_disagree(client, tokens) -> None:
    refused = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        **BOTH, "name": "Iets anders"})
    assert refused.status_code == 400
    assert refused.json()["detail"] == ("name is the text in the page's language (nl) and names.nl says something "
                                        "else; give it once")
    nothing = client.post("/api/v1/incidents", headers=tokens["operator"], json={"status": "investigating"})
    assert nothing.status_code == 400 and "name is required, in at least one language" in nothing.json()["detail"]
    assert client.get("/api/v2/incidents.json").json()["incidents"] == []


def test_a_correction_in_one_text_replaces_the_page_languages_and_drops_the_stale_translation(client, tokens) -> None:
    incident = client.post("/api/v1/incidents", headers=tokens["operator"], json=BOTH).json()
    first = incident["incident_updates"][0]["id"]
    corrected = client.patch(f"/api/v1/incidents/{incident['id']}/updates/{first}", headers=tokens["operator"],
                             json={"message": "GECORRIGEERD: tekst aangepast"})
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["incident_updates"][0]["body"] == "GECORRIGEERD: tekst aangepast"
    assert update_texts(client.get(f"/incidents/{incident['id']}?lang=nl").text) == ["GECORRIGEERD: tekst aangepast"]
    english = client.get(f"/incidents/{incident['id']}?lang=en").text
    assert update_texts(english) == ["In Dutch GECORRIGEERD: tekst aangepast"]
    assert "We switched the integration off." not in english


def test_a_correction_may_be_given_per_language(client, tokens) -> None:
    incident = client.post("/api/v1/incidents", headers=tokens["operator"], json=BOTH).json()
    first = incident["incident_updates"][0]["id"]
    corrected = client.patch(f"/api/v1/incidents/{incident['id']}/updates/{first}", headers=tokens["operator"],
                             json={"messages": {"nl": "Koppeling uit.", "en": "Integration off."}})
    assert corrected.status_code == 200, corrected.text
    assert update_texts(client.get(f"/incidents/{incident['id']}?lang=nl").text) == ["Koppeling uit."]
    assert update_texts(client.get(f"/incidents/{incident['id']}?lang=en").text) == ["Integration off."]
    empty = client.patch(f"/api/v1/incidents/{incident['id']}/updates/{first}", headers=tokens["operator"],
                         json={"messages": {"en": "  "}})
    assert empty.status_code == 400 and "message is required" in empty.json()["detail"]


def test_the_consoles_correction_form_has_a_field_per_language_and_leaves_nothing_stale(client, tokens) -> None:
    incident = client.post("/api/v1/incidents", headers=tokens["operator"], json=BOTH).json()
    first = incident["incident_updates"][0]["id"]
    sign_in(client, TOKENS["operator"])
    page = client.get(f"/console/incidents/{incident['id']}").text
    assert 'name="message.nl" lang="nl">We hebben de koppeling uitgezet.</textarea>' in page
    assert 'name="message.en" lang="en">We switched the integration off.</textarea>' in page
    # A browser's textarea sends CRLF line breaks; they are stored as LF.
    client.post(f"/console/incidents/{incident['id']}/updates/{first}/edit", data={
        "_csrf_token": csrf_of(page), "message.nl": "Regel een.\r\nRegel twee.", "message.en": ""})
    page = client.get(f"/console/incidents/{incident['id']}").text
    assert "We switched the integration off." not in page and "We hebben de koppeling uitgezet." not in page
    assert page.count("In Dutch:") == 1 and "In English:" not in page
    [update] = client.get(f"/api/v1/incidents/{incident['id']}", headers=tokens["viewer"]).json()["incident_updates"]
    assert update["body"] == "Regel een.\nRegel twee."
    english = client.get(f"/incidents/{incident['id']}?lang=en").text
    assert "We switched the integration off." not in english and "In Dutch" in english


def tick(client) -> None:
    """Let the app move maintenance windows along by its (fake) clock now."""
    from statuspage.background import keep_up_with_the_clock

    state = client.app.state
    client.blocking_portal.call(keep_up_with_the_clock, state.store, state.settings, state.clock)


def test_a_maintenance_is_written_in_both_languages_and_the_clocks_updates_come_in_each(client, tokens, clock) -> None:
    # The test clock stands at 10:30 in Amsterdam: the window opens in a minute.
    scheduled = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "names": {"nl": "Database-upgrade", "en": "Database upgrade"},
        "messages": {"nl": "Boeken pauzeert een uur.", "en": "Booking pauses for an hour."},
        "starts": "2026-11-23T10:31:00+01:00", "ends": "2026-11-23T11:31:00+01:00", "components": ["exact-online"]})
    assert scheduled.status_code == 201, scheduled.text
    maintenance_id = scheduled.json()["id"]
    assert scheduled.json()["name"] == "Database-upgrade"

    clock.advance(minutes=2)
    tick(client)
    dutch = client.get(f"/incidents/{maintenance_id}?lang=nl").text
    english = client.get(f"/incidents/{maintenance_id}?lang=en").text
    assert "Database-upgrade" in dutch and "Database upgrade" in english
    assert update_texts(dutch) == ["Het geplande onderhoud is begonnen. We melden het hier als er iets verandert.",
                                   "Boeken pauzeert een uur."]
    assert update_texts(english) == ["Scheduled maintenance is currently in progress. We will provide updates as "
                                     "necessary.", "Booking pauses for an hour."]

    clock.advance(hours=1)
    tick(client)
    assert update_texts(client.get(f"/incidents/{maintenance_id}?lang=nl").text)[0] == "Het geplande onderhoud is afgerond."
    assert update_texts(client.get(f"/incidents/{maintenance_id}?lang=en").text)[0] == (
        "The scheduled maintenance has been completed.")
    # The v2 JSON carries the page's language.
    [done] = client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"]
    assert [update["body"] for update in done["incident_updates"]] == [
        "Het geplande onderhoud is afgerond.",
        "Het geplande onderhoud is begonnen. We melden het hier als er iets verandert.", "Boeken pauzeert een uur."]


def test_the_consoles_maintenance_form_takes_the_other_language_too(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    form = client.get("/console/maintenances/new").text
    assert 'name="name_other"' in form and 'name="message_other"' in form and 'name="language"' in form
    scheduled = client.post("/console/maintenances", follow_redirects=False, data={
        "_csrf_token": csrf_of(form), "language": "en", "name": "Login upgrade", "message": "Sign-in pauses.",
        "name_other": "Upgrade van het inloggen", "message_other": "Inloggen pauzeert.",
        "starts": "2026-11-24T10:00", "ends": "2026-11-24T11:00", "component.login": "on"})
    assert scheduled.status_code == 302, scheduled.text
    maintenance_id = scheduled.headers["location"].rsplit("/", 1)[1]
    dutch = client.get(f"/incidents/{maintenance_id}?lang=nl").text
    assert "Upgrade van het inloggen" in dutch and update_texts(dutch) == ["Inloggen pauzeert."]
    english = client.get(f"/incidents/{maintenance_id}?lang=en").text
    assert "Login upgrade" in english and update_texts(english) == ["Sign-in pauses."]


def language_links(html: str) -> dict[str, str]:
    """The language switch's links: {"nl": href, "en": href}."""
    nav = html.split('<nav aria-label="')[1].split("</nav>")[0]
    return dict((code, href.replace("&amp;", "&")) for href, code in re.findall(r'<a href="([^"]*)" hreflang="(\w+)"', nav))


def test_the_language_switch_leads_to_the_other_languages_own_address(client, tokens) -> None:
    incident_id = client.post("/api/v1/incidents", headers=tokens["operator"], json=BOTH).json()["id"]
    assert language_links(client.get("/nl/").text) == {"nl": "/nl/", "en": "/en/"}
    english = client.get(language_links(client.get("/nl/").text)["en"])
    assert '<html lang="en">' in english.text and "Bookings paused" in english.text
    assert f'<a href="/en/incidents/{incident_id}">' in english.text
    assert language_links(client.get("/", headers={"Accept-Language": "en"}).text) == {"nl": "/nl/", "en": "/en/"}

    page = client.get(f"/en/incidents/{incident_id}")
    assert page.status_code == 200 and '<html lang="en">' in page.text and "Bookings paused" in page.text
    assert language_links(page.text) == {"nl": f"/nl/incidents/{incident_id}", "en": f"/en/incidents/{incident_id}"}
    dutch = client.get(language_links(page.text)["nl"]).text
    assert '<html lang="nl">' in dutch and "Boekingen gepauzeerd" in dutch and '<a href="/nl/">' in dutch
    assert client.get("/en/incidents/nope").status_code == 404

    # A zone other than the page's travels along; the page's own is left out, as in the static copy.
    tokyo = client.get(f"/nl/incidents/{incident_id}?tz=Asia/Tokyo").text
    assert language_links(tokyo)["en"] == f"/en/incidents/{incident_id}?tz=Asia%2FTokyo"
    assert '<a href="/nl/?tz=Asia%2FTokyo">' in tokyo and "JST" in tokyo
    assert language_links(client.get("/en/?tz=Asia/Tokyo").text)["nl"] == "/nl/?tz=Asia%2FTokyo"


def past_incidents(html: str) -> str:
    return html.split('id="past-incidents"')[1].split("</section>")[0]


def test_a_completed_maintenance_is_listed_under_past_incidents_on_the_day_it_ran(client, tokens, clock) -> None:
    scheduled = client.post("/api/v1/maintenances", headers=tokens["operator"], json={
        "names": {"nl": "Database-upgrade", "en": "Database upgrade"}, "message": "Boeken pauzeert.",
        "starts": "2026-11-23T10:31:00+01:00", "ends": "2026-11-23T11:31:00+01:00", "components": ["exact-online"]})
    maintenance_id = scheduled.json()["id"]
    incident_id = client.post("/api/v1/incidents", headers=tokens["operator"], json=BOTH).json()["id"]
    clock.advance(minutes=2)
    tick(client)
    assert maintenance_id not in past_incidents(client.get("/en/").text)  # under way: not history yet
    clock.advance(hours=1)
    tick(client)
    history = past_incidents(client.get("/en/").text)
    assert f'<a href="/en/incidents/{maintenance_id}">Database upgrade</a>' in history
    # Latest start first: the maintenance began at 10:31, the incident at 10:30.
    assert history.index(maintenance_id) < history.index(incident_id)


def test_the_page_name_is_per_language_and_each_page_points_to_its_feeds_and_icon(tmp_path, clock) -> None:
    from conftest import TEST_CONFIG
    from litestar.testing import TestClient

    from statuspage.app import create_app
    from statuspage.config import load_settings

    config = tmp_path / "names.toml"
    config.write_text(TEST_CONFIG.replace('name = "Test status"\n', 'name = "Test status"\nnames = { en = "Invoice status" }\n'))
    settings = load_settings(config, environ={}, overrides={("database", "path"): str(tmp_path / "names.db")})
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        english, dutch = client.get("/?lang=en").text, client.get("/?lang=nl").text
        assert "<title>Invoice status</title>" in english and "<h1>Invoice status</h1>" in english
        assert "<title>Test status</title>" in dutch and "Invoice status" not in dutch
        for html, lang, history in ((english, "en", "Incident history"), (dutch, "nl", "Geschiedenis van verstoringen")):
            links = re.findall(r'<link rel="alternate" type="application/(atom|rss)\+xml" title="([^"]+)" href="([^"]+)">', html)
            assert links == [("atom", f"{history} (Atom)", f"/history.atom?lang={lang}"),
                             ("rss", f"{history} (RSS)", f"/history.rss?lang={lang}")]
            assert '<link rel="icon" href="data:image/svg+xml,' in html
        assert "<title>Invoice status - Incident History</title>" in client.get("/history.atom?lang=en").text
        assert "<title>Test status - Geschiedenis van verstoringen</title>" in client.get("/history.atom?lang=nl").text
        assert "– Invoice status</title>" in client.get("/no-such-page?lang=en").text
