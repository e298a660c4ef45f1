"""Reading Exact Online's master data for a sync: by row version, deletions, and by last change.

Three reads, all through `ExactOnlineClient` (tokens, rate-limit pacing, retries and errors as for bookings),
all async iterators of pages, so the caller commits a page before it asks for the next one and can stop
between pages (a booking waiting, a kill switch) without losing its place:

- `DivisionReader.sync_pages`: a `sync/...` endpoint from a `Timestamp` cursor. Exact Online's Sync API
  documentation: each row carries `Timestamp`, a 64-bit row version that increases on every change in the
  division; ask `$filter=Timestamp gt 1` the first time, then the highest value received; at most 1,000 rows
  a call, ordered by Timestamp, with a `__next` link while more remain. Exact recommends it over `Modified`.
- `DivisionReader.deleted_pages`: `sync/Deleted` (`EntityKey`, `EntityType`, `DeletedDate`, `Timestamp`),
  the same way. Exact does not report every delete there: only a full read catches the rest.
- `DivisionReader.modified_pages`: entities without a sync endpoint (cost centres, cost units, payments),
  filtered `Modified ge datetime'...'`. `Modified` is Dutch local time without a zone, and many rows share
  one value, so the bound is inclusive and rows already delivered are dropped by key (`ModifiedCursor`).

Rows come back as msgspec Structs with plain Python names (`Account.is_customer` is Exact's `IsSales`).
Codes are trimmed (Exact pads account codes with leading spaces to 18 characters). Exact's JSON dates,
`/Date(<ms>)/`, are local wall time counted as if UTC; they come back as aware datetimes in Europe/Amsterdam.

The entities, their endpoints, keys, fields and `sync/Deleted` types are one table: `ENTITIES`. The service's
sync reads through `ExactOnlineMasterData` (the `integrations.master_data.MasterDataReader` of Exact Online), whose
entity table `SYNC_ENTITIES` is made from `ENTITIES`: key `id`, every field but the row version `timestamp`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from integrations.base import Clock, RemoteError
from integrations.exact_online.client import Entity, ExactOnlineClient
from integrations.master_data import DeletionPage, Deletions, MasterDataPage, SyncEntity

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
"""Exact Online's `Modified` and other datetimes are local time here, written without a zone."""

FIRST_TIMESTAMP = 1
"""The cursor of a first (full) read: Exact's documentation asks `Timestamp gt 1` the first time."""

DEFAULT_OVERLAP = timedelta(minutes=5)
"""How far before a read's start the next `Modified` read begins again: rows written while a read runs, rows
committed with an earlier `Modified`, and a clock that differs from Exact's are caught next time."""

DELETED = "sync/Deleted"
_ODATA_DATE = re.compile(r"/Date\((?P<ms>-?\d+)(?:[+-]\d{4})?\)/")


class ReadBy(StrEnum):
    TIMESTAMP = "timestamp"
    """A `sync/...` endpoint, paged by row version."""
    MODIFIED = "modified"
    """No sync endpoint: a list endpoint filtered on `Modified`."""


def _f(exact_name: str) -> Any:
    """A property that Exact may leave out or null."""
    return msgspec.field(default=None, name=exact_name)


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """A relation (supplier and/or customer): `sync/CRM/Accounts`."""

    id: str = msgspec.field(name="ID")
    code: str | None = _f("Code")
    name: str | None = _f("Name")
    is_supplier: bool | None = _f("IsSupplier")
    is_customer: bool | None = _f("IsSales")
    status: str | None = _f("Status")
    blocked: bool | None = _f("Blocked")
    vat_number: str | None = _f("VATNumber")
    email: str | None = _f("Email")
    city: str | None = _f("City")
    country: str | None = _f("Country")
    modified: datetime | None = _f("Modified")
    timestamp: int = msgspec.field(name="Timestamp")


