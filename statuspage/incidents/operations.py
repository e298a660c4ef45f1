"""What operators do to the page, as plain Python: each operation checks its input, changes the
rows, writes the audit entry with the state before and after, and brings the status history up to
date — all inside the caller's one write transaction, so none of it can happen without the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlite_utils import Database

from statuspage.core import addresses, storage
from statuspage.core.auth import Role, digest, token_name_problem
from statuspage.core.clock import out_of_range, to_utc
from statuspage.core.i18n import word
from statuspage.core.operation import Actor, Refused
from statuspage.core.settings import LANGUAGES, Settings, placeholders, text_in
from statuspage.core.vocabulary import ComponentStatus, IncidentStatus, MaintenanceStatus
from statuspage.incidents import notifications
from statuspage.incidents.status_history import record_statuses_now
from statuspage.page.status import maintenance_phase

SCHEDULER = "scheduler"


def _check_components(settings: Settings, components: Mapping[str, str]) -> None:
    known = {component.key for component in settings.components}
    unknown = sorted(set(components) - known)
    if unknown:
        raise Refused(f"unknown component {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")


def _check_moments(**moments: datetime | None) -> None:
    """Refuse (400, naming the field) any moment outside the accepted range, `clock.EARLIEST`–`clock.LATEST`."""
    for field, value in moments.items():
        why = out_of_range(value, field) if value is not None else None
        if why:
            raise Refused(why)


def _incident_state(db: Database, incident_id: str) -> dict:
    row = storage.incident_row(db, incident_id)
    if row is None:
        raise Refused(f"no incident or maintenance with id {incident_id!r}", not_found=True)
    # `names` is stored as JSON text; the audit entry keeps it as the object it is, not a string within its JSON.
    return {**row, "names": storage.json_loads_or_none(row["names"]),
            "components": storage.incident_components(db, incident_id)}


def _a(kind: str) -> str:
    """ "an incident", "a maintenance": the kind of an incident row with its article."""
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _finish(db: Database, settings: Settings, now: datetime) -> None:
    record_statuses_now(db, settings, now)


def written_text(text: str) -> str:
    """A text as stored: line breaks as "\\n" (a browser's textarea sends "\\r\\n"), no blank margins."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def in_languages(
    settings: Settings, field: str, single: str, texts: Mapping[str, str] | None
) -> tuple[str, dict[str, str]]:
    """A text written in one language, or in several: `single` is the text in the page's language
    (`page.language`), `texts` ("<field>s" in the API) the text per language code, beside or instead of it.

    Returns the text shown where no language is chosen (the v2 JSON, e-mail: the page's language when it
    was written in it, else the other) and the texts per language, `single` under the page's language.
    Shape, on a Dutch page: ("Boekingen gepauzeerd", {"nl": "Boekingen gepauzeerd", "en": "Bookings paused"}).
    Raises Refused for a language other than nl and en, for no text at all, and for `single` and the page
    language's entry of `texts` saying different things.
    """
    written = {language: written_text(text) for language, text in (texts or {}).items() if text and text.strip()}
    unknown = sorted(set(written) - set(LANGUAGES))
    if unknown:
        raise Refused(f"{field}s: languages are {', '.join(LANGUAGES)}; got {', '.join(map(repr, unknown))}")
    page_language = settings.page.language
    single = written_text(single)
    if single:
        if written.get(page_language, single) != single:
            raise Refused(f"{field} is the text in the page's language ({page_language}) and {field}s.{page_language} "
                          f"says something else; give it once")
        written[page_language] = single
    if not written:
        raise Refused(f"{field} is required, in at least one language ({field}, or {field}s per language)")
    default = written.get(page_language) or next(written[lang] for lang in LANGUAGES if lang in written)
    return default, {language: written[language] for language in LANGUAGES if language in written}


