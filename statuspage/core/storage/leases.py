"""Named leases (core/lease.py has the rules): take, renew, give up, look."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from statuspage.core.lease import LEASE_SECONDS, Lease, is_gone, may_take, renewed
from statuspage.core.storage.engine import iso, moment


def lease(db: Database, name: str) -> Lease | None:
    rows = list(db.query("SELECT name, holder, expires_at FROM leases WHERE name = ?", [name]))
    return Lease(rows[0]["name"], rows[0]["holder"], moment(rows[0]["expires_at"])) if rows else None


def take_lease(db: Database, name: str, holder: str, now: datetime, seconds: float = LEASE_SECONDS) -> bool:
    """Take or renew `name` for `holder` if the rule allows (run inside a write transaction); True if held."""
    current = lease(db, name)
    if not may_take(current, holder, now, holder_gone=current is not None and is_gone(current.holder)):
        return False
    taken = renewed(name, holder, now, seconds)
    db.execute(
        """
        INSERT INTO leases (name, holder, expires_at, taken_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at,
            taken_at = CASE WHEN leases.holder = excluded.holder THEN leases.taken_at ELSE excluded.taken_at END,
            holder = excluded.holder
        """,
        [name, holder, iso(taken.expires_at), iso(now)],
    )
    return True


def give_up_lease(db: Database, name: str, holder: str) -> None:
    """Let go of `name` at once (a clean shutdown), so the next contender need not wait for it to lapse."""
    db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])
