"""The call budget's rules as tables, and the shared budget keeping bookings first under contention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from integrations.base import RateLimited
from integrations.budget import (
    AdministrationBudget,
    CallClass,
    DecisionKind,
    Window,
    decide,
    note_call,
    reserve,
)
from integrations.call_budget import CallBudget, calling_as, current_class

NOW = datetime(2026, 11, 23, 9, 30, 10, tzinfo=UTC)
MINUTE_END = NOW + timedelta(seconds=50)
DAY_END = datetime(2026, 11, 24, tzinfo=UTC)
B, R, P, S = CallClass.BOOKING, CallClass.RIGHTS, CallClass.PROBE, CallClass.SYNC


def budget(minute_left: int | None = 30, day_left: int | None = 4000, *, recent: dict[CallClass, int] | None = None
           ) -> AdministrationBudget:
    state = AdministrationBudget(
        minutely=None if minute_left is None else Window(60, minute_left, MINUTE_END),
        daily=None if day_left is None else Window(5000, day_left, DAY_END),
    )
    for cls, calls in (recent or {}).items():
        for n in range(calls):
            state.recent.append((NOW - timedelta(seconds=30) + timedelta(milliseconds=n), cls))
    return state


@pytest.mark.parametrize(("state", "cls", "waiting", "kind", "until"), [
    # Nothing stated yet, or the windows have reset: every class may call.
    (budget(None, None), S, {}, DecisionKind.GO, None),
    (budget(30, 4000), S, {}, DecisionKind.GO, None),
    # A spent minute stops every class until its reset; a spent day until the daily reset.
    (budget(0, 4000), B, {}, DecisionKind.WAIT, MINUTE_END),
    (budget(30, 0), B, {}, DecisionKind.REFUSE, DAY_END),
    # The daily reserve (20 % of 5,000 = 1,000) is kept for bookings.
    (budget(30, 1000), B, {}, DecisionKind.GO, None),
    (budget(30, 1000), R, {}, DecisionKind.REFUSE, DAY_END),
    (budget(30, 1001), P, {}, DecisionKind.GO, None),
    # A lower class never takes the minute's last calls a higher class is waiting for ...
    (budget(2, 4000), P, {B: 2}, DecisionKind.WAIT, MINUTE_END),
    (budget(3, 4000), P, {B: 2}, DecisionKind.GO, None),
    (budget(2, 4000), R, {P: 5, S: 5}, DecisionKind.GO, None),  # ... only a higher class holds calls back
    (budget(1, 4000), B, {B: 3}, DecisionKind.GO, None),
    # ... nor the calls a higher class is expected to make before the reset, at its pace of the last minute:
    # 60 bookings a minute leave nothing for probes; 12 a minute leave 30 - 10 (50 s to go) for them.
    (budget(30, 4000, recent={B: 60}), P, {}, DecisionKind.WAIT, MINUTE_END),
    (budget(30, 4000, recent={B: 12}), P, {}, DecisionKind.GO, None),
    (budget(10, 4000, recent={B: 12}), P, {}, DecisionKind.WAIT, MINUTE_END),
    (budget(10, 4000, recent={P: 60}), R, {}, DecisionKind.GO, None),  # a lower class's pace holds nothing back
    (budget(10, 4000, recent={R: 12}), S, {}, DecisionKind.WAIT, MINUTE_END),
])
def test_who_may_call_now(state, cls, waiting, kind, until) -> None:
    decision = decide(state, cls, NOW, waiting)
    assert (decision.kind, decision.until) == (kind, until), decision.reason


@pytest.mark.parametrize(("limit", "fraction", "kept"), [(5000, 0.2, 1000), (60, 0.2, 12), (7, 0.2, 2), (5000, 0.0, 0)])
def test_the_reserve_is_a_share_of_the_daily_limit_rounded_up(limit, fraction, kept) -> None:
    assert reserve(limit, fraction) == kept


def test_a_call_is_counted_per_class_per_day_and_spent_from_what_is_known() -> None:
    state = budget(2, 10)
    note_call(state, B, NOW)
    note_call(state, P, NOW)
    assert (state.minutely.remaining, state.daily.remaining) == (0, 8)
    assert state.used_today == {B: 1, P: 1}
    note_call(state, B, NOW + timedelta(days=1))
    assert state.used_today == {B: 1}


class Time:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def _call(budget: CallBudget, cls: CallClass, order: list[CallClass], time: Time, limit: int) -> None:
    async with budget.call("exact-online", "201", cls):
        order.append(cls)
        await asyncio.sleep(0)
        reset = time.now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        used = sum(1 for _ in order)  # the accounting system's count, for this test's one window
        budget.observe("exact-online", "201", Window(limit, max(0, limit - used), reset), None)


@pytest.mark.anyio
async def test_when_the_turn_frees_the_highest_class_waiting_goes_first() -> None:
    time = Time()
    budget = CallBudget(clock=time, sleep=time.sleep)
    order: list[CallClass] = []
    async with budget.call("exact-online", "201", S):  # holds the turn while the others queue
        tasks = [asyncio.create_task(_call(budget, cls, order, time, 1000)) for cls in (S, P, R, B, P, B)]
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [B, B, R, P, P, S]


@pytest.mark.anyio
async def test_a_day_down_to_the_reserve_is_handed_back_to_all_but_bookings() -> None:
    time = Time()
    budget = CallBudget(clock=time, sleep=time.sleep)
    budget.observe("exact-online", "201", None, Window(5000, 1000, DAY_END))
    with pytest.raises(RateLimited) as refused:
        async with budget.call("exact-online", "201", P):
            pass
    assert refused.value.retry_at == DAY_END and "kept for bookings" in str(refused.value)
    async with budget.call("exact-online", "201", B):
        pass
    async with budget.call("exact-online", None, P):  # without an administration nothing is counted
        pass
    [report] = budget.drain()
    assert report.calls == {B: 1} and report.daily == Window(5000, 999, DAY_END)


def test_the_class_of_a_call_comes_from_its_context() -> None:
    assert current_class() is B
    with calling_as(R):
        assert current_class() is R
    assert current_class() is B


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
