"""Exact Online's budgets: calls per app and division (per minute, per day), and errors per hour.

Answers 400, 401, 403 and 404 count as errors, per app, user, division and endpoint; more than ten within an
hour blocks the app for an hour. That is why a client must never find out about rights by failing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

ERRORS_PER_HOUR = 10
BLOCKED_FOR = timedelta(hours=1)
COUNTED_AS_ERRORS = frozenset({400, 401, 403, 404})


def epoch_ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


@dataclass
class _Window:
    start: datetime
    used: int = 0


class Budgets:
    def __init__(self) -> None:
        self._windows: dict[tuple[str, int | None, str], _Window] = {}

    def take(
        self, client_id: str, division: int | None, now: datetime, *, minutely_limit: int, daily_limit: int,
        counts_daily: bool,
    ) -> tuple[bool, dict[str, str]]:
        """Spend one call if both budgets allow; the rate-limit headers to answer with either way."""
        minute = self._window(client_id, division, "minute", now.replace(second=0, microsecond=0))
        day = self._window(client_id, division, "day", datetime.combine(now.date(), time(), UTC))
        allowed = minute.used < minutely_limit and (not counts_daily or day.used < daily_limit)
        if allowed:
            minute.used += 1
            if counts_daily:
                day.used += 1
        return allowed, {
            "X-RateLimit-Minutely-Limit": str(minutely_limit),
            "X-RateLimit-Minutely-Remaining": str(max(0, minutely_limit - minute.used)),
            "X-RateLimit-Minutely-Reset": epoch_ms(minute.start + timedelta(minutes=1)),
            "X-RateLimit-Limit": str(daily_limit),
            "X-RateLimit-Remaining": str(max(0, daily_limit - day.used)),
            "X-RateLimit-Reset": epoch_ms(day.start + timedelta(days=1)),
        }

    def _window(self, client_id: str, division: int | None, kind: str, start: datetime) -> _Window:
        key = (client_id, division, kind)
        window = self._windows.get(key)
        if window is None or window.start != start:
            window = self._windows[key] = _Window(start)
        return window


@dataclass(frozen=True)
class ErrorKey:
    client_id: str
    username: str
    division: int | None
    endpoint: str


class ErrorCounter:
    def __init__(self) -> None:
        self._errors: dict[ErrorKey, deque[datetime]] = {}
        self._blocked_until: dict[str, datetime] = {}

    def record(self, key: ErrorKey, now: datetime) -> None:
        moments = self._errors.setdefault(key, deque())
        moments.append(now)
        while moments[0] <= now - timedelta(hours=1):
            moments.popleft()
        if len(moments) > ERRORS_PER_HOUR:
            self._blocked_until[key.client_id] = now + BLOCKED_FOR

    def blocked_until(self, client_id: str, now: datetime) -> datetime | None:
        until = self._blocked_until.get(client_id)
        return until if until is not None and now < until else None

    def report(self, now: datetime) -> dict[str, Any]:
        hour_ago = now - timedelta(hours=1)
        errors = [
            {"client_id": k.client_id, "user": k.username, "division": k.division, "endpoint": k.endpoint,
             "last_hour": sum(1 for m in moments if m > hour_ago)}
            for k, moments in self._errors.items()
        ]
        blocked = {client: until.isoformat() for client, until in self._blocked_until.items() if now < until}
        return {"errors": [e for e in errors if e["last_hour"]], "blocked_apps": blocked}
