"""How a mirror run reads its target again first: an incremental sync task of the target entity, run by the sync
engine like any other (bookings first, the call budget's sync class, shown on the Sync tab), waited for a while.

The run does not wait for ever: the target's kill switch may be off (sync stops in its scope), or the target's
lane may be busy with the rule's own writes, paced by the target's limits. It then reconciles with the target as
last read, which never duplicates a row: every write a run made is in the outbox, and counted before anything is
planned again (`writes.hand_over`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from statuspage.actions import switches
from statuspage.core import storage
from statuspage.core.operation import Refused
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import SyncKind, SyncState, SyncTrigger
from statuspage.mirrors.rules import MirrorRule
from statuspage.sync.engine import SyncEngine


class SyncTargetReader:
    """`TargetReader` through the sync engine: `wait_seconds` at most, looking every `poll_seconds` (counted in
    looks, not read from a clock)."""

    def __init__(self, store: Store, settings: Settings, sync: SyncEngine, *, wait_seconds: float,
                 poll_seconds: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.store, self.settings, self.sync = store, settings, sync
        self.wait_seconds, self.poll_seconds, self.sleep = wait_seconds, poll_seconds, sleep

    async def refresh(self, rule: MirrorRule) -> str | None:
        target = rule.settings.target
        environment = self.settings.environment(target.environment)
        assert environment is not None, "the configuration check names every rule's environments"
        if not await self.store.read(lambda db: switches.may_send(switches.closed_scopes(db), environment.integration,
                                                                  environment.key)):
            return f"{environment.integration} is switched off for {environment.key}: not read again"
        try:
            task_id, _ = await self.sync.request(target.environment, target.administration, SyncKind.INCREMENTAL,
                                                 SyncTrigger.MIRROR, [target.entity], f"mirror {rule.key}")
        except Refused as refused:
            return f"the target cannot be read: {refused}"
        self.sync.wake()
        for _ in range(max(1, round(self.wait_seconds / self.poll_seconds))):
            task = await self.store.read(storage.sync_task, task_id)
            if task is not None and task.state is SyncState.DONE:
                return None
            if task is not None and task.state is SyncState.FAILED:
                return f"reading the target failed (sync task {task_id}): {task.error}"
            await self.sleep(self.poll_seconds)
        return f"the target's read (sync task {task_id}) did not finish within {self.wait_seconds:g} s; it goes on"
