"""The Twinfield connector: invoice actions in, Twinfield SOAP calls out.

One instance is one connection: one customer environment, running under the OAuth tokens of its connection
user, for all of that environment's offices (Twinfield's administrations). Wrap it in
`integrations.rights.RightsCheck` to have every action checked before and after.

| action | Twinfield calls |
| --- | --- |
| `book` | ProcessXml `<transaction>` (purchase journal, invoice number = idempotency key) |
| `book_and_block` | the same document with the total line blocked for payment (modelled, see `documents`) |
| `unblock` | browse `200` by the booking's key, then the modelled `<paymentblock>` release |
| `create_supplier` / `create_customer` | ProcessXml `<read>` of the code, then `<dimension>` of type `CRD` / `DEB` |
"""

from __future__ import annotations

import asyncio
import random
import re
from datetime import datetime, timedelta

import httpx
from lxml import etree

from integrations.base import (
    ActionKind,
    ActionResult,
    Administration,
    Clock,
    ConnectionUser,
    Health,
    InvalidAction,
    InvoiceAction,
    NoAccess,
    RemoteError,
    Right,
    Sleep,
    utc_now,
)
from integrations.http_connection import HttpConnection, timed_health
from integrations.payloads import Invoice, PaymentRelease, Relation, payload_of
from integrations.rights import check_landed
from integrations.tokens import TokenStore
from integrations.twinfield import documents
from integrations.twinfield.client import OrganisationGates, TwinfieldClient, denies_access
from integrations.twinfield.documents import Booking, Refusal
from integrations.twinfield.oauth import OAuthApp, TokenKeeper, userinfo
from integrations.twinfield.rate_limits import TwinfieldLimits
from integrations.twinfield.settings import TwinfieldSettings
from integrations.twinfield.sync import TwinfieldMasterData

OFFICES = "OFF"
DIMENSIONS = "DIM"
SUPPLIER = "CRD"
CUSTOMER = "DEB"
FINDER_PAGE = 100

DEFAULT_OFFICE_CLAIM = "twf.defaultOffice"
"""Modelled: the userinfo claim naming the office the user opens by default (see the README)."""

TRANSACTIONS = "ProcessXml/transaction"
BROWSE = "ProcessXml/browse 200"
PAYMENT_BLOCK = f"ProcessXml/{documents.PAYMENT_BLOCK}"
DIMENSION = "ProcessXml/dimension"
FINDER_OFFICES = "Finder/OFF"

_BOOKING_RIGHTS = (Right(TRANSACTIONS, "write"), Right(BROWSE, "read"))
_RELATION_RIGHTS = (Right(DIMENSION, "write"), Right(DIMENSION, "read"))
RIGHTS: dict[ActionKind, tuple[Right, ...]] = {
    ActionKind.BOOK: _BOOKING_RIGHTS,
    ActionKind.BOOK_AND_BLOCK: _BOOKING_RIGHTS,  # one document: blocked as it is booked
    ActionKind.UNBLOCK: (Right(BROWSE, "read"), Right(PAYMENT_BLOCK, "write")),
    ActionKind.CREATE_SUPPLIER: _RELATION_RIGHTS,
    ActionKind.CREATE_CUSTOMER: _RELATION_RIGHTS,
}
"""What each action uses. Twinfield grants these per office through the user's role and offers no call to ask a
role's permissions, so `has_right` can only answer whether the office is open to the user at all; a role that
forbids an operation shows as Twinfield's refusal of the document (`RemoteError` with its message)."""

