"""A kill switch speaks to the public (issue 12): while Exact Online is switched off its component line,
the incident opened with the switch, the v2 JSON and the feeds say, in the visitor's language, that
invoice actions are delayed, not lost, and will be booked when it is back (seed 003 is the model);
switching on says they are being booked, and the end of the replay resolves the incident."""

import re
from html import unescape

import feedparser
import pytest
from conftest import settle
from exact_online_service_helpers import (  # noqa: F401 (fixtures)
    BOOKINGS_PAUSED,
    DEMO_ENVIRONMENTS,
    book,
    connected_fixture,
    service_sandbox_fixture,
    settings_for,
)

DELAYED_NL = "Factuuracties zijn vertraagd, niet verloren"
DELAYED_EN = "Invoice actions are delayed, not lost"


@pytest.fixture
def settings(tmp_path, sandbox, monkeypatch):
    return settings_for(tmp_path, sandbox, monkeypatch, DEMO_ENVIRONMENTS + BOOKINGS_PAUSED, "notice.db")


def flip(client, tokens, enabled: bool, **body) -> dict:
    response = client.put("/api/v1/integrations/exact-online/switch", headers=tokens["operator"],
                          json={"enabled": enabled, "reason": "wrong bookings" if not enabled else "fixed"} | body)
    assert response.status_code == 200, response.text
    return response.json()


def component_line(client, lang: str) -> str:
    html = client.get(f"/?lang={lang}").text
    start = html.index('data-component="exact-online"')
    return unescape(html[start:html.index("</li>", html.index('class="bar"', start))])


def test_switching_off_with_an_incident_tells_visitors_in_their_language(connected, tokens) -> None:
    client = connected
    change = flip(client, tokens, False, incident={})
    assert change["incident_id"]

    dutch, english = component_line(client, "nl"), component_line(client, "en")
    assert DELAYED_NL in dutch and "juiste administratie geboekt zodra" in dutch and "Invoice" not in dutch
    assert DELAYED_EN in english and "booked, in the right administration" in english and "vertraagd" not in english
    page_nl, page_en = client.get("/?lang=nl").text, client.get("/?lang=en").text
    assert "Boekingen naar Exact Online gepauzeerd" in page_nl and "Gevalideerde facturen wachten" in page_nl
    assert "Bookings to Exact Online are paused" in page_en and "Validated invoices wait" in page_en
    assert "<strong>Oorzaak gevonden</strong>" in page_nl and "<strong>Identified</strong>" in page_en

    # The v2 JSON: the component keeps its configured description; the message travels in the incident.
    component = next(c for c in client.get("/api/v2/components.json").json()["components"] if c["id"] == "exact-online")
    assert (component["status"], component["description"]) == ("major_outage", "Boeken in Exact Online")
    [incident] = client.get("/api/v2/incidents/unresolved.json").json()["incidents"]
    assert incident["id"] == change["incident_id"] and incident["status"] == "identified"
    assert incident["name"] == "Boekingen naar Exact Online gepauzeerd"  # the page's language
    assert incident["incident_updates"][0]["affected_components"][0]["new_status"] == "major_outage"

    # Each feed in one language.
    for lang, title, status in (("en", "Bookings to Exact Online are paused", "Identified"),
                                ("nl", "Boekingen naar Exact Online gepauzeerd", "Oorzaak gevonden")):
        feed = feedparser.parse(client.get(f"/history.atom?lang={lang}").content)
        [entry] = feed.entries
        assert entry.title == title
        assert entry.content[0].value.startswith("<p><small>") and f"<strong>{status}</strong>" in entry.content[0].value


