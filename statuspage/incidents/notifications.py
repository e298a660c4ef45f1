"""What subscribers are told, and when: notifications are written to an outbox in the same
transaction as the change that causes them, and sent later by `delivery`.

Webhook bodies follow the hosted status pages' webhook format (`meta`, `page`, then `incident`, or
`component` and `component_update`), so receivers written for those pages work unchanged. Links in
messages carry a token made from the subscriber's id and a service secret, so nothing about them
needs storing and a guessed link opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlite_utils import Database

from statuspage.core import addresses, signed, storage
from statuspage.core.retry import Backoff
from statuspage.core.settings import Settings
from statuspage.page import api_v2
from statuspage.page.snapshot import PageSnapshot, build_snapshot

LINK_SECRET = "subscription-links"
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


# ---------------------------------------------------------------------------------------------
# Tokens in links, signatures on webhook bodies, the retry schedule


def link_token(secret: str, subscriber_id: int, purpose: str) -> str:
    """The token in a subscriber's link for `purpose` (confirm, unsubscribe)."""
    return signed.sign(secret, f"subscriber-link:{purpose}", subscriber_id)


def subscriber_of(secret: str, token: str, purpose: str) -> int | None:
    """The subscriber a link token was made for, or None when it was not made by us for `purpose`."""
    value = signed.unsign(secret, f"subscriber-link:{purpose}", token)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>": a receiver checks both, so an old body cannot be replayed."""
    return "sha256=" + hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def next_attempt(attempts_made: int, now: datetime, max_attempts: int) -> datetime | None:
    """When to deliver again after `attempts_made` failures: 30 s doubling to an hour; None: give up."""
    return Backoff(FIRST_RETRY, LONGEST_WAIT, max_attempts).next_attempt(attempts_made, now)


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------------------------------------
# Enqueueing, inside the transaction of the change


def links_secret(db: Database) -> str:
    return storage.service_secret(db, LINK_SECRET, lambda: secrets.token_urlsafe(32))


def _snapshot(db: Database, settings: Settings, now: datetime) -> PageSnapshot:
    return build_snapshot(settings, storage.read_page_rows(db, now), now)


def _base_url(settings: Settings) -> str:
    return settings.page.url.rstrip("/")


def _meta(settings: Settings, secret: str, subscriber_id: int, now: datetime) -> dict:
    return {
        "unsubscribe": (f"{_base_url(settings)}/subscriptions/unsubscribe"
                        f"?token={link_token(secret, subscriber_id, 'unsubscribe')}"),
        "documentation": f"{_base_url(settings)}/api/schema",
        "generated_at": now.astimezone(settings.zone).isoformat(timespec="milliseconds"),
    }


def _page(snapshot: PageSnapshot) -> dict:
    return {
        "id": snapshot.settings.page.id,
        "status_indicator": snapshot.status.indicator.value,
        "status_description": snapshot.status.description,
    }


def _interested(subscriber: Mapping, components: Iterable[str]) -> bool:
    wanted = subscriber["components"]
    return wanted is None or bool(set(wanted) & set(components))


def incident_changed(db: Database, settings: Settings, now: datetime, incident_id: str) -> int:
    """Queue a notice of an incident's or maintenance's latest state for every interested subscriber."""
    snapshot = _snapshot(db, settings, now)
    document = api_v2.find(snapshot, incident_id)
    if document is None:
        return 0
    secret = links_secret(db)
    components = [component.id for component in document.components]
    queued = 0
    for subscriber in storage.subscribers_to_notify(db, "incident"):
        if not _interested(subscriber, components):
            continue
        body: dict[str, Any] | Mail
        if subscriber["kind"] == "webhook":
            body = {"meta": _meta(settings, secret, subscriber["id"], now), "page": _page(snapshot), "incident": document}
        else:
            body = _incident_mail(settings, secret, subscriber["id"], document)
        storage.enqueue_delivery(db, subscriber["id"], "incident", msgspec.json.encode(body).decode(), now,
                                 subject=f"incident:{incident_id}")
        queued += 1
    return queued


def components_changed(db: Database, settings: Settings, now: datetime, changes: Mapping[str, str | None]) -> int:
    """Queue a component_update for each shown status that changed (its first recording is no change)."""
    changes = {key: old for key, old in changes.items() if old is not None}
    if not changes:
        return 0
    snapshot = _snapshot(db, settings, now)
    writer = api_v2.DocumentWriter(snapshot)
    by_id = snapshot.component_by_id
    secret = links_secret(db)
    queued = 0
    for subscriber in storage.subscribers_to_notify(db, "component"):
        if subscriber["kind"] != "webhook":
            continue  # e-mail subscribers hear of incidents, not of every status change
        for component_id, old in changes.items():
            if component_id not in by_id or not _interested(subscriber, [component_id]):
                continue
            body = {
                "meta": _meta(settings, secret, subscriber["id"], now),
                "page": _page(snapshot),
                "component_update": {
                    "created_at": writer.time(now),
                    "new_status": by_id[component_id].status.value,
                    "old_status": old,
                    "id": f"{component_id}-{int(now.timestamp() * 1000)}",
                    "component_id": component_id,
                },
                "component": writer.component(by_id[component_id]),
            }
            storage.enqueue_delivery(db, subscriber["id"], "component", msgspec.json.encode(body).decode(), now,
                                     subject=f"component:{component_id}")
            queued += 1
    return queued


# ---------------------------------------------------------------------------------------------
# E-mail


class Mail(msgspec.Struct):
    subject: str
    text: str


def _incident_mail(
    settings: Settings, secret: str, subscriber_id: int, document: api_v2.Incident | api_v2.ScheduledMaintenance
) -> Mail:
    latest = document.incident_updates[0] if document.incident_updates else None
    status = latest.status if latest else document.status
    lines = [
        f"{document.name}",
        "",
        f"{status.replace('_', ' ').capitalize()}: {latest.body if latest else ''}",
        "",
        f"Follow it at {document.shortlink}",
        "",
        f"Stop these e-mails: {_base_url(settings)}/subscriptions/unsubscribe?token="
        f"{link_token(secret, subscriber_id, 'unsubscribe')}",
    ]
    subject = addresses.header_text(f"[{settings.page.name}] {document.name}: {status.replace('_', ' ')}")
    return Mail(subject=subject, text="\n".join(lines))


def confirmation_mail(db: Database, settings: Settings, subscriber_id: int) -> Mail:
    secret = links_secret(db)
    base = _base_url(settings)
    text = "\n".join([
        f"Someone, hopefully you, asked to hear by e-mail about incidents on {settings.page.name}.",
        "",
        f"To confirm, open: {base}/subscriptions/confirm?token={link_token(secret, subscriber_id, 'confirm')}",
        "",
        "If it was not you, ignore this message; nothing will be sent without your confirmation.",
    ])
    return Mail(subject=f"Confirm your subscription to {settings.page.name}", text=text)