class GLAccount(msgspec.Struct, frozen=True, kw_only=True):
    """A general-ledger account: `sync/Financial/GLAccounts`. `balance_type` B balance sheet, W profit and loss."""

    id: str = msgspec.field(name="ID")
    code: str | None = _f("Code")
    description: str | None = _f("Description")
    type: int | None = _f("Type")
    balance_side: str | None = _f("BalanceSide")
    balance_type: str | None = _f("BalanceType")
    modified: datetime | None = _f("Modified")
    timestamp: int = msgspec.field(name="Timestamp")


class CostCenter(msgspec.Struct, frozen=True, kw_only=True):
    """A cost centre: `hrm/CostCenters` (no sync endpoint)."""

    id: str = msgspec.field(name="ID")
    code: str | None = _f("Code")
    description: str | None = _f("Description")
    active: bool | None = _f("Active")
    modified: datetime = msgspec.field(name="Modified")


class CostUnit(msgspec.Struct, frozen=True, kw_only=True):
    """A cost unit: `hrm/CostUnits` (no sync endpoint)."""

    id: str = msgspec.field(name="ID")
    code: str | None = _f("Code")
    description: str | None = _f("Description")
    modified: datetime = msgspec.field(name="Modified")


class Project(msgspec.Struct, frozen=True, kw_only=True):
    """A project: `sync/Project/Projects`. `account` is the customer's account ID."""

    id: str = msgspec.field(name="ID")
    code: str | None = _f("Code")
    description: str | None = _f("Description")
    account: str | None = _f("Account")
    type: int | None = _f("Type")
    start_date: datetime | None = _f("StartDate")
    end_date: datetime | None = _f("EndDate")
    modified: datetime | None = _f("Modified")
    timestamp: int = msgspec.field(name="Timestamp")


class OrderStatus:
    """`OrderStatus` of a purchase order (Exact's PurchaseOrders documentation)."""

    OPEN = 10
    PARTIAL = 20
    COMPLETE = 30
    CANCELLED = 40


class PurchaseOrderLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a purchase order: `sync/PurchaseOrder/PurchaseOrders` has one row per line; `order_id`
    (PurchaseOrderID) groups them. Quantities in the item's purchase unit; `status` is an `OrderStatus`."""

    id: str = msgspec.field(name="ID")
    order_id: str | None = _f("PurchaseOrderID")
    order_number: int | None = _f("OrderNumber")
    line_number: int | None = _f("LineNumber")
    supplier: str | None = _f("Supplier")
    description: str | None = _f("Description")
    quantity: float | None = _f("Quantity")
    received_quantity: float | None = _f("ReceivedQuantity")
    invoiced_quantity: float | None = _f("InvoicedQuantity")
    unit_price: float | None = _f("UnitPrice")
    amount: float | None = _f("AmountFC")
    currency: str | None = _f("Currency")
    status: int | None = _f("OrderStatus")
    order_date: datetime | None = _f("OrderDate")
    modified: datetime | None = _f("Modified")
    timestamp: int = msgspec.field(name="Timestamp")


class TransactionLine(msgspec.Struct, frozen=True, kw_only=True):
    """A line of a booked entry: `sync/Financial/TransactionLines`. `amount` is in the division's currency
    (AmountDC); `cost_center` and `cost_unit` are codes, `project` an ID."""

    id: str = msgspec.field(name="ID")
    entry_id: str | None = _f("EntryID")
    entry_number: int | None = _f("EntryNumber")
    line_number: int | None = _f("LineNumber")
    journal: str | None = _f("JournalCode")
    type: int | None = _f("Type")
    date: datetime | None = _f("Date")
    financial_year: int | None = _f("FinancialYear")
    financial_period: int | None = _f("FinancialPeriod")
    gl_account: str | None = _f("GLAccount")
    gl_account_code: str | None = _f("GLAccountCode")
    account: str | None = _f("Account")
    account_code: str | None = _f("AccountCode")
    amount: float | None = _f("AmountDC")
    description: str | None = _f("Description")
    cost_center: str | None = _f("CostCenter")
    cost_unit: str | None = _f("CostUnit")
    project: str | None = _f("Project")
    project_code: str | None = _f("ProjectCode")
    modified: datetime | None = _f("Modified")
    timestamp: int = msgspec.field(name="Timestamp")


