"""The background work and the lease that lets exactly one process run it.

Background work: the dispatcher of invoice actions, the probe scheduler, the deliverer of notices,
maintenance steps and status recording, the master-data sync and the mirror rules (and the demo's
hand-ins). Any process may run it — a web worker of `statuspage serve` or a `statuspage worker` — but
only while it holds the "background" lease
in the database (core/lease.py has the rules): it renews the lease every RENEW_EVERY_SECONDS (3 s), and
when a renewal fails (another process took over after this one stalled) it stops its work at once.
A contender tries every RENEW_EVERY_SECONDS, so a dead holder's work moves on within LEASE_SECONDS +
RENEW_EVERY_SECONDS (18 s), at once when the holder is known dead on this host.

With `server.export_dir` set, the holder also keeps a static copy of the public site there (page/export.py).

Every process, holder or not, watches the database for other processes' writes (PRAGMA data_version)
so that its caches (the public documents) follow them within WATCH_INTERVAL_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from integrations.master_data import MasterDataReader, ReadOptions
from statuspage.actions.connections import Links
from statuspage.actions.dispatcher import Dispatcher
from statuspage.core import lease, storage
from statuspage.core.clock import Clock
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.demo import prepare_demo, start_demo
from statuspage.incidents import operations
from statuspage.incidents.delivery import Deliverer, deliver_forever
from statuspage.incidents.status_history import record_statuses
from statuspage.mirrors.engine import MirrorEngine
from statuspage.mirrors.rules import compiled_rules
from statuspage.mirrors.target import SyncTargetReader
from statuspage.page.export import keep_exported
from statuspage.page.public import PublicPages
from statuspage.probes.runner import Prober
from statuspage.probes.scheduler import make_scheduler
from statuspage.sync.budget import CallBudgetShare
from statuspage.sync.engine import SyncEngine
from statuspage.web.templating import make_environment

log = logging.getLogger("statuspage.background")

# How often to look for writes by other processes, and to write down status changes that
# happen by the clock alone (a maintenance window opening).
# Every process looks this often, so a change reaches the other workers' caches and the export within a second.
WATCH_INTERVAL_SECONDS = 0.25
RECORD_EVERY_TICKS = 60  # 15 s
KEEP_UP_AT_MOST_EVERY_TICKS = 4  # after other processes' writes, at most once a second


@dataclass
class Services:
    """What the background work runs with; web handlers use the same objects (to wake the dispatcher,
    to run a probe now)."""

    settings: Settings
    store: Store
    clock: Clock
    links: Links
    dispatcher: Dispatcher
    prober: Prober
    deliverer: Deliverer
    sync: SyncEngine | None = None
    mirrors: MirrorEngine | None = None
    scheduler: AsyncIOScheduler | None = None
    holding: asyncio.Event = field(default_factory=asyncio.Event)  # set while this process holds the lease


def make_sync_engine(settings: Settings, store: Store, clock: Clock, links: Links) -> SyncEngine:
    """The master-data sync over every connection whose integration describes its master data: the readers share
    tokens, the call budget and retries with the bookings; sync calls as the budget's lowest class
    (`sync.budget`)."""
    options = ReadOptions(page_size=settings.sync.page_size or None)

    async def readers(environment: str) -> MasterDataReader:
        return await links.for_environment(environment).master_data(environment, options)

    return SyncEngine(store, settings, clock, readers, CallBudgetShare(links.budget, clock), registry=links.registry)


def make_mirror_engine(settings: Settings, store: Store, clock: Clock, links: Links, sync: SyncEngine,
                       dispatcher: Dispatcher) -> MirrorEngine:
    """The mirror rules of the configuration: their targets read through the sync engine, their writes handed to
    the outbox (and the dispatcher woken)."""
    reader = SyncTargetReader(store, settings, sync, wait_seconds=settings.mirroring.target_wait_seconds,
                              poll_seconds=settings.sync.poll_seconds)
    return MirrorEngine(store, settings, clock, compiled_rules(settings, links.registry), reader,
                        wake=dispatcher.wake)


async def keep_up_with_the_clock(store: Store, settings: Settings, clock: Clock) -> None:
    """Post the updates of maintenance windows the clock has moved on, and record status changes."""
    await store.write(operations.advance_maintenances, settings, clock())
    await record_statuses(store, settings, clock)


async def watch_for_changes(store: Store, settings: Settings, clock: Clock, services: Services | None) -> None:
    """Notice other processes' writes (every process); keep up with the clock (the lease holder only)."""
    tick = kept = 0
    pending = False
    while True:
        await asyncio.sleep(WATCH_INTERVAL_SECONDS)
        tick += 1
        try:
            pending = await store.notice_external_changes() or pending
            due = pending and tick - kept >= KEEP_UP_AT_MOST_EVERY_TICKS or tick - kept >= RECORD_EVERY_TICKS
            if services is not None and services.holding.is_set() and due:
                kept, pending = tick, False
                await keep_up_with_the_clock(store, settings, clock)
        except Exception:
            # A locked or briefly unreadable file must not end the watching for good.
            log.exception("watching the database for changes failed; trying again")