_OFFICE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class TwinfieldConnector(HttpConnection):
    """`TwinfieldConnector(app, tokens, settings=TwinfieldSettings(), http=None, clock=utc_now,
    sleep=asyncio.sleep, rng=None, gates=None, limits=None)`; use as `async with`.

    `tokens` is the service's store of this connection's tokens; `gates` the app's `OrganisationGates`, shared by
    all connections in the process (Twinfield's limits are per organisation); `limits` the service's call budget
as Twinfield's credits feed it (`rate_limits.TwinfieldLimits`), shared the same way. Raises the errors of
    `integrations.base`: `NoAccess`, `RateLimited`, `TransientError`, `OutcomeUnknown`, `AuthorizationError`,
    `RemoteError`, `InvalidAction`."""

    def __init__(
        self,
        app: OAuthApp,
        tokens: TokenStore,
        *,
        settings: TwinfieldSettings | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        gates: OrganisationGates | None = None,
        limits: TwinfieldLimits | None = None,
    ) -> None:
        self.settings = settings if settings is not None else TwinfieldSettings()
        self._app = app
        self._clock = clock
        super().__init__(http, lambda: httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout)))
        self._keeper = TokenKeeper(app, tokens, http=self._http, clock=clock,
                                   refresh_margin=self.settings.refresh_margin)
        self._client = TwinfieldClient(
            self._keeper, settings=self.settings, http=self._http, clock=clock, sleep=sleep,
            rng=rng if rng is not None else random.Random(),
            gates=gates if gates is not None else OrganisationGates(
                concurrency=self.settings.concurrency_per_organisation, clock=clock, sleep=sleep),
            limits=limits,
        )
        self._offices: tuple[frozenset[str], datetime] | None = None

    @property
    def gates(self) -> OrganisationGates:
        return self._client.gates

    async def connect(self, code: str) -> ConnectionUser:
        """Finish "Connect to Twinfield" with the code from the redirect: the connection now runs under whoever
        authorized, on the cluster their organisation lives on."""
        await self._keeper.connect(code)
        self._offices = None
        return await self.connection_user()

    def master_data(self, *, page_size: int | None = None) -> TwinfieldMasterData:
        """A reader of this connection's dimensions for the master-data sync (`integrations.twinfield.sync`),
        sharing its tokens, the organisation's gate and the call budget with the bookings."""
        return TwinfieldMasterData(self._client, self._clock, page_size=page_size)

    async def access_token(self) -> str:
        """The access token in force (refreshed when due), for the service's API probe (`{twinfield_token}`)."""
        return (await self._client.session()).access_token

    def rights_needed(self, kind: ActionKind) -> tuple[Right, ...]:
        return RIGHTS.get(kind, ())

    async def check_health(self) -> Health:
        async def probe() -> str:
            user = await self.connection_user()
            offices = await self.accessible_administrations()
            return f"signed in as {user.full_name} ({user.user_name}), {len(offices)} offices open"

        return await timed_health(probe)

    async def connection_user(self) -> ConnectionUser:
        """From the OpenID userinfo: `sub`, the organisation user code, the name and the default office."""
        session = await self._client.session()
        claims = await userinfo(self._app.login_url, session.access_token, http=self._http)
        return ConnectionUser(
            user_id=str(claims.get("sub", session.subject)),
            user_name=str(claims.get("twf.organisationUserCode", session.user_code)),
            full_name=str(claims.get("name", "")),
            current_administration=str(claims.get(DEFAULT_OFFICE_CLAIM, "")),
        )

    async def accessible_administrations(self) -> list[Administration]:
        """The Finder `OFF`: every office the connection user can open, page by page (code, name)."""
        offices: list[Administration] = []
        first = 1
        while True:
            page = await self._client.search(None, OFFICES, first_row=first, max_rows=FINDER_PAGE)
            offices.extend(Administration(row[0], row[1] if len(row) > 1 else "") for row in page.rows)
            first += len(page.rows)
            if not page.rows or first > page.total:
                break
        self._offices = (frozenset(o.code for o in offices), self._clock())
        return offices

    async def has_right(self, administration: str, endpoint: str, action: str) -> bool:
        """Whether the office is open to the user (see `RIGHTS`: Twinfield exposes no finer question). Uses the
        last Finder `OFF` answer while younger than `rights_cache_seconds`."""
        cached = self._offices
        ttl = timedelta(seconds=self.settings.rights_cache_seconds)
        if cached is None or self._clock() - cached[1] >= ttl:
            await self.accessible_administrations()
            cached = self._offices
        assert cached is not None
        return administration in cached[0]

    async def dimensions(self, office: str, dimension_type: str, *, pattern: str = "*") -> list[tuple[str, str]]:
        """The Finder `DIM` of one type (`CRD`, `DEB`, `KPL`, `PRJ`, `BAS`, `PNL`) in an office: (code, name)."""
        found: list[tuple[str, str]] = []
        first = 1
        while True:
            page = await self._client.search(_office(office), DIMENSIONS, pattern=pattern, first_row=first,
                                             max_rows=FINDER_PAGE, options=[("dimtype", dimension_type)])
            found.extend((row[0], row[1] if len(row) > 1 else "") for row in page.rows)
            first += len(page.rows)
            if not page.rows or first > page.total:
                return found

    async def execute(self, action: InvoiceAction) -> ActionResult:
        office = _office(action.administration)
        match action.kind:
            case ActionKind.BOOK | ActionKind.BOOK_AND_BLOCK:
                return await self._book(office, action, blocked=action.kind is ActionKind.BOOK_AND_BLOCK)
            case ActionKind.UNBLOCK:
                key = _key(payload_of(action, PaymentRelease).booking_key)
                booking = await self._find_booking(office, key)
                if booking is None:
                    raise RemoteError(404, "", f"no transaction with invoice number {key!r} in office {office}")
                result = booking_result(booking)
                check_landed(action, result)  # never touch a transaction in someone else's books
                if booking.blocked is not False:
                    await self._set_blocked(office, booking, blocked=False)
                return result
            case ActionKind.CREATE_SUPPLIER | ActionKind.CREATE_CUSTOMER:
                return await self._create_relation(office, action)
            case _:
                raise InvalidAction(f"Twinfield does not carry out {action.kind} actions")

    async def find_result(self, action: InvoiceAction) -> ActionResult | None:
        office = _office(action.administration)
        match action.kind:
            case ActionKind.BOOK | ActionKind.BOOK_AND_BLOCK:
                # Booked and blocked in one document: found means done. A booking released since is not blocked
                # again: the release came later and wins.
                booking = await self._find_booking(office, _key(action.idempotency_key))
                return None if booking is None else booking_result(booking)
            case ActionKind.UNBLOCK:
                booking = await self._find_booking(office, _key(payload_of(action, PaymentRelease).booking_key))
                if booking is None:
                    return None
                if booking.office != action.administration or booking.blocked is False:
                    return booking_result(booking)
                return None
            case ActionKind.CREATE_SUPPLIER | ActionKind.CREATE_CUSTOMER:
                return await self._find_relation(office, _dimension_type(action), payload_of(action, Relation).code)
            case _:
                raise InvalidAction(f"Twinfield does not carry out {action.kind} actions")

    async def _book(self, office: str, action: InvoiceAction, *, blocked: bool) -> ActionResult:
        invoice = payload_of(action, Invoice)
        key = _key(action.idempotency_key)
        document = documents.purchase_transaction(office, invoice, key, payables_account=self.settings.payables_account,
                                                  blocked=blocked)

        def parse(answer: etree._Element) -> ActionResult:
            _raise_refusals(office, documents.refusals(answer))
            return booking_result(documents.booked_transaction(answer))

        async def find_existing() -> ActionResult | None:
            booking = await self._find_booking(office, key)
            return None if booking is None else booking_result(booking)

        return await self._client.write(office, document, key=key, find_existing=find_existing, parse=parse)

    async def _find_booking(self, office: str, key: str) -> Booking | None:
        answer = await self._client.read(office, documents.booking_lookup(office, key))
        _raise_refusals(office, documents.refusals(answer))
        exact = [b for b in documents.browsed_bookings(answer) if b.invoice_number == key]
        return exact[0] if exact else None

    async def _set_blocked(self, office: str, booking: Booking, *, blocked: bool) -> None:
        # Idempotent, so sent like a read: retried freely.
        answer = await self._client.read(office, documents.payment_block(office, booking, blocked=blocked))
        _raise_refusals(office, documents.refusals(answer))

    async def _create_relation(self, office: str, action: InvoiceAction) -> ActionResult:
        relation = payload_of(action, Relation)
        dimension_type = _dimension_type(action)
        # Twinfield overwrites a dimension sent with an existing code: never send one without reading first.
        if await self._find_relation(office, dimension_type, relation.code) is not None:
            raise RemoteError(409, "", f"{dimension_type} {relation.code} already exists in office {office}; "
                                       "not overwritten")

        def parse(answer: etree._Element) -> ActionResult:
            _raise_refusals(office, documents.refusals(answer))
            return relation_result(documents.read_dimension_answer(answer))

        return await self._client.write(
            office, documents.dimension(office, dimension_type, relation), key=relation.code,
            find_existing=lambda: self._find_relation(office, dimension_type, relation.code), parse=parse)

    async def _find_relation(self, office: str, dimension_type: str, code: str) -> ActionResult | None:
        answer = await self._client.read(office, documents.read_dimension(office, dimension_type, code))
        refused = documents.refusals(answer)
        if any(r.element == "office" or denies_access(r.message) for r in refused):
            _raise_refusals(office, refused)
        if refused:
            return None  # "not found" is how Twinfield answers a read of a code that does not exist
        return relation_result(documents.read_dimension_answer(answer))


