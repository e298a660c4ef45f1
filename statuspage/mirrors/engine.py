"""The mirror engine: runs each rule after every sync of its source and on demand, and previews it.

A run (seed 001's `synchronize`, done locally):

1. reads the target's rows into the mirror (`TargetReader`, the master-data sync's incremental read of the target
   entity), unless the target is switched off or cannot be read now: then it reconciles with the target as last
   read, which is safe (every write it made is in the outbox and counted), provided the target was read once;
2. reconciles the source's mirrored rows with the target's by key (`reconcile.plan`), on a reader thread;
3. hands the writes the outbox does not hold yet to it, in one transaction (`writes.hand_over`), as actions of the
   rule's client: sent exactly once by the dispatcher, delayed while the target's kill switch is off and replayed
   after, paced by the target's call budget.

Runs go one at a time, in the process that holds the background lease (runs asked from elsewhere are queued for
it); should two processes ever plan the same write, they find one action (its idempotency key is derived from what
it writes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import msgspec
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from integrations.base import ActionKind
from statuspage.actions import outbox
from statuspage.actions.dispatcher import NO_ACCESS, REFUSED_FOR_GOOD
from statuspage.core import storage
from statuspage.core.clock import Clock
from statuspage.core.operation import Refused
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import MirrorRunState, MirrorTrigger
from statuspage.core.waiting import until_woken
from statuspage.mirrors.reconcile import Plan, plan
from statuspage.mirrors.rules import MirrorRule
from statuspage.mirrors.writes import EarlierRefusal, Handover, Outgoing, hand_over

log = logging.getLogger("statuspage.mirrors")

_decode = msgspec.json.Decoder(dict[str, Any]).decode

KEY_QUOTED = 100
"""How much of an unknown rule key a refusal quotes."""


class TargetReader(Protocol):
    async def refresh(self, rule: MirrorRule) -> str | None:
        """Read the rule's target rows into the mirror now. None once read; otherwise why they were not (in words
        for the run's monitoring): the run then goes on with the target as last read."""
        ...


@dataclass(frozen=True)
class Preview:
    """A rule's reconciliation as it stands, and what a run would hand to the outbox: nothing is written."""

    rule: MirrorRule
    plan: Plan
    handover: Handover
    source_read_at: datetime | None
    """When the source's latest sync finished (None: never synced)."""
    target_read_at: datetime | None
    """When the target was last read into the mirror (None: never)."""


