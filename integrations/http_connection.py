"""What every connector does the same way around its HTTP client and its health check, whatever it speaks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import httpx

from integrations.base import ConnectorError, Health


class HttpConnection:
    """A connector's `httpx.AsyncClient`: lent by the caller (left open) or made here by `make` (closed by
    `aclose`). Use the connector as `async with`."""

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
