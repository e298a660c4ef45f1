"""Dutch and English for the public page: choosing the visitor's language, words, and dates.

The page's customers are Dutch accountants and the international teams that serve them; two
languages, written out here, are simpler and faster than a gettext catalogue.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statuspage.core import clock
from statuspage.core.settings import LANGUAGES

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "operational": "Operational",
        "degraded_performance": "Degraded Performance",
        "partial_outage": "Partial Outage",
        "major_outage": "Major Outage",
        "under_maintenance": "Maintenance",
        "investigating": "Investigating",
        "identified": "Identified",
        "monitoring": "Monitoring",
        "resolved": "Resolved",
        "postmortem": "Postmortem",
        "update": "Update",
        "scheduled": "Scheduled",
        "in_progress": "In progress",
        "verifying": "Verifying",
        "completed": "Completed",
        # The page's overall sentences, keyed by the English the API writes.
        "All Systems Operational": "All Systems Operational",
        "Service Under Maintenance": "Service Under Maintenance",
        "Partially Degraded Service": "Partially Degraded Service",
        "Minor Service Outage": "Minor Service Outage",
        "Partial System Outage": "Partial System Outage",
        "Major System Outage": "Major System Outage",
        "legend.operational": "Works as expected.",
        "legend.degraded_performance": "Works, but slower than usual.",
        "legend.partial_outage": "Some requests or customers are affected.",
        "legend.major_outage": "Does not work for anyone.",
        "legend.under_maintenance": "Planned work is in progress.",
        "active_incidents": "Active incidents",
        "subscribe_title": "E-mail about incidents",
        "subscribe_check_inbox": "Almost done: we sent a link to {address}. Open it to confirm.",
        "subscribe_refused": "That did not work: {reason}.",
        "subscribe_too_often": "Too many subscriptions from your address; try again in {minutes} minutes.",
        "subscribe_confirmed": "Confirmed. You will hear of new incidents and their updates by e-mail.",
        "subscribe_label": "Get incident updates by e-mail",
        "subscribe_button": "Subscribe",
        "unsubscribe_title": "Stop the e-mails",
        "unsubscribe_ask": "Do you want to stop receiving e-mail about incidents?",
        "unsubscribed": "Done. You will not receive e-mail from this page any more.",
        "link_invalid": "This link is not valid (any more).",
        "impact.none": "No impact",
        "impact.minor": "Minor impact",
        "impact.major": "Major impact",
        "impact.critical": "Critical impact",
        "impact.maintenance": "Maintenance",
        "incident_not_found": "There is no incident with this address, or it is too old to show here.",
        "maintenance": "Scheduled maintenance",
        "maintenance_window": "From {start} until {end}",
        "components": "Components",
        "legend": "What the states mean",
        "past_incidents": "Past incidents",
        "no_incidents": "No incidents reported.",
        "uptime": "{percent} uptime",
        "uptime_days": "{days} days ago",
        "today": "Today",
        "no_data": "No data",
        "no_downtime": "No downtime",
        "down_for": "Down for {duration}",
        "partial_for": "Partial outage for {duration}",
        "day_cell": "{day}: {state}. {detail}",
        "affects": "Affects",
        "times_in": "Times in {zone}",
        "language": "Language",
        "subscribe_feed": "JSON API",
        "updated": "Last updated {time}",
        "skip": "Skip to the components",
        "not_found": "This page does not exist.",
        "not_found_title": "Page not found",
        "back_home": "Back to the status page",
        "error_title": "Something went wrong",
        "minutes": "{count} min",
        "under_a_minute": "less than a minute",
        "hours": "{hours} h {minutes} min",
        # A kill switch, told to the public (seed 003: what customers were told in 2019).
        "paused.integration": "Invoice actions are delayed, not lost: we switched this integration off. "
                              "You can keep working as usual; they are booked, in the right administration, "
                              "as soon as it is back on.",
        "paused.connection": "For some customer environments invoice actions are delayed, not lost: their "
                             "connection is switched off. They are booked, in the right administration, as soon "
                             "as it is back on.",
        "notice.paused_title": "Bookings to {component} are paused",
        # One environment's connection off: the integration books on for everyone else.
        "notice.paused_title.connection": "Bookings to {component} are paused for some customer environments",
        "notice.paused.connection": "For some customer environments we have switched their connection with {component} "
                                    "off; {component} itself works. You can keep working as usual: their invoice "
                                    "actions are delayed, not lost, and are booked, in the right administration, as "
                                    "soon as the connection is back on. We will post updates here.",
        "notice.replaying.connection": "We have switched the connection with {component} back on. The delayed invoice "
                                       "actions are being booked now, in the right administration and in the order "
                                       "they arrived.",
        "notice.replaying": "We have switched {component} back on. The delayed invoice actions are being booked "
                            "now, in the right administration and in the order they arrived.",
        "notice.resolved": "All delayed invoice actions for {component} have been handled. Bookings run as usual.",
        # What a maintenance window says when the clock, not an operator, moves it along.
        "maintenance.in_progress": "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
        "maintenance.completed": "The scheduled maintenance has been completed.",
        "written_in.nl": "In Dutch",
        "written_in.en": "In English",
        "feed_title": "{page} - Incident History",
        "feed_description": "Incidents and maintenance of {page}",
        "uptime_since": "{percent} uptime since {day}",
        "since_day": "since {day}",
        "bar_label": "{name}: {uptime}. {worst}",
        "bar_worst": "Worst days: {days}.",
        "bar_all_well": "No downtime in this period.",
        "zone_unknown": "The time zone in the address is not one we know; times are shown in {fallback}.",
        "feed_atom": "Incident history (Atom)",
        "feed_rss": "Incident history (RSS)",
    },
    "nl": {
        "operational": "Operationeel",
        "degraded_performance": "Verminderde prestaties",
        "partial_outage": "Gedeeltelijke storing",
        "major_outage": "Ernstige storing",
        "under_maintenance": "Onderhoud",
        "investigating": "In onderzoek",
        "identified": "Oorzaak gevonden",
        "monitoring": "Monitoren",
        "resolved": "Opgelost",
        "postmortem": "Nabeschouwing",
        "update": "Update",
        "scheduled": "Gepland",
        "in_progress": "Bezig",
        "verifying": "Controle",
        "completed": "Afgerond",
        "All Systems Operational": "Alle systemen werken normaal",
        "Service Under Maintenance": "Er wordt onderhoud uitgevoerd",
        "Partially Degraded Service": "Sommige onderdelen werken trager",
        "Minor Service Outage": "Kleine verstoring",
        "Partial System Outage": "Gedeeltelijke storing",
        "Major System Outage": "Ernstige storing",
        "legend.operational": "Werkt zoals verwacht.",
        "legend.degraded_performance": "Werkt, maar trager dan gewoonlijk.",
        "legend.partial_outage": "Een deel van de verzoeken of klanten is getroffen.",
        "legend.major_outage": "Werkt voor niemand.",
        "legend.under_maintenance": "Er wordt gepland onderhoud uitgevoerd.",
        "active_incidents": "Actuele verstoringen",
        "subscribe_title": "E-mail over verstoringen",
        "subscribe_check_inbox": "Bijna klaar: we stuurden een link naar {address}. Open die om te bevestigen.",
        "subscribe_refused": "Dat lukte niet: {reason}.",
        "subscribe_too_often": "Te veel aanmeldingen vanaf uw adres; probeer het over {minutes} minuten opnieuw.",
        "subscribe_confirmed": "Bevestigd. U hoort per e-mail van nieuwe verstoringen en hun updates.",
        "subscribe_label": "Updates over verstoringen per e-mail",
        "subscribe_button": "Aanmelden",
        "unsubscribe_title": "Geen e-mail meer",
        "unsubscribe_ask": "Wilt u geen e-mail over verstoringen meer ontvangen?",
        "unsubscribed": "Gedaan. U ontvangt geen e-mail meer van deze pagina.",
        "link_invalid": "Deze link is niet (meer) geldig.",
        "impact.none": "Geen impact",
        "impact.minor": "Kleine impact",
        "impact.major": "Grote impact",
        "impact.critical": "Kritieke impact",
        "impact.maintenance": "Onderhoud",
        "incident_not_found": "Er is geen verstoring op dit adres, of ze is te oud om hier te tonen.",
        "maintenance": "Gepland onderhoud",
        "maintenance_window": "Van {start} tot {end}",
        "components": "Onderdelen",
        "legend": "Wat de statussen betekenen",
        "past_incidents": "Eerdere verstoringen",
        "no_incidents": "Geen verstoringen gemeld.",
        "uptime": "{percent} beschikbaar",
        "uptime_days": "{days} dagen geleden",
        "today": "Vandaag",
        "no_data": "Geen gegevens",
        "no_downtime": "Geen uitval",
        "down_for": "{duration} uitval",
        "partial_for": "{duration} gedeeltelijke storing",
        "day_cell": "{day}: {state}. {detail}",
        "affects": "Betreft",
        "times_in": "Tijden in {zone}",
        "language": "Taal",
        "subscribe_feed": "JSON API",
        "updated": "Bijgewerkt {time}",
        "skip": "Naar de onderdelen",
        "not_found": "Deze pagina bestaat niet.",
        "not_found_title": "Pagina niet gevonden",
        "back_home": "Terug naar de statuspagina",
        "error_title": "Er ging iets mis",
        "minutes": "{count} min",
        "under_a_minute": "minder dan een minuut",
        "hours": "{hours} u {minutes} min",
        "paused.integration": "Factuuracties zijn vertraagd, niet verloren: we hebben deze koppeling uitgezet. "
                              "Je kunt gewoon verder werken; ze worden in de juiste administratie geboekt zodra "
                              "de koppeling weer aan staat.",
        "paused.connection": "Voor sommige omgevingen zijn factuuracties vertraagd, niet verloren: hun koppeling "
                             "staat uit. Ze worden in de juiste administratie geboekt zodra die weer aan staat.",
        "notice.paused_title": "Boekingen naar {component} gepauzeerd",
        "notice.paused_title.connection": "Boekingen naar {component} gepauzeerd voor sommige omgevingen",
        "notice.paused.connection": "Voor sommige omgevingen hebben we hun koppeling met {component} uitgezet; "
                                    "{component} zelf werkt. Je kunt gewoon verder werken: hun factuuracties zijn "
                                    "vertraagd, niet verloren, en worden in de juiste administratie geboekt zodra de "
                                    "koppeling weer aan staat. Updates volgen hier.",
        "notice.replaying.connection": "We hebben de koppeling met {component} weer aangezet. De vertraagde "
                                       "factuuracties worden nu geboekt, in de juiste administratie en in de volgorde "
                                       "waarin ze binnenkwamen.",
        "notice.replaying": "We hebben {component} weer aangezet. De vertraagde factuuracties worden nu geboekt, "
                            "in de juiste administratie en in de volgorde waarin ze binnenkwamen.",
        "notice.resolved": "Alle vertraagde factuuracties voor {component} zijn verwerkt. Boeken werkt weer "
                           "zoals gewoonlijk.",
        "maintenance.in_progress": "Het geplande onderhoud is begonnen. We melden het hier als er iets verandert.",
        "maintenance.completed": "Het geplande onderhoud is afgerond.",
        "written_in.nl": "In het Nederlands",
        "written_in.en": "In het Engels",
        "feed_title": "{page} - Geschiedenis van verstoringen",
        "feed_description": "Verstoringen en onderhoud van {page}",
        "uptime_since": "{percent} beschikbaar sinds {day}",
        "since_day": "sinds {day}",
        "bar_label": "{name}: {uptime}. {worst}",
        "bar_worst": "Slechtste dagen: {days}.",
        "bar_all_well": "Geen uitval in deze periode.",
        "zone_unknown": "De tijdzone in het adres kennen we niet; tijden staan in {fallback}.",
        "feed_atom": "Geschiedenis van verstoringen (Atom)",
        "feed_rss": "Geschiedenis van verstoringen (RSS)",
    },
}

MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "nl": ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
}


def choose_language(query: str | None, accept_language: str | None, default: str) -> str:
    """?lang= wins, then the browser's preference (by q-value), then the page's default."""
    if query in LANGUAGES:
        return query
    for language in _accepted(accept_language or ""):
        if language in LANGUAGES:
            return language
    return default


def _accepted(header: str) -> list[str]:
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary and quality > 0:
            ranked.append((-quality, index, primary))
    return [language for _, _, language in sorted(ranked)]


# The IANA time zone database's areas (its zone1970.tab): a zone is "Area/Location" or "Area/Location/Place".
ZONE_AREAS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
_ZONE_NAME = re.compile(rf"(?:{'|'.join(ZONE_AREAS)})(?:/[A-Za-z0-9_+-]+){{1,2}}")


def zone_named(name: str) -> ZoneInfo | None:
    """The time zone a visitor asked for: an IANA area/location name (Europe/Amsterdam) or UTC; None otherwise.

    Not the backward-compatible aliases (US/Eastern, CET, EST5EDT: abbreviations that mislead, Etc/GMT+5 whose
    sign is inverted) nor the files a zoneinfo directory keeps beside the zones (localtime, posixrules, Factory).
    """
    if name != "UTC" and not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def word(language: str, key: str, **values: object) -> str:
    text = WORDS[language].get(key, key)
    return text.format(**values) if values else text


def format_day(moment: datetime, language: str, zone: ZoneInfo, with_year: bool = True) -> str:
    local = clock.local(moment, zone)
    month = MONTHS[language][local.month - 1]
    text = f"{month} {local.day}" if language == "en" else f"{local.day} {month}"
    if with_year:
        text += f", {local.year}" if language == "en" else f" {local.year}"
    return text


def format_time(moment: datetime, language: str, zone: ZoneInfo, now: datetime | None = None) -> str:
    """A moment the way the page shows it: "Oct 11, 19:59 CEST" / "11 okt, 19:59 CEST"; with the year when it
    is not `now`'s year in `zone` (given a `now`): "Jan 1, 2020, 11:00 CET" / "1 jan 2020, 11:00 CET"."""
    local = clock.local(moment, zone)
    with_year = now is not None and local.year != clock.local(now, zone).year
    return f"{format_day(local, language, zone, with_year=with_year)}, {local:%H:%M} {local.tzname()}"


