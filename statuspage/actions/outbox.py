"""The invoice-action outbox, as plain Python over the database: actions handed in, cancelled, and the
outcomes the dispatcher records (retries, final states, misroutes, the client's callback).

Actions arrive queued, or delayed when a kill switch above them is off (`switches`); each function
here runs inside the caller's one write transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from sqlite_utils import Database

from integrations.base import ActionKind, InvalidAction, InvoiceAction
from integrations.payloads import PAYLOAD_TYPES, payload_of
from statuspage.actions.switches import (
    SYSTEM,
    closed_scopes,
    component_of,
    installed,
    integration_scope,
    may_send,
    off_notice,
    switch,
)
from statuspage.core import addresses, storage
from statuspage.core.limits import LINE_PATTERN, VISIBLE_ASCII_PATTERN
from statuspage.core.operation import Actor, Refused
from statuspage.core.retry import Backoff
from statuspage.core.settings import Settings
from statuspage.core.vocabulary import ActionState, Impact
from statuspage.incidents import notifications
from statuspage.incidents.operations import in_languages

log = logging.getLogger("statuspage.actions.outbox")

# An action that failed is tried again after 15 s, 30 s, ... up to 30 min; after 8 tries an operator must look.
RETRIES = Backoff(first=timedelta(seconds=15), longest=timedelta(minutes=30), max_attempts=8)


# ---------------------------------------------------------------------------------------------
# Actions handed in by the invoice product


# The idempotency key becomes the booking's reference in the accounting system (Exact Online's YourRef),
# by which a retry looks the booking up: visible ASCII without spaces, 1 to 64 characters.
KEY_LENGTH = 64
IdempotencyKey = Annotated[str, msgspec.Meta(
    min_length=1, max_length=KEY_LENGTH, pattern=VISIBLE_ASCII_PATTERN,
    description="1-64 visible ASCII characters (no spaces); unique per client and not used by another client")]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=LINE_PATTERN)]


class ActionRequest(msgspec.Struct, frozen=True, kw_only=True):
    idempotency_key: IdempotencyKey
    integration: Code
    environment: Code
    administration: Code
    kind: ActionKind
    payload: dict[str, Any]


def fingerprint(request: ActionRequest) -> str:
    canonical = json.dumps(msgspec.to_builtins(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def invoice_action(row: storage.RequestedAction) -> InvoiceAction:
    """What the integration's connector is asked to carry out for a stored action."""
    return InvoiceAction(idempotency_key=row.idempotency_key, kind=row.kind, administration=row.administration,
                         payload=row.payload)


def accept(db: Database, settings: Settings, client: str, now: datetime, request: ActionRequest, *,
           kinds: Collection[ActionKind] | None = None, internal: bool = False) -> tuple[int, bool]:
    """Store an action, or find the one stored under its key. Returns its id and whether it is new.

    The same key with the same request is the same action (a client retrying after a lost answer);
    the same key with another request is a mistake the client must hear of. `kinds`: what the integration
    carries out (its registry description's `action_kinds`; None leaves that to its connector). `internal`: written
    by the service itself (a mirror rule), the only writer of mirror kinds.
    """
    existing = storage.action_by_key(db, client, request.idempotency_key)
    if existing is not None:
        if existing.fingerprint != fingerprint(request):
            raise Refused(f"idempotency key {request.idempotency_key!r} was used before for a different action "
                          f"(action {existing.id}); use a new key for a new action", conflict=True)
        return existing.id, False
    if storage.key_used_by_another_client(db, client, request.idempotency_key):
        # The key is the booking's reference in the accounting system: shared, a look-up by it could find
        # another client's booking.
        raise Refused(f"idempotency key {request.idempotency_key!r} is used by another client; the accounting "
                      "system finds bookings by this reference, so choose keys of your own (a prefix will do)",
                      conflict=True)
    _check(settings, request, kinds, internal)
    state = ActionState.QUEUED if may_send(closed_scopes(db), request.integration, request.environment) else ActionState.DELAYED
    action_id = storage.insert_action(db, storage.NewAction(
        client=client, idempotency_key=request.idempotency_key, fingerprint=fingerprint(request),
        integration=request.integration, environment=request.environment, administration=request.administration,
        kind=request.kind, payload=json.dumps(request.payload), state=state,
    ), now, "received" if state is ActionState.QUEUED else "received while the integration is switched off")
    return action_id, True


