"""The kill switches: one per integration (all environments) and one per connection (one environment).

What the product exists for: when an integration books wrongly, operators switch it off; actions
keep arriving and wait as "delayed" (factuuracties vertraagd, seed 003); switched on, they are
replayed in arrival order per administration, each exactly once. An action is sent only when every
switch above it is on. Flipping a switch runs inside the caller's one write transaction, so the
switch and the actions it holds move together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from statuspage.core import storage
from statuspage.core.operation import Actor, Refused
from statuspage.core.settings import Settings
from statuspage.core.vocabulary import ActionState
from statuspage.incidents.status_history import record_statuses_now

INTEGRATIONS = ("exact-online",)
SYSTEM = Actor("kill switch")


def integration_scope(integration: str) -> str:
    """The scope key of an integration's switch, as stored: `integration:exact-online`."""
    return f"integration:{integration}"


def connection_scope(environment: str, integration: str) -> str:
    """The scope key of one environment's connection switch: `connection:jansen-groep:exact-online`."""
    return f"connection:{environment}:{integration}"


def scope_of(integration: str, environment: str | None) -> str:
    """The integration's scope when `environment` is None, else that connection's."""
    return integration_scope(integration) if environment is None else connection_scope(environment, integration)


def closed_scopes(db: Database) -> list[str]:
    """The scope keys of every switch that is off."""
    return [row["scope"] for row in storage.switch_rows(db) if not row["enabled"]]


def may_send(closed: list[str], integration: str, environment: str) -> bool:
    """An action is sent only when every switch above it is on."""
    return integration_scope(integration) not in closed and connection_scope(environment, integration) not in closed


@dataclass(frozen=True)
class SwitchChange:
    scope: str
    enabled: bool
    moved: int  # actions delayed (off) or released for replay (on)
    replay_id: int | None


def switch(
    db: Database, settings: Settings, actor: Actor, now: datetime, *, integration: str, environment: str | None,
    enabled: bool, reason: str,
) -> SwitchChange:
    """Flip a kill switch. Off: every queued or retrying action in scope becomes delayed, in this one
    transaction; an action already mid-call finishes. On: what was delayed is queued for replay."""
    if integration not in INTEGRATIONS:
        raise Refused(f"unknown integration {integration!r}; known: {', '.join(INTEGRATIONS)}", not_found=True)
    if environment is not None and environment not in {e.key for e in settings.environments}:
        raise Refused(f"unknown environment {environment!r}", not_found=True)
    if not reason.strip():
        raise Refused("say why: a reason is required, it goes into the audit log")
    scope = scope_of(integration, environment)
    before = next((row for row in storage.switch_rows(db) if row["scope"] == scope), None)
    storage.set_switch(db, scope, enabled=enabled, reason=reason, changed_by=actor.name, now=now)
    replay_id = None
    if not enabled:
        moved = storage.move_actions_in_scope(db, integration=integration, environment=environment,
                                              from_states=(ActionState.QUEUED,), to=ActionState.DELAYED, now=now,
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
                                                  from_states=(ActionState.DELAYED,), to=ActionState.QUEUED, now=now,
                                                  cause=f"replayed: switched on by {actor.name}",
                                                  replay_id=replay_id, except_environments=still_off)
            storage.set_replay_total(db, replay_id, moved)
    storage.append_audit(
        db, at=now, actor=actor.name, action="switch.on" if enabled else "switch.off", subject_type="switch",
        subject_id=scope, before=before and {"enabled": bool(before["enabled"]), "reason": before["reason"]},
        after={"enabled": enabled, "reason": reason, "actions_moved": moved},
    )
    record_statuses_now(db, settings, now)
    return SwitchChange(scope, enabled, moved, replay_id)


