"""The kill switches: one per integration (all environments) and one per connection (one environment).

What the product exists for: when an integration books wrongly, operators switch it off; actions
keep arriving and wait as "delayed" (factuuracties vertraagd, seed 003); switched on, they are
replayed in arrival order per administration, each exactly once. An action is sent only when every
switch above it is on. Flipping a switch runs inside the caller's one write transaction, so the
switch and the actions it holds move together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlite_utils import Database

from integrations.registry import Integration
from statuspage.core import storage
from statuspage.core.i18n import word
from statuspage.core.operation import Actor, Refused
from statuspage.core.settings import LANGUAGES, Settings, text_in
from statuspage.core.vocabulary import ActionState, ComponentStatus, Impact, IncidentStatus, SwitchScope
from statuspage.incidents import operations
from statuspage.incidents.status_history import record_statuses_now

SYSTEM = Actor("kill switch")
log = logging.getLogger("statuspage.actions.switches")


def installed(settings: Settings) -> list[str]:
    """The keys of the installed integrations: each has its settings once the configuration is loaded."""
    return list(settings.integrations)


def integration_scope(integration: str) -> str:
    """The scope key of an integration's switch, as stored: `integration:exact-online`."""
    return SwitchScope(integration).key


def connection_scope(environment: str, integration: str) -> str:
    """The scope key of one environment's connection switch: `connection:jansen-groep:exact-online`."""
    return SwitchScope(integration, environment).key


def scope_of(integration: str, environment: str | None) -> str:
    """The integration's scope key when `environment` is None, else that connection's."""
    return SwitchScope(integration, environment).key


def closed_scopes(db: Database) -> list[str]:
    """The scope keys of every switch that is off."""
    return [row.scope.key for row in storage.switch_rows(db) if not row.enabled]


def may_send(closed: list[str], integration: str, environment: str) -> bool:
    """An action is sent only when every switch above it is on."""
    return integration_scope(integration) not in closed and connection_scope(environment, integration) not in closed


@dataclass(frozen=True)
class SwitchChange:
    """What a flip did. `changed` is False when the switch already stood as asked: nothing moved, and
    `reason`, `changed_by`, `changed_at` (ISO 8601 UTC) are those of the flip still in force."""

    scope: str
    enabled: bool
    moved: int  # actions delayed (off) or released for replay (on)
    replay_id: int | None
    incident_id: str | None = None  # the incident opened, or updated, with this flip
    changed: bool = True
    reason: str | None = None
    changed_by: str | None = None
    changed_at: str | None = None

    def describe(self, subject: str | None = None, moment: Callable[[str], str] = lambda at: at) -> str:
        """One line for the operator: what the flip did, or that the switch already stood as asked. `subject`
        names the switch (the console: "Visma.net Financials"; default its scope key), `moment` writes the
        stored ISO 8601 time of the flip in force (the console: in the operator's zone; default as stored)."""
        position = "on" if self.enabled else "off"
        subject = subject or self.scope
        if self.changed:
            moved = "released for replay" if self.enabled else "delayed"
            return f"{subject} switched {position}: {self.moved} action(s) {moved}"
        since = f" since {moment(self.changed_at)} by {self.changed_by}" if self.changed_at else ""
        why = f" ({self.reason})" if self.reason and not self.enabled else ""
        return f"{subject} is already {position}{since}{why}; nothing changed"


# The template the public notice of a switch going off is written from (sample-config.toml).
PAUSED_TEMPLATE = "bookings-paused"


@dataclass(frozen=True)
class PublicNotice:
    """What the public is told with a flip, per language ({"nl": ..., "en": ...}); seed 003 is the model:
    customers keep working, invoices wait as "factuuracties vertraagd" and are booked into the right
    administration once the integration is back.

    Off: an incident opens with `title` and `message` (the "bookings paused" template). On: `message` is
    posted to the incident opened with the switch ("delayed actions are being booked", monitoring), and
    `resolved` when the replay has nothing left."""

    title: Mapping[str, str] = field(default_factory=dict)
    message: Mapping[str, str] = field(default_factory=dict)
    resolved: Mapping[str, str] = field(default_factory=dict)


def component_of(settings: Settings, integration: str) -> str | None:
    """The page component an integration's switch speaks through: the one with the integration's key; None when
    nothing on the public page shows the integration (a mirror target is internal)."""
    return integration if any(c.key == integration for c in settings.components) else None


def names_of(integration: Integration) -> dict[str, str]:
    """The integration's name per language as customers know it ("Visma.net Financials"), from the registry."""
    return {language: integration.names.get(language, integration.name) for language in LANGUAGES}