def _check(settings: Settings, request: ActionRequest, kinds: Collection[ActionKind] | None, internal: bool) -> None:
    if request.integration not in settings.integrations:
        raise Refused(f"unknown integration {request.integration!r}; known: {', '.join(installed(settings))}")
    if not internal and not request.kind.handed_in:
        raise Refused(f"{request.kind} actions are written by the service's mirror rules ([[mirrors]]), "
                      f"never handed in")
    if kinds is not None and request.kind not in kinds:
        taken = sorted(kind for kind in kinds if kind.handed_in or internal)
        raise Refused(f"{request.integration} does not carry out {request.kind} actions; " + (
            f"it takes {', '.join(taken)}" if taken else "only the service's mirror rules write into it"))
    environment = next((e for e in settings.environments if e.key == request.environment), None)
    if environment is None:
        known = ", ".join(e.key for e in settings.environments) or "none are configured"
        raise Refused(f"unknown environment {request.environment!r}; known: {known}")
    if environment.integration != request.integration:
        raise Refused(f"environment {request.environment!r} books into {environment.integration!r}, "
                      f"not {request.integration!r}")
    linked = [item.code for item in environment.administrations]
    if request.administration not in linked:
        raise Refused(f"administration {request.administration!r} is not linked to environment "
                      f"{request.environment!r}; linked: {', '.join(linked) or 'none'}")
    action = InvoiceAction(idempotency_key=request.idempotency_key, kind=request.kind,
                           administration=request.administration, payload=request.payload)
    try:
        payload_of(action, PAYLOAD_TYPES[request.kind])
    except InvalidAction as invalid:
        raise Refused(str(invalid)) from None


def cancel(db: Database, settings: Settings, actor: Actor, now: datetime, action_id: int) -> None:
    row = storage.action(db, action_id)
    if row is None:
        raise Refused(f"no action {action_id}", not_found=True)
    if row.state not in (ActionState.QUEUED, ActionState.DELAYED):
        raise Refused(f"action {action_id} is {row.state}; only queued or delayed actions can be cancelled")
    storage.move_action(db, action_id, expected=row.state, to=ActionState.CANCELLED, now=now,
                        cause=f"cancelled by {actor.name}")
    storage.append_audit(db, at=now, actor=actor.name, action="action.cancel", subject_type="action",
                         subject_id=str(action_id), before={"state": row.state.value}, after={"state": "cancelled"})
    notify_final(db, settings, now, action_id)


# ---------------------------------------------------------------------------------------------
# Outcomes the dispatcher records


def record_misroute(
    db: Database, settings: Settings, now: datetime, row: storage.RequestedAction, *, booked: str,
    entry_number: str | None, entry_id: str | None, names: Mapping[str, str] | None = None,
) -> None:
    """A booking landed elsewhere: report it, trip the integration's switch, draft an incident (naming the
    integration by `names`, its name per language, where no component of the page names it)."""
    payload = row.payload
    amount = sum(line.get("amount", 0) for line in payload.get("lines", [])) if "lines" in payload else None
    storage.insert_misroute(db, storage.Misrouted(
        action_id=row.id, integration=row.integration, environment=row.environment,
        administration_asked=row.administration, administration_booked=booked,
        entry_number=entry_number, entry_id=entry_id, amount=amount, at=now,
    ))
    log.error("misroute: action %s of %s (environment %s) asked for administration %s and was booked into %s "
              "as entry %s; it is on the misroute report", row.id, row.integration, row.environment,
              row.administration, booked, entry_number)
    if may_send(closed_scopes(db), row.integration, row.environment):
        reason = (f"misroute: action {row.id} for administration {row.administration} was booked into "
                  f"{booked} as entry {entry_number}")
        switch(db, settings, SYSTEM, now, integration=row.integration, environment=None, enabled=False, reason=reason)
        _draft_incident(db, settings, now, row.integration, names)


