"""The call budget: what it costs per call, and whether bookings keep their share under a lower class's load.

    .venv/bin/python bench/budget.py [--calls 50000] [--minutes 10]

1. Cost per call: `CallBudget.call(...)` entered and left, plus `observe(...)` of the answer's limits, in a
   tight loop on one administration with limits that never bind (real clock). Target: under 50 µs.
2. Bookings per minute on one administration at Exact Online's 60 calls a minute, in virtual time, with a
   simulated accounting system (0.2 s per call, minute windows on the clock's minute like Exact's, a 429 for a
   call over the limit): a booking lane that always has work (one booking at a time, 0.05 s to record each),
   alone, and then beside four probe workers calling as fast as the budget lets them. Target: within 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta

from integrations.budget import CallClass, Window
from integrations.call_budget import CallBudget

KEY, ADMINISTRATION = "exact-online", "201"
START = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
DAY_END = START.replace(hour=0) + timedelta(days=1)


async def cost_per_call(calls: int) -> float:
    """Microseconds per admitted call (enter, leave, observe), averaged over `calls`."""
    budget = CallBudget(clock=lambda: datetime.now(UTC))
    minute = Window(1_000_000_000, 1_000_000_000, datetime.now(UTC) + timedelta(hours=1))
    day = Window(1_000_000_000, 1_000_000_000, datetime.now(UTC) + timedelta(days=1))
    classes = [CallClass.BOOKING, CallClass.RIGHTS]  # admitted at once; a probe would rightly wait for them
    started = time.perf_counter()
    for n in range(calls):
        async with budget.call(KEY, ADMINISTRATION, classes[n % 2]):
            pass
        budget.observe(KEY, ADMINISTRATION, minute, day)
    return (time.perf_counter() - started) / calls * 1e6


class VirtualTime:
    """Time that passes only when every task waits: `sleep` schedules a wake-up; `run` moves to the next one."""

    def __init__(self) -> None:
        self.now = START
        self._timers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + timedelta(seconds=seconds), next(self._order), future))
        await future

    async def run(self, until: datetime) -> None:
        while self.now < until:
            for _ in range(20):  # let every runnable task reach its next wait
                await asyncio.sleep(0)
            if not self._timers:
                return
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            future.set_result(None)


class Accounting:
    """Exact Online's minutely budget per division, as the sandbox keeps it: windows on the clock's minute."""

    def __init__(self, clock: VirtualTime, limit: int, latency: float) -> None:
        self.clock, self.limit, self.latency = clock, limit, latency
        self.window_start = START
        self.used = 0
        self.refused = 0

    async def call(self) -> Window | None:
        await self.clock.sleep(self.latency)
        start = self.clock.now.replace(second=0, microsecond=0)
        if start != self.window_start:
            self.window_start, self.used = start, 0
        reset = start + timedelta(minutes=1)
        if self.used >= self.limit:
            self.refused += 1
            return Window(self.limit, 0, reset)
        self.used += 1
        return Window(self.limit, self.limit - self.used, reset)


async def bookings_per_minute(minutes: int, probe_workers: int, *, limit: int = 60,
                              between_bookings: float = 0.05) -> tuple[float, float, int]:
    """(bookings a minute, probe calls a minute, calls the accounting system refused) over `minutes`."""
    clock = VirtualTime()
    budget = CallBudget(clock=clock, sleep=clock.sleep, max_wait=timedelta(minutes=5))
    exact = Accounting(clock, limit, latency=0.2)
    counts = {CallClass.BOOKING: 0, CallClass.PROBE: 0}

    async def worker(cls: CallClass, pause: float) -> None:
        while True:
            async with budget.call(KEY, ADMINISTRATION, cls):
                window = await exact.call()
                budget.observe(KEY, ADMINISTRATION, window, Window(100_000, 90_000, DAY_END))
            if window is not None and window.remaining >= 0 and exact.used <= limit:
                counts[cls] += 1
            await clock.sleep(pause)

    tasks = [asyncio.create_task(worker(CallClass.BOOKING, between_bookings))]
    tasks += [asyncio.create_task(worker(CallClass.PROBE, 0.01)) for _ in range(probe_workers)]
    await clock.run(START + timedelta(minutes=minutes))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counts[CallClass.BOOKING] / minutes, counts[CallClass.PROBE] / minutes, exact.refused


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    await cost_per_call(2_000)  # warm up
    cost = min([await cost_per_call(args.calls) for _ in range(3)])
    print(f"cost per call: {cost:.1f} µs (best of 3 runs of {args.calls} calls; target < 50 µs)")
    alone, _, refused_alone = await bookings_per_minute(args.minutes, 0)
    shared, probes, refused_shared = await bookings_per_minute(args.minutes, 4)
    change = (shared - alone) / alone * 100
    print(f"bookings a minute at 60 calls a minute, alone: {alone:.1f} ({refused_alone} calls refused)")
    print(f"bookings a minute beside 4 probe workers: {shared:.1f} ({change:+.1f} %; probes got {probes:.1f} "
          f"calls a minute; {refused_shared} calls refused; target within 5 %)")
    # A lane that wants 30 a minute (one booking every 2 s): the probes get the rest, the bookings all they want.
    trickle, _, _ = await bookings_per_minute(args.minutes, 0, between_bookings=1.8)
    shared, probes, refused = await bookings_per_minute(args.minutes, 4, between_bookings=1.8)
    print(f"bookings a minute wanting 30, alone: {trickle:.1f}; beside 4 probe workers: {shared:.1f} "
          f"({(shared - trickle) / trickle * 100:+.1f} %; probes got {probes:.1f} calls a minute; {refused} refused)")


if __name__ == "__main__":
    asyncio.run(main())