def pick_text(texts: dict[str, str], fallback: str, language: str) -> tuple[str, str | None]:
    """The text to show a visitor of `language`: theirs when written in it, else another, with the
    language it is in; `fallback` (written in no language in particular) when `texts` is empty.

    Shape: ({"nl": "Opgelost"}, "…", "en") -> ("Opgelost", "nl"); the second value is None when no mark is due.
    """
    if language in texts:
        return texts[language], None
    for other in LANGUAGES:
        if other in texts:
            return texts[other], other
    return fallback, None


def format_stamp(moment: datetime, zone: ZoneInfo) -> str:
    """The console's one timestamp format, unambiguous and with the zone: "2026-11-23 10:30 CET"."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def format_relative(moment: datetime, now: datetime) -> str:
    """How long ago (or from now) a moment is, in the console's English: "3 minutes ago", "in 2 hours"."""
    seconds = (now - moment).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now" if not ahead else "in a moment"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size or unit == "minute":
            count = max(1, int(seconds / size + 0.5))  # half up, as people round
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {text}" if ahead else f"{text} ago"
    raise AssertionError("unreachable")


def format_duration(seconds: float, language: str) -> str:
    """A duration in whole minutes ("42 min", "3 h 5 min"); under a minute it says so instead of "0 min", which
    beside a red day cell would read as no downtime at all."""
    if seconds < 60:
        return word(language, "under_a_minute")
    minutes = round(seconds / 60)
    if minutes < 60:
        return word(language, "minutes", count=minutes)
    return word(language, "hours", hours=minutes // 60, minutes=minutes % 60)
