"""The rules of one call budget per (integration, administration), as plain Python: no I/O, no framework.

The accounting system says what an app may call in an administration: Exact Online answers every call to a
division with `X-RateLimit-Minutely-Limit/-Remaining/-Reset` and `X-RateLimit-Limit/-Remaining/-Reset` (the
daily budget; resets in epoch milliseconds), 60 calls a minute and 5,000 a day by default, per app and division;
calls without a division (`current/Me`) do not count (Exact Online, "API limits"). What we do with it is ours:

- **Priority classes**, highest first: bookings and their look-ups, rights checks, probes, sync.
- **A lower class never takes the last calls of a window a higher class needs**: a call of a lower class goes
  only while the minute's remaining calls exceed what the higher classes are waiting with plus what they are
  expected to use before the window resets: as many as they made in the previous window, less what they
  made in this one so far. (Bookings come in bursts, a replay or a morning's backlog; a pace measured in
  seconds would hand their calls to a probe whenever a burst pauses.) A window that has reset but whose new
  limits no answer has stated yet is taken to be full again, as Exact's is. A class that spent part of the
  previous window waiting for its reset wanted more than it made: its calls count at the pace it kept while it
  could call (`demand`). A window whose reset has passed is counted as over even before a call or an answer
  starts the next one: its calls become the previous window's, and none are made in the new one yet.
- **A rights check is held only for bookings waiting at the turn**, never for the bookings' expected use: the
  pre-booking rights check is what the bookings themselves wait for, so holding it back for them would stall
  them until the window resets (and, a window later, again).
- **Background classes yield to busy bookings**: a probe or sync call waits while a booking call started less
  than `BUSY_GAP` ago, so a booking lane working through a backlog is not slowed by lower-class calls
  slipping in between two bookings.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum, IntEnum

from integrations.rate_limits import Window

DEFAULT_DAILY_RESERVE = 0.2
"""Share of the daily limit kept for bookings (the issue's default: 20 %)."""

MINUTE = timedelta(minutes=1)

BUSY_GAP = timedelta(seconds=1)
"""Bookings that started a call this recently are busy: background classes (probes, sync) wait."""


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


def current(window: Window, now: datetime) -> bool:
    """Whether a window still applies; after its reset nothing is known until the next answer."""
    return now < window.reset_at


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
    for_higher: bool = False
    """Held back for a higher class (rather than by a spent window)."""


GO = Decision(DecisionKind.GO)


@dataclass
class AdministrationBudget:
    """What one process knows of one (integration, administration) budget."""

    minutely: Window | None = None
    daily: Window | None = None
    day: date | None = None
    used_today: dict[CallClass, int] = field(default_factory=dict)
    window_calls: dict[CallClass, int] = field(default_factory=dict)
    """Calls per class in the current minute window."""
    last_window_calls: dict[CallClass, int] = field(default_factory=dict)
    """Calls per class in the window before it (empty when a whole window passed without calls)."""
    window_reset: datetime | None = None
    """When the window `window_calls` counts ends; None until an answer states it."""
    last_call: dict[CallClass, datetime] = field(default_factory=dict)
    """When each class last started a call."""
    window_blocked: dict[CallClass, float] = field(default_factory=dict)
    """Seconds each class spent waiting for the current window's reset."""


def reserve(daily_limit: int, fraction: float) -> int:
    """Calls of the day kept for bookings: `fraction` of the limit, rounded up."""
    return math.ceil(daily_limit * fraction)


def _window_counts(budget: AdministrationBudget, now: datetime) -> tuple[dict[CallClass, int], dict[CallClass, int]]:
    """Calls per class of (the previous window, the current one) as of `now`. Once the counted window's reset has
    passed it is the previous one, even if no call or answer has started the next yet; one that ended more than a
    window ago is forgotten."""
    ended = budget.window_reset
    if ended is None or now < ended:
        return budget.last_window_calls, budget.window_calls
    return (_demands(budget) if now - ended < MINUTE else {}), {}


def expected_use(budget: AdministrationBudget, above: CallClass, now: datetime) -> int:
    """Calls the classes above `above` are expected to make in the rest of this window: what they made in the
    previous window, less what they have made in this one."""
    last_calls, calls = _window_counts(budget, now)
    last = sum(n for cls, n in last_calls.items() if cls < above)
    made = sum(n for cls, n in calls.items() if cls < above)
    return max(0, last - made)


def _current_minute(budget: AdministrationBudget, now: datetime) -> Window | None:
    """The minute window in force: as stated, or, once it reset and nothing new was heard, full again."""
    minutely = budget.minutely
    if minutely is None or current(minutely, now):
        return minutely
    passed = (now - minutely.reset_at) // MINUTE + 1
    made = sum(budget.window_calls.values()) if budget.window_reset is None else 0  # calls since the reset
    return Window(minutely.limit, max(0, minutely.limit - made), minutely.reset_at + passed * MINUTE)


def decide(
    budget: AdministrationBudget, cls: CallClass, now: datetime, waiting: Mapping[CallClass, int],
    reserve_fraction: float = DEFAULT_DAILY_RESERVE,
) -> Decision:
    """May a call of class `cls` go now? `waiting` counts the calls of each class waiting for their turn."""
    daily = budget.daily if budget.daily is not None and current(budget.daily, now) else None
    if daily is not None:
        if daily.remaining <= 0:
            return Decision(DecisionKind.REFUSE, daily.reset_at, "the daily limit is spent")
        if cls is not CallClass.BOOKING and daily.remaining <= reserve(daily.limit, reserve_fraction):
            return Decision(DecisionKind.REFUSE, daily.reset_at,
                            f"the last {reserve(daily.limit, reserve_fraction)} calls of the day are kept for bookings")
    minutely = _current_minute(budget, now)
    if minutely is None:
        return GO
    if minutely.remaining <= 0:
        return Decision(DecisionKind.WAIT, minutely.reset_at, "the minute's calls are spent")
    if cls is CallClass.BOOKING:
        return GO
    booked_at = budget.last_call.get(CallClass.BOOKING)
    if cls >= CallClass.PROBE and booked_at is not None and now - booked_at < BUSY_GAP:
        return Decision(DecisionKind.WAIT, min(minutely.reset_at, booked_at + BUSY_GAP),
                        "bookings are busy with this administration", for_higher=True)
    held = sum(n for waiting_class, n in waiting.items() if waiting_class < cls)
    if cls is not CallClass.RIGHTS:  # the bookings' expected calls wait for their rights check: never hold it
        held += expected_use(budget, cls, now)
    if minutely.remaining <= held:
        return Decision(DecisionKind.WAIT, minutely.reset_at,
                        f"the minute's last {minutely.remaining} calls are held for higher classes", for_higher=True)
    return GO


def note_call(budget: AdministrationBudget, cls: CallClass, now: datetime) -> None:
    """A call of `cls` is going out now: count it, and spend it from what is known until the answer says more."""
    if budget.day != now.date():
        budget.day, budget.used_today = now.date(), {}
    budget.used_today[cls] = budget.used_today.get(cls, 0) + 1
    if budget.window_reset is not None and now >= budget.window_reset:
        _next_window(budget, now, None)
    budget.window_calls[cls] = budget.window_calls.get(cls, 0) + 1
    budget.last_call[cls] = now
    for name in ("minutely", "daily"):
        window: Window | None = getattr(budget, name)
        if window is not None and current(window, now):
            setattr(budget, name, Window(window.limit, max(0, window.remaining - 1), window.reset_at))


def note_short(budget: AdministrationBudget, cls: CallClass, seconds: float) -> None:
    """A call of `cls` waits `seconds` for the minute's reset: the class wanted more calls than the window had,
    which the next window's expectation of it must know."""
    budget.window_blocked[cls] = budget.window_blocked.get(cls, 0.0) + seconds


def demand(calls: int, blocked_seconds: float) -> int:
    """Calls a class would have made in a whole window at the pace it kept while it could call."""
    window = MINUTE.total_seconds()
    open_seconds = max(1.0, window - min(blocked_seconds, window))
    return math.ceil(calls * window / open_seconds)


def _demands(budget: AdministrationBudget) -> dict[CallClass, int]:
    """The counted window's calls per class, each at the pace the class kept while it could call."""
    return {cls: demand(n, budget.window_blocked.get(cls, 0.0)) for cls, n in budget.window_calls.items()}


def _next_window(budget: AdministrationBudget, now: datetime, reset_at: datetime | None) -> None:
    """Start counting a new minute window; the one that ended becomes the previous, unless it ended long ago."""
    ended = budget.window_reset
    recent = ended is not None and now - ended < MINUTE
    budget.last_window_calls = _demands(budget) if recent else {}
    budget.window_calls, budget.window_blocked, budget.window_reset = {}, {}, reset_at


def note_limits(budget: AdministrationBudget, minutely: Window | None, daily: Window | None) -> None:
    """What the accounting system answered about its budgets."""
    if minutely is not None:
        if budget.window_reset is None:
            budget.window_reset = minutely.reset_at  # the window this window's calls were counted in
        elif minutely.reset_at > budget.window_reset:
            _next_window(budget, minutely.reset_at - MINUTE, minutely.reset_at)
        budget.minutely = merge(budget.minutely, minutely)
    if daily is not None:
        budget.daily = merge(budget.daily, daily)
