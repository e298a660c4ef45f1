"""Mirror rules (issue 16): their runs, the rows they reconcile (read from the master-data mirror) and the writes
they handed to the outbox (actions of client `mirror:<rule>`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from sqlite_utils import Database

from integrations.base import ActionKind
from statuspage.core.storage.engine import Row, iso
from statuspage.core.vocabulary import ActionState, MirrorTrigger

RUN_COUNTS = ("source_rows", "target_rows", "inserts", "changes", "waiting", "unchanged", "only_in_target",
              "source_without_key", "target_without_key", "duplicate_keys", "refused", "errors")


def live_rows(db: Database, environment: str, administration: str, entity: str) -> list[tuple[str, str]]:
    """(key, content JSON) of every live mirrored row of one entity, in key order."""
    return db.execute(
        "SELECT key, content FROM mirror_rows WHERE environment = ? AND administration = ? AND entity = ? "
        "AND deleted_at IS NULL ORDER BY key", [environment, administration, entity]).fetchall()


def latest_done_sync_run(db: Database, environment: str, administration: str, entity: str) -> Row | None:
    """The newest finished (done) sync run of one entity: what a mirror run follows ("after each sync")."""
    rows = list(db.query(
        "SELECT * FROM sync_runs WHERE environment = ? AND administration = ? AND entity = ? AND state = 'done' "
        "ORDER BY id DESC LIMIT 1", [environment, administration, entity]))
    return rows[0] if rows else None


def insert_mirror_run(db: Database, *, rule: str, trigger: str, state: str, now: datetime,
                      source_sync_run: int | None) -> int:
    cursor = db.execute(
        "INSERT INTO mirror_runs (rule, trigger, state, started_at, source_sync_run) VALUES (?, ?, ?, ?, ?)",
        [rule, trigger, state, iso(now), source_sync_run])
    return int(cursor.lastrowid or 0)


def queued_mirror_run(db: Database, rule: str, trigger: MirrorTrigger) -> int | None:
    """The id of the rule's oldest queued run, if one waits; asked again by hand, that run becomes a manual one, as it
    now also carries out the operator's request."""
    row = db.execute("SELECT min(id) FROM mirror_runs WHERE rule = ? AND state = 'queued'", [rule]).fetchone()
    if row[0] is None:
        return None
    if trigger is MirrorTrigger.MANUAL:
        db.execute("UPDATE mirror_runs SET trigger = ? WHERE id = ?", [trigger.value, row[0]])
    return int(row[0])


def claim_queued_mirror_run(db: Database, now: datetime) -> Row | None:
    """The oldest queued run, now running (claimed in this transaction: no other process carries it out)."""
    rows = list(db.query(
        "UPDATE mirror_runs SET state = 'running', started_at = ? "
        "WHERE id = (SELECT min(id) FROM mirror_runs WHERE state = 'queued') RETURNING *", [iso(now)]))
    return rows[0] if rows else None


def fail_unfinished_mirror_runs(db: Database, now: datetime, error: str) -> int:
    """Runs left running by a stopped process become failed, with `error`; how many there were."""
    return db.execute("UPDATE mirror_runs SET state = 'failed', finished_at = ?, error = ? WHERE state = 'running'",
                      [iso(now), error]).rowcount


def finish_mirror_run(db: Database, run_id: int, *, state: str, now: datetime, counts: Mapping[str, int],
                      target_note: str | None = None, error: str | None = None, problems: str | None = None) -> None:
    """A run's outcome: `counts` by the names of `RUN_COUNTS`; `problems` JSON, the first of what it found wrong."""
    unknown = set(counts) - set(RUN_COUNTS)
    if unknown:
        raise ValueError(f"mirror runs count no {sorted(unknown)}")
    sets = ", ".join(f"{name} = :{name}" for name in counts)
    db.execute(f"UPDATE mirror_runs SET state = :state, finished_at = :now, target_note = :note, error = :error, "
               f"problems = :problems{', ' + sets if sets else ''} WHERE id = :id",
               {**counts, "state": state, "now": iso(now), "note": target_note, "error": error, "problems": problems,
                "id": run_id})


