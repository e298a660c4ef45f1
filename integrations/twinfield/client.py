"""The HTTP side of Twinfield's SOAP web services: one call at a time per organisation, 429s waited out, retries
that never book twice.

Rules (Twinfield's documentation on its rate limits, enforced since December 2024): calls cost credits from a
per-minute budget of the organisation (writes more than reads) and a concurrency limit applies per organisation;
Twinfield advises one concurrent call per organisation. Over a limit it answers HTTP 429 with `Retry-After`
(seconds). So every call of an organisation passes one `asyncio.Semaphore` (size from the settings), a 429 holds
the whole organisation until `Retry-After` has passed, and retries of server errors back off with jitter.

Reads (Finder, browse, read) are idempotent and simply retried. A write whose fate is unclear (a read timeout, a
dropped connection or a 5xx after the request left) is looked up by its key before it is sent again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime, timedelta
from typing import TypeVar

import httpx
from lxml import etree

from integrations.base import (
    AuthorizationError,
    Clock,
    ConnectorError,
    NoAccess,
    RateLimited,
    RemoteError,
    Sleep,
    TransientError,
)
from integrations.http_connection import NOT_SENT, full_jitter, look_up
from integrations.twinfield import soap
from integrations.twinfield.oauth import Session, TokenKeeper
from integrations.twinfield.rate_limits import TwinfieldLimits
from integrations.twinfield.settings import TwinfieldSettings

T = TypeVar("T")

ACCESS_DENIED = ("access denied", "toegang geweigerd", "no access to office", "geen toegang")
"""How Twinfield's messages say the user may not work in the office (its faults and document messages)."""


def denies_access(message: str) -> bool:
    lowered = message.lower()
    return any(phrase in lowered for phrase in ACCESS_DENIED)


class OrganisationGates:
    """Per Twinfield organisation: a semaphore of `concurrency` slots and the moment a 429 said to wait until.

    Share one instance between all connections of an app in a process: Twinfield's limits are per organisation,
    and two environments may be offices of one organisation."""

    def __init__(self, *, concurrency: int, clock: Clock, sleep: Sleep) -> None:
        self._concurrency = concurrency
        self._clock = clock
        self._sleep = sleep
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._held_until: dict[str, datetime] = {}
        self.max_in_flight: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}

    @asynccontextmanager
    async def slot(self, organisation: str) -> AsyncIterator[None]:
        """Hold one of the organisation's slots for one exchange, after any `Retry-After` it is under."""
        async with self._semaphores.setdefault(organisation, asyncio.Semaphore(self._concurrency)):
            held = self._held_until.get(organisation)
            if held is not None and (wait := (held - self._clock()).total_seconds()) > 0:
                await self._sleep(wait)
            self._in_flight[organisation] = self._in_flight.get(organisation, 0) + 1
            self.max_in_flight[organisation] = max(self.max_in_flight.get(organisation, 0),
                                                   self._in_flight[organisation])
            try:
                yield
            finally:
                self._in_flight[organisation] -= 1

    def hold(self, organisation: str, until: datetime) -> None:
        """Twinfield said 429: nobody of this organisation calls before `until`."""
        self._held_until[organisation] = max(until, self._held_until.get(organisation, until))


class _Ambiguous(Exception):
    """A write may have taken effect unseen."""

    def __init__(self, failure: ConnectorError) -> None:
        super().__init__(str(failure))
        self.failure = failure


class _Retryable(Exception):
    """Nothing happened; the same request may be sent again after a pause."""

    def __init__(self, failure: ConnectorError) -> None:
        super().__init__(str(failure))
        self.failure = failure


