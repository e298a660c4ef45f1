"""The console's errors read as the console's: its layout, its menu and its language, not the public page's. And
its error banner shows only what the service itself said: a message travels in a redirect signed for the session,
so a link with `?error=` someone else wrote shows nothing."""

from __future__ import annotations

from conftest import TOKENS
from litestar.testing import TestClient
from page_helpers import csrf_of, sign_in

from statuspage.app import create_app

PUBLIC_WORDS = ("Pagina niet gevonden", "Terug naar de statuspagina", "Page not found")


def banner(html: str) -> str | None:
    """The text of the console's error banner, or None when there is none."""
    marker = '<p class="error" role="alert">'
    return html.split(marker)[1].split("</p>")[0] if marker in html else None


def test_a_page_the_console_does_not_have_is_a_404_in_the_console_layout(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    answer = client.get("/console/no-such-page")
    assert answer.status_code == 404
    assert '<nav aria-label="Console">' in answer.text and 'href="/console/switches"' in answer.text
    assert "The console has no page at /console/no-such-page" in answer.text
    assert not [word for word in PUBLIC_WORDS if word in answer.text]
    assert '<html lang="en"' in answer.text


def test_a_missing_incident_in_the_console_is_a_404_with_the_console_menu_and_sign_out(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    answer = client.get("/console/incidents/nothing-here")
    assert answer.status_code == 404
    assert "Sign out operator-person" in answer.text and "Not found" in answer.text
    assert not [word for word in PUBLIC_WORDS if word in answer.text]


def test_a_method_the_console_route_does_not_take_is_a_405_in_the_console_layout(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    answer = client.get("/console/switches/exact-online")
    assert answer.status_code == 405 and "POST" in answer.headers["allow"]
    assert '<nav aria-label="Console">' in answer.text and "GET is not allowed on /console/switches/exact-online" in answer.text
    assert not [word for word in PUBLIC_WORDS if word in answer.text]


def test_the_public_page_keeps_its_own_error_page(client) -> None:
    answer = client.get("/no-such-page")
    assert answer.status_code == 404 and "Pagina niet gevonden" in answer.text
    assert '<nav aria-label="Console">' not in answer.text


def test_text_put_into_the_error_parameter_by_a_link_is_not_shown(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    forged = client.get("/console/connections?error=Your%20session%20expired%3A%20call%20+31%20555%200100")
    assert forged.status_code == 200
    assert banner(forged.text) is None and "call +31" not in forged.text


def test_a_refused_console_change_carries_its_error_to_the_page_it_leads_to_for_that_session_only(
        client, settings, clock, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/switches").text
    refused = client.post("/console/switches/exact-online", data={"_csrf_token": csrf_of(page), "enabled": "off"},
                          follow_redirects=False)
    assert refused.status_code in (302, 303)
    location = refused.headers["location"]
    assert location.startswith("/console/switches?error=")
    assert banner(client.get(location).text) == "reason is required"
    # The same link in another operator's browser shows nothing: the message was signed for this session.
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as other:
        sign_in(other, TOKENS["admin"])
        assert banner(other.get(location).text) is None
