"""How many calls sync may take, and when: sync is the call budget's lowest class and never spends what
bookings need.

DESIGN.md ("Master-data sync"): every call to an accounting system goes through one call budget per
administration (`integrations.call_budget.CallBudget`), with priority classes (bookings and their look-ups,
rights checks, probes, sync last) and a daily reserve kept for bookings. The engine makes every call as
`CallClass.SYNC` (`calling_as`), so the budget itself holds each call back while a higher class needs the
minute's calls or only the bookings' reserve of the day is left. `CallBudgetShare` asks the same rule
(`integrations.budget.decide`) before each page, so the engine can say *why* it waits (monitoring's "waiting
for budget") and does not take the administration's turn only to be told to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from integrations.budget import CallClass, DecisionKind, decide
from integrations.call_budget import CallBudget
from statuspage.core.clock import Clock


@dataclass(frozen=True)
class Hold:
    """Sync may not call yet: until when at the latest, and why in plain words."""

    until: datetime
    reason: str


class SyncBudget(Protocol):
    def hold(self, integration: str, key: str) -> Hold | None:
        """None: sync may make its next call against the integration's budget `key` now (the key the
        integration's calls use: Exact Online's division, Twinfield's organisation)."""
        ...

    def daily(self, integration: str, key: str) -> tuple[int, int] | None:
        """(calls left today, the day's limit) as last known, for monitoring; None before anything is known."""
        ...


class CallBudgetShare:
    """Sync's view of the service's call budget: the rule for `CallClass.SYNC` with no call of a higher class
    counted as waiting (the budget adds those when the call is made)."""

    def __init__(self, budget: CallBudget, clock: Clock) -> None:
        self.budget, self.clock = budget, clock

    def hold(self, integration: str, key: str) -> Hold | None:
        now = self.clock()
        decision = decide(self.budget.budget(integration, key), CallClass.SYNC, now, {},
                          self.budget.reserve_fraction)
        if decision.kind is DecisionKind.GO:
            return None
        return Hold(decision.until or now, decision.reason)

    def daily(self, integration: str, key: str) -> tuple[int, int] | None:
        window = self.budget.budget(integration, key).daily
        return None if window is None else (window.remaining, window.limit)
