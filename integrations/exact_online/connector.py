"""The Exact Online connector: invoice actions in, Exact Online REST calls out.

One instance is one connection: one customer environment, running under the OAuth tokens of its connection
user. Wrap it in `integrations.rights.RightsCheck` to have every action checked before and after.
"""

from __future__ import annotations

import asyncio
import random
import re
from datetime import timedelta
from typing import Any

import httpx

from integrations.base import (
    ActionKind,
    ActionResult,
    Administration,
    Clock,
    ConnectionUser,
    Health,
    InvalidAction,
    InvoiceAction,
    RemoteError,
    Right,
    Sleep,
    utc_now,
)
from integrations.exact_online import odata
from integrations.exact_online.client import Entity, ExactOnlineClient, RetryPolicy
from integrations.exact_online.oauth import OAuthApp, TokenKeeper
from integrations.exact_online.rate_limits import RateLimits
from integrations.exact_online.responses import single
from integrations.exact_online.sync import DEFAULT_OVERLAP, DivisionReader
from integrations.exact_online.tokens import TokenStore
from integrations.http_connection import HttpConnection, timed_health
from integrations.payloads import Invoice, PaymentRelease, Relation, payload_of
from integrations.rights import check_landed

ME = "current/Me"
DIVISIONS = "system/Divisions"
USER_HAS_RIGHTS = "users/UserHasRights"
PURCHASE_ENTRIES = "purchaseentry/PurchaseEntries"
PAYMENTS = "cashflow/Payments"
ACCOUNTS = "crm/Accounts"

DEFAULT_RETRY = RetryPolicy()

PAYMENT_BLOCKED = "PaymentBlocked"
"""Our modelled field on cashflow/Payments. Exact documents no REST field that blocks a payment: see README."""

