"""Twinfield's rate limits, obeyed rather than discovered: its credits and 429s read into the shared call budget.

Twinfield's rules (its documentation on the web services' rate limits, enforced since December 2024):
- every call costs **credits** from a budget **per organisation per minute**; writes cost more than reads;
- a **concurrency limit** per organisation (Twinfield advises one call at a time);
- over either limit it answers **HTTP 429 with `Retry-After`** (seconds); nothing of a refused call happened.

Twinfield states no remaining budget in its answers (unlike Exact Online's `X-RateLimit-*` headers), so the credits
are counted on our side: `CreditMeter` keeps what was spent per organisation in the current clock minute, at the
prices of `TwinfieldSettings` (`credits_per_minute`, `read_credits`, `write_credits`: the numbers of the customer's
Twinfield contract; the defaults are the sandbox's), in a `SpentStore` that every process of the service shares (its
database): a call takes its credits there before it is sent, only while they fit, so two processes together never
spend more than the organisation's minute. Before each call the meter's word is handed to the service-wide
`integrations.call_budget.CallBudget` as a minute `Window`, in calls at the price of a write, so the budget's
priority classes and the bookings' share work for Twinfield as they do for Exact Online; a 429 is handed to it as a
window spent until `Retry-After` has passed (that hold is this process's: another process hears its own 429).

The budget is kept per **organisation** (its code, e.g. `JANSEN`), not per office: that is the unit of Twinfield's
limits, so the console's budget rows for Twinfield name organisations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from integrations.base import Clock, Sleep
from integrations.call_budget import CallBudget
from integrations.rate_limits import LocalSpent, SpentStore, Window

KEY = "twinfield"
MINUTE = timedelta(minutes=1)


def minute_of(now: datetime) -> datetime:
    """The clock minute `now` lies in (its start): the window Twinfield's credits are counted in."""
    return now.replace(second=0, microsecond=0)


class CreditMeter:
    """Credits spent per organisation in the current clock minute, by every process sharing `spent`.

    `CreditMeter(per_minute=600, read_credits=1, write_credits=3, clock=..., spent=...)`; `take(organisation,
    write=...)` takes one call's credits (the minute they were taken in, or None when they do not fit),
    `window(organisation)` is what is left as a budget `Window` in calls at the write price (rounded down, so a read
    never finds the window open when a write would not fit). Without `spent`, this process counts alone."""

    def __init__(self, *, per_minute: int, read_credits: int, write_credits: int, clock: Clock,
                 spent: SpentStore | None = None) -> None:
        self.per_minute, self.read_credits, self.write_credits = per_minute, read_credits, write_credits
        self._clock = clock
        self._spent: SpentStore = spent if spent is not None else LocalSpent()

    def cost(self, *, write: bool) -> int:
        return self.write_credits if write else self.read_credits

    async def left(self, organisation: str) -> int:
        """Credits left in this minute (credits)."""
        return self.per_minute - await self._spent.spent(KEY, organisation, minute_of(self._clock()))

    async def take(self, organisation: str, *, write: bool) -> datetime | None:
        """Spend one call's credits in this minute if they fit: the minute's start, or None when they do not."""
        minute = minute_of(self._clock())
        fits = await self._spent.spend(KEY, organisation, minute, self.cost(write=write), self.per_minute)
        return minute if fits else None

    async def refund(self, organisation: str, minute: datetime, *, write: bool) -> None:
        """A call Twinfield refused with 429 cost nothing: its credits go back to the minute they were taken in."""
        await self._spent.refund(KEY, organisation, minute, self.cost(write=write))

    async def window(self, organisation: str) -> Window:
        """What is left of this minute, in calls at the write price."""
        minute = minute_of(self._clock())
        left = self.per_minute - await self._spent.spent(KEY, organisation, minute)
        return Window(limit=self.per_minute // self.write_credits, remaining=max(0, left) // self.write_credits,
                      reset_at=minute + MINUTE)


class TwinfieldLimits:
    """The call budget as Twinfield's calls pass it: `turn(organisation, write=...)` around each call waits for the
    budget (and the credits a call of its price needs) and gives the minute its credits were taken in;
    `too_many(organisation, retry_at, minute, write=...)` hands it a 429. Share one per process between every
    connection (two environments may be offices of one organisation)."""

    def __init__(self, budget: CallBudget, meter: CreditMeter, *, clock: Clock, sleep: Sleep) -> None:
        self.budget, self.meter = budget, meter
        self._clock, self._sleep = clock, sleep
        self._held_until: dict[str, datetime] = {}

    async def window(self, organisation: str) -> Window:
        """The minute window as the budget should see it now: spent while a 429's `Retry-After` runs."""
        window = await self.meter.window(organisation)
        held = self._held_until.get(organisation)
        if held is not None and held > self._clock():
            return Window(window.limit, 0, held)
        return window

    @asynccontextmanager
    async def turn(self, organisation: str, *, write: bool) -> AsyncIterator[datetime]:
        while True:
            self.budget.observe(KEY, organisation, await self.window(organisation), None)
            async with self.budget.call(KEY, organisation):
                minute = await self.meter.take(organisation, write=write)
                if minute is not None:
                    yield minute
                    return
            # The budget's word and the shared credits disagree (another process spent them meanwhile): the minute
            # is spent, so wait for the next.
            await self._sleep((minute_of(self._clock()) + MINUTE - self._clock()).total_seconds())

    async def too_many(self, organisation: str, retry_at: datetime, minute: datetime, *, write: bool) -> None:
        """Twinfield answered 429 to a call whose credits were taken in `minute`: every class waits until
        `retry_at`; the refused call cost nothing."""
        await self.meter.refund(organisation, minute, write=write)
        self._held_until[organisation] = max(retry_at, self._held_until.get(organisation, retry_at))
        self.budget.observe(KEY, organisation, await self.window(organisation), None)
