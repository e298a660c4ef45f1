"""Where the parts of a running service listen: its web address and the demo's sandboxes (statuspage/sandboxes.py)."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from statuspage.core.storage.engine import Row, iso


def listeners(db: Database) -> dict[str, Row]:
    """Every recorded listener by name: `url`, `holder` (host:pid), `started_at`."""
    return {row["name"]: row for row in db.query("SELECT name, url, holder, started_at FROM listeners")}


def record_listener(db: Database, name: str, url: str, holder: str, now: datetime) -> None:
    """`holder` listens at `url` as `name` from `now` on, in place of whoever was recorded before."""
    db.execute(
        """INSERT INTO listeners (name, url, holder, started_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET url = excluded.url, holder = excluded.holder,
                                            started_at = excluded.started_at""",
        [name, url, holder, iso(now)])


def forget_listener(db: Database, name: str, url: str) -> None:
    """`name` no longer listens at `url` (a listener recorded since in its place stays)."""
    db.execute("DELETE FROM listeners WHERE name = ? AND url = ?", [name, url])
