"""The master-data mirror (issue 13): mirrored rows with tombstones and a change sequence, the cursors of
incremental reads, sync tasks and their runs per entity, each environment's schedule, and what the sync
must know of bookings (waiting ones go first; done ones are refreshed).

Nothing here is ever physically deleted from `mirror_rows`: a delete sets `deleted_at` and takes a new `seq`,
so the invoice product's change feed (`feed_rows`) hears of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlite_utils import Database

from statuspage.core.storage.actions import Action, action_from_row
from statuspage.core.storage.engine import Row, iso, json_loads_or_none, moment
from statuspage.core.vocabulary import SyncKind, SyncState, SyncTrigger

CHUNK = 500
"""Keys per `IN (...)`: well below SQLite's limit of bound parameters."""


@dataclass(frozen=True, slots=True)
class MirrorRecord:
    """One row to write into the mirror: the accounting system's key, the hash of its normalised content, and
    that content as JSON text."""

    key: str
    hash: str
    content: str


def _take_sequence(db: Database, count: int) -> int:
    """Reserve `count` sequence numbers; returns the first. Numbers only ever rise."""
    last = int(db.execute("UPDATE mirror_sequence SET last = last + ? WHERE id = 1 RETURNING last", [count])
               .fetchone()[0])
    return last - count + 1


def mirror_hashes(db: Database, environment: str, administration: str, entity: str,
                  keys: Sequence[str] | None = None) -> dict[str, str | None]:
    """Key to content hash of the mirrored rows (all, or those of `keys`); None for a tombstone."""
    where = "environment = ? AND administration = ? AND entity = ?"
    params: list[Any] = [environment, administration, entity]
    if keys is None:
        rows = db.execute(f"SELECT key, hash, deleted_at FROM mirror_rows WHERE {where}", params).fetchall()
    else:
        rows = []
        for start in range(0, len(keys), CHUNK):
            chunk = list(keys[start:start + CHUNK])
            rows += db.execute(f"SELECT key, hash, deleted_at FROM mirror_rows WHERE {where} AND key IN "
                               f"({', '.join('?' * len(chunk))})", [*params, *chunk]).fetchall()
    return {key: (None if deleted_at is not None else digest) for key, digest, deleted_at in rows}


def write_rows(db: Database, environment: str, administration: str, entity: str, records: Sequence[MirrorRecord],
               now: datetime) -> None:
    """Insert new rows and overwrite changed or revived ones, each with the next sequence number."""
    if not records:
        return
    first = _take_sequence(db, len(records))
    at = iso(now)
    db.conn.executemany(
        """
        INSERT INTO mirror_rows (environment, administration, entity, key, hash, content, seq, first_seen, last_seen)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (environment, administration, entity, key) DO UPDATE SET hash = excluded.hash,
            content = excluded.content, seq = excluded.seq, last_seen = excluded.last_seen, deleted_at = NULL
        """,
        [(environment, administration, entity, r.key, r.hash, r.content, first + i, at, at)
         for i, r in enumerate(records)],
    )


def touch_rows(db: Database, environment: str, administration: str, entity: str, keys: Iterable[str],
               now: datetime) -> None:
    """Rows read again unchanged: only `last_seen` moves (no new sequence number, nothing in the feed)."""
    at = iso(now)
    db.conn.executemany(
        "UPDATE mirror_rows SET last_seen = ? WHERE environment = ? AND administration = ? AND entity = ? AND key = ?",
        [(at, environment, administration, entity, key) for key in keys])


def touch_live_rows(db: Database, environment: str, administration: str, entity: str, now: datetime) -> None:
    """After a full sync's swap every live row was seen: one statement instead of one per row."""
    db.execute("UPDATE mirror_rows SET last_seen = ? WHERE environment = ? AND administration = ? AND entity = ? "
               "AND deleted_at IS NULL", [iso(now), environment, administration, entity])


