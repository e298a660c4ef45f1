"""The sync engine: runs queued sync tasks against each integration's master data, page by page, bookings first.

Four kinds of sync (seed 002), all tasks in one queue (`sync_tasks`), run oldest first, one at a time:

- on send: after a booking is done, an incremental read of what it touched in its administration (the
  integration's `MasterData.refresh_after_booking`; Exact Online: the entry's lines and the relation it used,
  seed 002, "automatische synchronisatie").
- nightly: an incremental sync of every administration, inside the environment's window (default 01:00-06:00
  page time; seed 000: done before the morning's bookings).
- monthly: on the environment's day, drawn once at random and stored, the nightly run is a full sync.
- manual: `POST /api/v1/sync-tasks` or "Sync now" in the console; the same task asked twice while queued is one.

Reads go through the integration's `integrations.master_data.MasterDataReader`, looked up by the environment's
integration in the registry; what an integration mirrors is its entity table (`MasterData.entities`):

- incremental: `changes` from the entity's stored cursor, rows the page reports gone as tombstones
  (`Deletions.IN_CHANGES`), then the deletion feed from the administration's cursor for entities whose deletions
  come that way (`Deletions.FEED`). Each page is committed with its cursor in one transaction, so a stopped sync
  resumes where it was.
- full: `everything` into an in-memory staging set, reconciled with the mirror (`reconcile`) and swapped in with
  the new cursor in one transaction: a full sync that fails or is killed leaves the mirror as it was, and a row
  no longer there becomes a tombstone.

Bookings first (DESIGN.md): before every page the engine waits while the kill switch above the administration
is off (paused by switch), while actions are delayed in the environment (the replay goes first), while a
booking is queued or under way in the administration's lane, and while the budget holds sync back
(`budget.SyncBudget`: the call budget's lowest class, never the bookings' reserve). Environments with
`profile = "scan-book-archive"` never read the integration's `approval_only` entities (seed 000: payments).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

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
from integrations.master_data import DeletionPage, Deletions, MasterDataPage, MasterDataReader, SyncEntity
from integrations.registry import MasterData, Registry
from statuspage.actions import switches
from statuspage.core import storage
from statuspage.core.clock import Clock
from statuspage.core.installed import INSTALLED
from statuspage.core.operation import Refused
from statuspage.core.settings import EnvironmentSettings, Settings
from statuspage.core.storage import MirrorRecord, Store
from statuspage.core.vocabulary import SyncKind, SyncProfile, SyncState, SyncTrigger
from statuspage.core.waiting import until_woken
from statuspage.sync import schedule
from statuspage.sync.budget import SyncBudget
from statuspage.sync.reconcile import classify, reconcile, record_of

log = logging.getLogger("statuspage.sync")

DELETED = "deleted"
"""The cursor (and run) name of an administration's deletion feed (Exact Online: `sync/Deleted`)."""
GATE_POLL_SECONDS = 0.1
"""How often a paused or waiting sync looks again (a booking's wait for sync is at most one page in flight)."""

Readers = Callable[[str], Awaitable[MasterDataReader]]
"""The master-data reader of an environment's connection (by environment key)."""


def entities_for(master_data: MasterData, profile: SyncProfile, asked: Sequence[str] | None = None) -> list[str]:
    """The entities a sync of an environment reads, in the integration's order. Seed 000: Scan–Book–Archive
    environments have no approval flow, so its `approval_only` entities (payments) are never read for them.
    `Refused` for an entity the integration does not mirror, or an approval-only one asked of such an environment."""
    table = master_data.table
    unknown = sorted(set(asked or ()) - set(table))
    if unknown:
        raise Refused(f"unknown entities {', '.join(unknown)}; known: {', '.join(table)}")
    skipped = set(master_data.approval_only) if profile is SyncProfile.SCAN_BOOK_ARCHIVE else set()
    refused = sorted(skipped & set(asked or ()))
    if refused:
        raise Refused(f"{', '.join(refused)} are not synced for a scan-book-archive environment (no approval flow)")
    return [name for name in table if (not asked or name in asked) and name not in skipped]