def open_incident(
    db: Database, settings: Settings, actor: Actor, now: datetime, *,
    name: str, status: str, impact: str, message: str, components: Mapping[str, str],
    names: Mapping[str, str] | None = None, messages: Mapping[str, str] | None = None,
) -> str:
    """Open an incident with its first update. `names` and `messages` carry the title and text per
    language ({"nl": ..., "en": ...}) when written in more than one; `name` and `message` may then be ""."""
    _check_components(settings, components)
    name, names_by_language = in_languages(settings, "name", name, names)
    message, messages_by_language = in_languages(settings, "message", message, messages)
    incident_id = storage.create_incident(
        db, kind="incident", name=name, status=status, impact=impact, body=message, now=now,
        components=dict(components), names=names_by_language, bodies=messages_by_language,
    )
    storage.append_audit(
        db, at=now, actor=actor.name, action="incident.open", subject_type="incident", subject_id=incident_id,
        after=_incident_state(db, incident_id),
    )
    _finish(db, settings, now)
    notifications.incident_changed(db, settings, now, incident_id)
    return incident_id


@dataclass(frozen=True)
class IncidentDraft:
    name: str
    message: str
    status: str
    impact: str
    components: dict[str, str]
    language: str  # the one `name` and `message` are written in


def draft_from_template(
    settings: Settings, key: str, component: str | None, values: Mapping[str, str], language: str | None = None
) -> IncidentDraft:
    """An incident written from a configured template: `{component}` becomes the component's name."""
    template = next((t for t in settings.incident_templates if t.key == key), None)
    if template is None:
        known = ", ".join(t.key for t in settings.incident_templates) or "none are configured"
        raise Refused(f"no incident template {key!r}; known: {known}", not_found=True)
    language = language or settings.page.language
    if isinstance(template.message, dict) and language not in template.message:
        # Not written in the language asked for: the draft is in the page's language, else the template's first.
        language = settings.page.language if settings.page.language in template.message else next(iter(template.message))
    elif isinstance(template.message, str):
        language = settings.page.language  # a template of one text is written in the page's language
    filled = dict(values)
    components: dict[str, str] = {}
    if component is not None:
        _check_components(settings, {component: ""})
        entry = next(c for c in settings.components if c.key == component)
        filled["component"] = text_in(entry.name, language, settings.page.language) or component
        components[component] = template.component_status
    texts = {field: text_in(getattr(template, field), language, settings.page.language) or ""
             for field in ("title", "message")}
    missing = sorted(set().union(*(placeholders(text) for text in texts.values())) - set(filled))
    if missing:
        raise Refused(f"template {key!r} needs a value for {', '.join(missing)}"
                      + (" (pick a component)" if "component" in missing else ""))
    return IncidentDraft(texts["title"].format_map(filled), texts["message"].format_map(filled),
                         template.status, template.impact, components, language)


@dataclass(frozen=True)
class BilingualDraft:
    """An incident written from a template in every language the template is written in:
    names and messages as {"nl": ..., "en": ...}."""

    names: dict[str, str]
    messages: dict[str, str]
    status: str
    impact: str
    components: dict[str, str]


def bilingual_draft(settings: Settings, key: str, component: str | None, values: Mapping[str, str]) -> BilingualDraft:
    """`draft_from_template` in each language the template carries (one string: the page's language only)."""
    template = next((t for t in settings.incident_templates if t.key == key), None)
    languages = [settings.page.language]
    if template is not None and isinstance(template.message, dict):
        languages = [language for language in LANGUAGES if language in template.message]
    drafts = {language: draft_from_template(settings, key, component, values, language) for language in languages}
    first = drafts[languages[0]]
    return BilingualDraft({language: draft.name for language, draft in drafts.items()},
                          {language: draft.message for language, draft in drafts.items()},
                          first.status, first.impact, first.components)


def publish_draft(db: Database, settings: Settings, actor: Actor, now: datetime, incident_id: str) -> None:
    """Make an incident the service drafted public, as of now."""
    found = storage.incident(db, incident_id)
    if found is None:
        raise Refused(f"no incident with id {incident_id!r}", not_found=True)
    if not found.draft:
        raise Refused(f"incident {incident_id!r} is published already", conflict=True)
    storage.publish_incident(db, incident_id, now)
    storage.append_audit(db, at=now, actor=actor.name, action="incident.publish", subject_type="incident",
                         subject_id=incident_id, after=_incident_state(db, incident_id))
    _finish(db, settings, now)
    notifications.incident_changed(db, settings, now, incident_id)