def tombstone_rows(db: Database, environment: str, administration: str, entity: str, keys: Sequence[str],
                   now: datetime) -> int:
    """Mark live rows deleted, each with the next sequence number; unknown or already deleted keys are skipped.
    Returns how many rows got a tombstone."""
    live = [key for key, digest in mirror_hashes(db, environment, administration, entity, keys).items()
            if digest is not None]
    if not live:
        return 0
    first = _take_sequence(db, len(live))
    at = iso(now)
    db.conn.executemany(
        "UPDATE mirror_rows SET deleted_at = ?, seq = ?, last_seen = ? "
        "WHERE environment = ? AND administration = ? AND entity = ? AND key = ?",
        [(at, first + i, at, environment, administration, entity, key) for i, key in enumerate(live)])
    return len(live)


def feed_rows(db: Database, environment: str, administration: str, entity: str, after: int, limit: int) -> list[Row]:
    """Rows changed or deleted after sequence number `after`, in sequence order, at most `limit`."""
    return list(db.query(
        "SELECT key, seq, content, deleted_at, last_seen FROM mirror_rows "
        "WHERE environment = ? AND administration = ? AND entity = ? AND seq > ? ORDER BY seq LIMIT ?",
        [environment, administration, entity, after, limit]))


def mirror_counts(db: Database, environment: str, administration: str, entity: str) -> tuple[int, int]:
    """(live rows, tombstones) of one entity's mirror."""
    live, dead = db.execute(
        "SELECT count(*) - count(deleted_at), count(deleted_at) FROM mirror_rows "
        "WHERE environment = ? AND administration = ? AND entity = ?", [environment, administration, entity]).fetchone()
    return int(live), int(dead)


# ---------------------------------------------------------------------------------------------
# Cursors


def sync_cursor(db: Database, environment: str, administration: str, entity: str) -> str | None:
    """The stored cursor (JSON text) of an entity's incremental read; None before the first read committed."""
    row = db.execute("SELECT cursor FROM sync_cursors WHERE environment = ? AND administration = ? AND entity = ?",
                     [environment, administration, entity]).fetchone()
    return None if row is None else str(row[0])


def save_sync_cursor(db: Database, environment: str, administration: str, entity: str, cursor: str,
                     now: datetime) -> None:
    """Store a cursor; call it in the transaction that commits the page it follows."""
    db.execute(
        "INSERT INTO sync_cursors (environment, administration, entity, cursor, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (environment, administration, entity) DO UPDATE SET cursor = excluded.cursor, "
        "updated_at = excluded.updated_at", [environment, administration, entity, cursor, iso(now)])


# ---------------------------------------------------------------------------------------------
# Tasks and runs


def queue_sync_task(db: Database, *, environment: str, administration: str | None, kind: str, trigger: str,
                    entities: str | None, fingerprint: str, requested_by: str, now: datetime) -> tuple[int, bool]:
    """Queue a task unless the same one (by `fingerprint`) is queued already: (its id, whether it is new)."""
    row = db.execute("SELECT id FROM sync_tasks WHERE fingerprint = ? AND state = 'queued'", [fingerprint]).fetchone()
    if row is not None:
        return int(row[0]), False
    cursor = db.execute(
        "INSERT INTO sync_tasks (environment, administration, kind, trigger, entities, fingerprint, state, "
        "requested_by, created_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
        [environment, administration, kind, trigger, entities, fingerprint, requested_by, iso(now)])
    assert cursor.lastrowid is not None
    return cursor.lastrowid, True


class SyncTask(msgspec.Struct, frozen=True, kw_only=True):
    """A sync asked for: of one environment's `administration` (None: all of them) and `entities` (None: all its
    profile syncs); a row of `sync_tasks` (but for its fingerprint, which only `queue_sync_task` reads)."""

    id: int
    environment: str
    administration: str | None
    kind: SyncKind
    trigger: SyncTrigger
    entities: list[str] | None
    state: SyncState
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


def _task(row: Row) -> SyncTask:
    return msgspec.convert({**row, "entities": json_loads_or_none(row["entities"])}, SyncTask, strict=False)


def sync_task(db: Database, task_id: int) -> SyncTask | None:
    rows = list(db.query("SELECT * FROM sync_tasks WHERE id = ?", [task_id]))
    return _task(rows[0]) if rows else None


