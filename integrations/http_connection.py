"""What every connector does the same way around its HTTP client, whatever it speaks: owning the client, telling
a request that never left from one that may have, looking up a send whose answer was lost, backing off between
retries, and timing its health check."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar

import httpx

from integrations.base import ConnectorError, Health, OutcomeUnknown

T = TypeVar("T")

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""What httpx raises before a byte of the request left: resending cannot duplicate anything."""


async def look_up(key: str, find: Callable[[], Awaitable[T]], cause: ConnectorError) -> T:
    """What `find()` answers for a send that may have taken effect unseen (`cause`: why we cannot tell). When the
    look-up fails too, nobody may send again before looking once more: `OutcomeUnknown` for `key`, the action's
    idempotency key or the entity's."""
    try:
        return await find()
    except ConnectorError as exc:
        raise OutcomeUnknown(key, f"{cause}; the lookup failed too: {exc}") from exc


def full_jitter(attempt: int, rng: random.Random, *, base_delay: float, max_delay: float) -> float:
    """Seconds to wait before retry `attempt` (0 for the first): uniform between 0 and `base_delay * 2**attempt`,
    capped at `max_delay` ("full jitter", AWS Architecture Blog, "Exponential Backoff And Jitter", 2015), so
    clients that failed together do not come back together."""
    return rng.uniform(0, min(max_delay, base_delay * 2**attempt))


class HttpConnection:
    """A connector's (or API client's) `httpx.AsyncClient`: lent by the caller (left open) or made here by `make`
    (closed by `aclose`). Use the connector as `async with`."""

    def __init__(self, http: httpx.AsyncClient | None, make: Callable[[], httpx.AsyncClient]) -> None:
        self._owns_http = http is None
        self._http = http if http is not None else make()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


async def timed_health(probe: Callable[[], Awaitable[str]]) -> Health:
    """`Health` of one `probe` call: ok with the detail it returns, or not ok with the `ConnectorError` it
    raised; `latency_ms` is the probe's wall time in milliseconds, to 0.1 ms."""
    started = time.perf_counter()
    try:
        detail = await probe()
    except ConnectorError as exc:
        return Health(ok=False, latency_ms=_ms_since(started), detail=str(exc))
    return Health(ok=True, latency_ms=_ms_since(started), detail=detail)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