class MirrorEngine:
    """Runs and previews the configured rules. `run_forever` in the background work (the lease holder alone runs
    rules); `ask` queues a run from any process; `preview`, `run`, `run_due` and `settle` for the API, the console,
    the tests and the benchmark."""

    def __init__(self, store: Store, settings: Settings, clock: Clock, rules: Mapping[str, MirrorRule],
                 target: TargetReader, *, wake: Callable[[], None] = lambda: None) -> None:
        self.store, self.settings, self.clock, self.rules = store, settings, clock, rules
        self.target, self.wake_dispatcher = target, wake
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def rule(self, key: str) -> MirrorRule:
        """The rule `key`; `Refused` (not found) naming the configured ones, the asked key quoted to 100 characters
        (it comes from a URL, of any length)."""
        found = self.rules.get(key)
        if found is None:
            quoted = repr(key) if len(key) <= KEY_QUOTED else f"{key[:KEY_QUOTED]!r}..."
            raise Refused(f"no mirror rule {quoted}; configured: {', '.join(self.rules) or 'none'}", not_found=True)
        return found

    # -----------------------------------------------------------------------------------------
    # Looking

    async def preview(self, key: str) -> Preview:
        """The rule's reconciliation against the mirror as it is: no remote call, nothing written."""
        rule = self.rule(key)
        return await self.store.read(self._reconcile, rule, False, False)

    def _reconcile(self, db: Any, rule: MirrorRule, target_fresh: bool, by_hand: bool) -> Preview:
        """The plan against the mirror; `by_hand`: an operator ran the rule, so writes refused access are tried again."""
        source, target = rule.settings.source, rule.settings.target
        source_rows = ((key, _decode(content)) for key, content in
                       storage.live_rows(db, source.environment, source.administration, source.entity))
        target_rows = ((key, _decode(content)) for key, content in
                       storage.live_rows(db, target.environment, target.administration, target.entity))
        found = plan(rule, source_rows, target_rows)
        existing = {row.idempotency_key: (row.state, row.updated_at) for row in storage.mirror_writes(db, rule.client)}
        source_run = storage.latest_done_sync_run(db, source.environment, source.administration, source.entity)
        target_run = storage.latest_done_sync_run(db, target.environment, target.administration, target.entity)
        read_since = storage.moment(target_run["started_at"]) if target_fresh and target_run is not None else None
        refused = {row["idempotency_key"]: EarlierRefusal(_decode(row["fields"] or "{}"), row["error"] or row["cause"],
                                                          access=row["cause"] == NO_ACCESS)
                   for row in storage.refused_mirror_writes(db, rule.client)
                   if row["cause"] in REFUSED_FOR_GOOD or (row["cause"] == NO_ACCESS and not by_hand)}
        return Preview(rule, found, hand_over(rule, found, existing, read_since=read_since, refused=refused),
                       None if source_run is None else storage.moment(source_run["finished_at"]),
                       None if target_run is None else storage.moment(target_run["finished_at"]))

    # -----------------------------------------------------------------------------------------
    # Running

    async def run(self, key: str, trigger: MirrorTrigger) -> int:
        """Run the rule to its end now; its run's id."""
        rule = self.rule(key)
        run_id = await self._open(rule, trigger, MirrorRunState.RUNNING)
        await self._perform(rule, run_id, trigger)
        return run_id

    async def ask(self, key: str, trigger: MirrorTrigger) -> int:
        """Queue a run for the background work to carry out (from any process): its id, at once; while a run of the
        rule is queued already, that run's id: it will read everything a second one would, so clicking "Run now"
        ten times makes one run, not ten."""
        rule = self.rule(key)

        def work(db: Any) -> int:
            queued = storage.queued_mirror_run(db, rule.key, trigger)
            if queued is not None:
                return queued
            return self._insert_run(db, rule, trigger, MirrorRunState.QUEUED)

        found = await self.store.write(work)
        self._wake.set()
        return found

    async def recover(self) -> int:
        """Runs a stopped process left unfinished are marked failed: nothing of them is half written (a run hands its
        writes to the outbox in one transaction), and the next run does what they did not."""
        return await self.store.write(lambda db: storage.fail_unfinished_mirror_runs(
            db, self.clock(), "the service stopped during this run; the next run does what it did not"))

    async def run_queued(self) -> int | None:
        """Claim the oldest queued run and carry it out; its id, or None when none was queued."""
        row = await self.store.write(lambda db: storage.claim_queued_mirror_run(db, self.clock()))
        if row is None:
            return None
        rule = self.rules.get(row["rule"])
        if rule is None:  # a rule taken out of the configuration since it was asked
            await self._fail(int(row["id"]), Refused(f"no mirror rule {row['rule']!r} is configured any more"))
            return int(row["id"])
        await self._perform(rule, int(row["id"]), MirrorTrigger(row["trigger"]))
        return int(row["id"])

    async def settle(self) -> None:
        """Run what is queued, then what is due, until nothing is left (tests, benchmarks)."""
        while await self.run_queued() is not None or await self.run_due():
            pass

    async def run_due(self) -> list[int]:
        """Run every rule whose source finished a sync since the rule's last run ("after each sync")."""
        ran: list[int] = []
        for key, rule in self.rules.items():
            if await self.store.read(_due, rule):
                ran.append(await self.run(key, MirrorTrigger.AFTER_SYNC))
        return ran

    async def run_forever(self, every: float) -> None:
        """Queued runs first, then rules due; looks again every `every` seconds, or when a run is asked here."""
        await self.recover()
        while True:
            try:
                await self.settle()
            except Exception:
                log.exception("mirror runs failed; trying again")
            self._wake.clear()
            await until_woken(self._wake, every)

    async def _open(self, rule: MirrorRule, trigger: MirrorTrigger, state: MirrorRunState) -> int:
        return await self.store.write(self._insert_run, rule, trigger, state)

    def _insert_run(self, db: Any, rule: MirrorRule, trigger: MirrorTrigger, state: MirrorRunState) -> int:
        source = rule.settings.source
        latest = storage.latest_done_sync_run(db, source.environment, source.administration, source.entity)
        return storage.insert_mirror_run(db, rule=rule.key, trigger=trigger, state=state, now=self.clock(),
                                         source_sync_run=None if latest is None else latest["id"])

    async def _perform(self, rule: MirrorRule, run_id: int, trigger: MirrorTrigger) -> None:
        """One run at a time in a process: a run reads the target, and two would only wait for each other."""
        async with self._lock:
            try:
                note = await self.target.refresh(rule)
                preview = await self.store.read(self._reconcile, rule, note is None, trigger is MirrorTrigger.MANUAL)
                if preview.target_read_at is None:
                    raise Refused(f"the target has never been read into the mirror, so nothing can be matched yet"
                                  f"{': ' + note if note else ''}")
                await self.store.write(self._hand_in, rule, run_id, preview, note)
            except Exception as failure:
                if not isinstance(failure, Refused):
                    log.exception("mirror run %s of %s failed", run_id, rule.key)
                await self._fail(run_id, failure)
                return
        self.wake_dispatcher()

    async def _fail(self, run_id: int, failure: Exception) -> None:
        error = _plain(failure)
        await self.store.write(lambda db: storage.finish_mirror_run(
            db, run_id, state=MirrorRunState.FAILED, now=self.clock(), counts={}, error=error))

    def _hand_in(self, db: Any, rule: MirrorRule, run_id: int, preview: Preview, note: str | None) -> None:
        """Every outgoing write into the outbox, and the run's outcome, in one transaction."""
        not_accepted: list[Problem] = []
        handed = {"inserts": 0, "changes": 0}
        for item in preview.handover.outgoing:
            try:
                outbox.accept(db, self.settings, rule.client, self.clock(), _request(self.settings, rule, item),
                              internal=True)
            except (Refused, msgspec.ValidationError) as refusal:
                not_accepted.append(Problem(item.write.key, f"the outbox did not take the write: {refusal}"))
                continue
            handed["inserts" if item.kind is ActionKind.MIRROR_INSERT else "changes"] += 1
        found, handover = preview.plan, preview.handover
        problems = [*not_accepted, *problems_of(preview)]
        counts = {**handed, "source_rows": found.source_rows, "target_rows": found.target_rows,
                  "waiting": len(handover.waiting) + len(handover.held), "unchanged": found.unchanged,
                  "only_in_target": found.only_in_target, "source_without_key": found.source_without_key,
                  "target_without_key": found.target_without_key,
                  "duplicate_keys": len(set(found.duplicate_source_keys)) + len(found.duplicate_target_keys),
                  "refused": len(handover.refused), "errors": len(problems)}
        error = None
        if not_accepted:
            error = f"{len(not_accepted)} rows could not be handed to the outbox; the first: {not_accepted[0].key}: " \
                    f"{not_accepted[0].reason}"
        storage.finish_mirror_run(db, run_id, state=MirrorRunState.DONE, now=self.clock(), counts=counts,
                                  target_note=note, error=error,
                                  problems=msgspec.json.encode(problems[:PROBLEMS_KEPT]).decode())


