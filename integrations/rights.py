"""The pre-booking rights check: the lesson of October 2019, for any connector.

In 2019 a connection ran under a user without rights to the target administration, and the accounting system,
instead of refusing, booked into the administration that user had last opened. So we never rely on the remote
side to refuse: before an action, the target must be among the connection user's accessible administrations and
every right the action uses must be granted, or the action is refused (`NoAccess`, to become `undone`) with
nothing sent. After it, the administration in the answer must be the one asked for, or it is a `Misroute`.

The accessible administrations and rights are cached per connection for a short time (the replay of a backlog
would otherwise ask before every invoice); a miss is asked again once before refusing, since rights granted a
moment ago must not be refused on stale knowledge. Rights *lost* within the cache time are caught afterwards,
by the misroute check, or by the accounting system's refusal when it works as documented.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from integrations.base import (
    ActionResult,
    Clock,
    Connector,
    InvoiceAction,
    Misroute,
    NoAccess,
    Right,
    utc_now,
)
from integrations.budget import CallClass
from integrations.call_budget import calling_as

DEFAULT_TTL = timedelta(seconds=60)

T = TypeVar("T")


@dataclass(frozen=True)
class Cached(Generic[T]):
    value: T
    fetched_at: datetime

    def fresh(self, now: datetime, ttl: timedelta) -> bool:
        return now - self.fetched_at < ttl


def check_landed(action: InvoiceAction, result: ActionResult) -> None:
    """Raise `Misroute` when the accounting system says the action landed elsewhere than asked."""
    if result.administration != action.administration:
        raise Misroute(action.administration, result.administration, result.entry_number, result.entry_id)


class RightsCheck:
    """Wraps one connection's connector: every action is checked before it is sent and after it returns."""

    def __init__(self, connector: Connector, *, clock: Clock = utc_now, ttl: timedelta = DEFAULT_TTL) -> None:
        self._connector = connector
        self._clock = clock
        self._ttl = ttl
        self._accessible: Cached[frozenset[str]] | None = None
        self._rights: dict[tuple[str, Right], Cached[bool]] = {}
        # One question at a time per connection: a replay of many actions asks once, not once per action.
        self._lock = asyncio.Lock()

    async def execute(self, action: InvoiceAction) -> ActionResult:
        await self.ensure_allowed(action)
        result = await self._connector.execute(action)
        check_landed(action, result)
        return result

    async def find_result(self, action: InvoiceAction) -> ActionResult | None:
        """An earlier attempt's result, checked for a misroute like a fresh one (it may predate the check).

        The look-up passes the rights check first: it never calls an administration the connection user cannot
        open (such calls count towards Exact Online's "more than 10 errors an hour" block, which stalls every
        administration of the app). Raises `NoAccess` then; the caller must not take it to mean nothing was
        booked, since the earlier attempt may have been."""
        await self.ensure_allowed(action)
        result = await self._connector.find_result(action)
        if result is not None:
            check_landed(action, result)
        return result

    async def ensure_allowed(self, action: InvoiceAction) -> None:
        """Raises `NoAccess` unless the connection user can open the action's administration with every right
        the action uses. Its calls count as rights checks in the call budget."""
        target = action.administration
        with calling_as(CallClass.RIGHTS):
            await self._ensure_allowed(target, action)

    async def _ensure_allowed(self, target: str, action: InvoiceAction) -> None:
        async with self._lock:
            if not await self._accessible_contains(target):
                raise NoAccess(target, "not among the connection user's accessible administrations")
            for right in self._connector.rights_needed(action.kind):
                if not await self._granted(target, right):
                    raise NoAccess(target, f"the connection user lacks the right to {right.action} {right.endpoint}")

    def forget(self) -> None:
        """Drop what is cached, e.g. after the connection was made again under another user."""
        self._accessible = None
        self._rights.clear()

    async def _accessible_contains(self, target: str) -> bool:
        cached = self._accessible
        if cached is not None and cached.fresh(self._clock(), self._ttl) and target in cached.value:
            return True
        administrations = await self._connector.accessible_administrations()
        self._accessible = Cached(frozenset(a.code for a in administrations), self._clock())
        return target in self._accessible.value

    async def _granted(self, target: str, right: Right) -> bool:
        cached = self._rights.get((target, right))
        if cached is not None and cached.fresh(self._clock(), self._ttl) and cached.value:
            return True
        granted = await self._connector.has_right(target, right.endpoint, right.action)
        self._rights[(target, right)] = Cached(granted, self._clock())
        return granted