def test_switching_on_posts_being_booked_and_the_end_of_the_replay_resolves_it(connected, tokens) -> None:
    client = connected
    incident_id = flip(client, tokens, False, incident={})["incident_id"]
    for n in range(6):
        assert client.post("/api/v1/actions", json=book(f"N-{n}", administration=("101", "102")[n % 2]),
                           headers=tokens["client"]).json()["state"] == "delayed"

    # Blocked from booking, the replay cannot finish: the incident stays at monitoring meanwhile.
    on = flip(client, tokens, True, incident={"resolved": {"en": "All booked.", "nl": "Alles geboekt."}})
    assert on["incident_id"] == incident_id and on["actions_moved"] == 6
    incident = client.get(f"/api/v1/incidents/{incident_id}", headers=tokens["viewer"]).json()
    assert incident["status"] == "monitoring"
    page_en = client.get(f"/incidents/{incident_id}?lang=en").text
    assert "The delayed invoice actions are being booked now" in page_en
    assert DELAYED_EN not in component_line(client, "en")  # the switch is on: nothing is held any more

    settle(client)
    incident = client.get(f"/api/v1/incidents/{incident_id}", headers=tokens["viewer"]).json()
    assert incident["status"] == "resolved"
    assert "Alles geboekt." in client.get(f"/incidents/{incident_id}?lang=nl").text
    assert "All booked." in client.get(f"/incidents/{incident_id}?lang=en").text
    component = next(c for c in client.get("/api/v2/components.json").json()["components"] if c["id"] == "exact-online")
    assert component["status"] == "operational"
    progress = client.get("/api/v1/integrations/exact-online/replay", headers=tokens["viewer"]).json()["progress"]
    assert (progress["done"], progress["left"]) == (6, 0) and progress["finished_at"] is not None


def test_without_the_incident_field_nothing_is_opened_but_the_component_line_still_explains(
    connected, tokens,
) -> None:
    client = connected
    assert flip(client, tokens, False)["incident_id"] is None
    assert client.get("/api/v2/incidents/unresolved.json").json()["incidents"] == []
    assert DELAYED_EN in component_line(client, "en")
    on = flip(client, tokens, True, incident={})
    assert on["incident_id"] is None  # there is no incident of the switch to close


def test_one_connection_switched_off_tells_the_public_that_some_environments_wait_not_that_all_do(
    connected, tokens,
) -> None:
    client = connected
    [jansen] = [c["id"] for c in client.get("/api/v1/connections", headers=tokens["viewer"]).json()
                if c["environment"] == "jansen-groep"]
    off = client.put(f"/api/v1/connections/{jansen}/switch", headers=tokens["operator"],
                     json={"enabled": False, "reason": "Jansen's user lost its rights", "incident": {}})
    assert off.status_code == 200, off.text

    assert "For some customer environments invoice actions are delayed, not lost" in component_line(client, "en")
    assert "Voor sommige omgevingen zijn factuuracties vertraagd, niet verloren" in component_line(client, "nl")
    component = next(c for c in client.get("/api/v2/components.json").json()["components"] if c["id"] == "exact-online")
    assert component["status"] == "partial_outage"
    # The incident says what the component line says: some environments wait, the integration itself books on.
    [incident] = client.get("/api/v2/incidents/unresolved.json").json()["incidents"]
    assert incident["impact"] == "minor"
    english = unescape(client.get(f"/incidents/{incident['id']}?lang=en").text)
    dutch = unescape(client.get(f"/incidents/{incident['id']}?lang=nl").text)
    assert "Bookings to Exact Online are paused for some customer environments" in english
    assert "Boekingen naar Exact Online gepauzeerd voor sommige omgevingen" in dutch
    assert "switched the Exact Online integration off" not in english
    assert "We hebben de koppeling met Exact Online uitgezet" not in dutch
    assert "For some customer environments" in english and "Voor sommige omgevingen" in dutch


def test_switching_on_with_nothing_delayed_resolves_at_once(connected, tokens) -> None:
    client = connected
    incident_id = flip(client, tokens, False, incident={})["incident_id"]
    flip(client, tokens, True, incident={})
    incident = client.get(f"/api/v1/incidents/{incident_id}", headers=tokens["viewer"]).json()
    assert incident["status"] == "resolved"
    assert [u["status"] for u in incident["incident_updates"]] == ["resolved", "monitoring", "identified"]