def _draft_incident(db: Database, settings: Settings, now: datetime, integration: str,
                    names: Mapping[str, str] | None) -> None:
    """Draft the "bookings paused" incident, in Dutch and English, for an operator to publish; it is the switch's
    incident, so switching back on can close it once published. Affecting no component (the integration is not on
    the page), its impact is none, as the switch's own incident's (`switches._tell_the_public`)."""
    notice = off_notice(settings, integration, names)
    component = component_of(settings, integration)
    name, names = in_languages(settings, "name", "", notice.title)
    message, messages = in_languages(settings, "message", "", notice.message)
    incident_id = storage.create_incident(
        db, kind="incident", name=name, status="identified", impact=(Impact.MAJOR if component else Impact.NONE).value,
        body=message, now=now,
        components={component: "major_outage"} if component else {}, draft=True, names=names, bodies=messages,
    )
    storage.set_switch_incident(db, integration_scope(integration), incident_id)
    storage.append_audit(db, at=now, actor=SYSTEM.name, action="incident.draft", subject_type="incident",
                         subject_id=incident_id, after={"name": name})


def notify_final(db: Database, settings: Settings, now: datetime, action_id: int) -> None:
    """Queue the client's callback, if it registered one, with the action's final state."""
    row = storage.action(db, action_id)
    callback = storage.callback_of(db, row.client) if row is not None else None
    if row is None or callback is None:
        return
    body = {"meta": {"generated_at": now.astimezone(settings.zone).isoformat(timespec="milliseconds")},
            "action": msgspec.to_builtins(action_document(row))}
    storage.enqueue_delivery(db, callback["id"], "action", json.dumps(body), now)


class Action(msgspec.Struct):
    """An action as the API answers it, and as a client's callback tells of its final state (`entry_number` and
    `administration_booked`: where the accounting system says it booked it; ISO 8601 UTC moments)."""

    id: int
    idempotency_key: str
    integration: str
    environment: str
    administration: str
    kind: ActionKind
    state: ActionState
    attempts: int
    error: str | None
    entry_number: str | None
    administration_booked: str | None
    created_at: str
    updated_at: str
    subject: str | None = None
    """What the action writes, from its payload (`action_subject`); None when the row was read without it."""


def action_document(row: storage.Action) -> Action:
    """The action's document (`Action`) from its row; its `subject` when the row carries the payload."""
    result = row.result
    return Action(
        row.id, row.idempotency_key, row.integration, row.environment, row.administration, row.kind,
        row.state, row.attempts, row.error, result.entry_number if result else None,
        result.administration if result else None, storage.iso(row.created_at), storage.iso(row.updated_at),
        action_subject(row.kind, row.payload) if isinstance(row, storage.RequestedAction) else None)


def action_subject(kind: ActionKind, payload: Mapping[str, Any]) -> str | None:
    """One line naming what an action writes, from its payload (`integrations.payloads`), since its idempotency key
    may be a hash: a booking its supplier and description, a relation its code and name, a release the booking's
    key, a mirror write its target entity, key and name ("customers EOL-1001 Jansen BV"). Payloads hold no
    secrets; None when the payload lacks the fields (an action stored before a check was added)."""
    def text(*names: Any) -> str | None:
        parts = [str(name) for name in names if name not in (None, "")]
        return " ".join(parts) or None

    if kind in (ActionKind.BOOK, ActionKind.BOOK_AND_BLOCK):
        return text(payload.get("supplier"), payload.get("description"))
    if kind in (ActionKind.CREATE_SUPPLIER, ActionKind.CREATE_CUSTOMER):
        return text(payload.get("code"), payload.get("name"))
    if kind is ActionKind.UNBLOCK:
        return text(payload.get("booking_key"))
    fields = payload.get("fields")
    return text(payload.get("entity"), payload.get("key"), fields.get("name") if isinstance(fields, Mapping) else None)


def set_callback(db: Database, settings: Settings, client: str, now: datetime, url: str) -> str:
    """Register (or replace) where a client hears of its actions' final states; returns the signing secret."""
    url = addresses.web_address(url)
    if not settings.notifications.allow_private_targets:
        addresses.refuse_internal_literal(url)
    taken = storage.active_subscriber(db, "webhook", url)
    if taken is not None and taken["client"] != client:
        raise Refused(f"{url} already receives another subscriber's notices; use a URL of your own", conflict=True)
    existing = storage.callback_of(db, client)
    if existing is not None:
        storage.unsubscribe(db, existing["id"], now)
    secret = notifications.new_webhook_secret()
    storage.insert_subscriber(db, kind="webhook", address=url, secret=secret, components=None, now=now,
                              confirmed=True, events=["action"], client=client)
    return secret
