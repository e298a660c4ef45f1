"""The call budget every outbound call of the service passes: one per (integration, administration).

Share one `CallBudget` between every connector of a process. Each call names its class through the
`calling_as` context (bookings unless said otherwise), takes its administration's turn, is admitted by the
rules of `integrations.budget`, and its answer's limits are fed back with `observe`. Calls to one
administration go one at a time, so the remaining budget is known exactly before each call; when the turn
frees, the waiting call of the highest class gets it. Calls without an administration (Exact Online's
`current/Me`) do not count against any budget and pass straight through.

What is shared between processes: the limits the accounting system states are global (they are per app and
administration, whichever process calls), so every answer brings a process up to date; `drain` hands the
service what changed (windows, and calls per class) to keep in its database, and `adopt` takes in what other
processes reported. What stays per process is the turn and the waiting queue: two processes may each have one
call in flight to an administration, which costs at most one call of the minute more than planned, and the
accounting system's own answer (a 429 without `Retry-After`) is waited out like a spent minute.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from integrations.base import Clock, RateLimited, Sleep
from integrations.budget import (
    DEFAULT_DAILY_RESERVE,
    AdministrationBudget,
    CallClass,
    DecisionKind,
    Window,
    current,
    decide,
    note_call,
    note_limits,
    note_short,
)

DEFAULT_MAX_WAIT = timedelta(seconds=65)
"""Longer waits (a spent day, the bookings' reserve) are handed back as `RateLimited`, so the caller reschedules."""

YIELD_STEP = timedelta(seconds=1)
"""A call held back for a higher class looks again this often: the higher class may have gone quiet."""

_call_class: ContextVar[CallClass] = ContextVar("call_class", default=CallClass.BOOKING)


@contextmanager
def calling_as(cls: CallClass) -> Iterator[None]:
    """Every call made inside (and in tasks started inside) counts as `cls`."""
    token = _call_class.set(cls)
    try:
        yield
    finally:
        _call_class.reset(token)


def current_class() -> CallClass:
    return _call_class.get()


BudgetKey = tuple[str, str]
"""(integration key, administration code)."""


@dataclass(frozen=True)
class BudgetReport:
    """What changed in one budget since the last `drain`: the latest windows and the calls made per class."""

    integration: str
    administration: str
    minutely: Window | None
    daily: Window | None
    calls: dict[CallClass, int]


class _Turn:
    """One administration's turn: held by one call at a time, handed to the highest class waiting."""

    def __init__(self) -> None:
        self.busy = False
        self.waiters: list[tuple[int, int, asyncio.Future[None]]] = []

    async def enter(self, cls: CallClass, order: Iterator[int]) -> None:
        if not self.busy and not self.waiters:
            self.busy = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiters, (int(cls), next(order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.leave()  # the turn was handed over just as the caller gave up: pass it on
            else:
                self.waiters = [w for w in self.waiters if w[2] is not future]
                heapq.heapify(self.waiters)
            raise

    def leave(self) -> None:
        while self.waiters:
            _, _, future = heapq.heappop(self.waiters)
            if not future.done():
                future.set_result(None)  # busy stays True: the turn passes straight on
                return
        self.busy = False


class CallBudget:
    def __init__(
        self, *, clock: Clock, sleep: Sleep = asyncio.sleep, reserve_fraction: float = DEFAULT_DAILY_RESERVE,
        max_wait: timedelta = DEFAULT_MAX_WAIT,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.reserve_fraction = reserve_fraction
        self._max_wait = max_wait
        self._budgets: dict[BudgetKey, AdministrationBudget] = {}
        self._turns: dict[BudgetKey, _Turn] = {}
        self._waiting: dict[BudgetKey, Counter[CallClass]] = {}
        self._unsaved: dict[BudgetKey, Counter[CallClass]] = {}
        self._order = itertools.count()

    def budget(self, integration: str, administration: str) -> AdministrationBudget:
        key = (integration, administration)
        found = self._budgets.get(key)
        if found is None:
            found = self._budgets[key] = AdministrationBudget()
        return found

    def known(self) -> dict[BudgetKey, AdministrationBudget]:
        return dict(self._budgets)

    @asynccontextmanager
    async def call(
        self, integration: str, administration: str | None, cls: CallClass | None = None
    ) -> AsyncIterator[None]:
        """Hold the administration's turn for one call, once the budget admits a call of `cls` (default: the
        `calling_as` class). Raises `RateLimited` when the wait would exceed `max_wait` (a spent day, the
        bookings' daily reserve)."""
        if administration is None:
            yield
            return
        cls = current_class() if cls is None else cls
        key = (integration, administration)
        await self._admit(key, cls)
        try:
            yield
        finally:
            self._turns[key].leave()

    async def _admit(self, key: BudgetKey, cls: CallClass) -> None:
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        waiting = self._waiting.setdefault(key, Counter())
        budget = self.budget(*key)
        while True:
            waiting[cls] += 1
            try:
                await turn.enter(cls, self._order)
            finally:
                waiting[cls] -= 1
            now = self._clock()
            decision = decide(budget, cls, now, waiting, self.reserve_fraction)
            if decision.kind is DecisionKind.GO:
                note_call(budget, cls, now)
                self._unsaved.setdefault(key, Counter())[cls] += 1
                return
            assert decision.until is not None
            wait = decision.until - now
            if decision.kind is DecisionKind.REFUSE or wait > self._max_wait:
                turn.leave()
                raise RateLimited(decision.until, f"{key[0]} administration {key[1]}: {decision.reason}")
            if not decision.for_higher:
                note_short(budget, cls, wait.total_seconds())  # demand the next window must expect
                # Everyone waits for this reset: keep the turn meanwhile, then hand it to the highest class
                # waiting (which may be this call again) to decide afresh in the new window.
                try:
                    await self._sleep(wait.total_seconds())
                finally:
                    turn.leave()
                continue
            turn.leave()  # held for a higher class: let it have the turn, look again shortly
            await self._sleep(min(wait, YIELD_STEP).total_seconds())

    def observe(self, integration: str, administration: str | None, minutely: Window | None,
                daily: Window | None) -> None:
        """The limits an answer stated for the administration."""
        if administration is None or (minutely is None and daily is None):
            return
        key = (integration, administration)
        note_limits(self.budget(*key), minutely, daily)
        self._unsaved.setdefault(key, Counter())

    def minutely_limit(self, integration: str, administration: str | None) -> int | None:
        """Calls a minute the accounting system last stated for the administration; None before it said."""
        budget = self._budgets.get((integration, administration)) if administration is not None else None
        return None if budget is None or budget.minutely is None else budget.minutely.limit

    def spent_until(self, integration: str, administration: str | None) -> datetime | None:
        """When a spent window of the administration resets, if one is spent now."""
        budget = self._budgets.get((integration, administration)) if administration is not None else None
        if budget is None:
            return None
        now = self._clock()
        moments = [w.reset_at for w in (budget.minutely, budget.daily)
                   if w is not None and w.remaining <= 0 and current(w, now)]
        return max(moments, default=None)

    def drain(self) -> list[BudgetReport]:
        """What changed since the last drain, for the service to keep where every process sees it."""
        reports = [BudgetReport(key[0], key[1], self._budgets[key].minutely, self._budgets[key].daily, dict(calls))
                   for key, calls in self._unsaved.items()]
        self._unsaved = {}
        return reports

    def adopt(self, integration: str, administration: str, minutely: Window | None, daily: Window | None) -> None:
        """Limits another process heard: kept unless this process knows a later (or lower) word."""
        note_limits(self.budget(integration, administration), minutely, daily)