def test_an_update_written_in_one_language_is_shown_to_the_other_marked_with_its_language(client, tokens) -> None:
    opened = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        "name": "Trage koppeling", "message": "", "messages": {"nl": "We kijken ernaar."}, "components": {}})
    assert opened.status_code == 201, opened.text
    english = client.get(f"/incidents/{opened.json()['id']}?lang=en").text
    assert 'lang="nl"' in english and "In Dutch" in english and "We kijken ernaar." in english
    dutch = client.get(f"/incidents/{opened.json()['id']}?lang=nl").text
    assert "In het Nederlands" not in dutch and "We kijken ernaar." in dutch
    refused = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        "name": "X", "message": "", "messages": {"de": "Nein"}, "components": {}})
    assert refused.status_code == 400 and "languages are nl, en" in refused.json()["detail"]


def test_the_console_switches_off_with_the_incident_prefilled_and_lists_actions_newest_first(
    connected, tokens,
) -> None:
    from conftest import TOKENS
    from page_helpers import csrf_of, sign_in

    client = connected
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/switches").text
    assert 'name="incident" value="on" checked' in page
    assert 'value="Boekingen naar Exact Online gepauzeerd"' in page and 'value="Bookings to Exact Online are paused"' in page
    form = {"_csrf_token": csrf_of(page), "enabled": "off", "reason": "misroutes", "incident": "on",
            "title.nl": "Boekingen naar Exact Online gepauzeerd", "title.en": "Bookings paused (edited)",
            "message.nl": "Facturen wachten.", "message.en": "Invoices wait."}
    client.post("/console/switches/exact-online", data=form)
    [incident] = client.get("/api/v2/incidents/unresolved.json").json()["incidents"]
    assert "Bookings paused (edited)" in client.get("/?lang=en").text and "Invoices wait." in client.get("/?lang=en").text
    assert "the switch's incident" in client.get("/console/switches").text

    for n in range(3):
        client.post("/api/v1/actions", headers=tokens["client"],
                    json=book(f"C-{n}", administration=("101", "102", "101")[n]))
    listing = client.get("/console/actions").text
    assert [row.split('"')[0] for row in listing.split('data-action="')[1:]] == ["3", "2", "1"]
    only_102 = client.get("/console/actions?environment=bakkerij-de-vries&administration=102&state=delayed").text
    assert only_102.count('data-action="') == 1 and '<td class="key">C-1</td>' in only_102
    assert "No actions in state done" in client.get("/console/actions?state=done").text
    assert incident["name"] == "Boekingen naar Exact Online gepauzeerd"


def uptime_of(client, component: str) -> str:
    html = client.get("/?lang=en").text
    start = html.index(f'data-component="{component}"')
    item = html[start:html.index("</li>", html.index('class="bar"', start))]
    return re.search(r"[\d.]+% uptime[^<.\"]*", item).group(0)


def test_an_hour_switched_off_is_downtime_of_that_component_alone(connected, tokens, clock) -> None:
    client = connected
    client.get("/")  # the service starts watching
    clock.advance(hours=1)
    flip(client, tokens, False)
    clock.advance(hours=1)
    flip(client, tokens, True)
    clock.advance(hours=2)
    # Four hours watched on a fresh install, one of them with Exact Online switched off.
    assert uptime_of(client, "exact-online") == "75.00% uptime since Nov 23"
    assert uptime_of(client, "twinfield") == "100.00% uptime since Nov 23"
    assert uptime_of(client, "login") == "100.00% uptime since Nov 23"
    html = client.get("/?lang=en").text
    bar = html[html.index('data-component="exact-online"'):html.index('data-component="twinfield"')]
    assert "Nov 23, 2026: Major Outage. Down for 1 h 0 min" in unescape(bar)
