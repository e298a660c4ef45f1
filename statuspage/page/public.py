"""The public documents, rendered once per change and served from memory.

During an outage every customer refreshes the page at once; none of those requests may touch the
database or re-render a template. A snapshot is built once per page version (`Store.page_version`, which
database triggers move only when something the page shows changes: components, overrides, incidents and
their updates, the status history, kill switches, probe verdicts; not the action outbox, the audit log or
the deliveries, so a replay's thousands of transitions leave the caches alone) and lasts until the clock alone would change the
page (midnight, a maintenance window opening). Each document is rendered from it once per
language and time zone, with its ETag.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
import msgspec
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from markupsafe import Markup

from statuspage.core.clock import Clock
from statuspage.core.i18n import format_day, format_duration, format_time, pick_text, word
from statuspage.core.settings import Settings, text_in
from statuspage.core.storage import Store, read_page_rows
from statuspage.core.vocabulary import ComponentStatus
from statuspage.page import api_v2, feeds
from statuspage.page.snapshot import PAST_INCIDENT_DAYS, UPTIME_DAYS, ComponentView, PageSnapshot, build_snapshot
from statuspage.page.uptime import Day, History, day_bounds, local_days

# The legend reads from good to bad, with maintenance apart at the end, as on hosted status pages.
LEGEND_ORDER = [
    ComponentStatus.OPERATIONAL,
    ComponentStatus.DEGRADED_PERFORMANCE,
    ComponentStatus.PARTIAL_OUTAGE,
    ComponentStatus.MAJOR_OUTAGE,
    ComponentStatus.UNDER_MAINTENANCE,
]

# Language x zone pairs kept rendered; zones come from visitors, so the cache must be bounded.
MAX_RENDERED_PAGES = 64


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    media_type: str


def rendered(body: bytes, media_type: str) -> Rendered:
    return Rendered(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"', media_type)


class PublicPages:
    def __init__(self, settings: Settings, store: Store, clock: Clock, templates: jinja2.Environment) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.templates = templates
        self._snapshot: PageSnapshot | None = None
        self._snapshot_generation = -1
        self._building: asyncio.Task[PageSnapshot] | None = None
        self._documents: dict[str, Rendered] = {}
        self._pages: OrderedDict[tuple[str, ...], Rendered] = OrderedDict()

    async def snapshot(self) -> PageSnapshot:
        current = self._snapshot
        if current is not None and self._snapshot_generation == self.store.page_version and self.clock() < current.valid_until:
            return current
        # One build at a time; everyone who arrives meanwhile waits for the same one.
        if self._building is None:
            self._building = asyncio.ensure_future(self._build())
        building = self._building
        try:
            return await asyncio.shield(building)
        finally:
            if self._building is building and building.done():
                self._building = None

    async def _build(self) -> PageSnapshot:
        generation = self.store.page_version
        now = self.clock()
        since = now - timedelta(days=UPTIME_DAYS + 1)
        rows = await self.store.read(read_page_rows, since)
        snapshot = build_snapshot(self.settings, rows, now)
        self._snapshot, self._snapshot_generation = snapshot, generation
        self._documents.clear()
        self._pages.clear()
        return snapshot

    async def document(self, name: str) -> Rendered:
        """One of the /api/v2 documents, by its path below /api/v2/."""
        snapshot = await self.snapshot()
        cached = self._documents.get(name)
        if cached is None:
            build, _ = api_v2.DOCUMENTS[name]
            cached = self._documents[name] = rendered(msgspec.json.encode(build(snapshot)), "application/json")
        return cached

    async def feed(self, kind: str, language: str | None = None) -> Rendered:
        """The incident history as "atom" or "rss", in one language (the page's unless asked)."""
        snapshot = await self.snapshot()
        language = language or self.settings.page.language
        key = f"{kind}:{language}"
        cached = self._documents.get(key)
        if cached is None:
            body, media_type = (feeds.atom(snapshot, language), "application/atom+xml") if kind == "atom" else (
                feeds.rss(snapshot, language), "application/rss+xml")
            cached = self._documents[key] = rendered(body, media_type)
        return cached

    async def page(self, language: str, zone: ZoneInfo, zone_unknown: bool = False) -> Rendered:
        """The status page; `zone_unknown`: the visitor asked for a zone we do not know, say so."""
        snapshot = await self.snapshot()
        return self._html(("index", language, zone.key, str(zone_unknown)), lambda: self.templates.get_template(
            "page/index.html").render(page_context(snapshot, language, zone) | {"zone_unknown": zone_unknown}))

    async def incident_page(
        self, incident_id: str, language: str, zone: ZoneInfo, zone_unknown: bool = False
    ) -> Rendered | None:
        """The page of one recent incident or maintenance; None when there is no such one."""
        snapshot = await self.snapshot()
        item = next((item for item in snapshot.incidents + snapshot.maintenances if item.id == incident_id), None)
        if item is None:
            return None
        return self._html(("incident", incident_id, language, zone.key, str(zone_unknown)), lambda: (
            self.templates.get_template("page/incident.html").render(
                common_context(snapshot, language, zone) | {"item": item, "zone_unknown": zone_unknown})))

    def _html(self, key: tuple[str, ...], render: Callable[[], str]) -> Rendered:
        cached = self._pages.get(key)
        if cached is None:
            cached = self._pages[key] = rendered(render().encode(), "text/html")
            if len(self._pages) > MAX_RENDERED_PAGES:
                self._pages.popitem(last=False)
        return cached


# ---------------------------------------------------------------------------------------------
# What the template sees: words already chosen, times already formatted.


@dataclass(frozen=True)
class Cell:
    css: str
    label: str


@dataclass(frozen=True)
class ComponentRow:
    id: str
    name: str
    description: str | None
    status: str
    status_label: str
    children: list[ComponentRow]
    cells: list[Cell]
    uptime: str | None  # "98.75% uptime", or "… since Nov 13" on a fresh install
    bar_label: str  # the whole bar as screen readers announce it: uptime and the worst days
    notice: str | None = None  # what a kill switch means for the visitor, when one holds this component


def moment_element(moment: datetime, language: str, zone: ZoneInfo, now: datetime | None = None) -> Markup:
    """A moment as the page shows it (`format_time`, with the year when it is not `now`'s), in a `<time>` the
    page's script can show in another zone: `<time datetime="2026-11-23T09:20:00+00:00" data-moment>Nov 23,
    10:20 CET</time>`; `data-year` when `now` is given, so the script shows a year where the service would."""
    return Markup('<time datetime="{}" data-moment{}>{}</time>').format(
        moment.astimezone(UTC).isoformat(), Markup(" data-year") if now is not None else "",
        format_time(moment, language, zone, now))


def words_with_markup(language: str, key: str, **values: object) -> str | Markup:
    """`word`, for templates: with values, the text escaped and each value escaped unless it is markup already
    (a `<time>` from `moment_element`), so a moment inside a sentence stays an element."""
    return Markup.escape(word(language, key)).format(**values) if values else word(language, key)


def language_paths(snapshot: PageSnapshot, language: str, zone: ZoneInfo) -> dict:
    """Where the public pages link: each language's pages at their own paths (`/nl/`, `/en/incidents/ID`), so a
    link works the same on the server and in the static copy (page/export.py), whose files hold one language
    each. `?tz=` follows only a zone other than the page's: the copy is in the page's zone and takes no query.
    Returns `home`, `incident_href(id)`, and `tz_query` ("" or "?tz=Asia%2FTokyo")."""
    tz_query = "" if zone.key == snapshot.settings.zone.key else "?" + urlencode({"tz": zone.key})
    return {
        "tz_query": tz_query,
        "home": f"/{language}/{tz_query}",
        "incident_href": lambda incident_id, to=language: f"/{to}/incidents/{incident_id}{tz_query}",
    }


def common_context(snapshot: PageSnapshot, language: str, zone: ZoneInfo) -> dict:
    """What every public template needs: the words, the clock face, the page's names and its links."""
    default = snapshot.settings.page.language
    return language_paths(snapshot, language, zone) | {
        "lang": language,
        "zone": zone.key,
        "page": snapshot.settings.page,
        "component_names": {view.id: text_in(view.name, language, default) or view.id for view in snapshot.components},
        "when": lambda moment: moment_element(moment, language, zone, snapshot.now),
        # The year the page was rendered in, in its zone: the page's script shows a year where the service did
        # (format_time). A year, not a moment, so that every worker renders the same bytes.
        "rendered_year": snapshot.now.astimezone(zone).year,
        "t": lambda key, **values: words_with_markup(language, key, **values),
        "feeds": True,  # the head links the feeds for readers to discover
        # An incident's title and an update's text in the visitor's language when written in it, else
        # the other, with the language it is in (None: no mark due).
        "title": lambda item: pick_text(item.names, item.name, language)[0],
        "localized": lambda update: pick_text(update.bodies, update.body, language),
    }


def page_context(snapshot: PageSnapshot, language: str, zone: ZoneInfo) -> dict:
    default = snapshot.settings.page.language

    def text(value) -> str | None:
        return text_in(value, language, default)

    def row(view: ComponentView) -> ComponentRow:
        return ComponentRow(
            id=view.id,
            name=text(view.name) or view.id,
            description=text(view.description),
            status=view.status.value,
            status_label=word(language, view.status.value),
            children=[row(by_id[key]) for key in view.children if _shown(by_id[key])],
            cells=[_cell(day, language, zone) for day in view.history.days],
            uptime=_uptime_text(view.history, language, zone),
            bar_label=_bar_label(text(view.name) or view.id, view.history, language, zone),
            notice=word(language, f"paused.{view.paused}") if view.paused else None,
        )

    by_id = snapshot.component_by_id
    top_level = [view for view in snapshot.components if view.group_id is None and _shown(view)]
    past_days = []
    for day in reversed(local_days(snapshot.now, zone, PAST_INCIDENT_DAYS)):
        start, end = day_bounds(day, zone)
        past_days.append({"label": format_day(start, language, zone), "incidents": snapshot.incidents_on(start, end)})
    return common_context(snapshot, language, zone) | {
        "indicator": snapshot.status.indicator.value,
        "indicator_label": word(language, snapshot.status.description),
        "components": [row(view) for view in top_level],
        "incidents": snapshot.unresolved_incidents,
        "maintenances": snapshot.active_maintenances + snapshot.upcoming_maintenances,
        "past_days": past_days,
        "states": [status.value for status in LEGEND_ORDER],
        "updated": moment_element(snapshot.updated_at, language, zone),
        "uptime_days": UPTIME_DAYS,
        "email_offered": snapshot.settings.notifications.smtp_host is not None,
    }


def _shown(view: ComponentView) -> bool:
    return not view.only_show_if_degraded or view.status is not ComponentStatus.OPERATIONAL


def _cell(day: Day, language: str, zone: ZoneInfo) -> Cell:
    label_day = format_day(datetime.combine(day.day, datetime.min.time(), tzinfo=zone), language, zone)
    if day.worst is None:
        return Cell("no-data", f"{label_day}: {word(language, 'no_data')}")
    major = day.seconds_in.get(ComponentStatus.MAJOR_OUTAGE, 0.0)
    partial = day.seconds_in.get(ComponentStatus.PARTIAL_OUTAGE, 0.0)
    details = []
    if major:
        details.append(word(language, "down_for", duration=format_duration(major, language)))
    if partial:
        details.append(word(language, "partial_for", duration=format_duration(partial, language)))
    detail = "; ".join(details) or word(language, "no_downtime")
    return Cell(day.worst.value, word(language, "day_cell", day=label_day, state=word(language, day.worst.value), detail=detail))


def _uptime_text(history: History, language: str, zone: ZoneInfo) -> str | None:
    """ "98.75% uptime"; on a fresh install "98.75% uptime since Nov 13", over the days watched alone."""
    percent = _percent(history.uptime, language)
    if percent is None:
        return None
    since = history.watched_since
    if since is None:
        return word(language, "uptime", percent=percent)
    return word(language, "uptime_since", percent=percent, day=_day_label(since, language, zone, with_year=False))


def _bar_label(name: str, history: History, language: str, zone: ZoneInfo) -> str:
    """The bar announced as a whole: "Exact Online: 98.75% uptime since Nov 13. Worst days: Nov 21, 2026 (…)."."""
    worst = history.worst_days()
    detail = word(language, "bar_worst", days="; ".join(
        f"{_day_label(day.day, language, zone)} ({_cell(day, language, zone).label.split(': ', 1)[1]})"
        for day in worst)) if worst else word(language, "bar_all_well")
    return word(language, "bar_label", name=name, uptime=_uptime_text(history, language, zone) or word(
        language, "no_data"), worst=detail)


def _day_label(day: date, language: str, zone: ZoneInfo, with_year: bool = True) -> str:
    return format_day(datetime.combine(day, datetime.min.time(), tzinfo=zone), language, zone, with_year)


def _percent(uptime: float | None, language: str) -> str | None:
    if uptime is None:
        return None
    # Never round 99.996% up to a perfect score that hides a real outage.
    shown = f"{int(uptime * 10000) / 100:.2f}"
    return (shown.replace(".", ",") if language == "nl" else shown) + "%"


PagesDep = NamedDependency[SkipValidation[PublicPages]]
"""`pages`: the public pages, rendered from memory; injected into handlers (`web.dependencies`)."""