def off_notice(settings: Settings, integration: str, names: Mapping[str, str] | None = None,
               environment: str | None = None) -> PublicNotice:
    """The notice switching off proposes, in Dutch and English: the "bookings paused" template in each language it
    is written in, the built-in words in any other (or when no such template is configured). `{component}` is the
    integration's component's name, else its own name (`names`, per language; the key only when neither is known).

    One environment's connection (`environment`) gets the built-in words for some environments in every language:
    the template speaks of the whole integration switched off, which would tell everyone their bookings wait
    while only some customers' do (the component's line says "for some customer environments" too)."""
    component = component_of(settings, integration)
    titles, messages = {}, {}
    for language in LANGUAGES:
        name = _name(settings, integration, language, names)
        if environment is not None:
            titles[language] = word(language, "notice.paused_title.connection", component=name)
            messages[language] = word(language, "notice.paused.connection", component=name)
            continue
        try:
            draft = operations.draft_from_template(settings, PAUSED_TEMPLATE, component, {"component": name}, language)
        except Refused:
            draft = None
        if draft is not None and draft.language == language:
            titles[language], messages[language] = draft.name, draft.message
        else:
            titles[language] = word(language, "notice.paused_title", component=name)
            messages[language] = word(language, "paused.integration")
    return PublicNotice(titles, messages)


def on_notice(settings: Settings, integration: str, names: Mapping[str, str] | None = None,
              environment: str | None = None) -> PublicNotice:
    """The closing updates switching on proposes, in both languages, naming the integration as `off_notice` does
    (of the connection, for one environment's)."""
    replaying = "notice.replaying" if environment is None else "notice.replaying.connection"
    return PublicNotice(
        message={language: word(language, replaying, component=_name(settings, integration, language, names))
                 for language in LANGUAGES},
        resolved={language: word(language, "notice.resolved", component=_name(settings, integration, language, names))
                  for language in LANGUAGES},
    )


def complete_notice(settings: Settings, integration: str, enabled: bool, notice: PublicNotice,
                    names: Mapping[str, str] | None = None, environment: str | None = None) -> PublicNotice:
    """A notice with what the operator left out filled in from `off_notice` (off) or `on_notice` (on), those of the
    connection when `environment` names one."""
    default = (on_notice(settings, integration, names, environment) if enabled
               else off_notice(settings, integration, names, environment))
    return PublicNotice(notice.title or default.title, notice.message or default.message,
                        notice.resolved or default.resolved)


def _name(settings: Settings, integration: str, language: str, names: Mapping[str, str] | None) -> str:
    """What the public calls the integration: its component's name, else its own name, else (unknown) its key."""
    entry = next((c for c in settings.components if c.key == integration), None)
    return ((text_in(entry.name, language, settings.page.language) if entry else None)
            or (names or {}).get(language) or integration)


def switch(
    db: Database, settings: Settings, actor: Actor, now: datetime, *, integration: str, environment: str | None,
    enabled: bool, reason: str, notice: PublicNotice | None = None, names: Mapping[str, str] | None = None,
) -> SwitchChange:
    """Flip a kill switch. Off: every queued or retrying action in scope becomes delayed, in this one
    transaction; an action already mid-call finishes. On: what was delayed is queued for replay.

    With a `notice`, the public hears of it in the same transaction: off opens the incident (or, when the
    switch's incident is still open, posts to it); on posts "being booked" to that incident and resolves
    it when the replay has nothing left (`finish_replays`). `names`: the integration's name per language
    (`names_of`), for the notice's default texts.

    Raises Refused for an unknown integration or environment, or an empty reason."""
    if integration not in settings.integrations:
        raise Refused(f"unknown integration {integration!r}; known: {', '.join(installed(settings))}",
                      not_found=True)
    if environment is not None and environment not in {e.key for e in settings.environments}:
        raise Refused(f"unknown environment {environment!r}", not_found=True)
    if not reason.strip():
        raise Refused("say why: a reason is required, it goes into the audit log")
    scope = scope_of(integration, environment)
    before = next((row for row in storage.switch_rows(db) if row.scope.key == scope), None)
    if (before is None or before.enabled) == enabled:
        return _unchanged(db, actor, now, scope, enabled, reason, before)
    storage.set_switch(db, scope, enabled=enabled, reason=reason, changed_by=actor.name, now=now)
    replay_id = None
    if not enabled:
        # A replay still under way stops here; what it had left waits again, for the next one.
        for unfinished in storage.unfinished_replays(db, scope):
            storage.finish_replay(db, unfinished.id, now)
        moved = storage.move_actions_in_scope(db, integration=integration, environment=environment,
                                              from_state=ActionState.QUEUED, to=ActionState.DELAYED, now=now,
                                              cause=f"switched off by {actor.name}: {reason}")
    else:
        closed = closed_scopes(db)
        if integration_scope(integration) in closed:
            moved = 0  # the whole integration is still off; this connection waits with it
        else:
            still_off = tuple(e.key for e in settings.environments
                              if connection_scope(e.key, integration) in closed and e.key != environment)
            replay_id = storage.insert_replay(db, scope, actor.name, now)
            moved = storage.move_actions_in_scope(db, integration=integration, environment=environment,
                                                  from_state=ActionState.DELAYED, to=ActionState.QUEUED, now=now,
                                                  cause=f"replayed: switched on by {actor.name}",
                                                  replay_id=replay_id, except_environments=still_off)
            storage.set_replay_total(db, replay_id, moved)
    storage.append_audit(
        db, at=now, actor=actor.name, action="switch.on" if enabled else "switch.off", subject_type="switch",
        subject_id=scope, before=before and {"enabled": before.enabled, "reason": before.reason},
        after={"enabled": enabled, "reason": reason, "actions_moved": moved},
    )
    incident_id = None
    if notice is not None:
        incident_id = _tell_the_public(db, settings, actor, now, scope, integration, environment, enabled,
                                       complete_notice(settings, integration, enabled, notice, names, environment),
                                       replay_id, before)
    elif enabled:
        storage.set_switch_incident(db, scope, None)
    record_statuses_now(db, settings, now)
    finish_replays(db, settings, now)
    log.log(logging.INFO if enabled else logging.WARNING, "kill switch %s switched %s by %s: %s (%d action(s) %s)",
            scope, "on" if enabled else "off", "the service itself" if actor == SYSTEM else actor.name, reason, moved,
            "released for replay" if enabled else "delayed")
    return SwitchChange(scope, enabled, moved, replay_id, incident_id, reason=reason, changed_by=actor.name,
                        changed_at=storage.iso(now))


