"""The HTTP client of Exact Online's REST API: authorised, paced, retried, and careful with POSTs.

Reads and PUTs are idempotent and simply retried on 429, 5xx and transport errors, with exponential backoff
and jitter, a bounded number of times. A POST is not: when its fate is unclear (a timeout, a dropped
connection, a 5xx) the entity is looked up by its key before it is sent again, so a retry never books twice.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from integrations.base import (
    Clock,
    ConnectorError,
    RemoteError,
    Sleep,
    TransientError,
)
from integrations.exact_online.oauth import TokenKeeper
from integrations.exact_online.rate_limits import RateLimits
from integrations.exact_online.responses import error_from_response, unwrap
from integrations.http_connection import NOT_SENT, full_jitter, look_up

Entity = dict[str, Any]



@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (`integrations.http_connection.full_jitter`), in seconds."""
        return full_jitter(attempt, rng, base_delay=self.base_delay, max_delay=self.max_delay)


@dataclass(frozen=True)
class Page:
    """One answer of a list endpoint: its rows as Exact sent them, and the link to the next page if any."""

    rows: list[Entity]
    next_url: str | None


def retryable(response: httpx.Response) -> bool:
    # A 429 with Retry-After is an app blocked for errors (an hour), not a budget that resets within the minute.
    return response.status_code >= 500 or (response.status_code == 429 and "Retry-After" not in response.headers)


class ExactOnlineClient:
    def __init__(
        self,
        keeper: TokenKeeper,
        *,
        base_url: str,
        http: httpx.AsyncClient,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random,
        rate_limits: RateLimits,
        retry: RetryPolicy,
        commit_window: float = 0.0,
    ) -> None:
        self._keeper = keeper
        self._base_url = base_url.rstrip("/")
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._limits = rate_limits
        self._retry = retry
        self._commit_window = commit_window

    def api_url(self, division: str | None, endpoint: str) -> str:
        return f"{self._base_url}/api/v1/{division}/{endpoint}" if division else f"{self._base_url}/api/v1/{endpoint}"

    async def get_all(self, division: str | None, endpoint: str, params: dict[str, str]) -> list[Entity]:
        """Every row, following `__next` links page by page."""
        rows: list[Entity] = []
        async for page in self.pages(division, endpoint, params):
            rows.extend(page.rows)
        return rows

    async def first(self, division: str | None, endpoint: str, params: dict[str, str]) -> Entity | None:
        """The first row of `get_all` (a look-up by a key), or None when there is none."""
        rows = await self.get_all(division, endpoint, params)
        return rows[0] if rows else None

    async def pages(self, division: str | None, endpoint: str, params: dict[str, str]) -> AsyncIterator[Page]:
        """One page per call, following `__next` links. Each call is paced, retried and authorised like any
        other; a caller that stops iterating makes no further call. `RemoteError` when a link leaves Exact."""
        url: str | None = self.api_url(division, endpoint)
        query: dict[str, str] | None = params
        while url is not None:
            data = unwrap(await self._request("GET", url, division, params=query))
            url, query = data.get("__next"), None
            if url is not None and not url.startswith(self._base_url + "/"):
                # The link carries our access token with it; it may only lead back to Exact.
                raise RemoteError(200, "", f"a page link leaves {self._base_url}")
            yield Page(data["results"], url)

    async def get_value(self, division: str | None, endpoint: str, params: dict[str, str] | None = None) -> Entity:
        value: Entity = unwrap(await self._request("GET", self.api_url(division, endpoint), division, params=params))
        return value

    async def update(self, division: str, endpoint: str, body: Entity) -> None:
        await self._request("PUT", self.api_url(division, endpoint), division, json=body)

    async def create(
        self,
        division: str,
        endpoint: str,
        body: Entity,
        *,
        key: str,
        find_existing: Callable[[], Awaitable[Entity | None]],
    ) -> Entity:
        """POST an entity and return Exact's representation of it, looking it up by `key` whenever a send
        may have taken effect unseen. `OutcomeUnknown` when such a lookup cannot be done."""
        url = self.api_url(division, endpoint)
        failure: ConnectorError = TransientError(f"POST {endpoint} was never attempted")
        for attempt in range(self._retry.attempts):
            try:
                response = await self._send("POST", url, division, json=body,
                                            headers={"Prefer": "return=representation"})
            except NOT_SENT as exc:
                failure = TransientError(f"POST {endpoint}: {type(exc).__name__}")
            except httpx.TransportError as exc:
                failure = TransientError(f"POST {endpoint}: {type(exc).__name__} after sending")
                # The request left but its answer never came: it may still be being processed. Look only
                # once it has surely been committed, or a slow booking would be found missing and sent twice.
                await self._sleep(self._commit_window)
                if (found := await look_up(key, find_existing, failure)) is not None:
                    return found
            else:
                if response.is_success:
                    created: Entity = unwrap(response)
                    return created
                failure = error_from_response(response, division, self._clock())
                if not retryable(response):
                    raise failure
                # A 429 was refused at the door; a 5xx may have come after the booking.
                if response.status_code >= 500 and (
                    found := await look_up(key, find_existing, failure)
                ) is not None:
                    return found
            await self._back_off(attempt, division)
        raise failure

    async def _request(
        self, method: str, url: str, division: str | None, *, params: dict[str, str] | None = None,
        json: Entity | None = None,
    ) -> httpx.Response:
        failure: ConnectorError = TransientError(f"{method} was never attempted")
        for attempt in range(self._retry.attempts):
            try:
                response = await self._send(method, url, division, params=params, json=json)
            except httpx.TransportError as exc:
                failure = TransientError(f"{method} {url.removeprefix(self._base_url)}: {type(exc).__name__}")
            else:
                if response.is_success:
                    return response
                failure = error_from_response(response, division, self._clock())
                if not retryable(response):
                    raise failure
            await self._back_off(attempt, division)
        raise failure

    async def _send(
        self, method: str, url: str, division: str | None, *, params: dict[str, str] | None = None,
        json: Entity | None = None, headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One exchange in the division's turn; a refused access token is replaced once and the call repeated."""
        token: str | None = None
        for _ in range(2):
            async with self._limits.turn(division):
                token = await (self._keeper.access_token() if token is None else self._keeper.replace_rejected(token))
                response = await self._http.request(
                    method, url, params=params, json=json,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})},
                )
                self._limits.observe(division, response.headers)
            if response.status_code != 401:
                break
        return response

    async def _back_off(self, attempt: int, division: str | None) -> None:
        if attempt + 1 == self._retry.attempts:
            return
        if self._limits.spent_until(division) is not None:
            return  # the next turn waits for the reset the headers announced; no need to guess
        await self._sleep(self._retry.delay(attempt, self._rng))