BOOKING_FIELDS = "EntryID,EntryNumber,Division,YourRef,AmountFC"

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""Seconds to wait for an answer (read) and for a connection (connect), unless the settings say otherwise."""

DEFAULT_COMMIT_WINDOW = 30.0
"""Seconds after a send whose answer never came before its effect is surely visible to a look-up. Exact Online
documents no such window; a POST still being processed when the look-up runs is not yet visible to it."""

_BOOKING_RIGHTS = (Right(PURCHASE_ENTRIES, "POST"), Right(PURCHASE_ENTRIES, "GET"))
_BLOCKING_RIGHTS = (Right(PAYMENTS, "GET"), Right(PAYMENTS, "PUT"))
_RELATION_RIGHTS = (Right(ACCOUNTS, "POST"), Right(ACCOUNTS, "GET"))
RIGHTS: dict[ActionKind, tuple[Right, ...]] = {
    ActionKind.BOOK: _BOOKING_RIGHTS,
    ActionKind.BOOK_AND_BLOCK: _BOOKING_RIGHTS + _BLOCKING_RIGHTS,
    ActionKind.UNBLOCK: (Right(PURCHASE_ENTRIES, "GET"),) + _BLOCKING_RIGHTS,
    ActionKind.CREATE_SUPPLIER: _RELATION_RIGHTS,
    ActionKind.CREATE_CUSTOMER: _RELATION_RIGHTS,
}


class ExactOnlineConnector(HttpConnection):
    def __init__(
        self,
        app: OAuthApp,
        tokens: TokenStore,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        rate_limits: RateLimits | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        commit_window: float = DEFAULT_COMMIT_WINDOW,
    ) -> None:
        """`timeout`: seconds (or connect/read `httpx.Timeout`) for a client of its own, when `http` is not given;
        `commit_window`: seconds to wait before looking up a booking whose answer never came."""
        super().__init__(http, lambda: httpx.AsyncClient(timeout=timeout))
        self._clock = clock
        self._keeper = TokenKeeper(app, tokens, http=self._http, clock=clock, sleep=sleep)
        self._client = ExactOnlineClient(
            self._keeper,
            base_url=app.base_url,
            http=self._http,
            clock=clock,
            sleep=sleep,
            rng=rng if rng is not None else random.Random(),
            rate_limits=rate_limits if rate_limits is not None else RateLimits(clock=clock, sleep=sleep),
            retry=retry,
            commit_window=commit_window,
        )

    async def access_token(self) -> str:
        """The connection's current access token (refreshed by Exact's rules when due), for a probe that
        signs in to the API the way bookings do."""
        return await self._keeper.access_token()

    async def connect(self, code: str) -> ConnectionUser:
        """Finish "Connect to Exact Online": from now on this connection runs under whoever authorized."""
        await self._keeper.connect(code)
        return await self.connection_user()

    def master_data(self, *, overlap: timedelta = DEFAULT_OVERLAP, page_size: int | None = None
                    ) -> DivisionReader:
        """A reader of this connection's master data (`integrations.exact_online.sync`), sharing its tokens,
        rate limits and retries with the bookings."""
        return DivisionReader(self._client, self._clock, overlap=overlap, page_size=page_size)

    def rights_needed(self, kind: ActionKind) -> tuple[Right, ...]:
        return RIGHTS.get(kind, ())

    async def check_health(self) -> Health:
        async def probe() -> str:
            user = await self.connection_user()
            return (f"signed in as {user.full_name} ({user.user_name}), "
                    f"current administration {user.current_administration}")

        return await timed_health(probe)

    async def connection_user(self) -> ConnectionUser:
        me = single(await self._client.get_value(None, ME, {"$select": "UserID,UserName,FullName,CurrentDivision"}))
        return ConnectionUser(user_id=me["UserID"], user_name=me["UserName"], full_name=me["FullName"],
                              current_administration=str(me["CurrentDivision"]))

    async def accessible_administrations(self) -> list[Administration]:
        # Asked through the current division, the one division the user can certainly open. It is read afresh
        # each time (current/Me costs nothing of the daily limit): the user may have opened another since.
        current = (await self.connection_user()).current_administration
        rows = await self._client.get_all(current, DIVISIONS, {"$select": "Code,Description"})
        return [Administration(str(row["Code"]), row["Description"]) for row in rows]

    async def has_right(self, administration: str, endpoint: str, action: str) -> bool:
        answer = await self._client.get_value(
            _division(administration), USER_HAS_RIGHTS,
            {"endpoint": odata.string(endpoint), "action": odata.string(action)},
        )
        return answer.get("UserHasRights") is True

    async def execute(self, action: InvoiceAction) -> ActionResult:
        division = _division(action.administration)
        match action.kind:
            case ActionKind.BOOK:
                return await self._book(division, action)
            case ActionKind.BOOK_AND_BLOCK:
                booking = await self._book(division, action)
                check_landed(action, booking)  # never go on to touch an entry in someone else's books
                await self._set_blocked(division, booking, blocked=True)
                return booking
            case ActionKind.UNBLOCK:
                release = payload_of(action, PaymentRelease)
                booked = await self._find_booking(division, release.booking_key)
                if booked is None:
                    raise RemoteError(404, "", f"no entry with YourRef {release.booking_key!r} in division {division}")
                check_landed(action, booked)
                await self._set_blocked(division, booked, blocked=False)
                return booked
            case ActionKind.CREATE_SUPPLIER | ActionKind.CREATE_CUSTOMER:
                return await self._create_relation(division, action)
            case _:
                raise InvalidAction(f"Exact Online does not carry out {action.kind} actions")

    async def find_result(self, action: InvoiceAction) -> ActionResult | None:
        division = _division(action.administration)
        match action.kind:
            case ActionKind.BOOK:
                return await self._find_booking(division, action.idempotency_key)
            case ActionKind.BOOK_AND_BLOCK:
                booking = await self._find_booking(division, action.idempotency_key)
                if booking is not None and booking.administration == action.administration:
                    await self._set_blocked(division, booking, blocked=True)
                return booking
            case ActionKind.UNBLOCK:
                release = payload_of(action, PaymentRelease)
                booking = await self._find_booking(division, release.booking_key)
                if booking is None or booking.administration != action.administration:
                    return booking
                lines = await self._payment_lines(division, booking)
                return booking if lines and not any(line[PAYMENT_BLOCKED] for line in lines) else None
            case ActionKind.CREATE_SUPPLIER | ActionKind.CREATE_CUSTOMER:
                return await self._find_relation(division, payload_of(action, Relation).code)
            case _:
                raise InvalidAction(f"Exact Online does not carry out {action.kind} actions")

    async def _book(self, division: str, action: InvoiceAction) -> ActionResult:
        invoice = payload_of(action, Invoice)
        key = action.idempotency_key
        entry = await self._client.create(
            division, PURCHASE_ENTRIES, purchase_entry(invoice, key),
            key=key, find_existing=lambda: self._find_booking_entry(division, key),
        )
        return booking_result(entry)

    async def _find_booking(self, division: str, key: str) -> ActionResult | None:
        entry = await self._find_booking_entry(division, key)
        return None if entry is None else booking_result(entry)

    async def _find_booking_entry(self, division: str, key: str) -> Entity | None:
        return await self._client.first(
            division, PURCHASE_ENTRIES, {"$filter": f"YourRef eq {odata.string(key)}", "$select": BOOKING_FIELDS})

    async def _payment_lines(self, division: str, booking: ActionResult) -> list[Entity]:
        return await self._client.get_all(division, PAYMENTS, {
            "$filter": f"TransactionEntryID eq {odata.guid(str(booking.entry_id))}",
            "$select": f"ID,Division,{PAYMENT_BLOCKED}",
        })

    async def _set_blocked(self, division: str, booking: ActionResult, *, blocked: bool) -> None:
        lines = await self._payment_lines(division, booking)
        if not lines:
            raise RemoteError(404, "", f"entry {booking.entry_number} has no payment line in division {division}")
        for line in lines:
            if line[PAYMENT_BLOCKED] != blocked:
                await self._client.update(division, f"{PAYMENTS}({odata.guid(line['ID'])})", {PAYMENT_BLOCKED: blocked})

    async def _create_relation(self, division: str, action: InvoiceAction) -> ActionResult:
        relation = payload_of(action, Relation)
        account = await self._client.create(
            division, ACCOUNTS, account_body(relation, supplier=action.kind is ActionKind.CREATE_SUPPLIER),
            key=relation.code, find_existing=lambda: self._find_account(division, relation.code),
        )
        return relation_result(account)

    async def _find_relation(self, division: str, code: str) -> ActionResult | None:
        account = await self._find_account(division, code)
        return None if account is None else relation_result(account)

    async def _find_account(self, division: str, code: str) -> Entity | None:
        # Exact pads codes with leading spaces to 18 characters, hence trim().
        return await self._client.first(
            division, ACCOUNTS, {"$filter": f"trim(Code) eq {odata.string(code)}", "$select": "ID,Code,Division"})


def purchase_entry(invoice: Invoice, key: str) -> Entity:
    return _without_nones({
        "Journal": invoice.journal,
        "Supplier": invoice.supplier,
        "EntryDate": invoice.entry_date.isoformat(),
        "YourRef": key,
        "Description": invoice.description,
        "Currency": invoice.currency,
        "PurchaseEntryLines": [
            _without_nones({
                "GLAccount": line.gl_account,
                "AmountFC": line.amount,
                "VATCode": line.vat_code,
                "Description": line.description,
                "CostCenter": line.cost_center,
                "Project": line.project,
            })
            for line in invoice.lines
        ],
    })


def account_body(relation: Relation, *, supplier: bool) -> Entity:
    return _without_nones({
        "Code": relation.code,
        "Name": relation.name,
        "IsSupplier": supplier,
        "IsSales": not supplier,
        "VATNumber": relation.vat_number,
        "Email": relation.email,
        "Country": relation.country,
    })


def booking_result(entry: Entity) -> ActionResult:
    return ActionResult(
        administration=str(entry["Division"]),
        reference=entry["YourRef"],
        entry_number=str(entry["EntryNumber"]),
        entry_id=entry["EntryID"],
        amount=entry.get("AmountFC"),
    )


def relation_result(account: Entity) -> ActionResult:
    return ActionResult(administration=str(account["Division"]), reference=account["Code"].strip(),
                        entry_id=account["ID"])


def _division(administration: str) -> str:
    if not re.fullmatch(r"[0-9]{1,10}", administration):
        raise InvalidAction(f"{administration!r} is not an Exact Online division code")
    return administration


def _without_nones(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}