def post_update(
    db: Database, settings: Settings, actor: Actor, now: datetime, incident_id: str, *,
    status: str, message: str, components: Mapping[str, str], messages: Mapping[str, str] | None = None,
) -> str:
    """Post an update, written in one language (`message`) or per language (`messages`)."""
    _check_components(settings, components)
    message, messages_by_language = in_languages(settings, "message", message, messages)
    before = _incident_state(db, incident_id)
    allowed = MaintenanceStatus if before["kind"] == "maintenance" else IncidentStatus
    if status not in {member.value for member in allowed}:
        raise Refused(f"{_a(before['kind'])} update needs a status among {', '.join(m.value for m in allowed)}; got {status!r}")
    if before["kind"] == "incident" and not IncidentStatus(before["status"]).is_open and IncidentStatus(status).is_open:
        raise Refused(f"incident {incident_id} is resolved; open a new incident instead of reopening it")
    if status in (IncidentStatus.RESOLVED, MaintenanceStatus.COMPLETED):
        # Resolving gives every named component back unless the update says otherwise.
        components = {key: ComponentStatus.OPERATIONAL.value for key in before["components"]} | dict(components)
    update_id = storage.add_incident_update(db, incident_id, status=status, body=message, now=now,
                                            components=dict(components), bodies=messages_by_language)
    storage.append_audit(
        db, at=now, actor=actor.name, action=f"{before['kind']}.update", subject_type=before["kind"],
        subject_id=incident_id, before=before, after=_incident_state(db, incident_id),
    )
    _finish(db, settings, now)
    notifications.incident_changed(db, settings, now, incident_id)
    return update_id


def _update_of(db: Database, incident_id: str, update_id: str) -> dict:
    """The update `update_id` of incident `incident_id`; an update is reached only through its own incident."""
    row = storage.update_row(db, update_id)
    if row is None or row["incident_id"] != incident_id:
        raise Refused(f"incident {incident_id!r} has no update with id {update_id!r}", not_found=True)
    return row


def edit_update(
    db: Database, settings: Settings, actor: Actor, now: datetime, incident_id: str, update_id: str, *,
    message: str, messages: Mapping[str, str] | None = None,
) -> None:
    """Correct an update's text (its status and components stay): `message` in the page's language and/or
    `messages` per language, as `in_languages` reads them, become the update's texts. A language given in
    neither is dropped from the update, so no translation of the text being corrected stays beside the
    correction: its readers see the corrected text, marked with its language. 404 unless it is `incident_id`'s."""
    before = _update_of(db, incident_id, update_id)
    body, bodies = in_languages(settings, "message", message, messages)
    storage.edit_incident_update(db, update_id, body=body, bodies=bodies, now=now)
    storage.append_audit(
        db, at=now, actor=actor.name, action="update.edit", subject_type="incident_update", subject_id=update_id,
        before=before, after=storage.update_row(db, update_id),
    )


@dataclass(frozen=True)
class IncidentState:
    status: str
    components: dict[str, str]
    monitoring_at: datetime | None
    resolved_at: datetime | None


def state_after(updates: Sequence[storage.IncidentUpdate]) -> IncidentState:
    """What an incident is, given its updates oldest first (each with `status`, `created_at` and `components`,
    the statuses it gave): the status of the latest one, each component as the latest update naming it left
    it, `monitoring_at` the time of the latest monitoring/verifying update, `resolved_at` that of the latest
    update when it resolved (completed) the incident, else None. Raises ValueError for no updates."""
    if not updates:
        raise ValueError("an incident has at least one update")
    components: dict[str, str] = {}
    monitoring_at = None
    for update in updates:
        components.update(update.components)
        if update.status in (IncidentStatus.MONITORING, MaintenanceStatus.VERIFYING):
            monitoring_at = update.created_at
    latest = updates[-1]
    finished = latest.status in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM, MaintenanceStatus.COMPLETED)
    return IncidentState(latest.status, components, monitoring_at, latest.created_at if finished else None)


