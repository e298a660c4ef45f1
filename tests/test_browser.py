"""A visitor opens the real page, served by `statuspage serve`, in Debian's headless Chromium."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_helpers import (  # noqa: F401 (fixtures)
    CLIENT_TOKEN,
    OPERATOR_TOKEN,
    browser_fixture,
    config_file_fixture,
    quiet_server_fixture,
    serve,
    server_fixture,
    sign_in_to_console,
)

from statuspage.core.operation import Actor
from statuspage.incidents import operations

pytestmark = pytest.mark.browser


def test_a_visitor_sees_the_outage_and_can_switch_to_english(server, browser) -> None:
    page = browser.new_page(locale="nl-NL")
    page.goto(server)
    assert page.title() == "Test status"
    assert page.get_by_role("status").inner_text() == "Gedeeltelijke storing"
    exact = page.locator('li[data-component="exact-online"]')
    assert exact.locator(".state").inner_text().endswith("Ernstige storing")
    assert exact.locator(".bar .cell").count() == 90
    assert "Bookings to Exact Online are paused" in page.locator("#active-incidents + article").inner_text()

    page.get_by_role("link", name="English").click()
    page.wait_for_url(f"{server}/en/")
    assert page.get_by_role("status").inner_text() == "Partial System Outage"
    assert page.locator("#past-incidents").inner_text().startswith("Past incidents")
    assert page.get_by_text("Times in Europe/Amsterdam").is_visible()
    page.get_by_role("link", name="Nederlands").click()  # from /en/ back to Dutch, whatever the browser asks
    page.wait_for_url(f"{server}/nl/")
    assert page.get_by_role("status").inner_text() == "Gedeeltelijke storing"


def test_on_a_phone_the_bar_shows_thirty_days_and_nothing_overflows(server, browser) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 800}, is_mobile=True)
    page.goto(f"{server}/?lang=en")
    cells = page.locator('li[data-component="exact-online"] .bar .cell')
    visible = cells.evaluate_all("cells => cells.filter(cell => cell.offsetParent !== null).length")
    assert visible == 30
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_dark_and_light_schemes_both_keep_the_state_in_words(server, browser) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        page = browser.new_page(color_scheme=scheme)
        page.goto(f"{server}/?lang=en")
        colours[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert page.locator('li[data-component="exact-online"] .state').first.inner_text().endswith("Major Outage")
    assert colours == {"light": "rgb(255, 255, 255)", "dark": "rgb(13, 17, 23)"}


def test_the_page_works_without_javascript(server, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server}/?lang=en")
    assert page.get_by_role("status").inner_text() == "Partial System Outage"
    assert page.locator("ul.components > li").count() == 2


def test_an_operator_signs_in_opens_an_incident_with_two_updates_and_visitors_see_it(server, browser) -> None:
    page = browser.new_page()
    sign_in_to_console(page, server)
    assert "olga" in page.get_by_role("button", name=re.compile("Sign out")).inner_text()

    page.get_by_role("link", name="New incident").click()
    page.get_by_label("Written in").select_option("en")
    page.get_by_label("Title").fill("Twinfield bookings are slow")
    page.get_by_label("Status").select_option("investigating")
    page.get_by_label("Impact").select_option("minor")
    page.get_by_label("Twinfield").select_option("degraded_performance")
    page.get_by_label("Message (Markdown)").fill("Bookings to **Twinfield** take minutes instead of seconds.")
    page.get_by_role("button", name="Open incident").click()
    page.wait_for_url(re.compile(r".*/console/incidents/\w+$"))

    page.get_by_label("Status").select_option("identified")
    page.get_by_label("Written in").select_option("en")
    page.get_by_label("Message (Markdown)").fill("Twinfield confirmed a slow database on their side.")
    page.get_by_role("button", name="Post update").click()
    page.get_by_label("Status").select_option("monitoring")
    page.get_by_label("Twinfield").select_option("operational")
    page.get_by_label("Written in").select_option("en")
    page.get_by_label("Message (Markdown)").fill("Bookings are fast again; we keep watching.")
    page.get_by_role("button", name="Post update").click()
    assert page.locator("article[data-update]").count() == 3

    visitor = browser.new_page(locale="en-GB")
    visitor.goto(server)
    incident = visitor.locator("article.incident", has_text="Twinfield bookings are slow")
    updates = incident.locator(".update")
    assert updates.count() == 3
    assert updates.nth(0).inner_text().startswith("Monitoring")
    assert "Bookings are fast again" in updates.nth(0).inner_text()
    assert updates.nth(2).locator("strong", has_text="Twinfield").count() == 1  # Markdown rendered
    assert incident.locator(".written-in").count() == 0  # written in the visitor's language: no mark
    assert visitor.locator('li[data-component="twinfield"] .state').inner_text().endswith("Operational")


def test_an_operator_connects_exact_online_and_sees_which_administration_is_out_of_reach(server, browser) -> None:
    page = browser.new_page()
    sign_in_to_console(page, server)
    page.get_by_role("link", name="Connections").click()
    jansen = page.locator('article[data-environment="jansen-groep"]')
    assert "Not connected." in jansen.inner_text()

    jansen.get_by_role("button", name="Connect to Exact Online").click()
    page.wait_for_url("**/api/oauth2/auth**")  # at (the sandbox of) Exact Online
    page.get_by_label("Petra Jansen (p.jansen)").check()
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server}/console/connections?connected=jansen-groep")

    confirmation = page.get_by_role("status").inner_text()
    assert "Jansen Groep is now connected and runs under Petra Jansen (p.jansen)" in confirmation
    assert "cannot reach Jansen Verhuur B.V. (203)" in confirmation
    jansen = page.locator('article[data-environment="jansen-groep"]')
    assert jansen.locator(".connection-user").inner_text() == "Petra Jansen"
    assert jansen.locator('tr[data-administration="203"]').inner_text().endswith(
        "cannot reach: bookings here are refused")
    assert jansen.locator('tr[data-administration="201"]').inner_text().endswith("reachable")


def test_an_operator_flips_the_kill_switch_sees_the_preview_and_watches_the_replay_finish(server, browser) -> None:
    from exact_online_service_helpers import book

    page = browser.new_page()
    sign_in_to_console(page, server)
    page.get_by_role("link", name="Connections").click()
    page.locator('article[data-environment="jansen-groep"]').get_by_role("button", name="Connect to Exact Online").click()
    page.get_by_label("Anna Bakker (a.bakker)").check()
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server}/console/connections?connected=jansen-groep")

    page.get_by_role("link", name="Kill switches").click()
    page.get_by_label("Reason").first.fill("Exact Online books into the wrong administration")
    page.get_by_label("Open an incident on the status page").first.uncheck()  # this test opens none
    page.get_by_role("button", name="Switch Exact Online off").click()
    page.wait_for_url(f"{server}/console/switches")
    assert "off" in page.locator("#integration-switch-exact-online").inner_text()

    client = {"Authorization": f"Bearer {CLIENT_TOKEN}"}
    for n in range(12):
        answer = httpx.post(f"{server}/api/v1/actions", headers=client,
                            json=book(f"B-{n}", administration=("201", "202", "203")[n % 3], environment="jansen-groep"))
        assert answer.json()["state"] == "delayed"
    page.reload()
    preview = page.locator("table.preview tbody tr")
    assert preview.count() == 3
    assert [preview.nth(i).locator("td").nth(2).inner_text() for i in range(3)] == ["4", "4", "4"]
    assert page.locator(".estimate").inner_text() == "4 seconds"
    assert "Open an incident from" in page.content()

    page.locator("#on-reason-exact-online").fill("Exact fixed it")
    page.get_by_role("button", name="Switch on and replay").click()
    page.wait_for_url(f"{server}/console/switches")
    # The page refreshes itself while the replay runs; no JavaScript needed.
    page.wait_for_function("document.querySelector('[data-count=left]')?.textContent === '0'", timeout=30_000)
    assert page.locator("[data-count=done]").inner_text() == "12"
    assert page.locator("[data-count=total]").inner_text() == "12"


SHOTS = Path(os.environ.get("BADDAY_SHOTS", "/tmp/badday-shots"))


def test_a_switch_off_from_the_console_tells_visitors_in_both_languages_and_the_replay_resolves_it(
    quiet_server, browser,
) -> None:
    """Issue 12, done when: switch Exact Online off with the incident box checked, read the public page as
    a Dutch and an English visitor, switch on, watch the replay finish and the incident resolve."""
    from exact_online_service_helpers import book

    server = quiet_server
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in_to_console(page, server)
    page.get_by_role("link", name="Connections").click()
    page.locator('article[data-environment="jansen-groep"]').get_by_role("button", name="Connect to Exact Online").click()
    page.get_by_label("Anna Bakker (a.bakker)").check()
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server}/console/connections?connected=jansen-groep")

    page.get_by_role("link", name="Kill switches").click()
    page.get_by_label("Reason").first.fill("Exact Online books into the wrong administration")
    box = page.get_by_label("Open an incident on the status page").first
    assert box.is_checked()
    assert page.get_by_label("Title (Dutch)").first.input_value() == "Boekingen naar Exact Online gepauzeerd"
    assert page.get_by_label("Title (English)").first.input_value() == "Bookings to Exact Online are paused"
    page.get_by_label("Message (English)").first.fill(
        "We switched Exact Online off to prevent wrong bookings. Keep working: your invoices wait and are booked "
        "into the right administration when it is back.")
    page.get_by_role("button", name="Switch Exact Online off").click()
    page.wait_for_url(f"{server}/console/switches")

    client = {"Authorization": f"Bearer {CLIENT_TOKEN}"}
    for n in range(8):
        answer = httpx.post(f"{server}/api/v1/actions", headers=client,
                            json=book(f"D-{n}", administration=("201", "202")[n % 2], environment="jansen-groep"))
        assert answer.json()["state"] == "delayed"
    page.reload()
    page.screenshot(path=str(SHOTS / "console-switches-off.png"), full_page=True)
    page.get_by_role("link", name="Actions").click()
    assert page.locator("tr[data-state=delayed] .action-state").first.inner_text() == "delayed"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # the table fits the screen
    page.screenshot(path=str(SHOTS / "console-actions.png"), full_page=True)

    for language, locale, delayed, title, status in (
        ("nl", "nl-NL", "Factuuracties zijn vertraagd, niet verloren", "Boekingen naar Exact Online gepauzeerd",
         "Ernstige storing"),
        ("en", "en-GB", "Invoice actions are delayed, not lost", "Bookings to Exact Online are paused", "Major Outage"),
    ):
        for width, name in ((1280, "desktop"), (390, "390")):
            visitor = browser.new_page(locale=locale, viewport={"width": width, "height": 900})
            visitor.goto(server)  # the language comes from the browser's Accept-Language
            line = visitor.locator('li[data-component="exact-online"]')
            assert line.locator(".state").inner_text().endswith(status)
            assert delayed in line.locator(".paused-notice").inner_text()
            incident = visitor.locator("#active-incidents + article")
            assert title in incident.inner_text()
            assert ("geboekt" if language == "nl" else "booked") in incident.inner_text()
            # At 390 px the name and its status share a line; nothing overflows.
            head = line.locator(".component-head").first
            name_box, state_box = head.locator(".component-name").bounding_box(), head.locator(".state").bounding_box()
            assert abs(name_box["y"] - state_box["y"]) < name_box["height"]
            assert visitor.evaluate("document.documentElement.scrollWidth") <= width
            visitor.screenshot(path=str(SHOTS / f"public-{language}-{name}.png"), full_page=True)
            visitor.close()

    page.get_by_role("link", name="Kill switches").click()
    page.locator("#on-reason-exact-online").fill("Exact fixed it")
    assert page.get_by_label('Post "delayed actions are being booked"').is_checked()
    page.get_by_role("button", name="Switch on and replay").click()
    page.wait_for_url(f"{server}/console/switches")
    page.wait_for_function("document.querySelector('[data-count=left]')?.textContent === '0'", timeout=30_000)
    page.wait_for_selector("text=Replay finished", timeout=10_000)
    assert page.locator("[data-count=done]").inner_text() == "8"
    assert "a minute" in page.locator("[data-replay=average]").inner_text()
    page.screenshot(path=str(SHOTS / "console-switches-replayed.png"), full_page=True)

    visitor = browser.new_page(locale="en-GB")
    visitor.goto(server)
    assert visitor.locator("#active-incidents").count() == 0  # resolved: no longer active
    assert "Invoice actions are delayed" not in visitor.content()
    past = visitor.locator("section[aria-labelledby=past-incidents] article", has_text="Bookings to Exact Online are paused")
    assert past.locator(".update").first.inner_text().startswith("Resolved")
    assert "All delayed invoice actions for Exact Online have been handled" in past.inner_text()
    assert "being booked now" in past.inner_text()


def test_an_operator_starts_a_manual_sync_from_the_console_and_watches_it_reach_done(server, browser) -> None:
    page = browser.new_page()
    sign_in_to_console(page, server)
    page.get_by_role("link", name="Connections").click()
    page.locator('article[data-environment="jansen-groep"]').get_by_role("button", name="Connect to Exact Online").click()
    page.get_by_label("Petra Jansen (p.jansen)").check()  # she cannot open 203: its runs end with an error
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server}/console/connections?connected=jansen-groep")

    page.get_by_role("link", name="Sync").click()
    page.wait_for_url(f"{server}/console/sync")
    jansen = page.locator('section[data-environment="jansen-groep"]')
    assert "No nightly sync" in jansen.inner_text() and "Full sync this month on day" in jansen.inner_text()
    jansen.get_by_label("Administration").select_option("201")
    jansen.get_by_label("Kind").select_option("full")
    jansen.get_by_role("button", name="Sync now").click()
    page.wait_for_url(f"{server}/console/sync")
    # The tab refreshes itself while a task is queued or running; no JavaScript needed.
    page.wait_for_function(
        "document.querySelector('tr[data-task] .task-state')?.textContent.trim() === 'done'", timeout=30_000)
    accounts = page.locator('section[data-environment="jansen-groep"] tr[data-run="201/accounts"]')
    cells = accounts.locator("td")
    assert cells.nth(3).inner_text() == "done"
    assert cells.nth(5).inner_text() == "25", "the sandbox's 25 accounts inserted"
    assert cells.nth(8).inner_text() == "1", "one call"
    jansen.get_by_label("Administration").select_option("203")
    jansen.get_by_role("button", name="Sync now").click()
    page.wait_for_function(
        "document.querySelector('tr[data-task] .task-state')?.textContent.trim() === 'failed'", timeout=30_000)
    refused = jansen.locator('tr[data-run="203/accounts"] td').nth(11)
    assert "no access to administration 203" in refused.inner_text()
    # Its long error wraps inside its cell: the tables fit a 1,280 px screen (issue 12).
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


LONG_WORD = "Exactonlineboekingen" * 9 + "gepauzeerd"  # 190 characters, no space nor hyphen to break at


def seed_long_words(seeder, now) -> None:
    seeder(lambda db: operations.open_incident(
        db, seeder.settings, Actor("test"), now(), name=LONG_WORD, status="identified", impact="major",
        message=f"Zie https://status.example.test/{LONG_WORD}", components={}))


@pytest.fixture
def long_words_server(settings, config_file) -> Iterator[str]:
    """The served page with an incident whose title and text hold a word longer than any screen is wide."""
    yield from serve(settings, config_file, seed_long_words)


@pytest.mark.parametrize("width", [390, 1280])
def test_a_title_without_spaces_wraps_inside_its_card(long_words_server, browser, width) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800})
    incident_id = httpx.get(f"{long_words_server}/api/v2/incidents.json").json()["incidents"][0]["id"]
    for path in ["/en/", f"/en/incidents/{incident_id}"]:
        page.goto(long_words_server + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        overflowing = page.locator("article, h1, h3:not(.visually-hidden), h4, .update-body").evaluate_all(
            "boxes => boxes.filter(box => box.scrollWidth > box.clientWidth + 1).map(box => box.outerHTML.slice(0, 80))")
        assert overflowing == [], path