def next_sync_task(db: Database) -> SyncTask | None:
    """The oldest queued task."""
    rows = list(db.query("SELECT * FROM sync_tasks WHERE state = 'queued' ORDER BY id LIMIT 1"))
    return _task(rows[0]) if rows else None


def recent_sync_tasks(db: Database, limit: int = 20) -> list[SyncTask]:
    """The newest tasks, newest first."""
    return [_task(row) for row in db.query("SELECT * FROM sync_tasks ORDER BY id DESC LIMIT ?", [limit])]


def set_sync_task(db: Database, task_id: int, state: str, **fields: Any) -> None:
    """Move a task on; `fields` are columns (moments already as ISO text)."""
    assignments = "".join(f", {name} = :{name}" for name in fields)
    db.execute(f"UPDATE sync_tasks SET state = :state{assignments} WHERE id = :id",
               {"state": state, "id": task_id, **fields})


def requeue_unfinished_sync_tasks(db: Database, now: datetime) -> int:
    """Tasks a stopped process left unfinished go back to the queue (a queued twin absorbs them); their
    unfinished runs are failed. A full sync's staging was in memory only: the mirror is as before it."""
    db.execute("UPDATE sync_runs SET state = 'failed', error = 'the service stopped during this run', "
               "finished_at = ? WHERE state NOT IN ('done', 'failed')", [iso(now)])
    unfinished = list(db.query(
        "SELECT id, fingerprint FROM sync_tasks WHERE state NOT IN ('queued', 'done', 'failed')"))
    for row in unfinished:
        twin = db.execute("SELECT 1 FROM sync_tasks WHERE fingerprint = ? AND state = 'queued'",
                          [row["fingerprint"]]).fetchone()
        if twin is None:
            db.execute("UPDATE sync_tasks SET state = 'queued', started_at = NULL WHERE id = ?", [row["id"]])
        else:
            db.execute("UPDATE sync_tasks SET state = 'failed', finished_at = ?, error = ? WHERE id = ?",
                       [iso(now), "the service stopped; the same task was queued again", row["id"]])
    return len(unfinished)


