"""The HTTP client of Visma.net Financials' customer endpoints: authorised, paced, retried, careful with creates.

    GET  /v1/customer?lastModifiedDateTime=..&lastModifiedDateTimeCondition=>=&pageNumber=1&pageSize=500
    GET  /v1/customer/{number}
    POST /v1/customer              201 Created, `Location: .../v1/customer/{number}`, no body
    PUT  /v1/customer/{number}     204 No Content

Every call carries the tenant's bearer token and the company in `ipp-company-id`, waits for the company's hourly
window when the headers say it is spent, waits out a 429 for its `Retry-After`, and retries 5xx and transport
errors with full-jitter exponential backoff. Reads and PUTs are idempotent and simply retried. A POST is not: when
its fate is unclear (a read timeout, a dropped connection, a 5xx) the customer is first looked up by its reference
(`accountReference`) among the customers changed since just before the first send, and sent again only when it is
not there, so a flapping server never produces a duplicate.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
import msgspec

from integrations.base import (
    Clock,
    ConnectorError,
    OutcomeUnknown,
    RemoteError,
    Sleep,
    TransientError,
    utc_now,
)
from integrations.call_budget import CallBudget
from integrations.http_connection import NOT_SENT, HttpConnection, full_jitter, look_up
from integrations.visma_net.customers import (
    Customer,
    CustomerChange,
    CustomerDraft,
    filter_value,
    read_customer,
    update_dto,
)
from integrations.visma_net.errors import error_from_response, retry_after
from integrations.visma_net.oauth import ServiceApp, TokenKeeper
from integrations.visma_net.rate_limits import HourlyLimits
from integrations.visma_net.settings import VismaNetSettings

Condition = Literal[">", ">=", "<", "<="]
"""Visma's `lastModifiedDateTimeCondition` operators (docs.vismasoftware.no, "DateTimeCondition & Operators")."""

CUSTOMERS = "/v1/customer"
COMPANY_HEADER = "ipp-company-id"


class Company(msgspec.Struct, frozen=True, kw_only=True):
    """A Visma.net Financials company: `company_id` goes into `ipp-company-id`, `tenant_id` into the token request
    (the Visma Connect tenant the customer granted the app, found in the Visma App Store)."""

    company_id: str
    tenant_id: str


