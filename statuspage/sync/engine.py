"""The sync engine: runs queued sync tasks against Exact Online, page by page, bookings always first.

Four kinds of sync (seed 002), all tasks in one queue (`sync_tasks`), run oldest first, one at a time:

- on send: after a booking is done, an incremental read of its administration's transaction lines and
  relations: the booked entry and the relation it used (seed 002, "automatische synchronisatie").
- nightly: an incremental sync of every administration, inside the environment's window (default 01:00-06:00
  page time; seed 000: done before the morning's bookings).
- monthly: on the environment's day, drawn once at random and stored, the nightly run is a full sync.
- manual: `POST /api/v1/sync-tasks` or "Sync now" in the console; the same task asked twice while queued is one.

Reads (integrations/exact_online/sync.py, after Exact's Sync API documentation):

- incremental: `sync/...` from the stored Timestamp cursor, `Modified` reads from the stored ModifiedCursor for
  entities without a sync endpoint, then `sync/Deleted` from the division's cursor for tombstones. Each page is
  committed with its cursor in one transaction, so a stopped sync resumes where it was.
- full: every row into an in-memory staging set, reconciled with the mirror (`reconcile`) and swapped in with
  the new cursor in one transaction: a full sync that fails or is killed leaves the mirror as it was.

Bookings first (DESIGN.md): before every page the engine waits while the kill switch above the administration
is off (paused by switch), while actions are delayed in the environment (the replay goes first), while a
booking is queued or under way in the administration's lane, and while the budget holds sync back
(`budget.SyncBudget`: the call budget's lowest class, never the bookings' reserve). Environments with
`profile = "scan-book-archive"` never read payments (seed 000).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec

from integrations.base import (
    AuthorizationError,
    ConnectorError,
    NoAccess,
    RateLimited,
    RemoteError,
    TransientError,
)
from integrations.budget import CallClass
from integrations.call_budget import calling_as
from integrations.exact_online.sync import (
    ENTITIES,
    FIRST_TIMESTAMP,
    EntityDef,
    MasterDataReader,
    ModifiedCursor,
    ReadBy,
)
from statuspage.actions import switches
from statuspage.core import storage
from statuspage.core.clock import Clock
from statuspage.core.operation import Refused
from statuspage.core.settings import EnvironmentSettings, Settings
from statuspage.core.storage import MirrorRecord, Store
from statuspage.core.vocabulary import SyncKind, SyncProfile, SyncState, SyncTrigger
from statuspage.sync import schedule
from statuspage.sync.budget import SyncBudget
from statuspage.sync.reconcile import classify, reconcile, record_of

log = logging.getLogger("statuspage.sync")

INTEGRATION = "exact-online"
DELETED = "deleted"
"""The cursor (and run) name of a division's `sync/Deleted` feed."""
ON_SEND_ENTITIES = ("transaction_lines", "accounts")
"""What a booking touched: its entry's lines and the relation it used."""
GATE_POLL_SECONDS = 0.1
"""How often a paused or waiting sync looks again (a booking's wait for sync is at most one page in flight)."""

Readers = Callable[[str], Awaitable[MasterDataReader]]
"""The master-data reader of an environment's connection."""


def entities_for(profile: SyncProfile, asked: Sequence[str] | None = None) -> list[str]:
    """The entities a sync of an environment reads, in ENTITIES order. Seed 000: Scan–Book–Archive environments
    have no approval flow, so payments are never read for them. `Refused` for an unknown entity, or payments
    asked of such an environment."""
    unknown = sorted(set(asked or ()) - set(ENTITIES))
    if unknown:
        raise Refused(f"unknown entities {', '.join(unknown)}; known: {', '.join(ENTITIES)}")
    if profile is SyncProfile.SCAN_BOOK_ARCHIVE and asked and "payments" in asked:
        raise Refused("payments are not synced for a scan-book-archive environment (no approval flow)")
    wanted = [name for name in ENTITIES if asked is None or not asked or name in asked]
    return [name for name in wanted if not (profile is SyncProfile.SCAN_BOOK_ARCHIVE and name == "payments")]


def plain_error(error: Exception, administration: str) -> str:
    """The last error, in words an operator can act on."""
    if isinstance(error, NoAccess):
        return f"the connection user cannot open administration {administration}: {error}"
    if isinstance(error, AuthorizationError):
        return f"the connection to Exact Online must be made again (console, Connections): {error}"
    if isinstance(error, RateLimited):
        return f"Exact Online's daily limit is spent until {error.retry_at:%Y-%m-%d %H:%M} UTC: {error}"
    if isinstance(error, TransientError):
        return f"Exact Online did not answer well, even after retries: {error}"
    if isinstance(error, RemoteError):
        return f"Exact Online answered with something we cannot use: {error}"
    if isinstance(error, ConnectorError):
        return str(error)
    return f"an unexpected fault of ours ({type(error).__name__}: {error}); see the service's log"


