"""Queries for operators: API tokens, console sessions, the service's own secrets, the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from statuspage.core.storage.engine import Row, inserted_id, iso, json_loads_or_none, json_or_none

# ---------------------------------------------------------------------------------------------
# Operators: API tokens, console sessions, the service's own secrets


def insert_token(db: Database, name: str, role: str, token_hash: str, now: datetime) -> int:
    cursor = db.execute(
        "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
        [name, role, token_hash, iso(now)],
    )
    return inserted_id(cursor)


def token_by_hash(db: Database, token_hash: str) -> Row | None:
    rows = list(db.query("SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", [token_hash]))
    return rows[0] if rows else None


def token_by_name(db: Database, name: str) -> Row | None:
    rows = list(db.query("SELECT * FROM api_tokens WHERE name = ?", [name]))
    return rows[0] if rows else None


def list_tokens(db: Database) -> list[Row]:
    return list(db.query("SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY id"))


def revoke_token(db: Database, token_id: int, now: datetime) -> None:
    db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [iso(now), token_id])
    db.execute("DELETE FROM console_sessions WHERE token_id = ?", [token_id])


def insert_session(db: Database, session_hash: str, token_id: int, now: datetime, expires_at: datetime) -> None:
    db.execute("DELETE FROM console_sessions WHERE expires_at <= ?", [iso(now)])
    db.execute(
        "INSERT INTO console_sessions (session_hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [session_hash, token_id, iso(now), iso(expires_at)],
    )


def token_by_session(db: Database, session_hash: str, now: datetime) -> Row | None:
    rows = list(
        db.query(
            """
            SELECT t.* FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
            WHERE s.session_hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL
            """,
            [session_hash, iso(now)],
        )
    )
    return rows[0] if rows else None


def delete_session(db: Database, session_hash: str) -> None:
    db.execute("DELETE FROM console_sessions WHERE session_hash = ?", [session_hash])


def service_secret(db: Database, name: str, make: Callable[[], str]) -> str:
    """A secret the service keeps across restarts, made on first use."""
    db.execute("INSERT OR IGNORE INTO service_secrets (name, value) VALUES (?, ?)", [name, make()])
    return next(db.query("SELECT value FROM service_secrets WHERE name = ?", [name]))["value"]


# ---------------------------------------------------------------------------------------------
# The audit log


def append_audit(
    db: Database, *, at: datetime, actor: str, action: str, subject_type: str, subject_id: str,
    before: Any = None, after: Any = None,
) -> None:
    db.execute(
        """
        INSERT INTO audit_log (at, actor, action, subject_type, subject_id, before, after)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        [iso(at), actor, action, subject_type, subject_id, json_or_none(before), json_or_none(after)],
    )


def audit_entries(db: Database, *, before_id: int | None = None, limit: int = 100) -> list[Row]:
    rows = db.query(
        """
        SELECT * FROM audit_log WHERE (:before IS NULL OR id < :before)
        ORDER BY id DESC LIMIT :limit
        """,
        {"before": before_id, "limit": limit},
    )
    return [
        {**row, "before": json_loads_or_none(row["before"]), "after": json_loads_or_none(row["after"])} for row in rows
    ]