def plain_error(error: Exception, administration: str, system: str) -> str:
    """The last error, in words an operator can act on; `system` is the accounting system's name."""
    if isinstance(error, NoAccess):
        return f"the connection user cannot open administration {administration}: {error}"
    if isinstance(error, AuthorizationError):
        return f"the connection to {system} must be made again (console, Connections): {error}"
    if isinstance(error, RateLimited):
        return f"{system}'s limit is spent until {error.retry_at:%Y-%m-%d %H:%M} UTC: {error}"
    if isinstance(error, TransientError):
        return f"{system} did not answer well, even after retries: {error}"
    if isinstance(error, RemoteError):
        return f"{system} answered with something we cannot use: {error}"
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
    integration: str = ""
    """The environment's integration's key."""
    system: str = ""
    """Its name, for messages."""


class SyncEngine:
    """Plans and runs sync tasks. `run_forever` in the app; `plan`, `run_next` and `settle` for tests."""

    def __init__(self, store: Store, settings: Settings, clock: Clock, readers: Readers, budget: SyncBudget, *,
                 registry: Registry = INSTALLED, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.store, self.settings, self.clock = store, settings, clock
        self.readers, self.budget, self.sleep = readers, budget, sleep
        self.registry = registry
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._watermark: int | None = None
        self._refreshed: set[int] = set()
        self._budget_keys: dict[tuple[str, str], str] = {}

    def master_data(self, integration: str) -> MasterData | None:
        """What the integration mirrors; None for one that mirrors nothing (or is not installed)."""
        return self.registry.get(integration).master_data if integration in self.registry else None

    @property
    def environments(self) -> list[EnvironmentSettings]:
        """The environments whose master data is mirrored: those of integrations that describe their master data."""
        return [environment for environment in self.settings.environments
                if self.master_data(environment.integration) is not None]

    @property
    def integrations(self) -> list[str]:
        """The keys of the integrations whose master data is mirrored."""
        return [integration.key for integration in self.registry if integration.master_data is not None]

    def environment(self, key: str) -> EnvironmentSettings:
        found = next((environment for environment in self.settings.environments if environment.key == key), None)
        if found is None:
            raise Refused(f"unknown environment {key!r}", not_found=True)
        if self.master_data(found.integration) is None:
            raise Refused(f"environment {key!r} books into {found.integration}, whose master data is not mirrored")
        return found

    def entities_of(self, environment: EnvironmentSettings) -> dict[str, SyncEntity]:
        """The entity table of the environment's integration, by name."""
        master_data = self.master_data(environment.integration)
        assert master_data is not None, "environment() refuses environments without master data"
        return master_data.table

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
        master_data = self.master_data(settings.integration)
        assert master_data is not None
        chosen = entities_for(master_data, settings.profile, entities)
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
        connected = {(row.environment, row.integration) for row in await self.store.read(storage.connections)
                     if row.user_name}
        for environment in self.environments:
            row = await self.schedule_of(environment.key)
            if (environment.key, environment.integration) not in connected:
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
        refreshing = {key: master_data.refresh_after_booking for key in self.integrations
                      if (master_data := self.master_data(key)) is not None and master_data.refresh_after_booking}

        def read(db: Any) -> tuple[list[storage.Action], int | None]:
            return (storage.done_bookings_after(db, list(refreshing), self._watermark or 0),
                    storage.oldest_unsettled_action(db, list(refreshing)))

        done, oldest_open = await self.store.read(read)
        fresh = [row for row in done if row.id not in self._refreshed]
        targets = dict.fromkeys((row.environment, row.administration, row.integration) for row in fresh)
        for environment, administration, integration in targets:
            try:
                await self.request(environment, administration, SyncKind.INCREMENTAL, SyncTrigger.ON_SEND,
                                   list(refreshing[integration]), SyncTrigger.ON_SEND.value)
            except Refused as refused:
                log.warning("no refresh after a booking in %s/%s: %s", environment, administration, refused)
        self._refreshed.update(row.id for row in fresh)
        highest = max((row.id for row in done), default=self._watermark)
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
            await until_woken(self._wake, self.settings.sync.poll_seconds)

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
        return task.id

    async def run_task(self, task: storage.SyncTask) -> SyncState:
        environment = self.environment(task.environment)
        kind = task.kind
        administrations = [task.administration] if task.administration else \
            [item.code for item in environment.administrations]
        master_data = self.master_data(environment.integration)
        assert master_data is not None
        entities = entities_for(master_data, environment.profile, task.entities)
        await self._write(storage.set_sync_task, task.id, SyncState.RUNNING,
                               started_at=storage.iso(self.clock()))
        errors: list[str] = []
        reader = await self.readers(environment.key)
        system = self.registry.get(environment.integration).name
        # Every call of this task is the call budget's lowest class: bookings, rights checks and probes first.
        with calling_as(CallClass.SYNC):
            for administration in administrations:
                target = Target(task.id, environment.key, administration, kind, task.trigger,
                                environment.integration, system)
                errors += await self._sync_administration(reader, target, [master_data.table[n] for n in entities])
        state = SyncState.FAILED if errors else SyncState.DONE
        await self._write(storage.set_sync_task, task.id, state, finished_at=storage.iso(self.clock()),
                          error=summary(errors))
        return state

    async def _sync_administration(self, reader: MasterDataReader, target: Target, entities: list[SyncEntity]
                                   ) -> list[str]:
        errors: list[str] = []
        runs: dict[str, int] = {}
        for entity in entities:
            run_id = runs[entity.name] = await self._start_run(target, entity.name)
            failure = await self._attempt(target, run_id, functools.partial(self._read, reader, target, entity, run_id))
            if failure is not None:
                errors.append(f"{target.administration}/{entity.name}: "
                              f"{plain_error(failure, target.administration, target.system)}")
                if isinstance(failure, NoAccess | AuthorizationError):
                    break  # the same answer awaits every other entity of this administration
        fed = any(entity.deletions is Deletions.FEED for entity in entities)
        if target.kind is SyncKind.INCREMENTAL and fed and not errors:
            run_id = await self._start_run(target, DELETED)
            failure = await self._attempt(target, run_id,
                                          functools.partial(self._read_deletions, reader, target, run_id, runs,
                                                            entities))
            if failure is not None:
                errors.append(f"{target.administration}/{DELETED}: "
                              f"{plain_error(failure, target.administration, target.system)}")
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
                                       error=plain_error(failure, target.administration, target.system))
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
        if not switches.may_send(switches.closed_scopes(db), target.integration, target.environment):
            return SyncState.PAUSED_BY_SWITCH
        if storage.bookings_delayed(db, target.integration, target.environment):
            return SyncState.PAUSED_BY_SWITCH  # switched on again: the replay goes first
        if storage.bookings_waiting(db, target.integration, target.environment, target.administration):
            return SyncState.WAITING_FOR_BUDGET
        return None

    async def _budget_key(self, reader: MasterDataReader, target: Target) -> str:
        """The call budget the administration's calls count against, asked of the reader once per process."""
        where = (target.environment, target.administration)
        if where not in self._budget_keys:
            self._budget_keys[where] = await reader.budget_key(target.administration)
        return self._budget_keys[where]

    def budget_key_of(self, environment: str, administration: str) -> str:
        """The budget key last learnt for the administration (its own code before its first sync here)."""
        return self._budget_keys.get((environment, administration), administration)

    async def turn(self, reader: MasterDataReader, target: Target, run_id: int) -> None:
        """Wait until sync may make its next call to the administration (see the module's "Bookings first")."""
        shown = SyncState.RUNNING
        budget_key = await self._budget_key(reader, target)
        while True:
            state = await self.store.read(self._why_not, target)
            hold = self.budget.hold(target.integration, budget_key) if state is None else None
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

    async def _pages(self, pages: AsyncIterator[Any], reader: MasterDataReader, target: Target, run_id: int
                     ) -> AsyncIterator[Any]:
        """The reader's pages, each asked for only once sync may call."""
        try:
            while True:
                await self.turn(reader, target, run_id)
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

    async def _read(self, reader: MasterDataReader, target: Target, entity: SyncEntity, run_id: int) -> None:
        if target.kind is SyncKind.FULL:
            await self._read_full(reader, target, entity, run_id)
        else:
            await self._read_increment(reader, target, entity, run_id)

    async def _cursor(self, target: Target, name: str) -> str | None:
        return await self.store.read(storage.sync_cursor, target.environment, target.administration, name)

    @staticmethod
    def _records(entity: SyncEntity, rows: Sequence[Mapping[str, Any]]) -> dict[str, MirrorRecord]:
        """A page's rows as the mirror keeps them, by key (`SyncEntity.key`)."""
        records = (record_of(entity, row) for row in rows)
        return {record.key: record for record in records}

    async def _read_increment(self, reader: MasterDataReader, target: Target, entity: SyncEntity,
                              run_id: int) -> None:
        cursor = await self._cursor(target, entity.name)
        if cursor is None and target.trigger is SyncTrigger.ON_SEND:
            return  # never synced: a refresh would read the whole entity; the first full or nightly sync will
        source = reader.changes(target.administration, entity.name, cursor)
        page: MasterDataPage
        async for page in self._pages(source, reader, target, run_id):
            await self.store.write(self._commit_page, target, entity.name, run_id, self._records(entity, page.rows),
                                   list(page.deleted), page.cursor)

    def _commit_page(self, db: Any, target: Target, name: str, run_id: int, records: dict[str, MirrorRecord],
                     deleted: list[str], cursor: str | None) -> None:
        """One page, the tombstones it reports and its cursor, in one transaction."""
        now = self.clock()
        known = storage.mirror_hashes(db, target.environment, target.administration, name, list(records))
        outcome = classify({key: record.hash for key, record in records.items()}, known)
        storage.write_rows(db, target.environment, target.administration, name,
                           [records[key] for key in (*outcome.inserts, *outcome.changes)], now)
        storage.touch_rows(db, target.environment, target.administration, name, outcome.unchanged, now)
        gone = storage.tombstone_rows(db, target.environment, target.administration, name, deleted, now) \
            if deleted else 0
        if cursor is not None:
            storage.save_sync_cursor(db, target.environment, target.administration, name, cursor, now)
        storage.update_sync_run(db, run_id, now, add_pages=1, add_rows_read=len(records) + len(deleted),
                                add_inserted=len(outcome.inserts), add_changed=len(outcome.changes),
                                add_deleted=gone)

    async def _read_full(self, reader: MasterDataReader, target: Target, entity: SyncEntity, run_id: int) -> None:
        staging: dict[str, MirrorRecord] = {}
        cursor: str | None = None
        page: MasterDataPage
        async for page in self._pages(reader.everything(target.administration, entity.name), reader, target, run_id):
            records = self._records(entity, page.rows)
            staging.update(records)
            for key in page.deleted:  # gone: not in the staging set, so the swap leaves a tombstone
                staging.pop(key, None)
            cursor = page.cursor or cursor
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

    async def _read_deletions(self, reader: MasterDataReader, target: Target, run_id: int, runs: dict[str, int],
                              entities: list[SyncEntity]) -> None:
        """The administration's deletion feed from its cursor: tombstones for every synced entity it names."""
        fed = [entity.name for entity in entities if entity.deletions is Deletions.FEED and entity.name in runs]
        source = reader.deletions(target.administration, fed, await self._cursor(target, DELETED))
        page: DeletionPage
        async for page in self._pages(source, reader, target, run_id):
            keys = {name: list(deleted) for name, deleted in page.keys.items() if name in runs}
            await self.store.write(self._commit_deletions, target, run_id, runs, keys, page.cursor)

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