class Problem(msgspec.Struct):
    """Something a run found wrong with one row: the target `key` it concerns and the `reason`, in words."""

    key: str
    reason: str


PROBLEMS_KEPT = 50
"""How many of a run's problems it keeps to show (all are counted)."""


def problems_of(preview: Preview) -> list[Problem]:
    """What a reconciliation found wrong, row by row: writes refused for good (not planned again until the source row
    changes), keys several source rows share (only the first is written), keys several target rows carry (matched,
    never changed), and writes that failed after their tries (planned again once the target is read again)."""
    found, handover = preview.plan, preview.handover
    read = ", ".join(sorted(preview.rule.key_expression.fields))
    by = f"by their {read}" if read else "identified_by reads no field of theirs"
    problems = [Problem(item.write.key, item.reason) for item in handover.refused]
    shared = Counter(found.duplicate_source_keys)  # a key once per row beyond the first
    problems += [Problem(key, f"{extra + 1} source rows map to this key ({by}): only the first is written, "
                              f"{extra} are not mirrored") for key, extra in shared.items()]
    problems += [Problem(key, f"several target rows carry this {preview.rule.key_field}: matched, never changed")
                 for key in found.duplicate_target_keys]
    problems += [Problem(write.key, "its write failed after every try; planned again once the target is read again")
                 for write in handover.held]
    return problems


def _due(db: Any, rule: MirrorRule) -> bool:
    source = rule.settings.source
    latest = storage.latest_done_sync_run(db, source.environment, source.administration, source.entity)
    if latest is None:
        return False
    last = storage.latest_mirror_runs(db).get(rule.key)
    return last is None or (last["source_sync_run"] or 0) < latest["id"]


def _request(settings: Settings, rule: MirrorRule, item: Outgoing) -> outbox.ActionRequest:
    target = rule.settings.target
    environment = settings.environment(target.environment)
    assert environment is not None, "the configuration check names every rule's environments"
    write = item.write
    payload: dict[str, Any] = {"entity": target.entity, "key": write.key,
                               "fields": {name: value for name, value in write.fields.items() if value is not None}}
    if write.row is not None:
        payload["row"] = write.row
    return msgspec.convert({"idempotency_key": item.idempotency_key, "integration": environment.integration,
                            "environment": target.environment, "administration": target.administration,
                            "kind": item.kind, "payload": payload}, outbox.ActionRequest)


def _plain(failure: Exception) -> str:
    if isinstance(failure, Refused):
        return str(failure)
    return f"an unexpected fault of ours ({type(failure).__name__}: {failure}); see the service's log"


MirrorsDep = NamedDependency[SkipValidation[MirrorEngine]]
"""`mirrors`: the process's mirror engine; injected into handlers (`web.dependencies`)."""
