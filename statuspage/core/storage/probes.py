"""Probes: their standing, their results, and the sync reports they judge."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
from sqlite_utils import Database

from statuspage.core.storage.engine import Row, inserted_id, iso, json_loads_or_none, json_or_none, moment
from statuspage.core.vocabulary import ComponentStatus

# ---------------------------------------------------------------------------------------------
# Probes


class ProbeState(msgspec.Struct, frozen=True, kw_only=True):
    """A probe's standing (its hysteresis) and whether operators paused it; a row of `probe_states`."""

    probe: str
    component: str | None = None
    failures: int = 0
    """Failed runs in a row."""
    successes: int = 0
    """Passed runs in a row."""
    verdict: ComponentStatus | None = None
    """The status the probe claims for its component now; None: no complaint."""
    paused: bool = False
    changed_at: datetime | None = None
    """When the verdict last changed."""


class ConditionOutcome(msgspec.Struct, frozen=True):
    """One condition of a run: its text, whether it held, and what was seen (`[STATUS] (503) == 200`)."""

    condition: str
    success: bool
    description: str


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    """One stored run of a probe; a row of `probe_results`."""

    id: int
    probe: str
    at: datetime
    duration_ms: float
    success: bool
    conditions: list[ConditionOutcome]
    error: str | None = None
    detail: Any = None
    """What the probe saw beyond its placeholders, for operators (unreachable administrations, late syncs)."""


def _state(row: Row) -> ProbeState:
    return ProbeState(probe=row["probe"], component=row["component"], failures=row["failures"],
                      successes=row["successes"], verdict=ComponentStatus(row["verdict"]) if row["verdict"] else None,
                      paused=bool(row["paused"]), changed_at=moment(row["changed_at"]))


def _result(row: Row) -> ProbeResult:
    return ProbeResult(id=row["id"], probe=row["probe"], at=moment(row["at"]), duration_ms=row["duration_ms"],
                       success=bool(row["success"]),
                       conditions=msgspec.convert(json.loads(row["conditions"]), list[ConditionOutcome]),
                       error=row["error"], detail=json_loads_or_none(row["detail"]))


def probe_state(db: Database, probe: str) -> ProbeState | None:
    rows = list(db.query("SELECT * FROM probe_states WHERE probe = ?", [probe]))
    return _state(rows[0]) if rows else None


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
    old = before.verdict if before else None
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


def probe_results(db: Database, probe: str, limit: int = 100) -> list[ProbeResult]:
    """The probe's latest `limit` runs, newest first."""
    rows = db.query("SELECT * FROM probe_results WHERE probe = ? ORDER BY id DESC LIMIT ?", [probe, limit])
    return [_result(row) for row in rows]


def latest_probe_results(db: Database) -> dict[str, ProbeResult]:
    """Each probe's latest run, by probe key."""
    rows = db.query(
        "SELECT * FROM probe_results WHERE id IN (SELECT max(id) FROM probe_results GROUP BY probe)")
    return {row["probe"]: _result(row) for row in rows}


def probe_states(db: Database) -> dict[str, ProbeState]:
    """Each probe's standing, by probe key; a probe never run nor paused has none."""
    return {row["probe"]: _state(row) for row in db.query("SELECT * FROM probe_states")}


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


class OpenActions(msgspec.Struct, frozen=True, kw_only=True):
    """An integration's open actions, by state, and when the oldest of them arrived (None: none is open)."""

    queued: int
    delayed: int
    running: int
    oldest: datetime | None


def backlog_of(db: Database, integration: str) -> OpenActions:
    """What the backlog probe observes of `integration`."""
    return msgspec.convert(next(db.query(
        """
        SELECT coalesce(sum(state = 'queued'), 0) AS queued, coalesce(sum(state = 'delayed'), 0) AS delayed,
               coalesce(sum(state = 'running'), 0) AS running, min(created_at) AS oldest
        FROM actions WHERE finished_at IS NULL AND integration = ?
        """, [integration])), OpenActions, strict=False)
