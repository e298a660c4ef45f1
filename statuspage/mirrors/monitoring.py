"""What monitoring shows of each mirror rule (the API and the console alike): its last run, the rows it inserted
and changed, what waits in the outbox (delayed by a kill switch among it), its errors; and a preview as documents.

The counts of writes are the outbox's: a rule's writes are actions of client `mirror:<rule>`, so "inserted" is its
`mirror_insert` actions that are done, "waiting" those queued, running or delayed, "failed" those failed or undone
(ever: the outbox keeps them). "errors" is the last run's: what it found wrong with rows as they stand now (writes
refused for good, keys several rows share, writes that failed after every try), each listed with its key and reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from integrations.base import ActionKind
from statuspage.core import storage
from statuspage.core.storage import Store
from statuspage.core.vocabulary import ActionState, MirrorMode, MirrorRunState, MirrorTrigger
from statuspage.mirrors.engine import PROBLEMS_KEPT, MirrorEngine, Preview, Problem, problems_of
from statuspage.mirrors.reconcile import Write
from statuspage.mirrors.rules import MirrorRule

LISTED = PROBLEMS_KEPT
"""How many writes of each state a rule's monitoring lists (the counts are whole)."""
WAITING = (ActionState.QUEUED, ActionState.RUNNING, ActionState.DELAYED)
ERRORS = (ActionState.FAILED, ActionState.UNDONE)


class End(msgspec.Struct):
    environment: str
    administration: str
    entity: str


class Run(msgspec.Struct):
    """One run: what it found and what it handed to the outbox."""

    id: int
    trigger: MirrorTrigger
    state: MirrorRunState
    started_at: datetime
    """When it was asked (queued) or began (running and after): UTC, as the sync API writes its times."""
    finished_at: datetime | None
    source_rows: int
    target_rows: int
    inserts: int
    """Inserts this run handed to the outbox."""
    changes: int
    """Changes this run handed to the outbox."""
    waiting: int
    """Rows to write whose earlier write is not done yet."""
    unchanged: int
    only_in_target: int
    source_without_key: int
    target_without_key: int
    """Target rows without a key (made by hand): never matched, never written."""
    duplicate_keys: int
    """Keys several source rows map to, or several target rows carry."""
    refused: int
    """Rows whose write the target refused for good, with the fields the source gives now: not sent again."""
    errors: int
    """What this run found wrong, row by row (refused, duplicate keys, writes failed after every try)."""
    problems: list[Problem]
    """The first 50 of those, with the row's key and the reason."""
    target_note: str | None
    """Why the target was not read again before this run, if it was not."""
    error: str | None
    """Why the run failed, or what it could not hand to the outbox."""


class RuleState(msgspec.Struct):
    """A rule, its last run, and its writes as the outbox holds them."""

    key: str
    name: str
    mode: MirrorMode
    source: End
    target: End
    identified_by: str
    fields: dict[str, str]
    last_run: Run | None
    inserted: int
    """Rows it inserted (inserts done)."""
    changed: int
    """Rows it changed (changes done)."""
    waiting: int
    """Writes queued, running or delayed."""
    delayed: int
    """Of those, held by a kill switch."""
    failed: int
    """Writes that failed or were undone, ever (the outbox keeps them)."""
    errors: int
    """What the last run found wrong, row by row: `last_run.problems` lists the first 50 with key and reason."""


class PendingWrite(msgspec.Struct):
    """A write in the outbox: its action (`GET /api/v1/actions/{action}`), the target key and name it writes."""

    action: int
    kind: ActionKind
    state: ActionState
    key: str | None
    name: str | None
    error: str | None
    """Why its last try failed, if it did."""
    not_before: datetime | None
    """A retry waits until then."""


class RuleDetail(RuleState):
    """`GET /api/v1/mirrors/{key}`: a rule's monitoring, its writes in the outbox (the first 50 of each list; the
    counts above are whole) and its recent runs, newest first."""

    writes_waiting: list[PendingWrite]
    """Queued or running, oldest first."""
    writes_delayed: list[PendingWrite]
    """Held by a kill switch, oldest first."""
    writes_failed: list[PendingWrite]
    """Failed or undone, newest first."""
    runs: list[Run]


class PlannedWrite(msgspec.Struct):
    key: str
    fields: dict[str, str | None]
    row: str | None = None
    """The target's id of the row a change is for (Visma.net: the customer number)."""
    before: dict[str, str | None] | None = None


class PreviewDocument(msgspec.Struct):
    """`GET /api/v1/mirrors/{key}/preview`: a run's reconciliation as it would be now, nothing written."""

    rule: str
    mode: MirrorMode
    source_read_at: datetime | None
    target_read_at: datetime | None
    """A run reads the target again first; the preview shows it as last read."""
    source_rows: int
    target_rows: int
    to_insert: int
    to_change: int
    unchanged: int
    waiting: int
    """Rows whose write an earlier run handed in and is not done yet."""
    sent: int
    """Rows written before that the target, as last read, does not show yet."""
    held: int
    """Rows whose earlier write failed: planned again once the target has been read again."""
    only_in_target: int
    source_without_key: int
    target_without_key: int
    duplicate_source_keys: list[str]
    duplicate_target_keys: list[str]
    refused: int
    """Rows whose write the target refused for good, with the fields the source gives now: not sent again."""
    inserts: list[PlannedWrite]
    """The first `limit` rows to insert, in source order."""
    changes: list[PlannedWrite]
    writes_waiting: list[PendingWrite]
    """The first `limit` writes earlier runs handed in that are queued or running, oldest first."""
    writes_delayed: list[PendingWrite]
    """The first `limit` of those held by a kill switch, oldest first."""
    problems: list[Problem]
    """The first `limit` of what is wrong with rows now (refused for good, duplicate keys, failed), key and reason."""