class TwinfieldClient:
    """Calls Twinfield's ProcessXml and Finder on the cluster the access token's validation names."""

    def __init__(
        self, keeper: TokenKeeper, *, settings: TwinfieldSettings, http: httpx.AsyncClient, clock: Clock,
        sleep: Sleep, rng: random.Random, gates: OrganisationGates, limits: TwinfieldLimits | None = None,
    ) -> None:
        self._keeper = keeper
        self._settings = settings
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self.gates = gates
        self.limits = limits

    def _turn(self, session: Session, *, write: bool) -> AbstractAsyncContextManager[datetime | None]:
        """The call budget's turn for one call (`rate_limits`), when the service gave one: the minute the call's
        credits were taken in."""
        if self.limits is None:
            return nullcontext(None)
        return self.limits.turn(budget_key(session), write=write)

    async def session(self) -> Session:
        return await self._keeper.session()

    async def read(self, office: str, document: etree._Element) -> etree._Element:
        """Send a reading ProcessXml document (browse, read); retried freely. Answers the answered document."""
        body = soap.process_xml_body(document)
        answer = await self._retried(lambda: self._exchange(soap.PROCESS_XML_PATH, "ProcessXmlString", office, body,
                                                            write=False))
        return self._process_xml_result(answer)

    async def search(
        self, office: str | None, finder_type: str, *, pattern: str = "*", field: int = 0, first_row: int = 1,
        max_rows: int = 100, options: Sequence[tuple[str, str]] = (),
    ) -> soap.FinderPage:
        """One page of the Finder. Its own error messages become `RemoteError` (or `NoAccess` for access)."""
        body = soap.finder_body(finder_type, pattern, field, first_row, max_rows, options)
        answer = await self._retried(lambda: self._exchange(soap.FINDER_PATH, "Search", office, body, write=False))
        try:
            return soap.finder_result(answer)
        except soap.FinderError as exc:
            if office is not None and denies_access(str(exc)):
                raise NoAccess(office, f"Twinfield refused: {exc}", remote_reason=str(exc)) from None
            raise RemoteError(200, "", str(exc)) from None
        except soap.Malformed as exc:
            raise RemoteError(200, "", f"Finder answer: {exc}") from None

    async def write(
        self, office: str, document: etree._Element, *, key: str, find_existing: Callable[[], Awaitable[T | None]],
        parse: Callable[[etree._Element], T],
    ) -> T:
        """Send a writing ProcessXml document once, looking it up by `key` whenever a send may have taken effect
        unseen. `OutcomeUnknown` when such a lookup cannot be done; `TransientError` when nothing was sent."""
        body = soap.process_xml_body(document)
        failure: ConnectorError = TransientError("ProcessXml was never attempted")
        for attempt in range(self._settings.attempts):
            try:
                answer = await self._exchange(soap.PROCESS_XML_PATH, "ProcessXmlString", office, body, write=True)
            except _Retryable as exc:
                failure = exc.failure
            except _Ambiguous as exc:
                failure = exc.failure
                if (found := await look_up(key, find_existing, failure)) is not None:
                    return found
            else:
                return parse(self._process_xml_result(answer))
            await self._back_off(attempt)
        raise failure

    async def _retried(self, exchange: Callable[[], Awaitable[etree._Element]]) -> etree._Element:
        failure: ConnectorError = TransientError("never attempted")
        for attempt in range(self._settings.attempts):
            try:
                return await exchange()
            except (_Retryable, _Ambiguous) as exc:  # a read that may have happened happened harmlessly
                failure = exc.failure
            await self._back_off(attempt)
        raise failure

    async def _exchange(
        self, path: str, operation: str, office: str | None, body: etree._Element, *, write: bool
    ) -> etree._Element:
        """One call, in the organisation's slot: a refused access token is replaced once and the call repeated,
        429s are waited out (up to `rate_limit_waits` times, each at most `max_retry_after`)."""
        session = await self._keeper.session()
        replaced = False
        waits = 0
        while True:
            async with self._turn(session, write=write) as credits_taken_in, self.gates.slot(session.organisation_id):
                try:
                    response = await self._http.post(
                        f"{session.cluster_url}{path}", content=soap.envelope(session.access_token, office, body),
                        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": soap.soap_action(operation)},
                    )
                except NOT_SENT as exc:
                    raise _Retryable(TransientError(f"{operation}: {type(exc).__name__}")) from None
                except httpx.TransportError as exc:
                    failure = TransientError(f"{operation}: {type(exc).__name__} after sending")
                    raise (_Ambiguous(failure) if write else _Retryable(failure)) from None
                if response.status_code == 429:
                    retry_at = self._clock() + timedelta(seconds=_retry_after(response))
                    self.gates.hold(session.organisation_id, retry_at)
                    if self.limits is not None and credits_taken_in is not None:
                        await self.limits.too_many(budget_key(session), retry_at, credits_taken_in, write=write)
            if response.status_code == 429:
                waits += 1
                if waits > self._settings.rate_limit_waits or \
                        retry_at - self._clock() > timedelta(seconds=self._settings.max_retry_after):
                    raise RateLimited(retry_at, f"Twinfield: {_text(response) or 'too many requests'}")
                continue  # the slot waits for the hold before the next send
            if response.status_code == 401 and not replaced:
                replaced = True
                session = await self._keeper.replace_rejected(session.access_token)
                continue
            return self._answer(response, office, operation, write=write)

    def _answer(self, response: httpx.Response, office: str | None, operation: str, *, write: bool) -> etree._Element:
        status = response.status_code
        try:
            answer = soap.read_body(response.content)
        except soap.SoapFault as fault:
            if status == 401:
                raise AuthorizationError(fault.message or "access token refused") from None
            if office is not None and denies_access(fault.message):
                raise NoAccess(office, f"Twinfield refused: {fault.message}", remote_reason=fault.message) from None
            if fault.client_side:
                raise RemoteError(status, fault.code, fault.message) from None
            failure = TransientError(f"{operation}: Twinfield answered HTTP {status}: {fault.message}")
            raise (_Ambiguous(failure) if write else _Retryable(failure)) from None
        except soap.Malformed as exc:
            if status == 401:
                raise AuthorizationError("access token refused") from None
            if status >= 500:
                failure = TransientError(f"{operation}: Twinfield answered HTTP {status}")
                raise (_Ambiguous(failure) if write else _Retryable(failure)) from None
            raise RemoteError(status, "", f"{operation}: {exc}") from None
        if status != 200:
            raise RemoteError(status, "", f"{operation}: HTTP {status}")
        return answer

    @staticmethod
    def _process_xml_result(answer: etree._Element) -> etree._Element:
        try:
            return soap.process_xml_result(answer)
        except soap.Malformed as exc:
            raise RemoteError(200, "", f"ProcessXml answer: {exc}") from None

    async def _back_off(self, attempt: int) -> None:
        if attempt + 1 == self._settings.attempts:
            return
        await self._sleep(full_jitter(attempt, self._rng, base_delay=self._settings.base_delay,
                                      max_delay=self._settings.max_delay))


def budget_key(session: Session) -> str:
    """What the call budget keeps Twinfield's limits under: the organisation (its code, else its id)."""
    return session.organisation_code or session.organisation_id


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return 1.0


def _text(response: httpx.Response) -> str:
    try:
        return response.text.strip()[:200]
    except UnicodeDecodeError:
        return ""
