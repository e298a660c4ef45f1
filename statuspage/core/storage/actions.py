"""The outbox of invoice actions: actions, their transitions, kill switches, replays, misroutes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from sqlite_utils import Database

from integrations.base import ActionKind, ActionResult
from statuspage.core.lease import claim_lapsed, is_gone
from statuspage.core.storage.engine import Row, inserted_id, iso, json_loads_or_none, moment
from statuspage.core.vocabulary import ActionState, SwitchScope

# ---------------------------------------------------------------------------------------------
# The outbox of invoice actions


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """An invoice action as the outbox keeps it; a row of `actions` (the order of arrival is `id`)."""

    id: int
    client: str
    idempotency_key: str
    integration: str
    environment: str
    administration: str
    kind: ActionKind
    state: ActionState
    attempts: int
    """Tries begun; a try after the first looks the action up before sending it again."""
    not_before: datetime | None
    """A retry waits until then."""
    replay_id: int | None
    """The replay that released it from delayed, if any."""
    result: ActionResult | None
    """What the accounting system said it did (a misroute's too: where it landed)."""
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    """When it reached a final state; None while open (queued, running, delayed)."""
    claimed_by: str | None
    """The process whose claim a running action is under (core/lease.py), until `claim_until`."""
    claim_until: datetime | None


class RequestedAction(Action, frozen=True, kw_only=True):
    """An action with what was asked: `payload` (the kind's JSON document, decoded) and its `fingerprint`, to tell a
    repeat from a conflicting reuse of a key. Stored apart (`action_requests`, migration m018)."""

    fingerprint: str
    payload: dict[str, Any]
    """Free-form until the integration reads it as its kind's payload type (`integrations.payloads`)."""


class ActionMove(msgspec.Struct, frozen=True, kw_only=True):
    """One state change of an action: `from_state` None when it was received."""

    at: datetime
    from_state: ActionState | None
    to_state: ActionState
    cause: str


# The rows below are read with `msgspec.convert(..., strict=False)`: it takes the columns as stored (ISO 8601 text to
# aware datetimes, 0/1 to bools, text to the vocabulary's enums) once the JSON columns are decoded.


def action_from_row(row: Row) -> Action:
    """An `actions` row, as read, as an Action."""
    return msgspec.convert({**row, "result": json_loads_or_none(row["result"])}, Action, strict=False)


def requested_action_from_row(row: Row) -> RequestedAction:
    """A row of `ACTION_ROWS` (the action and what was asked) as a RequestedAction."""
    return msgspec.convert({**row, "result": json_loads_or_none(row["result"]), "payload": json.loads(row["payload"])},
                           RequestedAction, strict=False)


# An action's row as the rest of the service reads it: the action and what was asked (`fingerprint`, `payload`).
# They are stored apart (migration m018) so that the rows a kill switch rewrites stay narrow.
ACTION_ROWS = "SELECT a.*, r.fingerprint, r.payload FROM actions a JOIN action_requests r ON r.action_id = a.id"

# An open action (queued, running or delayed) has no `finished_at`; the index of open actions (`actions_open`,
# per lane in arrival order) needs the condition spelled out to be used.
OPEN = "a.finished_at IS NULL"


def action_by_key(db: Database, client: str, key: str) -> RequestedAction | None:
    rows = list(db.query(f"{ACTION_ROWS} WHERE a.client = ? AND a.idempotency_key = ?", [client, key]))
    return requested_action_from_row(rows[0]) if rows else None


def key_used_by_another_client(db: Database, client: str, key: str) -> bool:
    """Whether a client other than `client` handed in an action under `key`."""
    return db.execute("SELECT 1 FROM actions WHERE idempotency_key = ? AND client != ? LIMIT 1",
                      [key, client]).fetchone() is not None


def action_count(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM actions").fetchone()[0])


def action(db: Database, action_id: int) -> RequestedAction | None:
    rows = list(db.query(f"{ACTION_ROWS} WHERE a.id = ?", [action_id]))
    return requested_action_from_row(rows[0]) if rows else None


class NewAction(msgspec.Struct, frozen=True, kw_only=True):
    """An action handed in, to be stored: open (`state` queued, or delayed while a switch above it is off), with what
    was asked (`payload`, the JSON text as handed in, and its `fingerprint`)."""

    client: str
    idempotency_key: str
    fingerprint: str
    integration: str
    environment: str
    administration: str
    kind: ActionKind
    payload: str
    state: ActionState


def insert_action(db: Database, new: NewAction, now: datetime, cause: str) -> int:
    """Store a new action; returns its id (its place in the order of arrival)."""
    cursor = db.execute(
        """
        INSERT INTO actions (client, idempotency_key, integration, environment, administration, kind, state,
                             created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [new.client, new.idempotency_key, new.integration, new.environment, new.administration, new.kind, new.state,
         iso(now), iso(now)],
    )
    action_id = inserted_id(cursor)
    db.execute("INSERT INTO action_requests (action_id, fingerprint, payload) VALUES (?, ?, ?)",
               [action_id, new.fingerprint, new.payload])
    _write_move(db, action_id, action_id, now, None, new.state, cause)
    return action_id


def move_action(
    db: Database, action_id: int, *, expected: str, to: str, now: datetime, cause: str, **fields: Any
) -> bool:
    """Move one action on, only if it is still in `expected`; the transition is written with it. Moving into
    a final state (ActionState.is_final) sets `finished_at`: the action leaves the index of open actions."""
    assignments = "".join(f", {name} = :{name}" for name in fields)
    if ActionState(to).is_final:
        assignments += ", finished_at = :now"
    cursor = db.execute(
        f"UPDATE actions SET state = :to, updated_at = :now{assignments} WHERE id = :id AND state = :expected",
        {"to": to, "now": iso(now), "id": action_id, "expected": expected, **fields},
    )
    if cursor.rowcount != 1:
        return False
    _write_move(db, action_id, action_id, now, expected, to, cause)
    return True


def _write_move(db: Database, first: int, last: int, now: datetime, from_state: str | None, to: str, cause: str) -> None:
    """Write down that actions `first` through `last` (ids) moved from `from_state` (None: received) to `to`."""
    db.execute("INSERT INTO action_moves (first_action_id, last_action_id, at, from_state, to_state, cause) "
               "VALUES (?, ?, ?, ?, ?, ?)", [first, last, iso(now), from_state, to, cause])


def runs(ids: list[int]) -> list[tuple[int, int]]:
    """Ascending `ids` as runs of consecutive ids, each (first, last): [1, 2, 3, 7] is [(1, 3), (7, 7)]."""
    found: list[tuple[int, int]] = []
    for action_id in ids:
        if found and action_id == found[-1][1] + 1:
            found[-1] = (found[-1][0], action_id)
        else:
            found.append((action_id, action_id))
    return found


def move_actions_in_scope(
    db: Database, *, integration: str, environment: str | None, from_state: str, to: str,
    now: datetime, cause: str, replay_id: int | None = None, except_environments: tuple[str, ...] = (),
) -> int:
    """Move every open action of an integration (or of one environment's connection) from `from_state` to
    `to`, an open state too (a switch: queued to delayed, delayed to queued), as a set: one UPDATE moves them,
    and their transitions are written as one row per run of consecutive ids (`action_moves`). With
    `replay_id` the moved actions join that replay. Returns how many moved.

    `except_environments`: environments whose own switch is still off; their actions stay where they are.
    Raises ValueError when `from_state` or `to` is final: a final action never moves again.
    """
    if ActionState(from_state).is_final or ActionState(to).is_final:
        raise ValueError(f"a switch moves open actions between open states, not {from_state} to {to}")
    # The rows are visited in id order from the integration's oldest open action on, a plain walk over the
    # table's tail where the backlog sits: through the index of open actions each row would be a seek, and
    # its lane order would visit every page once per administration. No index holds `state` (m018), so the
    # UPDATE rewrites the rows and nothing else.
    where = ("a.id >= (SELECT min(o.id) FROM actions o WHERE o.finished_at IS NULL AND o.integration = ?) "
             f"AND {OPEN} AND a.integration = ? AND a.state = ?")
    params: list[Any] = [integration, integration, from_state]
    if environment is not None:
        where += " AND a.environment = ?"
        params.append(environment)
    for excepted in except_environments:
        where += " AND a.environment != ?"
        params.append(excepted)
    # The ids first, as one JSON array (a row per id would cost more than the UPDATE); the caller's write
    # transaction holds the file, so the UPDATE below moves exactly these.
    found = db.execute(f"SELECT json_group_array(a.id) FROM actions a NOT INDEXED WHERE {where}", params).fetchone()[0]
    moving = sorted(json.loads(found))
    if not moving:
        return 0
    # Only a replay assigns `replay_id`: an UPDATE that assigns it touches `actions_by_replay` for every row.
    replay = ", replay_id = ?" if replay_id is not None else ""
    cursor = db.execute(
        f"UPDATE actions AS a NOT INDEXED SET state = ?, updated_at = ?, not_before = NULL{replay} WHERE {where}",
        [to, iso(now), *([replay_id] if replay_id is not None else []), *params],
    )
    db.conn.executemany("INSERT INTO action_moves (first_action_id, last_action_id, at, from_state, to_state, cause) "
                   "VALUES (?, ?, ?, ?, ?, ?)", [(first, last, iso(now), from_state, to, cause)
                                                  for first, last in runs(moving)])
    return cursor.rowcount


def lane_heads(db: Database, now: datetime, closed_scopes: list[str], limit: int) -> list[RequestedAction]:
    """The first open action of each administration (its lane), when it is queued and due, and its connection's
    credentials were not refused (it waits, queued, for a person to connect it again).

    An administration's actions go strictly in arrival order: a later action never overtakes an earlier
    one that waits, runs or is held, so a booking is always done before its release for payment.
    """
    # Lane by lane through the index of open actions, each lane's first entry its head: a seek per lane,
    # however many actions wait, so a large backlog held as delayed (a switch off) costs nothing here. The
    # next lane is sought column by column (a row-value comparison would walk through the current lane).
    rows = db.query(
        f"""
        WITH RECURSIVE heads(id, integration, environment, administration) AS (
            SELECT * FROM (SELECT a.id, a.integration, a.environment, a.administration FROM actions a WHERE {OPEN}
                           ORDER BY a.integration, a.environment, a.administration, a.id LIMIT 1)
            UNION ALL
            SELECT n.id, n.integration, n.environment, n.administration FROM heads h JOIN actions n ON n.id = coalesce(
                (SELECT a.id FROM actions a WHERE {OPEN} AND a.integration = h.integration
                   AND a.environment = h.environment AND a.administration > h.administration
                 ORDER BY a.administration, a.id LIMIT 1),
                (SELECT a.id FROM actions a WHERE {OPEN} AND a.integration = h.integration
                   AND a.environment > h.environment
                 ORDER BY a.environment, a.administration, a.id LIMIT 1),
                (SELECT a.id FROM actions a WHERE {OPEN} AND a.integration > h.integration
                 ORDER BY a.integration, a.environment, a.administration, a.id LIMIT 1))
        )
        {ACTION_ROWS} JOIN heads ON a.id = heads.id
        WHERE a.state = 'queued' AND (a.not_before IS NULL OR a.not_before <= ?)
          AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.environment = a.environment
                            AND c.integration = a.integration AND c.refused_at IS NOT NULL)
        ORDER BY a.id LIMIT ?
        """,
        [iso(now), limit],
    )
    closed = set(closed_scopes)
    return [requested_action_from_row(row) for row in rows if SwitchScope(row["integration"]).key not in closed
            and SwitchScope(row["integration"], row["environment"]).key not in closed]


def actions_page(db: Database, *, filters: dict[str, str], after_id: int, limit: int) -> list[RequestedAction]:
    """Actions oldest first after `after_id`, `filters` (column: value) exact, with what was asked."""
    where = ["a.id > :after_id"] + [f"a.{name} = :{name}" for name in filters]
    return [requested_action_from_row(row) for row in db.query(
        f"{ACTION_ROWS} WHERE {' AND '.join(where)} ORDER BY a.id LIMIT :limit",
        {**filters, "after_id": after_id, "limit": limit},
    )]


ACTION_FILTERS = ("state", "environment", "administration")


def actions_newest_first(db: Database, *, filters: dict[str, str], before_id: int | None, limit: int
                         ) -> list[RequestedAction]:
    """Actions newest first with what was asked, for the console: `filters` on state, environment and
    administration (exact), the page starting below `before_id` (None: the newest)."""
    unknown = set(filters) - set(ACTION_FILTERS)
    if unknown:
        raise ValueError(f"actions cannot be filtered on {sorted(unknown)}")
    where = [f"a.{name} = :{name}" for name in filters] + (["a.id < :before_id"] if before_id is not None else [])
    return [requested_action_from_row(row) for row in db.query(
        f"{ACTION_ROWS} {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY a.id DESC LIMIT :limit",
        {**filters, "before_id": before_id, "limit": limit},
    )]


def action_lanes(db: Database) -> list[tuple[str, str]]:
    """Each (environment, administration) that has actions, for the console's filters."""
    return [(environment, administration) for environment, administration in db.execute(
        "SELECT DISTINCT environment, administration FROM actions ORDER BY environment, administration")]


def transitions_of(db: Database, action_id: int) -> list[ActionMove]:
    """Every state change of an action, oldest first: its own moves and the runs of moves it was part of."""
    return [msgspec.convert(row, ActionMove, strict=False) for row in db.query(
        """
        SELECT at, from_state, to_state, cause FROM (
            SELECT id, at, from_state, to_state, cause FROM action_moves WHERE first_action_id = :id
            UNION ALL
            SELECT id, at, from_state, to_state, cause FROM action_moves
            WHERE first_action_id < last_action_id AND last_action_id >= :id AND first_action_id < :id
        ) ORDER BY id
        """, {"id": action_id})]


def stuck_running(db: Database, now: datetime) -> list[RequestedAction]:
    """Running actions whose claim lapsed at `now` (core/lease.py, `claim_lapsed`): their process died
    mid-call, so their outcome is unknown. A live process's claims are left alone."""
    rows = [requested_action_from_row(row) for row in db.query(f"{ACTION_ROWS} WHERE a.state = 'running'")]
    return [row for row in rows if claim_lapsed(row.claim_until, now, holder_gone=is_gone(row.claimed_by))]


def renew_action_claims(db: Database, action_ids: list[int], holder: str, until: datetime) -> int:
    """Extend `holder`'s claims on the running actions `action_ids` to `until`; returns how many it still held."""
    if not action_ids:
        return 0
    marks = ", ".join("?" * len(action_ids))
    cursor = db.execute(f"UPDATE actions SET claim_until = ? WHERE state = 'running' AND claimed_by = ? AND id IN ({marks})",
                        [iso(until), holder, *action_ids])
    return cursor.rowcount


class KillSwitch(msgspec.Struct, frozen=True, kw_only=True):
    """A kill switch as last flipped; a row of `switches` (a scope never flipped has none: it is on)."""

    scope: SwitchScope
    enabled: bool
    reason: str
    changed_by: str
    changed_at: datetime
    incident_id: str | None
    """The incident opened (or drafted) with it going off, until it goes on again."""


def switch_rows(db: Database) -> list[KillSwitch]:
    """Every switch ever flipped, in the order of their scope keys."""
    return [msgspec.convert({**row, "scope": SwitchScope.parse(row["scope"])}, KillSwitch, strict=False)
            for row in db.query("SELECT * FROM switches ORDER BY scope")]


def set_switch(db: Database, scope: str, *, enabled: bool, reason: str, changed_by: str, now: datetime) -> None:
    db.execute(
        """
        INSERT INTO switches (scope, enabled, reason, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (scope) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason,
            changed_by = excluded.changed_by, changed_at = excluded.changed_at
        """,
        [scope, int(enabled), reason, changed_by, iso(now)],
    )


def insert_replay(db: Database, scope: str, started_by: str, now: datetime) -> int:
    cursor = db.execute("INSERT INTO replays (scope, started_by, started_at, total) VALUES (?, ?, ?, 0)",
                        [scope, started_by, iso(now)])
    return inserted_id(cursor)


def set_replay_total(db: Database, replay_id: int, total: int) -> None:
    db.execute("UPDATE replays SET total = ? WHERE id = ?", [total, replay_id])


def set_switch_incident(db: Database, scope: str, incident_id: str | None) -> None:
    """Remember the incident opened (or drafted) with a switch going off; None forgets it."""
    db.execute("UPDATE switches SET incident_id = ? WHERE scope = ?", [incident_id, scope])


def link_replay_incident(db: Database, replay_id: int, incident_id: str, resolved_texts: dict[str, str]) -> None:
    """The incident to resolve when the replay has nothing left, and the resolving update per language."""
    db.execute("UPDATE replays SET incident_id = ?, resolved_texts = ? WHERE id = ?",
               [incident_id, json.dumps(resolved_texts, ensure_ascii=False), replay_id])


class ReplayRun(msgspec.Struct, frozen=True, kw_only=True):
    """One replay: the actions a switch going on released, `total` of them; a row of `replays`."""

    id: int
    scope: SwitchScope
    started_by: str
    started_at: datetime
    total: int
    finished_at: datetime | None
    """When nothing was left of it, or the switch went off again; None while under way."""
    incident_id: str | None
    """The incident to resolve when it has nothing left, with `resolved_texts` ({language: text})."""
    resolved_texts: dict[str, str]


class UnfinishedReplay(ReplayRun, frozen=True, kw_only=True):
    """A replay under way, with `left`: its actions not final yet."""

    left: int


R = TypeVar("R", bound=ReplayRun)


def _replay(row: Row, kind: type[R]) -> R:
    return msgspec.convert({**row, "scope": SwitchScope.parse(row["scope"]),
                            "resolved_texts": json_loads_or_none(row["resolved_texts"]) or {}}, kind, strict=False)


def unfinished_replays(db: Database, scope: str | None = None) -> list[UnfinishedReplay]:
    """Replays not yet finished, of one scope (key) or of all, oldest first."""
    return [_replay(row, UnfinishedReplay) for row in db.query(
        f"SELECT r.*, (SELECT count(*) FROM actions a WHERE a.replay_id = r.id AND {OPEN}) AS left "
        "FROM replays r WHERE r.finished_at IS NULL" + (" AND r.scope = ?" if scope else "") + " ORDER BY r.id",
        [scope] if scope else [])]


def finish_replay(db: Database, replay_id: int, now: datetime) -> None:
    db.execute("UPDATE replays SET finished_at = ? WHERE id = ? AND finished_at IS NULL", [iso(now), replay_id])


def replay_last_handled(db: Database, replay_id: int) -> datetime | None:
    """When the replay's last action reached a final state, or None."""
    row = next(iter(db.query(
        "SELECT max(finished_at) AS at FROM actions WHERE replay_id = ? AND finished_at IS NOT NULL "
        "AND state IN ('done', 'undone', 'failed')",
        [replay_id])))
    return moment(row["at"])


def latest_replay(db: Database, scope: str) -> ReplayRun | None:
    """The latest replay of the switch of `scope` (its key)."""
    rows = list(db.query("SELECT * FROM replays WHERE scope = ? ORDER BY id DESC LIMIT 1", [scope]))
    return _replay(rows[0], ReplayRun) if rows else None


def latest_replay_of_integration(db: Database, integration: str) -> ReplayRun | None:
    """The latest replay of the integration's own switch or of any of its connections' switches."""
    rows = list(db.query(
        "SELECT * FROM replays WHERE scope = :whole OR (scope LIKE 'connection:%' AND substr(scope, -length(:tail)) = :tail) "
        "ORDER BY id DESC LIMIT 1", {"whole": SwitchScope(integration).key, "tail": f":{integration}"}))
    return _replay(rows[0], ReplayRun) if rows else None


def replay_counts(db: Database, replay_id: int) -> dict[str, int]:
    return {row["state"]: row["n"] for row in db.query(
        "SELECT state, count(*) AS n FROM actions WHERE replay_id = ? GROUP BY state", [replay_id])}


def replay_done_since(db: Database, replay_id: int, since: datetime) -> int:
    return next(db.query(
        "SELECT count(*) AS n FROM actions WHERE replay_id = ? AND finished_at >= ? "
        "AND state IN ('done', 'undone', 'failed')", [replay_id, iso(since)]))["n"]


class DelayedActions(msgspec.Struct, frozen=True, kw_only=True):
    """The delayed actions of one administration: how many, and when the oldest arrived."""

    environment: str
    administration: str
    actions: int
    oldest: datetime


class Backlog(msgspec.Struct, frozen=True, kw_only=True):
    """The open actions of one integration in one state: how many, and when the oldest arrived."""

    integration: str
    state: ActionState
    actions: int
    oldest: datetime


def delayed_by_administration(db: Database, integration: str, environment: str | None) -> list[DelayedActions]:
    """The delayed actions of an integration (or of one environment's connection to it), per administration."""
    return [msgspec.convert(row, DelayedActions, strict=False) for row in db.query(
        """
        SELECT environment, administration, count(*) AS actions, min(created_at) AS oldest
        FROM actions WHERE finished_at IS NULL AND integration = :integration AND state = 'delayed'
          AND (:environment IS NULL OR environment = :environment)
        GROUP BY environment, administration ORDER BY environment, administration
        """,
        {"integration": integration, "environment": environment},
    )]


def backlog(db: Database) -> list[Backlog]:
    """The open actions per integration and state."""
    return [msgspec.convert(row, Backlog, strict=False) for row in db.query(
        "SELECT integration, state, count(*) AS actions, min(created_at) AS oldest FROM actions "
        "WHERE finished_at IS NULL GROUP BY integration, state")]


class Misrouted(msgspec.Struct, frozen=True, kw_only=True):
    """A booking that landed in another administration than asked (`administration_booked`, as entry `entry_number`,
    `entry_id`, for `amount`): what support needs to repair the books. A row of `misroutes`; `id` 0 before it is
    stored."""

    id: int = 0
    action_id: int
    integration: str
    environment: str
    administration_asked: str
    administration_booked: str
    entry_number: str | None
    entry_id: str | None
    amount: float | None
    at: datetime


def insert_misroute(db: Database, misrouted: Misrouted) -> None:
    db.execute("INSERT INTO misroutes (action_id, integration, environment, administration_asked, administration_booked, "
               "entry_number, entry_id, amount, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [misrouted.action_id, misrouted.integration, misrouted.environment, misrouted.administration_asked,
                misrouted.administration_booked, misrouted.entry_number, misrouted.entry_id, misrouted.amount,
                iso(misrouted.at)])


def misroute_rows(db: Database) -> list[Misrouted]:
    """Every misroute, in the order they were found."""
    return [msgspec.convert(row, Misrouted, strict=False) for row in db.query("SELECT * FROM misroutes ORDER BY id")]


def callback_of(db: Database, client: str) -> Row | None:
    rows = list(db.query("SELECT * FROM subscribers WHERE client = ? AND unsubscribed_at IS NULL", [client]))
    return rows[0] if rows else None


def draft_incidents(db: Database) -> list[Row]:
    return list(db.query("SELECT * FROM incidents WHERE draft = 1 ORDER BY created_at DESC"))


def publish_incident(db: Database, incident_id: str, now: datetime) -> None:
    db.execute("UPDATE incidents SET draft = 0, created_at = ?, started_at = ?, updated_at = ? WHERE id = ?",
               [iso(now), iso(now), iso(now), incident_id])
    db.execute("UPDATE incident_updates SET created_at = ?, updated_at = ?, display_at = ? WHERE incident_id = ?",
               [iso(now), iso(now), iso(now), incident_id])