class PaymentStatus:
    """`Status` of a payment line (Exact's cashflow/Payments documentation)."""

    OPEN = 20
    SELECTED = 30
    PROCESSED = 40
    MATCHED = 50


class Payment(msgspec.Struct, frozen=True, kw_only=True):
    """A payment line: `cashflow/Payments` (no sync endpoint). `entry_id` (TransactionEntryID) is the booked
    entry; `paid_on` (EndDate) is set once paid; `status` is a `PaymentStatus`. `payment_blocked` is the
    sandbox's modelled field for blocking, which Exact's REST API does not document (see README)."""

    id: str = msgspec.field(name="ID")
    entry_id: str | None = _f("TransactionEntryID")
    entry_number: int | None = _f("EntryNumber")
    your_ref: str | None = _f("YourRef")
    account: str | None = _f("Account")
    account_code: str | None = _f("AccountCode")
    amount: float | None = _f("AmountFC")
    currency: str | None = _f("Currency")
    description: str | None = _f("Description")
    due_date: datetime | None = _f("DueDate")
    paid_on: datetime | None = _f("EndDate")
    status: int | None = _f("Status")
    payment_blocked: bool | None = _f("PaymentBlocked")
    modified: datetime = msgspec.field(name="Modified")


class DeletedRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `sync/Deleted`: which entity (`entity_type`, see `EntityDef.deleted_type`) lost which key."""

    key: str = msgspec.field(name="EntityKey")
    entity_type: int = msgspec.field(name="EntityType")
    deleted_at: datetime | None = _f("DeletedDate")
    timestamp: int = msgspec.field(name="Timestamp")


R = TypeVar("R", bound=msgspec.Struct)


@dataclass(frozen=True)
class EntityDef(Generic[R]):
    """One entity as Exact Online serves it."""

    name: str
    endpoint: str
    """Relative to `/api/v1/{division}/`."""
    row_type: type[R]
    read_by: ReadBy
    deleted_type: int | None
    """Its `EntityType` in `sync/Deleted` (Exact's Sync API documentation); None: deletes are not reported."""
    codes: tuple[str, ...] = ()
    """Exact properties holding codes, trimmed of Exact's padding."""
    key: str = "ID"
    """Exact's key property."""

    @property
    def select(self) -> str:
        """`$select`: exactly the properties the row type reads."""
        return ",".join(f.encode_name for f in msgspec.structs.fields(self.row_type))

    def key_of(self, row: R) -> str:
        value: str = getattr(row, self.key_attribute)
        return value

    @property
    def key_attribute(self) -> str:
        return next(f.name for f in msgspec.structs.fields(self.row_type) if f.encode_name == self.key)


ACCOUNTS = EntityDef("accounts", "sync/CRM/Accounts", Account, ReadBy.TIMESTAMP, 2, ("Code",))
GL_ACCOUNTS = EntityDef("gl_accounts", "sync/Financial/GLAccounts", GLAccount, ReadBy.TIMESTAMP, 7, ("Code",))
COST_CENTERS = EntityDef("cost_centers", "hrm/CostCenters", CostCenter, ReadBy.MODIFIED, None, ("Code",))
COST_UNITS = EntityDef("cost_units", "hrm/CostUnits", CostUnit, ReadBy.MODIFIED, None, ("Code",))
PROJECTS = EntityDef("projects", "sync/Project/Projects", Project, ReadBy.TIMESTAMP, 21, ("Code",))
PURCHASE_ORDER_LINES = EntityDef("purchase_order_lines", "sync/PurchaseOrder/PurchaseOrders", PurchaseOrderLine,
                                 ReadBy.TIMESTAMP, 22)
TRANSACTION_LINES = EntityDef("transaction_lines", "sync/Financial/TransactionLines", TransactionLine,
                              ReadBy.TIMESTAMP, 1,
                              ("GLAccountCode", "AccountCode", "CostCenter", "CostUnit", "ProjectCode"))
PAYMENTS = EntityDef("payments", "cashflow/Payments", Payment, ReadBy.MODIFIED, None, ("AccountCode",))

ENTITIES: dict[str, EntityDef[Any]] = {entity.name: entity for entity in (
    ACCOUNTS, GL_ACCOUNTS, COST_CENTERS, COST_UNITS, PROJECTS, PURCHASE_ORDER_LINES, TRANSACTION_LINES, PAYMENTS,
)}
"""Every entity a master-data sync reads, by name."""

ROW_VERSION = "timestamp"
"""Left out of what the mirror keeps: Exact's row version says *that* a row changed, not what it holds; a full
re-read of an unchanged row must hash the same."""


def sync_entity(entity: EntityDef[Any]) -> SyncEntity:
    """The service's description of an Exact entity: keyed by `id` (Exact's `ID`), every field but the row
    version kept, deletions from `sync/Deleted` where Exact reports them there, else only by a full read."""
    fields = tuple(f.name for f in msgspec.structs.fields(entity.row_type) if f.name != ROW_VERSION)
    return SyncEntity(entity.name, entity.key_attribute, fields,
                      Deletions.FEED if entity.deleted_type is not None else Deletions.FULL_READ)


SYNC_ENTITIES = tuple(sync_entity(entity) for entity in ENTITIES.values())
"""`ENTITIES` as the service's sync sees them, in the same order."""


@dataclass(frozen=True)
class SyncPage(Generic[R]):
    rows: list[R]
    """In row-version order."""
    cursor: int
    """The highest `Timestamp` seen so far in this read (the cursor given, before any row): once this page is
    committed, the next read starts here."""
    last: bool
    """No further page: Exact gave no `__next` link."""


@dataclass(frozen=True)
class DeletedPage:
    records: list[DeletedRecord]
    """Only those of the entity types asked for."""
    cursor: int
    """The highest `Timestamp` of every record seen, asked for or not: `sync/Deleted` is one feed per division."""
    last: bool


class ModifiedCursor(msgspec.Struct, frozen=True, kw_only=True):
    """Where a `Modified` read resumes: the inclusive lower bound, and the rows already delivered at or after
    it (key to `Modified`), which are not delivered again. A msgspec Struct, so it can be stored as JSON."""

    since: datetime
    """Aware; sent to Exact as local time in Europe/Amsterdam."""
    seen: dict[str, datetime] = msgspec.field(default_factory=dict)


@dataclass(frozen=True)
class ModifiedPage(Generic[R]):
    rows: list[R]
    """Rows not delivered before (by key and `Modified`), in Exact's order."""
    cursor: ModifiedCursor | None
    """Where the next read starts: on the last page the new cursor; on earlier pages the cursor given (a read
    stopped halfway starts over, and de-duplication by key drops what was already seen)."""
    last: bool


@dataclass
class DivisionReader:
    """Reads one connection's master data, endpoint by endpoint. Get one from `ExactOnlineConnector.master_data()`.

    `division` is Exact's division code as a string (the service's administration). Every method raises what
    the client raises (`integrations.base`): `NoAccess`, `AuthorizationError`, `RateLimited` (a spent daily
    limit: resume later from the last committed cursor), `TransientError`, `RemoteError` (also for a row Exact
    sends in a shape we cannot read).
    """

    client: ExactOnlineClient
    clock: Clock
    overlap: timedelta = DEFAULT_OVERLAP
    page_size: int | None = field(default=None)
    """`$top` for sync calls; None leaves Exact's maximum (1,000)."""

    async def sync_pages(self, division: str, entity: EntityDef[R], since: int = FIRST_TIMESTAMP
                         ) -> AsyncIterator[SyncPage[R]]:
        """Every row of a sync entity changed after row version `since`, a page (up to 1,000 rows) per call.
        `since=FIRST_TIMESTAMP` reads everything: a full sync."""
        if entity.read_by is not ReadBy.TIMESTAMP:
            raise ValueError(f"{entity.name} has no sync endpoint; read it with modified_pages")
        pages = self._timestamp_pages(division, entity.endpoint, since, entity.select, lambda raw: parse_row(entity, raw))
        async for rows, cursor, last in pages:
            yield SyncPage(rows, cursor, last)

    async def deleted_pages(self, division: str, since: int = FIRST_TIMESTAMP,
                            entity_types: Collection[int] | None = None) -> AsyncIterator[DeletedPage]:
        """Deletions reported after row version `since`, of the given `EntityType`s (all when None). The cursor
        covers the whole feed, so keep one per division. Hard deletes never appear: run a full read for those."""
        select = ",".join(f.encode_name for f in msgspec.structs.fields(DeletedRecord))
        pages = self._timestamp_pages(division, DELETED, since, select,
                                      lambda raw: _convert(DeletedRecord, _normalised(raw, ()), DELETED))
        async for records, cursor, last in pages:
            wanted = [r for r in records if entity_types is None or r.entity_type in entity_types]
            yield DeletedPage(wanted, cursor, last)

    async def modified_pages(self, division: str, entity: EntityDef[R], cursor: ModifiedCursor | None = None
                             ) -> AsyncIterator[ModifiedPage[R]]:
        """Rows with `Modified` at or after `cursor.since` (every row when None), minus those `cursor.seen`
        already delivered, a page (60 rows) per call. The last page carries the cursor for the next read: its
        bound is the newest `Modified` read, but never later than this read's start (by `clock`) minus
        `overlap`, so rows written during the read are read again next time rather than missed."""
        started = self.clock().astimezone(AMSTERDAM)
        params = {"$select": entity.select}
        if cursor is not None:
            params["$filter"] = f"Modified ge datetime'{exact_datetime_literal(cursor.since)}'"
        seen = dict(cursor.seen) if cursor is not None else {}
        delivered: dict[str, datetime] = {}
        newest: datetime | None = None
        async for page in self.client.pages(division, entity.endpoint, params):
            rows: list[R] = []
            for raw in page.rows:
                row = parse_row(entity, raw)
                key, modified = entity.key_of(row), getattr(row, "modified")  # noqa: B009 (every modified row type)
                if seen.get(key) == modified or delivered.get(key) == modified:
                    continue
                delivered[key] = modified
                newest = modified if newest is None or modified > newest else newest
                rows.append(row)
            last = page.next_url is None
            next_cursor = _next_cursor(cursor, seen, delivered, newest, started - self.overlap) if last else cursor
            yield ModifiedPage(rows, next_cursor, last)

    async def _timestamp_pages(self, division: str, endpoint: str, since: int, select: str,
                               parse: Callable[[Entity], R]) -> AsyncIterator[tuple[list[R], int, bool]]:
        """A `sync/...` read after row version `since` (Exact's Sync API: `$filter=Timestamp gt <since>L`, `$top`
        the page size), a page per call: its rows parsed, the highest `Timestamp` seen so far (`since` before
        any row), and whether it is the last page (no `__next` link)."""
        params = {"$filter": f"Timestamp gt {since}L", "$select": select}
        if self.page_size is not None:
            params["$top"] = str(self.page_size)
        cursor = since
        async for page in self.client.pages(division, endpoint, params):
            rows = [parse(raw) for raw in page.rows]
            cursor = max([cursor, *(getattr(row, "timestamp") for row in rows)])  # noqa: B009 (every sync row type)
            yield rows, cursor, page.next_url is None


def _next_cursor(cursor: ModifiedCursor | None, seen: dict[str, datetime], delivered: dict[str, datetime],
                 newest: datetime | None, latest_safe: datetime) -> ModifiedCursor:
    since = latest_safe if newest is None else min(newest, latest_safe)
    if cursor is not None:
        since = max(since, cursor.since)
    kept = {key: modified for key, modified in {**seen, **delivered}.items() if modified >= since}
    return ModifiedCursor(since=since, seen=kept)


def parse_row(entity: EntityDef[R], raw: Entity) -> R:
    """One row as Exact sent it, as the entity's Struct: codes trimmed, `/Date(..)/` values as aware
    datetimes in Europe/Amsterdam. `RemoteError` when the row does not have the shape we read."""
    return _convert(entity.row_type, _normalised(raw, entity.codes), entity.endpoint)


def _normalised(raw: Entity, codes: tuple[str, ...]) -> Entity:
    values: Entity = {}
    for name, value in raw.items():
        if isinstance(value, str):
            if name in codes:
                value = value.strip()
            elif (match := _ODATA_DATE.fullmatch(value)) is not None:
                value = exact_datetime(int(match["ms"]))
        values[name] = value
    return values


def _convert(row_type: type[R], values: Entity, endpoint: str) -> R:
    try:
        return msgspec.convert(values, row_type, strict=False)
    except msgspec.ValidationError as exc:
        raise RemoteError(200, "", f"{endpoint} sent a row we cannot read: {exc}") from exc


def exact_datetime(milliseconds: int) -> datetime:
    """Exact's `/Date(<ms>)/`: the local wall time counted as if it were UTC, as an aware Amsterdam datetime.
    In the autumn's repeated hour the first of the two moments is meant (zoneinfo's fold=0)."""
    wall = datetime(1970, 1, 1) + timedelta(milliseconds=milliseconds)
    return wall.replace(tzinfo=AMSTERDAM)


def exact_datetime_literal(moment: datetime) -> str:
    """The body of a `datetime'...'` filter literal: Amsterdam wall time, no zone, milliseconds when any."""
    wall = moment.astimezone(AMSTERDAM).replace(tzinfo=None)
    return wall.isoformat(timespec="milliseconds" if wall.microsecond else "seconds")


class ExactOnlineMasterData:
    """Exact Online's `integrations.master_data.MasterDataReader`: `DivisionReader`'s three reads behind the
    service's protocol. Cursors: a `sync/...` entity's is its `Timestamp` as text, a `Modified` entity's its
    `ModifiedCursor` as JSON, the deletion feed's the `sync/Deleted` `Timestamp`. Rows are the entity Structs'
    fields by their Python names."""

    def __init__(self, reader: DivisionReader) -> None:
        self.reader = reader

    async def changes(self, administration: str, entity: str, cursor: str | None) -> AsyncIterator[MasterDataPage]:
        definition = ENTITIES[entity]
        if definition.read_by is ReadBy.TIMESTAMP:
            since = int(cursor) if cursor is not None else FIRST_TIMESTAMP
            async for page in self.reader.sync_pages(administration, definition, since):
                yield MasterDataPage(_contents(page.rows), str(page.cursor), page.last)
            return
        modified = msgspec.json.decode(cursor, type=ModifiedCursor) if cursor is not None else None
        async for modified_page in self.reader.modified_pages(administration, definition, modified):
            # Only the last page's cursor is a new one (see `ModifiedPage.cursor`).
            after = modified_page.cursor if modified_page.last else None
            yield MasterDataPage(_contents(modified_page.rows),
                                 msgspec.json.encode(after).decode() if after is not None else None,
                                 modified_page.last)

    def everything(self, administration: str, entity: str) -> AsyncIterator[MasterDataPage]:
        """Every row: a `sync/...` read from the first row version, or an unfiltered `Modified` read."""
        return self.changes(administration, entity, None)

    async def deletions(self, administration: str, entities: Collection[str], cursor: str | None
                        ) -> AsyncIterator[DeletionPage]:
        by_type: dict[int, str] = {}
        for name in entities:
            deleted_type = ENTITIES[name].deleted_type
            if deleted_type is not None:
                by_type[deleted_type] = name
        since = int(cursor) if cursor is not None else FIRST_TIMESTAMP
        async for page in self.reader.deleted_pages(administration, since, set(by_type)):
            keys: dict[str, list[str]] = {}
            for record in page.records:
                keys.setdefault(by_type[record.entity_type], []).append(record.key)
            yield DeletionPage(keys, str(page.cursor), page.last)

    async def budget_key(self, administration: str) -> str:
        """Exact's limits are per app and division: the division is the budget's key."""
        return administration


def _contents(rows: list[Any]) -> list[Mapping[str, Any]]:
    return [msgspec.structs.asdict(row) for row in rows]
