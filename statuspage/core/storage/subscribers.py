"""Subscribers and the deliveries owed to them."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from statuspage.core.storage.engine import Row, inserted_id, iso, json_loads_or_none, json_or_none

# ---------------------------------------------------------------------------------------------
# Subscribers and the deliveries owed to them


def insert_subscriber(
    db: Database, *, kind: str, address: str, secret: str | None, components: list[str] | None,
    now: datetime, confirmed: bool, events: list[str] | None = None, client: str | None = None,
) -> int:
    """A subscriber; `events` None means the page's notices (incidents and components), `client` names the
    machine client whose callback this is."""
    cursor = db.execute(
        """
        INSERT INTO subscribers (kind, address, secret, components, created_at, confirmed_at, events, client)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [kind, address, secret, json_or_none(components), iso(now), iso(now) if confirmed else None,
         json_or_none(events), client],
    )
    return inserted_id(cursor)


def active_subscriber(db: Database, kind: str, address: str) -> Row | None:
    rows = list(db.query(
        "SELECT * FROM subscribers WHERE kind = ? AND address = ? AND unsubscribed_at IS NULL", [kind, address]))
    return rows[0] if rows else None


def subscriber(db: Database, subscriber_id: int) -> Row | None:
    rows = list(db.query("SELECT * FROM subscribers WHERE id = ?", [subscriber_id]))
    return rows[0] if rows else None


def confirm_subscriber(db: Database, subscriber_id: int, now: datetime) -> None:
    db.execute("UPDATE subscribers SET confirmed_at = ? WHERE id = ? AND confirmed_at IS NULL", [iso(now), subscriber_id])


def unsubscribe(db: Database, subscriber_id: int, now: datetime) -> None:
    db.execute("UPDATE subscribers SET unsubscribed_at = ? WHERE id = ? AND unsubscribed_at IS NULL",
               [iso(now), subscriber_id])
    db.execute("UPDATE deliveries SET state = 'failed', last_error = 'unsubscribed' "
               "WHERE subscriber_id = ? AND state = 'pending'", [subscriber_id])


def subscribers_to_notify(db: Database, event: str) -> list[Row]:
    """Active subscribers who hear of `event`: those without a list hear of incidents and components."""
    rows = db.query("SELECT * FROM subscribers WHERE confirmed_at IS NOT NULL AND unsubscribed_at IS NULL")
    wanted = []
    for row in rows:
        events = json_loads_or_none(row["events"]) or ["incident", "component"]
        if event in events:
            wanted.append({**row, "components": json_loads_or_none(row["components"])})
    return wanted


def list_subscribers(db: Database, *, callbacks: bool = False) -> list[Row]:
    """The page's subscribers, with their deliveries waiting and given up; `callbacks`: instead the machine clients'
    action callbacks (rows with a `client`), which hear of their own actions only and are no subscribers."""
    rows = db.query(
        f"""
        SELECT s.id, s.kind, s.address, s.components, s.created_at, s.confirmed_at, s.unsubscribed_at, s.client,
               (SELECT count(*) FROM deliveries d WHERE d.subscriber_id = s.id AND d.state = 'pending') AS pending,
               (SELECT count(*) FROM deliveries d WHERE d.subscriber_id = s.id AND d.state = 'failed'
                AND d.last_error IS NOT :superseded) AS failed
        FROM subscribers s WHERE s.client IS {'NOT NULL' if callbacks else 'NULL'} ORDER BY s.id
        """,
        {"superseded": SUPERSEDED},
    )
    return [{**row, "components": json_loads_or_none(row["components"])} for row in rows]


def enqueue_delivery(
    db: Database, subscriber_id: int, event: str, body: str, now: datetime, subject: str | None = None
) -> int:
    """A notice to send; `subject` ("incident:<id>", "component:<id>") lets a newer notice about the same
    subject supersede this one (`drop_superseded`)."""
    cursor = db.execute(
        """
        INSERT INTO deliveries (subscriber_id, event, body, state, next_attempt_at, created_at, subject)
        VALUES (?, ?, ?, 'pending', ?, ?, ?)
        """,
        [subscriber_id, event, body, iso(now), iso(now), subject],
    )
    return inserted_id(cursor)


SUPERSEDED = "superseded by a newer notice about the same subject"


def drop_superseded(db: Database) -> int:
    """Give up every pending notice for which the same subscriber has a newer notice about the same subject
    (pending or delivered): each notice carries the subject's whole current state, so the newer says all the
    older did, and a retried older one must never arrive after it. Returns how many were dropped."""
    cursor = db.execute(
        """
        UPDATE deliveries SET state = 'failed', last_error = ?
        WHERE state = 'pending' AND subject IS NOT NULL AND EXISTS (
            SELECT 1 FROM deliveries newer
            WHERE newer.subscriber_id = deliveries.subscriber_id AND newer.subject = deliveries.subject
              AND newer.id > deliveries.id AND newer.state IN ('pending', 'delivered'))
        """,
        [SUPERSEDED],
    )
    return cursor.rowcount


def due_deliveries(db: Database, now: datetime, limit: int) -> list[Row]:
    return list(db.query(
        """
        SELECT d.*, s.kind, s.address, s.secret FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
        WHERE d.state = 'pending' AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.id LIMIT ?
        """,
        [iso(now), limit],
    ))


def claim_deliveries(db: Database, now: datetime, limit: int, holder: str, until: datetime) -> list[Row]:
    """Claim up to `limit` due deliveries for `holder` until `until` (inside a write transaction) and return them.

    A delivery claimed by another process is due again only once that claim lapsed (its process died
    mid-send): a notice is never sent by two processes at once.
    """
    rows = list(db.query(
        """
        SELECT d.*, s.kind, s.address, s.secret FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
        WHERE d.state = 'pending' AND d.next_attempt_at <= :now AND (d.claim_until IS NULL OR d.claim_until <= :now)
        ORDER BY d.next_attempt_at, d.id LIMIT :limit
        """,
        {"now": iso(now), "limit": limit},
    ))
    if rows:
        marks = ", ".join("?" * len(rows))
        db.execute(f"UPDATE deliveries SET claimed_by = ?, claim_until = ? WHERE id IN ({marks})",
                   [holder, iso(until), *(row["id"] for row in rows)])
    return rows


def record_attempt(
    db: Database, delivery_id: int, *, now: datetime, delivered: bool, status: int | None, error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    """One try of a delivery: delivered, to be tried again at `next_attempt_at`, or given up (None)."""
    state = "delivered" if delivered else ("pending" if next_attempt_at else "failed")
    db.execute(
        """
        UPDATE deliveries SET attempts = attempts + 1, state = ?, last_status = ?, last_error = ?,
               next_attempt_at = COALESCE(?, next_attempt_at), delivered_at = ?,
               claimed_by = NULL, claim_until = NULL
        WHERE id = ? AND state = 'pending'
        """,
        [state, status, error, iso(next_attempt_at), iso(now) if delivered else None,
         delivery_id],
    )


def deliveries_of(db: Database, subscriber_id: int, limit: int = 100) -> list[Row]:
    return list(db.query(
        "SELECT * FROM deliveries WHERE subscriber_id = ? ORDER BY id DESC LIMIT ?", [subscriber_id, limit]))


