"""Connections to accounting systems: their users, tokens and the administrations they can open."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlite_utils import Database

from statuspage.core.storage.engine import Row, iso, json_loads_or_none

# ---------------------------------------------------------------------------------------------
# Connections to accounting systems

_CONNECTION_FIELDS = ("id, environment, integration, user_id, user_name, full_name, current_administration, "
                      "connected_at, connected_by, accessible, checked_at")


def connection_id(db: Database, environment: str, integration: str) -> int:
    """The connection of an environment to an integration, made (empty) on first use."""
    db.execute("INSERT OR IGNORE INTO connections (environment, integration) VALUES (?, ?)", [environment, integration])
    return next(db.query("SELECT id FROM connections WHERE environment = ? AND integration = ?",
                         [environment, integration]))["id"]


def ensure_connections(db: Database, environments: Sequence[str], integration: str) -> None:
    """A (not yet connected) connection for every configured environment, so each has an id to switch by."""
    for environment in environments:
        connection_id(db, environment, integration)


def connections(db: Database, integration: str) -> list[Row]:
    """Every connection of an integration, without its tokens."""
    rows = db.query(f"SELECT {_CONNECTION_FIELDS} FROM connections WHERE integration = ? ORDER BY id", [integration])
    return [{**row, "accessible": json_loads_or_none(row["accessible"])} for row in rows]


def connection_tokens(db: Database, connection: int) -> str | None:
    rows = list(db.query("SELECT tokens FROM connections WHERE id = ?", [connection]))
    return rows[0]["tokens"] if rows else None


def save_connection_tokens(db: Database, connection: int, tokens: str) -> None:
    db.execute("UPDATE connections SET tokens = ? WHERE id = ?", [tokens, connection])


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