async def stop_tasks(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel every task, then wait for each to end (a cancelled task's CancelledError is its normal end)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def background_work(services: Services):
    """Start every piece of background work; stop them all when the block ends."""
    settings, store, clock = services.settings, services.store, services.clock
    await keep_up_with_the_clock(store, settings, clock)
    if settings.demo.enabled:
        try:
            await prepare_demo(settings, store, clock, services.links)
        except Exception:  # the sandbox refusing the demo must not keep the service's own work from starting
            log.exception("the demo could not connect its environments")
    scheduler = services.scheduler = make_scheduler(settings, store, clock, services.prober)
    scheduler.start()
    tasks = [
        asyncio.create_task(services.dispatcher.run_forever(), name="statuspage-dispatcher"),
        asyncio.create_task(deliver_forever(services.deliverer, settings.notifications.send_every_seconds),
                            name="statuspage-deliveries"),
    ]
    if settings.server.export_dir:
        pages = PublicPages(settings, store, clock, make_environment(settings.templates_dir))
        tasks.append(asyncio.create_task(keep_exported(pages, Path(settings.server.export_dir)), name="statuspage-export"))
    if services.sync is not None and settings.sync.enabled:
        tasks.append(asyncio.create_task(services.sync.run_forever(), name="statuspage-sync"))
    if services.mirrors is not None and settings.mirroring.enabled and settings.mirrors:
        tasks.append(asyncio.create_task(services.mirrors.run_forever(settings.mirroring.poll_seconds),
                                         name="statuspage-mirrors"))
    if settings.demo.enabled:
        tasks.append(asyncio.create_task(start_demo(settings, store, clock, services.links, services.dispatcher,
                                                    services.sync), name="statuspage-demo"))
    try:
        yield
    finally:
        await stop_tasks(tasks)
        scheduler.shutdown(wait=False)


class LeasedBackground:
    """Runs `background_work` only while this process holds the lease; contends for it otherwise."""

    def __init__(self, services: Services, holder: str | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.services = services
        self.holder = holder or lease.process_name()
        self._sleep = sleep
        self._work: contextlib.AsyncExitStack | None = None

    async def try_take(self) -> bool:
        """Take or renew the lease; start the work when newly taken, stop it when lost. True while held."""
        store, clock = self.services.store, self.services.clock
        held = await store.write(storage.take_lease, lease.BACKGROUND, self.holder, clock())
        if held and self._work is None:
            log.info("background work: %s holds the lease and starts it", self.holder)
            self.services.holding.set()
            stack = contextlib.AsyncExitStack()
            await stack.enter_async_context(background_work(self.services))
            self._work = stack
        elif not held and self._work is not None:
            log.warning("background work: %s lost the lease; stopping it", self.holder)
            await self.stop()
        return held

    async def run_forever(self) -> None:
        while True:
            try:
                await self.try_take()
            except Exception:
                log.exception("background lease: taking or renewing failed; trying again")
                if self._work is not None:
                    # Unrenewed, the lease may lapse and pass to another process: do not run on beside it.
                    await self.stop()
            await self._sleep(lease.RENEW_EVERY_SECONDS)

    async def stop(self) -> None:
        self.services.holding.clear()
        work, self._work = self._work, None
        if work is not None:
            await work.aclose()

    async def release(self) -> None:
        """Stop the work and give the lease up, so that another process takes over at once."""
        was_holding = self._work is not None
        await self.stop()
        if was_holding:
            await self.services.store.write(storage.give_up_lease, lease.BACKGROUND, self.holder)
