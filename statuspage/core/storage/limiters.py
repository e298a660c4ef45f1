"""Queries for the per-client limiters (core/auth.py, `Limiter`): the moments each counted against each client."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from statuspage.core.storage.engine import iso, moment


def limit_hits(db: Database, limiter: str, client: str, since: datetime) -> list[datetime]:
    """The moments `limiter` counted against `client` after `since`, oldest first."""
    rows = db.execute("SELECT at FROM limit_hits WHERE limiter = ? AND client = ? AND at > ? ORDER BY at",
                      [limiter, client, iso(since)]).fetchall()
    return [moment(row[0]) for row in rows]


def add_limit_hit(db: Database, limiter: str, client: str, at: datetime, forget_until: datetime) -> None:
    """Count `at` against `client`, and forget what `limiter` counted up to `forget_until` (out of its window)."""
    db.execute("DELETE FROM limit_hits WHERE limiter = ? AND at <= ?", [limiter, iso(forget_until)])
    db.execute("INSERT INTO limit_hits (limiter, client, at) VALUES (?, ?, ?)", [limiter, client, iso(at)])