def delete_update(
    db: Database, settings: Settings, actor: Actor, now: datetime, incident_id: str, update_id: str
) -> None:
    """Delete an update: the incident and its components return to the state its latest remaining update
    left them in (`state_after`), the status history and subscribers follow. 404 unless it is `incident_id`'s."""
    before = _update_of(db, incident_id, update_id)
    if storage.update_count(db, incident_id) == 1:
        kind = _incident_state(db, incident_id)["kind"]
        raise Refused(f"this is the {kind}'s only update, and {_a(kind)} keeps at least one: correct its text instead")
    storage.delete_incident_update(db, update_id, now)
    state = state_after(storage.updates_oldest_first(db, incident_id))
    storage.set_incident_state(db, incident_id, status=state.status, components=state.components,
                               monitoring_at=state.monitoring_at, resolved_at=state.resolved_at, now=now)
    storage.append_audit(
        db, at=now, actor=actor.name, action="update.delete", subject_type="incident_update", subject_id=update_id,
        before=before, after=_incident_state(db, incident_id),
    )
    _finish(db, settings, now)
    notifications.incident_changed(db, settings, now, incident_id)


def schedule_maintenance(
    db: Database, settings: Settings, actor: Actor, now: datetime, *,
    name: str, message: str, starts: datetime, ends: datetime, components: list[str],
    names: Mapping[str, str] | None = None, messages: Mapping[str, str] | None = None,
) -> str:
    """Schedule a maintenance window, its title and text in one language or per language (`in_languages`)."""
    _check_components(settings, dict.fromkeys(components, ""))
    name, names_by_language = in_languages(settings, "name", name, names)
    message, messages_by_language = in_languages(settings, "message", message, messages)
    _check_moments(starts=starts, ends=ends)
    if to_utc(ends) <= to_utc(starts):  # as instants: two wall times in one zone compare without their offsets
        raise Refused("a maintenance window must end after it starts")
    if to_utc(ends) <= to_utc(now):
        # It would be recorded as completed at once, telling subscribers of work that is over.
        raise Refused(f"ends ({ends.isoformat()}) lies in the past: a window that has ended already cannot be "
                      "scheduled; give times still to come, or a start in the past and an end to come for work under way")
    maintenance_id = storage.create_incident(
        db, kind="maintenance", name=name, status=MaintenanceStatus.SCHEDULED.value, impact="maintenance",
        body=message, now=now, components=dict.fromkeys(components, ComponentStatus.UNDER_MAINTENANCE.value),
        scheduled_for=starts, scheduled_until=ends, names=names_by_language, bodies=messages_by_language,
    )
    storage.append_audit(
        db, at=now, actor=actor.name, action="maintenance.schedule", subject_type="maintenance",
        subject_id=maintenance_id, after=_incident_state(db, maintenance_id),
    )
    advance_maintenances(db, settings, now)
    _finish(db, settings, now)
    notifications.incident_changed(db, settings, now, maintenance_id)
    return maintenance_id


def automatic_messages(phase: MaintenanceStatus) -> dict[str, str]:
    """What the page says, in each language, when the clock, not an operator, moves a window into `phase`
    (`in_progress` or `completed`): the i18n catalogue's `maintenance.<phase>`."""
    return {language: word(language, f"maintenance.{phase.value}") for language in LANGUAGES}