def insert_sync_run(db: Database, *, task_id: int, environment: str, administration: str, entity: str, kind: str,
                    state: str, now: datetime) -> int:
    cursor = db.execute(
        "INSERT INTO sync_runs (task_id, environment, administration, entity, kind, state, started_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [task_id, environment, administration, entity, kind, state, iso(now), iso(now)])
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def update_sync_run(db: Database, run_id: int, now: datetime, **fields: Any) -> None:
    """Change a run's columns; `pages`, `rows_read`, `inserted`, `changed`, `deleted` given as `add_<name>` are
    added to what is there."""
    assignments = ["updated_at = :now"]
    for name in fields:
        column = name.removeprefix("add_")
        assignments.append(f"{column} = {column} + :{name}" if name.startswith("add_") else f"{column} = :{name}")
    db.execute(f"UPDATE sync_runs SET {', '.join(assignments)} WHERE id = :id",
               {"id": run_id, "now": iso(now), **fields})


def sync_runs_of(db: Database, task_id: int) -> list[Row]:
    return list(db.query("SELECT * FROM sync_runs WHERE task_id = ? ORDER BY id", [task_id]))


def latest_sync_runs(db: Database) -> list[Row]:
    """The latest run of every (environment, administration, entity), with its last successful finish."""
    return list(db.query(
        """
        SELECT r.*, (SELECT max(s.finished_at) FROM sync_runs s WHERE s.environment = r.environment
                     AND s.administration = r.administration AND s.entity = r.entity AND s.state = 'done')
                    AS last_success
        FROM sync_runs r
        WHERE r.id IN (SELECT max(id) FROM sync_runs GROUP BY environment, administration, entity)
        ORDER BY r.environment, r.administration, r.id
        """))


def sync_standing(db: Database, environment: str, administration: str, entity: str) -> tuple[str | None, str | None]:
    """When an entity of an administration last synced well (ISO 8601, None: never), and its latest run's error."""
    row = next(iter(db.query(
        """
        SELECT (SELECT max(finished_at) FROM sync_runs WHERE environment = :e AND administration = :a AND entity = :n
                AND state = 'done') AS success,
               (SELECT error FROM sync_runs WHERE environment = :e AND administration = :a AND entity = :n
                ORDER BY id DESC LIMIT 1) AS error
        """, {"e": environment, "a": administration, "n": entity})))
    return row["success"], row["error"]


def ended_syncs_of_everything(db: Database) -> list[Row]:
    """Each sync of everything (every administration, every entity) that ended, done or failed, since the
    environment's last one that ended well: `environment`, `finished_at` (datetime), `failed` (the administrations
    with a failed run, a list). What the sync-freshness probe judges beside the invoice product's own reports."""
    rows = db.query(
        "SELECT t.environment, t.finished_at, (SELECT json_group_array(DISTINCT r.administration) FROM sync_runs r "
        "WHERE r.task_id = t.id AND r.state = 'failed') AS failed FROM sync_tasks t "
        "WHERE t.state IN ('done', 'failed') AND t.administration IS NULL AND t.entities IS NULL "
        "AND t.finished_at >= coalesce((SELECT max(d.finished_at) FROM sync_tasks d WHERE d.environment = t.environment "
        "AND d.state = 'done' AND d.administration IS NULL AND d.entities IS NULL), '') ORDER BY t.finished_at")
    return [{**row, "finished_at": moment(row["finished_at"]), "failed": json.loads(row["failed"])} for row in rows]


# ---------------------------------------------------------------------------------------------
# Schedules


def sync_schedule(db: Database, environment: str) -> Row | None:
    rows = list(db.query("SELECT * FROM sync_schedules WHERE environment = ?", [environment]))
    return rows[0] if rows else None


def keep_sync_schedule(db: Database, environment: str, full_sync_day: int) -> Row:
    """The environment's schedule; `full_sync_day` is stored only the first time (drawn once, then kept)."""
    db.execute("INSERT OR IGNORE INTO sync_schedules (environment, full_sync_day) VALUES (?, ?)",
               [environment, full_sync_day])
    row = sync_schedule(db, environment)
    assert row is not None
    return row


def set_last_nightly(db: Database, environment: str, night: str) -> None:
    """`night`: the local date (ISO) whose nightly run was queued."""
    db.execute("UPDATE sync_schedules SET last_nightly = ? WHERE environment = ?", [night, environment])


# ---------------------------------------------------------------------------------------------
# Bookings, as far as the sync must know them


def bookings_waiting(db: Database, integration: str, environment: str, administration: str) -> int:
    """Actions queued or under way in one administration's lane: while any is, sync makes no call there."""
    return int(db.execute(
        "SELECT count(*) FROM actions WHERE finished_at IS NULL AND state IN ('queued', 'running') "
        "AND integration = ? AND environment = ? AND administration = ?",
        [integration, environment, administration]).fetchone()[0])


def bookings_delayed(db: Database, integration: str, environment: str) -> int:
    """Actions a kill switch holds in an environment: the replay goes before any sync."""
    return int(db.execute(
        "SELECT count(*) FROM actions WHERE finished_at IS NULL AND state = 'delayed' AND integration = ? "
        "AND environment = ?",
        [integration, environment]).fetchone()[0])


def last_action_id(db: Database) -> int:
    return int(db.execute("SELECT coalesce(max(id), 0) FROM actions").fetchone()[0])


def done_bookings_after(db: Database, integrations: Sequence[str], after_id: int) -> list[Action]:
    """Actions of these integrations done after id `after_id` (oldest first): each wants what it touched
    refreshed."""
    marks = ", ".join("?" * len(integrations))
    return [action_from_row(row) for row in db.query(
        f"SELECT * FROM actions WHERE integration IN ({marks}) AND id > ? AND state = 'done' ORDER BY id",
        [*integrations, after_id])]


def oldest_unsettled_action(db: Database, integrations: Sequence[str]) -> int | None:
    """The lowest id of an action of these integrations not yet final: done actions after the watermark are
    looked at again."""
    marks = ", ".join("?" * len(integrations))
    row = db.execute(f"SELECT min(id) FROM actions WHERE finished_at IS NULL AND integration IN ({marks})",
                     list(integrations)).fetchone()
    return None if row[0] is None else int(row[0])
