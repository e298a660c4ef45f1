"""Connections to accounting systems: their users, tokens and the administrations they can open."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import msgspec
from sqlite_utils import Database

from integrations.base import Administration
from statuspage.core.storage.engine import iso, json_loads_or_none

# ---------------------------------------------------------------------------------------------
# Connections to accounting systems


class Connection(msgspec.Struct, frozen=True, kw_only=True):
    """One environment's connection to an accounting system, without its tokens; a row of `connections` (made,
    not yet connected, for every configured environment: `user_name` None until someone connects it)."""

    id: int
    environment: str
    integration: str
    user_id: str | None
    user_name: str | None
    full_name: str | None
    current_administration: str | None
    connected_at: datetime | None
    connected_by: str | None
    accessible: list[Administration] | None
    """What the connection user could open when last checked (`checked_at`); None: never checked."""
    checked_at: datetime | None
    refused_at: datetime | None
    """When the accounting system refused its credentials (`refused_reason`, its words): a person must connect it
    again; None while nobody has."""
    refused_reason: str | None

_CONNECTION_FIELDS = ("id, environment, integration, user_id, user_name, full_name, current_administration, "
                      "connected_at, connected_by, accessible, checked_at, refused_at, refused_reason")


def connection_id(db: Database, environment: str, integration: str) -> int:
    """The connection of an environment to an integration, made (empty) on first use."""
    db.execute("INSERT OR IGNORE INTO connections (environment, integration) VALUES (?, ?)", [environment, integration])
    return next(db.query("SELECT id FROM connections WHERE environment = ? AND integration = ?",
                         [environment, integration]))["id"]


def ensure_connections(db: Database, environments: Sequence[tuple[str, str]]) -> None:
    """A (not yet connected) connection for every configured (environment, integration), so each has an id."""
    for environment, integration in environments:
        connection_id(db, environment, integration)


def connections(db: Database, integration: str | None = None) -> list[Connection]:
    """Every connection (of one integration, or of all), without its tokens."""
    if integration is None:
        rows = db.query(f"SELECT {_CONNECTION_FIELDS} FROM connections ORDER BY id")
    else:
        rows = db.query(f"SELECT {_CONNECTION_FIELDS} FROM connections WHERE integration = ? ORDER BY id",
                        [integration])
    # ISO 8601 text to aware datetimes, as msgspec.convert takes it, once the JSON column is decoded.
    return [msgspec.convert({**row, "accessible": json_loads_or_none(row["accessible"])}, Connection, strict=False)
            for row in rows]


def connection_tokens(db: Database, connection: int) -> str | None:
    rows = list(db.query("SELECT tokens FROM connections WHERE id = ?", [connection]))
    return rows[0]["tokens"] if rows else None


def connection_generation(db: Database, connection: int) -> int:
    """Bumped by every (re)connect: a process that saw another generation must forget what it knew of the user."""
    rows = list(db.query("SELECT generation FROM connections WHERE id = ?", [connection]))
    return rows[0]["generation"] if rows else 0


def save_connection_tokens(db: Database, connection: int, tokens: str, guard: str | None = None) -> None:
    """A new connection's tokens, unconditionally; a new generation of the connection begins, with credentials
    nobody has refused yet."""
    db.execute("""UPDATE connections SET tokens = ?, token_guard = ?, generation = generation + 1, refused_at = NULL,
                  refused_reason = NULL WHERE id = ?""", [tokens, guard, connection])


def mark_connection_refused(db: Database, connection: int, generation: int, reason: str, now: datetime) -> bool:
    """The accounting system refused the credentials of `generation` of the connection: it needs a person to connect
    it again. True when this marked it (it was not marked yet, and no reconnect made a newer generation since)."""
    cursor = db.execute(
        "UPDATE connections SET refused_at = ?, refused_reason = ? WHERE id = ? AND generation = ? AND refused_at IS NULL",
        [iso(now), reason, connection, generation])
    return cursor.rowcount == 1


def replace_connection_tokens(db: Database, connection: int, expected_guard: str, tokens: str, guard: str) -> bool:
    """Rotated tokens, written only if the stored ones are still those with `expected_guard` (compare-and-set).
    A row stored before guards existed (NULL) is taken as matching."""
    cursor = db.execute(
        "UPDATE connections SET tokens = ?, token_guard = ? WHERE id = ? AND (token_guard = ? OR token_guard IS NULL)",
        [tokens, guard, connection, expected_guard])
    return cursor.rowcount == 1


def claim_token_refresh(db: Database, connection: int, now: datetime, until: datetime) -> bool:
    """Take the right to refresh the connection's tokens until `until`, unless another process holds it now."""
    cursor = db.execute(
        """UPDATE connections SET refresh_claimed_until = ?
            WHERE id = ? AND (refresh_claimed_until IS NULL OR refresh_claimed_until <= ?)""",
        [iso(until), connection, iso(now)])
    return cursor.rowcount == 1


def release_token_refresh(db: Database, connection: int) -> None:
    db.execute("UPDATE connections SET refresh_claimed_until = NULL WHERE id = ?", [connection])


def record_connection_user(
    db: Database, connection: int, *, user_id: str, user_name: str, full_name: str, current_administration: str,
    connected_by: str, now: datetime,
) -> None:
    db.execute(
        """
        UPDATE connections SET user_id = ?, user_name = ?, full_name = ?, current_administration = ?,
               connected_by = ?, connected_at = ? WHERE id = ?
        """,
        [user_id, user_name, full_name, current_administration, connected_by, iso(now), connection],
    )


def record_accessible(db: Database, connection: int, accessible: list[dict], now: datetime) -> None:
    db.execute("UPDATE connections SET accessible = ?, checked_at = ? WHERE id = ?",
               [json.dumps(accessible), iso(now), connection])