def advance_maintenances(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Post the update for each window whose phase the clock has moved on. Returns their ids."""
    moved = []
    for window in storage.maintenances_needing_a_step(db):
        recorded = MaintenanceStatus(window.status)
        starts, ends = window.scheduled_for, window.scheduled_until
        if starts is None or ends is None:
            continue  # every window is scheduled with both (schedule_maintenance); nothing to move along without
        phase = maintenance_phase(recorded, starts, ends, now)
        if phase is recorded:
            continue
        # Each step is stamped at the moment it took effect (the window's start or end), not when the clock is
        # looked at: after a restart, the history and the updates say when the window really began and ended.
        if recorded is MaintenanceStatus.SCHEDULED and phase is MaintenanceStatus.COMPLETED:
            # A window that passed while the service was down: say it began, then that it ended.
            post_update(db, settings, Actor(SCHEDULER), max(starts, _last_change(db, window.id)), window.id,
                        status=MaintenanceStatus.IN_PROGRESS.value, message="",
                        messages=automatic_messages(MaintenanceStatus.IN_PROGRESS), components={})
        took_effect = ends if phase is MaintenanceStatus.COMPLETED else starts
        post_update(db, settings, Actor(SCHEDULER), min(now, max(took_effect, _last_change(db, window.id))), window.id,
                    status=phase.value, message="", messages=automatic_messages(phase), components={})
        moved.append(window.id)
    return moved


def _last_change(db: Database, incident_id: str) -> datetime:
    """When an incident or maintenance was last written: automatic steps are never stamped before it."""
    found = storage.incident(db, incident_id)
    if found is None:
        raise Refused(f"no incident or maintenance with id {incident_id!r}", not_found=True)
    return found.updated_at


def set_override(
    db: Database, settings: Settings, actor: Actor, now: datetime, component: str, *,
    status: str, reason: str, expires_at: datetime | None,
) -> None:
    _check_components(settings, {component: status})
    _check_moments(expires_at=expires_at)
    if expires_at is not None and expires_at <= now:
        raise Refused("expires_at lies in the past; leave it out for an override without end")
    before = _override(db, component)
    storage.set_override(db, component, status, reason, actor.name, now, expires_at)
    storage.append_audit(
        db, at=now, actor=actor.name, action="component.override", subject_type="component", subject_id=component,
        before=before, after=_override(db, component),
    )
    _finish(db, settings, now)


def clear_override(db: Database, settings: Settings, actor: Actor, now: datetime, component: str) -> None:
    _check_components(settings, {component: ""})
    before = _override(db, component)
    if before is None:
        raise Refused(f"component {component!r} has no override", not_found=True)
    storage.clear_override(db, component)
    storage.append_audit(
        db, at=now, actor=actor.name, action="component.clear_override", subject_type="component",
        subject_id=component, before=before,
    )
    _finish(db, settings, now)


def _override(db: Database, component: str) -> dict | None:
    rows = [row for row in storage.override_rows(db) if row["component_id"] == component]
    return rows[0] if rows else None


def create_token(db: Database, settings: Settings, actor: Actor, now: datetime, name: str, role: str, token: str) -> int:
    """Record a new API token by its digest; the caller shows the token itself once."""
    if role not in {known.value for known in Role}:
        raise Refused(f"role must be one of {', '.join(r.value for r in Role)}; got {role!r}")
    if (problem := token_name_problem(name)) is not None:
        raise Refused(problem)
    if storage.token_by_name(db, name) is not None:
        raise Refused(f"a token named {name!r} exists already; names must be unique")
    token_id = storage.insert_token(db, name, role, digest(token), now)
    storage.append_audit(db, at=now, actor=actor.name, action="token.create", subject_type="token",
                         subject_id=str(token_id), after={"name": name, "role": role})
    return token_id


def revoke_token(db: Database, settings: Settings, actor: Actor, now: datetime, token_id: int) -> None:
    before = next((row for row in storage.list_tokens(db) if row["id"] == token_id), None)
    if before is None:
        raise Refused(f"no token with id {token_id}", not_found=True)
    if before["revoked_at"] is not None:
        raise Refused(f"token {token_id} ({before['name']}) is revoked already")
    storage.revoke_token(db, token_id, now)
    storage.append_audit(db, at=now, actor=actor.name, action="token.revoke", subject_type="token",
                         subject_id=str(token_id), before=before)



# ---------------------------------------------------------------------------------------------
# Subscribers


def add_webhook(
    db: Database, settings: Settings, actor: Actor, now: datetime, url: str, components: list[str] | None
) -> tuple[int, str]:
    """Subscribe a webhook; returns its id and the secret its deliveries are signed with (shown once)."""
    url = addresses.web_address(url)
    if not settings.notifications.allow_private_targets:
        addresses.refuse_internal_literal(url)
    _check_components(settings, dict.fromkeys(components or [], ""))
    if storage.active_subscriber(db, "webhook", url) is not None:
        raise Refused(f"{url} is subscribed already")
    secret = notifications.new_webhook_secret()
    subscriber_id = storage.insert_subscriber(db, kind="webhook", address=url, secret=secret, components=components,
                                              now=now, confirmed=True)
    storage.append_audit(db, at=now, actor=actor.name, action="subscriber.add", subject_type="subscriber",
                         subject_id=str(subscriber_id), after={"kind": "webhook", "url": url, "components": components})
    return subscriber_id, secret


def remove_subscriber(db: Database, settings: Settings, actor: Actor, now: datetime, subscriber_id: int) -> None:
    before = storage.subscriber(db, subscriber_id)
    if before is None or before["unsubscribed_at"] is not None:
        raise Refused(f"no active subscriber with id {subscriber_id}", not_found=True)
    if before["client"] is not None:
        # Removing it would silently stop the client hearing of its actions' outcomes.
        raise Refused(f"{subscriber_id} is the action callback of the client {before['client']!r}, not a subscriber; "
                      "the client changes it with PUT /api/v1/actions/callback (see the console's Connections page)",
                      conflict=True)
    storage.unsubscribe(db, subscriber_id, now)
    storage.append_audit(db, at=now, actor=actor.name, action="subscriber.remove", subject_type="subscriber",
                         subject_id=str(subscriber_id),
                         before={"kind": before["kind"], "address": before["address"]})


def subscribe_email(db: Database, settings: Settings, now: datetime, address: str, components: list[str] | None) -> None:
    """A visitor asks for e-mail: nothing is sent but the confirmation until they confirm.

    An address already subscribed gets no second confirmation and no hint, so the form cannot be used
    to find out who is subscribed.
    """
    if settings.notifications.smtp_host is None:
        raise Refused("e-mail subscriptions are not offered on this page")
    address = addresses.email_address(address)
    _check_components(settings, dict.fromkeys(components or [], ""))
    if storage.active_subscriber(db, "email", address) is not None:
        return
    subscriber_id = storage.insert_subscriber(db, kind="email", address=address, secret=None, components=components,
                                              now=now, confirmed=False)
    mail = notifications.confirmation_mail(db, settings, subscriber_id)
    storage.enqueue_delivery(db, subscriber_id, "confirmation", msgspec.json.encode(mail).decode(), now)


def confirm_subscription(db: Database, settings: Settings, now: datetime, token: str) -> bool:
    subscriber_id = notifications.subscriber_of(notifications.links_secret(db), token, "confirm")
    row = storage.subscriber(db, subscriber_id) if subscriber_id is not None else None
    if row is None or row["unsubscribed_at"] is not None:
        return False
    storage.confirm_subscriber(db, row["id"], now)
    return True


def unsubscribe_by_link(db: Database, settings: Settings, now: datetime, token: str) -> bool:
    subscriber_id = notifications.subscriber_of(notifications.links_secret(db), token, "unsubscribe")
    row = storage.subscriber(db, subscriber_id) if subscriber_id is not None else None
    if row is None:
        return False
    storage.unsubscribe(db, row["id"], now)
    return True


def pause_probe(db: Database, settings: Settings, actor: Actor, now: datetime, key: str, paused: bool) -> None:
    """Stop (or restart) a probe's scheduled runs; while paused it claims nothing for its component."""
    if not any(probe.key == key for probe in settings.probes):
        raise Refused(f"no probe {key!r}", not_found=True)
    storage.pause_probe(db, key, paused)
    storage.append_audit(db, at=now, actor=actor.name, action="probe.pause" if paused else "probe.resume",
                         subject_type="probe", subject_id=key, after={"paused": paused})
    _finish(db, settings, now)
