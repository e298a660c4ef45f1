"""The rules of one call budget per (integration, administration), as plain Python: no I/O, no framework.

The accounting system says what an app may call in an administration: Exact Online answers every call to a
division with `X-RateLimit-Minutely-Limit/-Remaining/-Reset` and `X-RateLimit-Limit/-Remaining/-Reset` (the
daily budget; resets in epoch milliseconds), 60 calls a minute and 5,000 a day by default, per app and division;
calls without a division (`current/Me`) do not count (Exact Online, "API limits"). What we do with it is ours:

- **Priority classes**, highest first: bookings and their look-ups, rights checks, probes, sync.
- **A lower class never takes the last calls of a window a higher class needs**: a call of a lower class goes
  only while the minute's remaining calls exceed what the higher classes are waiting with plus what they are
  expected to use before the window resets, at the pace they called in the last `PACE_WINDOW`.
- **A daily reserve for bookings**: once the day's remaining calls are down to `reserve_fraction` of the daily
  limit (20 % by default), only bookings may call; the others are refused until the daily reset.
- A spent window stops every class: the minute until its reset (worth waiting for), the day until its reset
  (handed back to the caller to reschedule, since waiting a minute does not help: Exact's daily 429 lasts
  until the daily reset).

`decide` is the whole rule; `AdministrationBudget` is what it reads, and `note_call`/`note_limits` are how it
changes. Times are timezone-aware UTC datetimes; counts are calls.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum, IntEnum

DEFAULT_DAILY_RESERVE = 0.2
"""Share of the daily limit kept for bookings (the issue's default: 20 %)."""

PACE_WINDOW = timedelta(seconds=60)
"""How far back a class's calls count towards the pace it is expected to keep."""


class CallClass(IntEnum):
    """Who a call is for; a lower value goes first."""

    BOOKING = 0
    """Bookings, book-and-block, unblock, relations, and the look-ups by idempotency key that precede a resend."""
    RIGHTS = 1
    """The pre-booking rights check (accessible administrations, rights per endpoint)."""
    PROBE = 2
    """Scheduled and command-line probes."""
    SYNC = 3
    """Master-data sync (arrives with a later issue)."""

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Window:
    """One budget as the accounting system last stated it: `limit` and `remaining` calls until `reset_at`."""

    limit: int
    remaining: int
    reset_at: datetime

    def current(self, now: datetime) -> bool:
        """Whether the window still applies; after its reset nothing is known until the next answer."""
        return now < self.reset_at


def merge(known: Window | None, heard: Window) -> Window:
    """Answers may arrive out of order; within one window the remaining budget only goes down."""
    if known is not None and known.reset_at == heard.reset_at and known.remaining < heard.remaining:
        return known
    return heard


class DecisionKind(Enum):
    GO = "go"
    WAIT = "wait"
    """Try again at `until` (a spent minute, or the minute's last calls held for a higher class)."""
    REFUSE = "refuse"
    """Not before `until` (the day is spent, or down to the bookings' reserve): reschedule, do not wait."""


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    until: datetime | None = None
    reason: str = ""


GO = Decision(DecisionKind.GO)


@dataclass
class AdministrationBudget:
    """What one process knows of one (integration, administration) budget."""

    minutely: Window | None = None
    daily: Window | None = None
    day: date | None = None
    used_today: dict[CallClass, int] = field(default_factory=dict)
    recent: deque[tuple[datetime, CallClass]] = field(default_factory=deque)
    """Calls made in the last `PACE_WINDOW`, oldest first."""


def reserve(daily_limit: int, fraction: float) -> int:
    """Calls of the day kept for bookings: `fraction` of the limit, rounded up."""
    return math.ceil(daily_limit * fraction)


def expected_use(budget: AdministrationBudget, above: CallClass, now: datetime, until: datetime) -> int:
    """Calls the classes above `above` are expected to make from `now` to `until` (at most one `PACE_WINDOW`
    ahead), at the pace they kept in the last `PACE_WINDOW`."""
    since = now - PACE_WINDOW
    calls = sum(1 for at, cls in budget.recent if at > since and cls < above)
    seconds = min(max(0.0, (until - now).total_seconds()), PACE_WINDOW.total_seconds())
    return math.ceil(calls * seconds / PACE_WINDOW.total_seconds())


def decide(
    budget: AdministrationBudget, cls: CallClass, now: datetime, waiting: Mapping[CallClass, int],
    reserve_fraction: float = DEFAULT_DAILY_RESERVE,
) -> Decision:
    """May a call of class `cls` go now? `waiting` counts the calls of each class waiting for their turn."""
    daily = budget.daily if budget.daily is not None and budget.daily.current(now) else None
    if daily is not None:
        if daily.remaining <= 0:
            return Decision(DecisionKind.REFUSE, daily.reset_at, "the daily limit is spent")
        if cls is not CallClass.BOOKING and daily.remaining <= reserve(daily.limit, reserve_fraction):
            return Decision(DecisionKind.REFUSE, daily.reset_at,
                            f"the last {reserve(daily.limit, reserve_fraction)} calls of the day are kept for bookings")
    minutely = budget.minutely if budget.minutely is not None and budget.minutely.current(now) else None
    if minutely is None:
        return GO
    if minutely.remaining <= 0:
        return Decision(DecisionKind.WAIT, minutely.reset_at, "the minute's calls are spent")
    if cls is CallClass.BOOKING:
        return GO
    held = sum(n for waiting_class, n in waiting.items() if waiting_class < cls)
    held += expected_use(budget, cls, now, minutely.reset_at)
    if minutely.remaining <= held:
        return Decision(DecisionKind.WAIT, minutely.reset_at,
                        f"the minute's last {minutely.remaining} calls are held for higher classes")
    return GO


def note_call(budget: AdministrationBudget, cls: CallClass, now: datetime) -> None:
    """A call of `cls` is going out now: count it, and spend it from what is known until the answer says more."""
    if budget.day != now.date():
        budget.day, budget.used_today = now.date(), {}
    budget.used_today[cls] = budget.used_today.get(cls, 0) + 1
    budget.recent.append((now, cls))
    since = now - PACE_WINDOW
    while budget.recent and budget.recent[0][0] <= since:
        budget.recent.popleft()
    for name in ("minutely", "daily"):
        window: Window | None = getattr(budget, name)
        if window is not None and window.current(now):
            setattr(budget, name, Window(window.limit, max(0, window.remaining - 1), window.reset_at))


def note_limits(budget: AdministrationBudget, minutely: Window | None, daily: Window | None) -> None:
    """What the accounting system answered about its budgets."""
    if minutely is not None:
        budget.minutely = merge(budget.minutely, minutely)
    if daily is not None:
        budget.daily = merge(budget.daily, daily)