def booking_result(booking: Booking) -> ActionResult:
    return ActionResult(administration=booking.office, reference=booking.invoice_number,
                        entry_number=booking.number, entry_id=f"{booking.journal}/{booking.number}",
                        amount=booking.amount)


def relation_result(dimension: documents.Dimension) -> ActionResult:
    return ActionResult(administration=dimension.office, reference=dimension.code,
                        entry_id=f"{dimension.dimension_type}/{dimension.code}")


def _raise_refusals(office: str, refused: list[Refusal]) -> None:
    if not refused:
        return
    message = "; ".join(f"{r.element}: {r.message}" for r in refused)
    if any(r.element == "office" or denies_access(r.message) for r in refused):
        raise NoAccess(office, f"Twinfield refused: {message}", remote_reason=message)
    raise RemoteError(200, refused[0].element, message)


def _dimension_type(action: InvoiceAction) -> str:
    return SUPPLIER if action.kind is ActionKind.CREATE_SUPPLIER else CUSTOMER


def _office(administration: str) -> str:
    if not _OFFICE.fullmatch(administration):
        raise InvalidAction(f"{administration!r} is not a Twinfield office code")
    return administration


def _key(key: str) -> str:
    if not key or len(key) > documents.KEY_MAX_LENGTH:
        raise InvalidAction(f"the key {key!r} does not fit Twinfield's invoice number "
                            f"(1 to {documents.KEY_MAX_LENGTH} characters)")
    return key