class VismaNetClient(HttpConnection):
    """One app's client of the Visma.net ERP API. `async with VismaNetClient(app, settings=...) as visma: ...`

    Share one instance (and so one `HourlyLimits`) between everything that calls Visma.net with this app's client
    id in a process: the hourly limit is per company and client, not per caller.
    """

    def __init__(
        self,
        app: ServiceApp,
        *,
        settings: VismaNetSettings | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        budget: CallBudget | None = None,
    ) -> None:
        """`budget`: the service's call budget, which every call then passes (see `rate_limits`)."""
        self.settings = settings or VismaNetSettings()
        self._timeout = httpx.Timeout(connect=self.settings.connect_timeout, read=self.settings.read_timeout,
                                      write=self.settings.read_timeout, pool=self.settings.read_timeout)
        super().__init__(http, lambda: httpx.AsyncClient(timeout=self._timeout))
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._api_url = self.settings.api_url.rstrip("/")
        self.limits = HourlyLimits(clock=clock, sleep=sleep, max_wait=self.settings.max_wait, budget=budget)
        self.tokens = TokenKeeper(app, scopes=self.settings.scopes, connect_url=self.settings.connect_url,
                                  refresh_margin=self.settings.refresh_margin, http=self._http, clock=clock)

    # Reading

    async def list_customers(
        self, company: Company, *, modified: datetime | None = None, condition: Condition = ">="
    ) -> list[Customer]:
        """Every customer, or those whose `lastModifiedDateTime` compares to `modified` by `condition`."""
        customers: list[Customer] = []
        async for page in self.customer_pages(company, modified=modified, condition=condition):
            customers.extend(page)
        return customers

    async def customer_pages(
        self, company: Company, *, modified: datetime | None = None, condition: Condition = ">=",
        page_size: int | None = None,
    ) -> AsyncIterator[list[Customer]]:
        """One page (`page_size` customers at most, default `settings.page_size`) per call; a caller that stops
        iterating calls no more. Paging is mandatory on Visma's list endpoints (`pageNumber` from 1, `pageSize`)."""
        async for page, _ in self.paged_customers(company, modified=modified, condition=condition,
                                                  page_size=page_size):
            if page:
                yield page

    async def paged_customers(
        self, company: Company, *, modified: datetime | None = None, condition: Condition = ">=",
        page_size: int | None = None,
    ) -> AsyncIterator[tuple[list[Customer], bool]]:
        """`customer_pages` with each page's word on whether it is the last (a short page, or `totalCount`
        reached), so a caller knows before it asks again; the first page comes even when it is empty."""
        size = page_size or self.settings.page_size
        params: dict[str, str] = {"pageSize": str(size)}
        if modified is not None:
            params |= {"lastModifiedDateTime": filter_value(modified), "lastModifiedDateTimeCondition": condition}
        number, seen = 1, 0
        while True:
            response = await self._request("GET", company, CUSTOMERS, params={**params, "pageNumber": str(number)})
            rows = msgspec.json.decode(response.content)
            if not isinstance(rows, list):
                raise RemoteError(response.status_code, "", "a customer list that is not a list")
            page = [read_customer(row) for row in rows]
            seen += len(page)
            total = _total_count(rows)
            last = len(page) < size or (total is not None and seen >= total)
            yield page, last
            if last:
                return
            number += 1

    async def get_customer(self, company: Company, number: str) -> Customer | None:
        """The customer with this number, or None when Visma answers 404."""
        response = await self._request("GET", company, f"{CUSTOMERS}/{quote(number, safe='')}", missing_ok=True)
        return None if response.status_code == 404 else read_customer(msgspec.json.decode(response.content))

    async def find_by_reference(
        self, company: Company, reference: str, *, modified_since: datetime | None
    ) -> Customer | None:
        """The customer whose `accountReference` is `reference` among those changed since `modified_since` (every
        customer when None: a page of `page_size` a call), since Visma's list has no filter on the reference; the
        oldest when several share it."""
        matches = [c for c in await self.list_customers(company, modified=modified_since, condition=">=")
                   if c.reference == reference]
        return min(matches, key=lambda c: (c.internal_id or 0, c.number), default=None)

    # Writing

    async def update_customer(self, company: Company, number: str, change: CustomerChange) -> None:
        """Change the given fields of customer `number` (Visma answers 204). Safe to repeat."""
        await self._request("PUT", company, f"{CUSTOMERS}/{quote(number, safe='')}", json=update_dto(change))

    async def create_customer(self, company: Company, draft: CustomerDraft) -> Customer:
        """Create the customer once and return it as Visma stored it.

        Before any resend of a POST whose answer was lost (read timeout or dropped connection after sending, or a
        5xx), the customer is looked up by `draft.reference` among the customers changed since `lookup_margin`
        seconds before the first send; found, it is returned instead of sending again. A POST refused with a 429
        or before it left (connect errors) was not received and is simply sent again. `OutcomeUnknown` when a
        needed look-up fails too: look it up again (`find_by_reference`) before creating it anew.
        """
        if not draft.reference:
            raise ValueError("a customer is created with a reference, the key that finds it again")
        body = update_dto(draft)
        since: datetime | None = None
        failure: ConnectorError = TransientError("POST customer was never attempted")
        uncertain = False
        attempt = waits = 0
        while True:
            if uncertain and since is not None and (
                found := await self._look_up(company, draft.reference, since, failure)
            ) is not None:
                return found
            if since is None:
                since = self._clock() - timedelta(seconds=self.settings.lookup_margin)
            try:
                response = await self._send("POST", company, CUSTOMERS, json=body)
            except NOT_SENT as exc:
                failure, uncertain = TransientError(f"POST customer: {type(exc).__name__}"), False
            except httpx.TransportError as exc:
                failure, uncertain = TransientError(f"POST customer: {type(exc).__name__} after sending"), True
            else:
                if response.status_code == 201:
                    return await self._read_created(company, draft, response)
                failure = error_from_response(response, company.company_id, self._clock())
                if response.status_code == 429:
                    waits = await self._wait_out(response, waits, failure)
                    continue
                if response.status_code < 500:
                    # After a lost answer, a refusal ("number already exists") may be our own first send.
                    if uncertain and (found := await self._look_up(company, draft.reference, since, failure)):
                        return found
                    raise failure
                uncertain = True
            attempt += 1
            if attempt >= self.settings.attempts:
                if uncertain and (found := await self._look_up(company, draft.reference, since, failure)):
                    return found
                raise failure
            await self._back_off(attempt)

    async def _read_created(self, company: Company, draft: CustomerDraft, response: httpx.Response) -> Customer:
        number = response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1] or draft.number
        try:
            customer = None if number is None else await self.get_customer(company, number)
        except ConnectorError as exc:
            raise OutcomeUnknown(draft.reference, f"created as customer {number}, reading it back failed: {exc}") \
                from exc
        if customer is None:
            raise OutcomeUnknown(draft.reference, f"created, but customer {number} cannot be read back")
        return customer

    async def _look_up(self, company: Company, reference: str, since: datetime, cause: ConnectorError) -> Customer | None:
        return await look_up(reference, lambda: self.find_by_reference(company, reference, modified_since=since), cause)

    # Transport

    async def _request(
        self, method: str, company: Company, path: str, *, params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None, missing_ok: bool = False,
    ) -> httpx.Response:
        """An idempotent call, retried on 5xx and transport errors, waiting out 429s."""
        failure: ConnectorError = TransientError(f"{method} {path} was never attempted")
        attempt = waits = 0
        while True:
            try:
                response = await self._send(method, company, path, params=params, json=json)
            except httpx.TransportError as exc:
                failure = TransientError(f"{method} {path}: {type(exc).__name__}")
            else:
                if response.is_success or (missing_ok and response.status_code == 404):
                    return response
                failure = error_from_response(response, company.company_id, self._clock())
                if response.status_code == 429:
                    waits = await self._wait_out(response, waits, failure)
                    continue
                if response.status_code < 500:
                    raise failure
            attempt += 1
            if attempt >= self.settings.attempts:
                raise failure
            await self._back_off(attempt)

    async def _send(
        self, method: str, company: Company, path: str, *, params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """One exchange in the company's turn; a refused access token is replaced once and the call repeated."""
        token: str | None = None
        for _ in range(2):
            async with self.limits.turn(company.company_id):
                token = await (self.tokens.access_token(company.tenant_id) if token is None
                               else self.tokens.replace_rejected(company.tenant_id, token))
                response = await self._http.request(
                    method, f"{self._api_url}{path}", params=params, json=json, timeout=self._timeout,
                    headers={"Authorization": f"Bearer {token}", COMPANY_HEADER: company.company_id,
                             "Accept": "application/json"},
                )
                self.limits.observe(company.company_id, response.headers)
            if response.status_code != 401:
                break
        return response

    async def _wait_out(self, response: httpx.Response, waits: int, failure: ConnectorError) -> int:
        """Wait for a 429's `Retry-After` (60 s when it gives none) after the call's `waits` earlier waits, and
        answer the count with this one; raise `failure` (the 429's error) instead when the wait is longer than
        `max_wait` or the call has already waited `rate_limit_waits` times."""
        waits += 1
        delay = retry_after(response, 60.0)
        if waits > self.settings.rate_limit_waits or delay > self.settings.max_wait:
            raise failure
        await self._sleep(delay)
        return waits

    async def _back_off(self, attempt: int) -> None:
        """Full jitter (`integrations.http_connection.full_jitter`) before retry `attempt`, counted from 1."""
        await self._sleep(full_jitter(attempt - 1, self._rng, base_delay=self.settings.base_delay,
                                      max_delay=self.settings.max_delay))


def _total_count(rows: list[Any]) -> int | None:
    """Visma repeats `metadata: {"totalCount": n, "maxPageSize": m}` on every row of a list page."""
    try:
        return int(rows[0]["metadata"]["totalCount"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None
