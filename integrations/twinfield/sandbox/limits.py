"""Twinfield's limits as the sandbox models them: credits per organisation per clock minute, and calls in flight
per organisation.

Twinfield documents the kinds (credits per minute, reads cheaper than writes, a concurrency limit, 429 with
`Retry-After`) but not every number; the sandbox's numbers are `Faults` fields. Calls refused for either limit
are answered before anything happens, and counted.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any


class Limits:
    def __init__(self) -> None:
        self._minute: dict[str, tuple[datetime, int]] = {}
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def spend(self, organisation: str, cost: int, budget: int, now: datetime) -> float | None:
        """Spend `cost` credits in this minute, or the seconds until the next minute when they do not fit."""
        start = now.replace(second=0, microsecond=0)
        window, used = self._minute.get(organisation, (start, 0))
        if window != start:
            used = 0
        if used + cost > budget:
            self.refused["credits"] += 1
            return max(1.0, (start + timedelta(minutes=1) - now).total_seconds())
        self._minute[organisation] = (start, used + cost)
        return None

    def enter(self, organisation: str, limit: int) -> bool:
        if self.in_flight[organisation] >= limit:
            self.refused["concurrency"] += 1
            return False
        self.in_flight[organisation] += 1
        self.max_in_flight[organisation] = max(self.max_in_flight[organisation], self.in_flight[organisation])
        return True

    def leave(self, organisation: str) -> None:
        self.in_flight[organisation] -= 1

    def report(self) -> dict[str, Any]:
        return {"max_concurrent": dict(self.max_in_flight), "refused": dict(self.refused)}
