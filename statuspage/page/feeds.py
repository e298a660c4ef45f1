"""The incident history as Atom and RSS, in the form feed readers of hosted status pages expect.

One entry per incident or maintenance; its content lists every update newest first, each as a
small date line, the status word in <strong>, then the text. Readers take the first <strong> as
the current status, so the order matters.

A feed is in one language (`?lang=`, else the page's): its title, the status words, the incident
titles and the updates' texts; an update written only in the other language says so (issue 12).
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree

from statuspage.core import markdown
from statuspage.core.i18n import format_time, pick_text, word
from statuspage.core.limits import xml_text
from statuspage.page.snapshot import IncidentView, PageSnapshot

ATOM = "http://www.w3.org/2005/Atom"
FEED_LIMIT = 50


def _entries(snapshot: PageSnapshot) -> list[IncidentView]:
    items = list(snapshot.incidents) + list(snapshot.maintenances)
    return sorted(items, key=lambda item: item.updated_at, reverse=True)[:FEED_LIMIT]


def _tag(snapshot: PageSnapshot, kind: str, item_id: str) -> str:
    host = urlsplit(snapshot.settings.page.url).hostname or "localhost"
    return f"tag:{host},2005:{kind}/{item_id}"


def _entry_tag(snapshot: PageSnapshot, item: IncidentView) -> str:
    return _tag(snapshot, "Incident" if item.kind == "incident" else "ScheduledMaintenance", item.id)


def _link(snapshot: PageSnapshot, item: IncidentView) -> str:
    return f"{snapshot.settings.page.url.rstrip('/')}/incidents/{item.id}"


def entry_html(snapshot: PageSnapshot, item: IncidentView, language: str | None = None) -> str:
    language, zone = language or snapshot.settings.page.language, snapshot.settings.zone
    parts = []
    for update in item.updates:
        body, written_in = pick_text(update.bodies, update.body, language)
        mark = f"<em>{word(language, 'written_in.' + written_in)}</em> " if written_in else ""
        parts.append(f"<p><small>{format_time(update.display_at, language, zone, snapshot.now)}</small><br>"
                     f"<strong>{word(language, update.status)}</strong> - {mark}{markdown.render(body)}</p>")
    return "".join(parts)


def _title(item: IncidentView, language: str) -> str:
    return pick_text(item.names, item.name, language)[0]


def _lang_query(snapshot: PageSnapshot, language: str) -> str:
    """Links from a feed in another language than the page's keep to it; the page's own stay plain."""
    return "" if language == snapshot.settings.page.language else f"?lang={language}"


def _add(parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str) -> ElementTree.Element:
    """Every text and attribute value of the feeds goes through here, cleared of what XML cannot carry."""
    element = ElementTree.SubElement(parent, tag, {key: xml_text(value) for key, value in attributes.items()})
    element.text = None if text is None else xml_text(text)
    return element


def _atom_time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def atom(snapshot: PageSnapshot, language: str | None = None) -> bytes:
    page = snapshot.settings.page
    language = language or page.language
    name = page.name_in(language)
    ElementTree.register_namespace("", ATOM)
    feed = ElementTree.Element(f"{{{ATOM}}}feed", {"xml:lang": language})

    def add(parent: ElementTree.Element, name: str, text: str | None = None, **attributes: str) -> ElementTree.Element:
        return _add(parent, f"{{{ATOM}}}{name}", text, **attributes)

    base = page.url.rstrip("/")
    add(feed, "id", _tag(snapshot, "Page", page.id))
    add(feed, "link", rel="alternate", type="text/html", href=base + "/")
    add(feed, "link", rel="self", type="application/atom+xml", href=base + "/history.atom" + _lang_query(snapshot, language))
    add(feed, "title", word(language, "feed_title", page=name))
    add(feed, "updated", _atom_time(snapshot.updated_at))
    author = add(feed, "author")
    add(author, "name", name)
    for item in _entries(snapshot):
        entry = add(feed, "entry")
        add(entry, "id", _entry_tag(snapshot, item))
        add(entry, "published", _atom_time(item.created_at))
        add(entry, "updated", _atom_time(item.updated_at))
        add(entry, "link", rel="alternate", type="text/html", href=_link(snapshot, item) + _lang_query(snapshot, language))
        add(entry, "title", _title(item, language))
        add(entry, "content", entry_html(snapshot, item, language), type="html")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(feed, encoding="utf-8")


def rss(snapshot: PageSnapshot, language: str | None = None) -> bytes:
    page = snapshot.settings.page
    language = language or page.language
    name = page.name_in(language)
    root = ElementTree.Element("rss", {"version": "2.0", "xmlns:atom": ATOM})
    channel = ElementTree.SubElement(root, "channel")
    add = _add
    base = page.url.rstrip("/")
    add(channel, "title", word(language, "feed_title", page=name))
    add(channel, "link", base + "/" + _lang_query(snapshot, language))
    add(channel, "description", word(language, "feed_description", page=name))
    add(channel, "language", language)
    add(channel, "pubDate", format_datetime(snapshot.updated_at))
    add(channel, "atom:link", href=base + "/history.rss" + _lang_query(snapshot, language), rel="self",
        type="application/rss+xml")
    for item in _entries(snapshot):
        element = add(channel, "item")
        add(element, "title", _title(item, language))
        add(element, "description", entry_html(snapshot, item, language))
        add(element, "pubDate", format_datetime(item.created_at))
        add(element, "link", _link(snapshot, item) + _lang_query(snapshot, language))
        add(element, "guid", _entry_tag(snapshot, item), isPermaLink="false")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="utf-8")