def summary(errors: list[str]) -> str | None:
    """A task's error: the first run's, and how many more failed (each run keeps its own)."""
    if not errors:
        return None
    return errors[0] + (f" (and {len(errors) - 1} more: see the runs)" if len(errors) > 1 else "")


@dataclass(frozen=True)
class Target:
    task_id: int
    environment: str
    administration: str
    kind: SyncKind
    trigger: SyncTrigger = SyncTrigger.MANUAL


class SyncEngine:
    """Plans and runs sync tasks. `run_forever` in the app; `plan`, `run_next` and `settle` for tests."""

    def __init__(self, store: Store, settings: Settings, clock: Clock, readers: Readers, budget: SyncBudget, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, rng: random.Random | None = None) -> None:
        self.store, self.settings, self.clock = store, settings, clock
        self.readers, self.budget, self.sleep = readers, budget, sleep
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._watermark: int | None = None
        self._refreshed: set[int] = set()

    @property
    def environments(self) -> list[EnvironmentSettings]:
        """The environments whose master data is mirrored: those that book into Exact Online."""
        return [environment for environment in self.settings.environments if environment.integration == INTEGRATION]

    def environment(self, key: str) -> EnvironmentSettings:
        found = next((environment for environment in self.settings.environments if environment.key == key), None)
        if found is None:
            raise Refused(f"unknown environment {key!r}", not_found=True)
        if found.integration != INTEGRATION:
            raise Refused(f"environment {key!r} books into {found.integration}; only Exact Online's master data is "
                          f"mirrored")
        return found

    def wake(self) -> None:
        self._wake.set()

    async def _write(self, work: Callable[..., Any], *args: Any, **fields: Any) -> Any:
        """`work(db, *args, **fields)` in one write transaction."""
        return await self.store.write(lambda db: work(db, *args, **fields))

    # -----------------------------------------------------------------------------------------
    # Asking

    async def request(self, environment: str, administration: str | None, kind: SyncKind, trigger: SyncTrigger,
                      entities: Sequence[str] | None, requested_by: str) -> tuple[int, bool]:
        """Queue a task: (its id, whether it is new). The same task asked while one is queued is that one."""
        settings = self.environment(environment)
        if administration is not None and administration not in {a.code for a in settings.administrations}:
            raise Refused(f"environment {environment!r} has no administration {administration!r}", not_found=True)
        chosen = entities_for(settings.profile, entities)
        asked = None if not entities else chosen
        fingerprint = "|".join([environment, administration or "*", kind.value, ",".join(asked or ["*"])])
        result = await self.store.write(lambda db: storage.queue_sync_task(
            db, environment=environment, administration=administration, kind=kind.value, trigger=trigger.value,
            entities=json.dumps(asked) if asked else None, fingerprint=fingerprint, requested_by=requested_by,
            now=self.clock()))
        self.wake()
        return result

    # -----------------------------------------------------------------------------------------
    # Planning: nightly, monthly, on send

    async def plan(self) -> None:
        await self._plan_nights()
        await self._plan_refreshes()

    async def schedule_of(self, environment: str) -> storage.Row:
        """The environment's schedule, drawing its full-sync day the first time (seed 002: a random day)."""
        return await self.store.write(storage.keep_sync_schedule, environment,
                                      schedule.draw_full_sync_day(self.rng))

    async def _plan_nights(self) -> None:
        """Queue each connected environment's nightly run once inside its window. An environment not connected
        yet has nothing to sync; its night is queued once it is connected, if the window is still open."""
        now = self.clock()
        connected = {row["environment"] for row in await self.store.read(storage.connections, INTEGRATION)
                     if row["user_name"]}
        for environment in self.environments:
            row = await self.schedule_of(environment.key)
            if environment.key not in connected:
                continue
            last = date.fromisoformat(row["last_nightly"]) if row["last_nightly"] else None
            night = schedule.nightly_due(now, self.settings.zone, schedule.Window.parse(environment.nightly_window),
                                         last)
            if night is None:
                continue
            kind = schedule.nightly_kind(night, row["full_sync_day"])
            trigger = SyncTrigger.MONTHLY if kind is SyncKind.FULL else SyncTrigger.NIGHTLY
            await self.request(environment.key, None, kind, trigger, None, trigger.value)
            await self.store.write(storage.set_last_nightly, environment.key, night.isoformat())

    async def _plan_refreshes(self) -> None:
        """Seed 002's sync on sending: every booking done since the last look refreshes what it touched."""
        if self._watermark is None:
            self._watermark = await self.store.read(storage.last_action_id)
            return

        def read(db: Any) -> tuple[list[storage.Row], int | None]:
            return (storage.done_bookings_after(db, INTEGRATION, self._watermark or 0),
                    storage.oldest_unsettled_action(db, INTEGRATION))

        done, oldest_open = await self.store.read(read)
        fresh = [row for row in done if row["id"] not in self._refreshed]
        targets = dict.fromkeys((row["environment"], row["administration"]) for row in fresh)
        for environment, administration in targets:
            try:
                await self.request(environment, administration, SyncKind.INCREMENTAL, SyncTrigger.ON_SEND,
                                   list(ON_SEND_ENTITIES), SyncTrigger.ON_SEND.value)
            except Refused as refused:
                log.warning("no refresh after a booking in %s/%s: %s", environment, administration, refused)
        self._refreshed.update(row["id"] for row in fresh)
        highest = max((row["id"] for row in done), default=self._watermark)
        self._watermark = highest if oldest_open is None else min(highest, oldest_open - 1)
        self._refreshed = {key for key in self._refreshed if key > self._watermark}

    # -----------------------------------------------------------------------------------------
    # Running

    async def recover(self) -> int:
        """Tasks a stopped process left unfinished go back to the queue."""
        return await self.store.write(storage.requeue_unfinished_sync_tasks, self.clock())

    async def run_forever(self) -> None:
        await self.recover()
        while True:
            try:
                await self.plan()
                while await self.run_next() is not None:
                    await self.plan()
            except Exception:
                log.exception("the sync engine failed; trying again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.sync.poll_seconds)

    async def settle(self) -> None:
        """Plan and run until nothing is queued (tests, benchmarks)."""
        await self.plan()
        while await self.run_next() is not None:
            await self.plan()

    async def run_next(self) -> int | None:
        """Run the oldest queued task to its end; its id, or None when none was queued."""
        task = await self.store.read(storage.next_sync_task)
        if task is None:
            return None
        await self.run_task(task)
        return int(task["id"])

    async def run_task(self, task: storage.Row) -> SyncState:
        environment = self.environment(task["environment"])
        kind = SyncKind(task["kind"])
        administrations = [task["administration"]] if task["administration"] else \
            [item.code for item in environment.administrations]
        entities = entities_for(environment.profile, json.loads(task["entities"]) if task["entities"] else None)
        await self._write(storage.set_sync_task, task["id"], SyncState.RUNNING,
                               started_at=storage.iso(self.clock()))
        errors: list[str] = []
        reader = await self.readers(environment.key)
        # Every call of this task is the call budget's lowest class: bookings, rights checks and probes first.
        with calling_as(CallClass.SYNC):
            for administration in administrations:
                target = Target(task["id"], environment.key, administration, kind, SyncTrigger(task["trigger"]))
                errors += await self._sync_administration(reader, target, entities)
        state = SyncState.FAILED if errors else SyncState.DONE
        await self._write(storage.set_sync_task, task["id"], state, finished_at=storage.iso(self.clock()),
                          error=summary(errors))
        return state

    async def _sync_administration(self, reader: MasterDataReader, target: Target, entities: list[str]) -> list[str]:
        errors: list[str] = []
        runs: dict[str, int] = {}
        for name in entities:
            entity = ENTITIES[name]
            run_id = runs[name] = await self._start_run(target, name)
            failure = await self._attempt(target, run_id, functools.partial(self._read, reader, target, entity, run_id))
            if failure is not None:
                errors.append(f"{target.administration}/{name}: {plain_error(failure, target.administration)}")
                if isinstance(failure, NoAccess | AuthorizationError):
                    break  # the same answer awaits every other entity of this administration
        deleted_types = [ENTITIES[name].deleted_type for name in entities if ENTITIES[name].deleted_type is not None]
        if target.kind is SyncKind.INCREMENTAL and deleted_types and not errors:
            run_id = await self._start_run(target, DELETED)
            failure = await self._attempt(target, run_id,
                                          functools.partial(self._read_deletions, reader, target, run_id, runs))
            if failure is not None:
                errors.append(f"{target.administration}/{DELETED}: {plain_error(failure, target.administration)}")
        return errors

    async def _start_run(self, target: Target, entity: str) -> int:
        return await self.store.write(lambda db: storage.insert_sync_run(
            db, task_id=target.task_id, environment=target.environment, administration=target.administration,
            entity=entity, kind=target.kind.value, state=SyncState.RUNNING, now=self.clock()))

    async def _attempt(self, target: Target, run_id: int, read: Callable[[], Awaitable[None]]) -> Exception | None:
        """Run one read to its end; a spent daily limit waits for its reset and reads on from the last
        committed cursor (a full read starts over). Returns what failed it (written down in plain words)."""
        while True:
            try:
                await read()
            except RateLimited as limited:
                await self._show(target, run_id, SyncState.WAITING_FOR_BUDGET)
                await self.sleep(max((limited.retry_at - self.clock()).total_seconds(), GATE_POLL_SECONDS))
                continue
            except Exception as failure:
                if not isinstance(failure, ConnectorError):
                    log.exception("sync run %s failed", run_id)
                await self._write(storage.update_sync_run, run_id, self.clock(), state=SyncState.FAILED,
                                       finished_at=storage.iso(self.clock()),
                                       error=plain_error(failure, target.administration))
                return failure
            await self._write(storage.update_sync_run, run_id, self.clock(), state=SyncState.DONE,
                                   finished_at=storage.iso(self.clock()))
            return None

    # -----------------------------------------------------------------------------------------
    # Bookings first

    async def _show(self, target: Target, run_id: int, state: SyncState) -> None:
        def work(db: Any) -> None:
            storage.update_sync_run(db, run_id, self.clock(), state=state)
            storage.set_sync_task(db, target.task_id, state)
        await self.store.write(work)

    def _why_not(self, db: Any, target: Target) -> SyncState | None:
        if not switches.may_send(switches.closed_scopes(db), INTEGRATION, target.environment):
            return SyncState.PAUSED_BY_SWITCH
        if storage.bookings_delayed(db, INTEGRATION, target.environment):
            return SyncState.PAUSED_BY_SWITCH  # switched on again: the replay goes first
        if storage.bookings_waiting(db, INTEGRATION, target.environment, target.administration):
            return SyncState.WAITING_FOR_BUDGET
        return None

    async def turn(self, target: Target, run_id: int) -> None:
        """Wait until sync may make its next call to the administration (see the module's "Bookings first")."""
        shown = SyncState.RUNNING
        while True:
            state = await self.store.read(self._why_not, target)
            hold = self.budget.hold(target.administration) if state is None else None
            if hold is not None:
                state = SyncState.WAITING_FOR_BUDGET
            if state != shown:
                await self._show(target, run_id, state or SyncState.RUNNING)
                shown = state or SyncState.RUNNING
            if state is None:
                return
            # Held by the budget: nothing changes before the limit's reset, which Exact's headers give.
            wait = (hold.until - self.clock()).total_seconds() if hold is not None else 0.0
            await self.sleep(max(wait, GATE_POLL_SECONDS))

    async def _pages(self, pages: AsyncIterator[Any], target: Target, run_id: int) -> AsyncIterator[Any]:
        """The reader's pages, each asked for only once sync may call."""
        try:
            while True:
                await self.turn(target, run_id)
                try:
                    page = await anext(pages)
                except StopAsyncIteration:
                    return
                yield page
                if page.last:
                    return  # no further call: nothing to wait for
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    # -----------------------------------------------------------------------------------------
    # Reading

    async def _read(self, reader: MasterDataReader, target: Target, entity: EntityDef[Any], run_id: int) -> None:
        if target.kind is SyncKind.FULL:
            await self._read_full(reader, target, entity, run_id)
        else:
            await self._read_increment(reader, target, entity, run_id)

    async def _cursor(self, target: Target, name: str) -> str | None:
        return await self.store.read(storage.sync_cursor, target.environment, target.administration, name)

    def _source(self, reader: MasterDataReader, target: Target, entity: EntityDef[Any], cursor: str | None
                ) -> AsyncIterator[Any]:
        if entity.read_by is ReadBy.TIMESTAMP:
            since = int(cursor) if cursor is not None else FIRST_TIMESTAMP
            return reader.sync_pages(target.administration, entity, since)
        modified = msgspec.json.decode(cursor, type=ModifiedCursor) if cursor is not None else None
        return reader.modified_pages(target.administration, entity, modified)

    @staticmethod
    def _next_cursor(entity: EntityDef[Any], page: Any) -> str | None:
        """The cursor to store with this page: a Timestamp after every page, a Modified cursor after the last."""
        if entity.read_by is ReadBy.TIMESTAMP:
            return str(page.cursor)
        return msgspec.json.encode(page.cursor).decode() if page.last and page.cursor is not None else None

    async def _read_increment(self, reader: MasterDataReader, target: Target, entity: EntityDef[Any],
                              run_id: int) -> None:
        cursor = await self._cursor(target, entity.name)
        if cursor is None and target.trigger is SyncTrigger.ON_SEND:
            return  # never synced: a refresh would read the whole entity; the first full or nightly sync will
        source = self._source(reader, target, entity, cursor)
        async for page in self._pages(source, target, run_id):
            records = {entity.key_of(row): record_of(entity.key_of(row), row) for row in page.rows}
            await self.store.write(self._commit_page, target, entity.name, run_id, records,
                                   self._next_cursor(entity, page))

    def _commit_page(self, db: Any, target: Target, name: str, run_id: int, records: dict[str, MirrorRecord],
                     cursor: str | None) -> None:
        """One page and its cursor, in one transaction."""
        now = self.clock()
        known = storage.mirror_hashes(db, target.environment, target.administration, name, list(records))
        outcome = classify({key: record.hash for key, record in records.items()}, known)
        storage.write_rows(db, target.environment, target.administration, name,
                           [records[key] for key in (*outcome.inserts, *outcome.changes)], now)
        storage.touch_rows(db, target.environment, target.administration, name, outcome.unchanged, now)
        if cursor is not None:
            storage.save_sync_cursor(db, target.environment, target.administration, name, cursor, now)
        storage.update_sync_run(db, run_id, now, add_pages=1, add_rows_read=len(records),
                                add_inserted=len(outcome.inserts), add_changed=len(outcome.changes))

    async def _read_full(self, reader: MasterDataReader, target: Target, entity: EntityDef[Any], run_id: int) -> None:
        staging: dict[str, MirrorRecord] = {}
        cursor: str | None = None
        async for page in self._pages(self._source(reader, target, entity, None), target, run_id):
            for row in page.rows:
                key = entity.key_of(row)
                staging[key] = record_of(key, row)
            cursor = self._next_cursor(entity, page) or cursor
            await self._write(storage.update_sync_run, run_id, self.clock(), add_pages=1,
                                   add_rows_read=len(page.rows))
        await self.store.write(self._swap, target, entity.name, run_id, staging, cursor)

    def _swap(self, db: Any, target: Target, name: str, run_id: int, staging: dict[str, MirrorRecord],
              cursor: str | None) -> None:
        """A full read's staging set becomes the mirror, with its cursor, in one transaction."""
        now = self.clock()
        where = (target.environment, target.administration, name)
        outcome = reconcile({key: record.hash for key, record in staging.items()}, storage.mirror_hashes(db, *where))
        storage.write_rows(db, *where, [staging[key] for key in (*outcome.inserts, *outcome.changes)], now)
        deleted = storage.tombstone_rows(db, *where, outcome.deletes, now)
        storage.touch_live_rows(db, *where, now)
        if cursor is not None:
            storage.save_sync_cursor(db, *where, cursor, now)
        storage.update_sync_run(db, run_id, now, add_inserted=len(outcome.inserts), add_changed=len(outcome.changes),
                                add_deleted=deleted)

    async def _read_deletions(self, reader: MasterDataReader, target: Target, run_id: int, runs: dict[str, int]
                              ) -> None:
        """`sync/Deleted` from the division's cursor: tombstones for every synced entity it names."""
        by_type = {entity.deleted_type: entity.name for entity in ENTITIES.values()
                   if entity.deleted_type is not None and entity.name in runs}
        cursor = await self._cursor(target, DELETED)
        source = reader.deleted_pages(target.administration, int(cursor) if cursor else FIRST_TIMESTAMP,
                                      set(by_type))
        async for page in self._pages(source, target, run_id):
            keys: dict[str, list[str]] = {}
            for record in page.records:
                keys.setdefault(by_type[record.entity_type], []).append(record.key)
            await self.store.write(self._commit_deletions, target, run_id, runs, keys, str(page.cursor))

    def _commit_deletions(self, db: Any, target: Target, run_id: int, runs: dict[str, int],
                          keys: dict[str, list[str]], cursor: str) -> None:
        now = self.clock()
        total = 0
        for name, deleted in keys.items():
            count = storage.tombstone_rows(db, target.environment, target.administration, name, deleted, now)
            storage.update_sync_run(db, runs[name], now, add_deleted=count)
            total += count
        storage.save_sync_cursor(db, target.environment, target.administration, DELETED, cursor, now)
        storage.update_sync_run(db, run_id, now, add_pages=1, add_rows_read=sum(map(len, keys.values())),
                                add_deleted=total)