def _unchanged(db: Database, actor: Actor, now: datetime, scope: str, enabled: bool, reason: str,
               before: storage.KillSwitch | None) -> SwitchChange:
    """A flip to where the switch already stands: the first reason stays (the console shows why it went off),
    no replay starts (the last real one keeps its progress), and the repeated request is kept in the audit log."""
    storage.append_audit(db, at=now, actor=actor.name, action="switch.unchanged", subject_type="switch",
                         subject_id=scope, after={"enabled": enabled, "reason": reason})
    change = SwitchChange(scope, enabled, 0, None, before.incident_id if before else None, changed=False,
                          reason=before.reason if before else None,
                          changed_by=before.changed_by if before else None,
                          changed_at=storage.iso(before.changed_at) if before else None)
    log.info("kill switch: %s asked to switch %s %s (%s): %s", actor.name, "on" if enabled else "off", scope, reason,
             change.describe())
    return change


def _open_incident_of(db: Database, before: storage.KillSwitch | None) -> str | None:
    """The switch's incident when it is still open and public (a misroute's draft waits for an operator)."""
    incident_id = before.incident_id if before else None
    found = storage.incident(db, incident_id) if incident_id else None
    if found is None or found.draft or not IncidentStatus(found.status).is_open:
        return None
    return incident_id


def _tell_the_public(
    db: Database, settings: Settings, actor: Actor, now: datetime, scope: str, integration: str,
    environment: str | None, enabled: bool, notice: PublicNotice, replay_id: int | None,
    before: storage.KillSwitch | None,
) -> str | None:
    component = component_of(settings, integration)
    # One environment off is a partial outage of the integration; all of it off, a major one.
    off_status = ComponentStatus.MAJOR_OUTAGE if environment is None else ComponentStatus.PARTIAL_OUTAGE
    components = {component: off_status.value} if component else {}
    # Statuspage derives an incident's impact from the components it affects: one that affects none (the
    # integration is not on the page) has none, and so leaves the page's status as it is.
    impact = (Impact.MAJOR if environment is None else Impact.MINOR) if component else Impact.NONE
    incident_id = _open_incident_of(db, before)
    if not enabled:
        if incident_id is not None:
            operations.post_update(db, settings, actor, now, incident_id, status=IncidentStatus.IDENTIFIED.value,
                                   message="", messages=notice.message, components=components)
        else:
            incident_id = operations.open_incident(
                db, settings, actor, now, name="", names=notice.title, message="", messages=notice.message,
                status=IncidentStatus.IDENTIFIED.value,
                impact=impact.value, components=components)
        storage.set_switch_incident(db, scope, incident_id)
        return incident_id
    storage.set_switch_incident(db, scope, None)
    if incident_id is None:
        return None
    if replay_id is None:
        return None  # the integration is still off above this connection: nothing is booked yet
    if notice.message:
        # While the backlog is booked, bookings arrive later than usual.
        operations.post_update(db, settings, actor, now, incident_id, status=IncidentStatus.MONITORING.value,
                               message="", messages=notice.message,
                               components={component: ComponentStatus.DEGRADED_PERFORMANCE.value} if component else {})
    if notice.resolved:
        storage.link_replay_incident(db, replay_id, incident_id, dict(notice.resolved))
    return incident_id


def finish_replays(db: Database, settings: Settings, now: datetime) -> list[int]:
    """Mark each replay with nothing left as finished, and resolve the incident it was to close.

    Called after each action reaches a final state, and after every flip (a replay of nothing ends at
    once). Returns the ids of the replays finished now."""
    finished = []
    for replay in storage.unfinished_replays(db):
        if replay.left:
            continue
        storage.finish_replay(db, replay.id, now)
        finished.append(replay.id)
        incident = storage.incident(db, replay.incident_id) if replay.incident_id else None
        if incident is not None and IncidentStatus(incident.status).is_open:
            operations.post_update(db, settings, SYSTEM, now, incident.id, status=IncidentStatus.RESOLVED.value,
                                   message="", messages=replay.resolved_texts, components={})
    return finished


