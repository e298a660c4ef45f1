"""Probes: their standing, their results, and the sync reports they judge."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from statuspage.core.storage.engine import Row, inserted_id, iso, json_loads_or_none, json_or_none, moment

# ---------------------------------------------------------------------------------------------
# Probes


def probe_state(db: Database, probe: str) -> Row | None:
    rows = list(db.query("SELECT * FROM probe_states WHERE probe = ?", [probe]))
    return rows[0] if rows else None


def save_probe_state(db: Database, probe: str, *, component: str | None, failures: int, successes: int,
                     verdict: str | None, now: datetime) -> None:
    before = probe_state(db, probe)
    db.execute(
        """
        INSERT INTO probe_states (probe, component, failures, successes, verdict, changed_at)
        VALUES (:probe, :component, :failures, :successes, :verdict, :now)
        ON CONFLICT (probe) DO UPDATE SET component = excluded.component, failures = excluded.failures,
            successes = excluded.successes, verdict = excluded.verdict,
            changed_at = CASE WHEN probe_states.verdict IS excluded.verdict THEN probe_states.changed_at
                              ELSE excluded.changed_at END
        """,
        {"probe": probe, "component": component, "failures": failures, "successes": successes, "verdict": verdict,
         "now": iso(now)},
    )
    old = before["verdict"] if before else None
    if old != verdict:
        db.execute("INSERT INTO probe_events (probe, at, old_verdict, new_verdict) VALUES (?, ?, ?, ?)",
                   [probe, iso(now), old, verdict])


def pause_probe(db: Database, probe: str, paused: bool) -> None:
    db.execute("INSERT OR IGNORE INTO probe_states (probe) VALUES (?)", [probe])
    db.execute("UPDATE probe_states SET paused = ? WHERE probe = ?", [int(paused), probe])


def insert_probe_result(db: Database, probe: str, *, at: datetime, duration_ms: float, success: bool,
                        conditions: list[dict], error: str | None, detail: Any) -> None:
    db.execute(
        "INSERT INTO probe_results (probe, at, duration_ms, success, conditions, error, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [probe, iso(at), duration_ms, int(success), json.dumps(conditions), error, json_or_none(detail)],
    )


def probe_results(db: Database, probe: str, limit: int = 100) -> list[Row]:
    rows = db.query("SELECT * FROM probe_results WHERE probe = ? ORDER BY id DESC LIMIT ?", [probe, limit])
    return [{**row, "conditions": json.loads(row["conditions"]), "detail": json_loads_or_none(row["detail"])}
            for row in rows]


def latest_probe_results(db: Database) -> dict[str, Row]:
    rows = db.query(
        "SELECT * FROM probe_results WHERE id IN (SELECT max(id) FROM probe_results GROUP BY probe)")
    return {row["probe"]: {**row, "conditions": json.loads(row["conditions"]),
                           "detail": json_loads_or_none(row["detail"])} for row in rows}


def probe_states(db: Database) -> dict[str, Row]:
    return {row["probe"]: row for row in db.query("SELECT * FROM probe_states")}


def trim_probe_results(db: Database, before: datetime) -> int:
    return db.execute("DELETE FROM probe_results WHERE at < ?", [iso(before)]).rowcount


def record_sync(db: Database, *, environment: str, integration: str, kind: str, started_at: datetime,
                finished_at: datetime) -> int:
    cursor = db.execute(
        "INSERT INTO syncs (environment, integration, kind, started_at, finished_at) VALUES (?, ?, ?, ?, ?)",
        [environment, integration, kind, iso(started_at), iso(finished_at)])
    return inserted_id(cursor)


def last_syncs(db: Database, integration: str) -> dict[str, datetime]:
    """The last finished sync of each environment's connection."""
    return {row["environment"]: moment(row["finished"]) for row in db.query(
        "SELECT environment, max(finished_at) AS finished FROM syncs WHERE integration = ? GROUP BY environment",
        [integration])}


def backlog_of(db: Database, integration: str) -> Row:
    return next(db.query(
        """
        SELECT sum(state = 'queued') AS queued, sum(state = 'delayed') AS delayed, sum(state = 'running') AS running,
               min(created_at) AS oldest
        FROM actions WHERE integration = ? AND state IN ('queued', 'running', 'delayed')
        """, [integration]))