def latest_mirror_runs(db: Database) -> dict[str, Row]:
    """Each rule's newest run, by rule."""
    return {row["rule"]: row for row in db.query(
        "SELECT * FROM mirror_runs WHERE id IN (SELECT max(id) FROM mirror_runs GROUP BY rule)")}


def mirror_runs_of(db: Database, rule: str, limit: int) -> list[Row]:
    """A rule's runs, newest first."""
    return list(db.query("SELECT * FROM mirror_runs WHERE rule = ? ORDER BY id DESC LIMIT ?", [rule, limit]))


class MirrorWrite(msgspec.Struct, frozen=True, kw_only=True):
    """A write a mirror rule handed to the outbox: its action, with the target's key it writes (`target_key`)."""

    id: int
    idempotency_key: str
    kind: ActionKind
    state: ActionState
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    target_key: str | None


def mirror_writes(db: Database, client: str) -> list[MirrorWrite]:
    """Every write a rule handed to the outbox (its client's actions), oldest first."""
    return [msgspec.convert(row, MirrorWrite, strict=False) for row in db.query(
        "SELECT a.id, a.idempotency_key, a.kind, a.state, a.error, a.attempts, a.created_at, a.updated_at, "
        "json_extract(r.payload, '$.key') AS target_key FROM actions a JOIN action_requests r ON r.action_id = a.id "
        "WHERE a.client = ? ORDER BY a.id", [client])]


def refused_mirror_writes(db: Database, client: str) -> list[Row]:
    """A rule's failed and undone writes: `idempotency_key`, `error`, the `cause` of the move that ended them, and the
    `fields` they were to write (JSON). The dispatcher ends an action by a move of its own (never in a run of moves),
    so the cause is found by the action's own moves (`action_moves_by_action`), not through the `action_transitions`
    view, which would scan every run of moves for each action."""
    return list(db.query(
        "SELECT a.idempotency_key, a.error, json_extract(r.payload, '$.fields') AS fields, "
        "(SELECT m.cause FROM action_moves m WHERE m.first_action_id = a.id AND m.to_state = a.state "
        "ORDER BY m.id DESC LIMIT 1) AS cause "
        "FROM actions a JOIN action_requests r ON r.action_id = a.id WHERE a.client = ? "
        "AND a.state IN ('failed', 'undone')", [client]))


def pending_mirror_writes(db: Database, client: str, states: tuple[str, ...], limit: int, *,
                          newest_first: bool = False) -> list[Row]:
    """The first `limit` of a rule's writes in `states`, oldest (or newest) first: `id`, `kind`, `state`, `error`,
    `not_before`, `updated_at`, and from the payload `target_key` and `name` (the name it writes, if any)."""
    marks = ", ".join("?" for _ in states)
    return list(db.query(
        "SELECT a.id, a.kind, a.state, a.error, a.not_before, a.updated_at, json_extract(r.payload, '$.key') AS "
        "target_key, json_extract(r.payload, '$.fields.name') AS name FROM actions a "
        f"JOIN action_requests r ON r.action_id = a.id WHERE a.client = ? AND a.state IN ({marks}) ORDER BY a.id "
        f"{'DESC' if newest_first else ''} LIMIT ?", [client, *states, limit]))


def mirror_write_counts(db: Database, client: str) -> dict[tuple[str, str], int]:
    """(kind, state) -> how many of a rule's writes are there."""
    return {(kind, state): n for kind, state, n in db.execute(
        "SELECT kind, state, count(*) FROM actions WHERE client = ? GROUP BY kind, state", [client]).fetchall()}


def as_counts(row: Mapping[str, Any]) -> dict[str, int]:
    """A run row's counts, by name."""
    return {name: int(row[name]) for name in RUN_COUNTS}