def run_of(row: dict[str, Any]) -> Run:
    """A run row as the API shows it (stored moments as aware datetimes)."""
    values = {name: row[name] for name in Run.__struct_fields__}
    values["started_at"], values["finished_at"] = storage.moment(row["started_at"]), storage.moment(row["finished_at"])
    values["problems"] = msgspec.json.decode(row["problems"]) if row["problems"] else []
    return msgspec.convert(values, Run)


def _listed(db: Any, rule: MirrorRule, states: tuple[ActionState, ...], limit: int, *, newest_first: bool = False
            ) -> list[PendingWrite]:
    return [_pending(row) for row in storage.pending_mirror_writes(
        db, rule.client, tuple(state.value for state in states), limit, newest_first=newest_first)]


def _pending(row: dict[str, Any]) -> PendingWrite:
    return msgspec.convert({"action": row["id"], "kind": row["kind"], "state": row["state"], "key": row["target_key"],
                            "name": row["name"], "error": row["error"],
                            "not_before": storage.moment(row["not_before"])}, PendingWrite)


def _end(end: Any) -> End:
    return End(end.environment, end.administration, end.entity)


async def rule_state(store: Store, rule: MirrorRule) -> RuleState:
    """`rule`'s monitoring."""
    return await store.read(_state, rule)


async def rule_detail(store: Store, rule: MirrorRule, runs: int) -> RuleDetail:
    """`rule`'s monitoring with its `runs` latest runs, newest first."""
    def read(db: Any) -> RuleDetail:
        return RuleDetail(**msgspec.structs.asdict(_state(db, rule)),
                          writes_waiting=_listed(db, rule, (ActionState.QUEUED, ActionState.RUNNING), LISTED),
                          writes_delayed=_listed(db, rule, (ActionState.DELAYED,), LISTED),
                          writes_failed=_listed(db, rule, ERRORS, LISTED, newest_first=True),
                          runs=[run_of(row) for row in storage.mirror_runs_of(db, rule.key, runs)])

    return await store.read(read)


def _state(db: Any, rule: MirrorRule) -> RuleState:
    last, counts = storage.latest_mirror_runs(db).get(rule.key), storage.mirror_write_counts(db, rule.client)
    settings = rule.settings

    def count(kinds: tuple[ActionKind, ...], states: tuple[ActionState, ...]) -> int:
        return sum(counts.get((kind.value, state.value), 0) for kind in kinds for state in states)

    both = (ActionKind.MIRROR_INSERT, ActionKind.MIRROR_UPDATE)
    return RuleState(
        key=rule.key, name=settings.name or rule.key, mode=settings.mode, source=_end(settings.source),
        target=_end(settings.target), identified_by=settings.identified_by, fields=dict(settings.fields),
        last_run=None if last is None else run_of(last),
        inserted=count((ActionKind.MIRROR_INSERT,), (ActionState.DONE,)),
        changed=count((ActionKind.MIRROR_UPDATE,), (ActionState.DONE,)),
        waiting=count(both, WAITING), delayed=count(both, (ActionState.DELAYED,)), failed=count(both, ERRORS),
        errors=0 if last is None else int(last["errors"]),
    )


def _planned(write: Write) -> PlannedWrite:
    return PlannedWrite(write.key, dict(write.fields), write.row, write.before)


async def preview_of(mirrors: MirrorEngine, key: str, limit: int) -> PreviewDocument:
    """The rule's preview (`MirrorEngine.preview`) with the writes waiting in the outbox, lists cut at `limit`."""
    preview = await mirrors.preview(key)

    def read(db: Any) -> tuple[list[PendingWrite], list[PendingWrite]]:
        return _listed(db, preview.rule, (ActionState.QUEUED, ActionState.RUNNING), limit), \
            _listed(db, preview.rule, (ActionState.DELAYED,), limit)

    waiting, delayed = await mirrors.store.read(read)
    return preview_document(preview, limit, waiting, delayed)


def preview_document(preview: Preview, limit: int, waiting: list[PendingWrite], delayed: list[PendingWrite]
                     ) -> PreviewDocument:
    """The preview, its lists cut at `limit` rows each (the counts are whole); `waiting` and `delayed` the writes in
    the outbox, as listed."""
    found, handover = preview.plan, preview.handover
    inserts = [item.write for item in handover.outgoing if item.kind is ActionKind.MIRROR_INSERT]
    changes = [item.write for item in handover.outgoing if item.kind is ActionKind.MIRROR_UPDATE]
    return PreviewDocument(
        rule=preview.rule.key, mode=preview.rule.settings.mode, source_read_at=preview.source_read_at,
        target_read_at=preview.target_read_at, source_rows=found.source_rows, target_rows=found.target_rows,
        to_insert=len(inserts), to_change=len(changes), unchanged=found.unchanged, waiting=len(handover.waiting),
        sent=len(handover.sent), held=len(handover.held), only_in_target=found.only_in_target,
        source_without_key=found.source_without_key, target_without_key=found.target_without_key,
        duplicate_source_keys=list(dict.fromkeys(found.duplicate_source_keys))[:limit],
        duplicate_target_keys=found.duplicate_target_keys[:limit],
        refused=len(handover.refused), inserts=[_planned(write) for write in inserts[:limit]],
        changes=[_planned(write) for write in changes[:limit]], writes_waiting=waiting[:limit],
        writes_delayed=delayed[:limit], problems=problems_of(preview)[:limit],
    )
