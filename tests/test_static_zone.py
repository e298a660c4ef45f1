"""`?tz=` on the static copy of the page (issue 15): a static server answers every `?tz=` with the exported file,
so the page's script shows its moments in the zone asked for, as the service would have; without JavaScript the
page is whole and in its own zone. Debian's Chromium, the exported files behind a plain static file server."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser_helpers import browser_fixture  # noqa: F401 (a fixture)
from conftest import notice_writes

from statuspage.incidents import operations
from statuspage.page.export import export

pytestmark = pytest.mark.browser

ZONE = "America/New_York"
MOMENT = re.compile(r"<time datetime=\"[^\"]+\" data-moment(?: data-year)?>([^<]+)</time>")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def static_copy(client, seed, bad_day, tmp_path) -> Iterator[str]:
    """The exported site of the bad day, served as files (a query string changes nothing), like nginx does."""
    # The maintenance whose window has begun moves to in progress before the export, not while the test
    # compares: the app's background work would do it at a moment of its own.
    seed(lambda db: operations.advance_maintenances(db, seed.settings, seed.clock()))
    notice_writes(client)
    directory = tmp_path / "site"
    client.blocking_portal.call(export, client.app.state.pages, Path(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def served_moments(client, **query: str) -> list[str]:
    """The moments the service itself shows on `/` (in the page's language) for `query`."""
    return MOMENT.findall(client.get("/", params={"lang": "nl", **query}).text)


def test_the_static_page_shows_its_times_in_the_zone_asked_for_as_the_service_would(
        client, static_copy, browser) -> None:  # noqa: F811
    in_new_york = served_moments(client, tz=ZONE)
    at_home = served_moments(client)
    assert len(in_new_york) >= 5 and in_new_york != at_home  # moments enough, and the zones tell them apart
    assert all(moment.endswith(" EST") for moment in in_new_york)

    page = browser.new_page()
    page.goto(f"{static_copy}/?tz={ZONE}")
    assert page.locator("time[data-moment]").all_inner_texts() == in_new_york
    assert page.get_by_text(f"Tijden in {ZONE}").is_visible()
    links = page.locator("a[href*='/incidents/'], a[hreflang]").evaluate_all(
        "links => links.map(link => link.getAttribute('href'))")
    assert len(links) >= 3 and all(link.endswith("?tz=America%2FNew_York") for link in links)  # the next page keeps it

    # A zone the browser does not know, and no zone at all: the page as exported, in its own zone.
    for query in ("?tz=Mars/Olympus", ""):
        page.goto(f"{static_copy}/{query}")
        assert page.locator("time[data-moment]").all_inner_texts() == at_home
        assert page.get_by_text("Tijden in Europe/Amsterdam").is_visible()

    # The service renders the zone asked for itself; its page's script leaves it as it is.
    served = browser.new_page()
    served.route("**/*", lambda route: route.fulfill(
        status=200, content_type="text/html", body=client.get("/", params={"lang": "nl", "tz": ZONE}).text))
    served.goto(f"https://status.example.test/?lang=nl&tz={ZONE}")
    assert served.locator("time[data-moment]").all_inner_texts() == in_new_york


def test_without_javascript_the_static_page_is_whole_in_its_own_zone(client, static_copy, browser) -> None:  # noqa: F811
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{static_copy}/?tz={ZONE}")
    assert page.locator("time[data-moment]").all_inner_texts() == served_moments(client)
    assert page.get_by_text("Tijden in Europe/Amsterdam").is_visible()
    assert page.get_by_role("status").inner_text() == "Gedeeltelijke storing"
    assert page.locator('li[data-component="exact-online"] .bar .cell').count() == 90
    context.close()
