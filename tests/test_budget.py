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
    demand,
    note_call,
    reserve,
)
from integrations.call_budget import CallBudget, calling_as, current_class

NOW = datetime(2026, 11, 23, 9, 30, 10, tzinfo=UTC)
MINUTE_END = NOW + timedelta(seconds=50)
DAY_END = datetime(2026, 11, 24, tzinfo=UTC)
B, R, P, S = CallClass.BOOKING, CallClass.RIGHTS, CallClass.PROBE, CallClass.SYNC


def budget(minute_left: int | None = 30, day_left: int | None = 4000, *, last: dict[CallClass, int] | None = None,
           this: dict[CallClass, int] | None = None, busy: CallClass | None = None) -> AdministrationBudget:
    """A budget as stated, with the calls per class of the previous window (`last`) and of this one (`this`),
    and a class that started a call half a second ago (`busy`)."""
    return AdministrationBudget(
        minutely=None if minute_left is None else Window(60, minute_left, MINUTE_END),
        daily=None if day_left is None else Window(5000, day_left, DAY_END),
        last_window_calls=last or {}, window_calls=this or {}, window_reset=MINUTE_END,
        last_call={busy: NOW - timedelta(seconds=0.5)} if busy is not None else {},
    )


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
    # ... nor the calls a higher class is expected to make before the reset: as many as it made in the previous
    # window, less those it made in this one. 60 bookings last minute leave nothing for probes; 12 leave the rest.
    (budget(60, 4000, last={B: 60}), P, {}, DecisionKind.WAIT, MINUTE_END),
    (budget(30, 4000, last={B: 60}, this={B: 30}), P, {}, DecisionKind.WAIT, MINUTE_END),
    (budget(30, 4000, last={B: 12}), P, {}, DecisionKind.GO, None),
    (budget(12, 4000, last={B: 12}), P, {}, DecisionKind.WAIT, MINUTE_END),
    (budget(12, 4000, last={B: 12}, this={B: 2}), P, {}, DecisionKind.GO, None),
    (budget(10, 4000, last={P: 60}), R, {}, DecisionKind.GO, None),  # a lower class holds nothing back
    # A rights check is held for bookings waiting at the turn, never for their expected calls: the pre-booking
    # check is what those bookings wait for, so holding it for them would stall them until the window resets.
    (budget(60, 4000, last={B: 60}), R, {}, DecisionKind.GO, None),
    (budget(30, 4000, last={B: 60}, this={B: 30}), R, {}, DecisionKind.GO, None),
    (budget(1, 4000), R, {B: 1}, DecisionKind.WAIT, MINUTE_END),
    (budget(10, 4000, last={R: 12}), S, {}, DecisionKind.WAIT, MINUTE_END),
    # Background classes yield to bookings busy with the administration (a booking call started within 1 s);
    # rights checks, part of booking, do not; nor does anyone yield to a busy lower class.
    (budget(30, 4000, busy=B), P, {}, DecisionKind.WAIT, NOW + timedelta(seconds=0.5)),
    (budget(30, 4000, busy=B), S, {}, DecisionKind.WAIT, NOW + timedelta(seconds=0.5)),
    (budget(30, 4000, busy=B), R, {}, DecisionKind.GO, None),
    (budget(30, 4000, busy=R), P, {}, DecisionKind.GO, None),
    (budget(30, 4000, busy=S), P, {}, DecisionKind.GO, None),
    # A window that reset without a new word is full again, and held back for bookings alike.
    (budget(0, 4000, last={B: 60}), B, {}, DecisionKind.WAIT, MINUTE_END),
])
def test_who_may_call_now(state, cls, waiting, kind, until) -> None:
    decision = decide(state, cls, NOW, waiting)
    assert (decision.kind, decision.until) == (kind, until), decision.reason


@pytest.mark.parametrize(("limit", "fraction", "kept"), [(5000, 0.2, 1000), (60, 0.2, 12), (7, 0.2, 2), (5000, 0.0, 0)])
def test_the_reserve_is_a_share_of_the_daily_limit_rounded_up(limit, fraction, kept) -> None:
    assert reserve(limit, fraction) == kept


def test_a_reset_window_is_taken_as_full_again_until_an_answer_says_otherwise() -> None:
    state = budget(0, 4000, last={B: 60}, this={B: 60})
    after_reset = MINUTE_END + timedelta(seconds=1)
    assert decide(state, B, after_reset, {}).kind is DecisionKind.GO
    note_call(state, B, after_reset)  # the first call of the new window
    assert (state.last_window_calls, state.window_calls) == ({B: 60}, {B: 1})
    assert decide(state, P, after_reset, {}).kind is DecisionKind.WAIT  # 60 expected, 60 left at most


@pytest.mark.parametrize(("seconds_after_reset", "made", "kind"), [
    (1, 30, DecisionKind.GO), (59, 30, DecisionKind.GO), (1, 60, DecisionKind.WAIT), (61, 60, DecisionKind.GO)])
def test_a_window_that_reset_counts_as_the_previous_one_before_the_next_call_or_answer(
    seconds_after_reset, made, kind
) -> None:
    """Bookings made `made` calls in a window after 120 in the one before (within it, a probe waits for the rest of
    the 120). Once it has reset, with no call or answer since, the new window is full and bookings are expected to
    make `made` calls in it (nothing a window later): the old counts no longer hold the probe back for good."""
    state = budget(0, 4000, last={B: 120}, this={B: made})
    decision = decide(state, P, MINUTE_END + timedelta(seconds=seconds_after_reset), {})
    assert decision.kind is kind, decision.reason


@pytest.mark.parametrize(("calls", "blocked", "wanted"), [(60, 0.0, 60), (12, 36.0, 30), (0, 60.0, 0), (5, 60.0, 300)])
def test_a_class_that_waited_for_the_reset_wanted_more_than_it_made(calls, blocked, wanted) -> None:
    assert demand(calls, blocked) == wanted


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
