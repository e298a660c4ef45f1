"""What an invoice action's payload holds, per kind, in the invoice product's words (not any system's).

The outbox keeps payloads as JSON dicts; a connector turns them into these types with `payload_of`, so a
malformed payload fails before anything is sent.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, TypeVar

import msgspec

from integrations.base import ActionKind, InvalidAction, InvoiceAction

# Bounds on what a payload may hold, so that nothing absurd reaches an accounting system: amounts below
# 10^12 in either direction (the accounting systems keep amounts as decimals of about 15 significant digits),
# 1 to 500 lines, entry dates from 2000 through 2099, texts on one line without control characters.
MAX_AMOUNT = 1e12
MAX_LINES = 500
EARLIEST_ENTRY = date(2000, 1, 1)
LATEST_ENTRY = date(2099, 12, 31)
_ONE_LINE = r"\A[^\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]*\Z"

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_ONE_LINE)]
Text = Annotated[str, msgspec.Meta(max_length=1000, pattern=_ONE_LINE)]
Amount = Annotated[float, msgspec.Meta(gt=-MAX_AMOUNT, lt=MAX_AMOUNT)]


class InvoiceLine(msgspec.Struct, frozen=True, kw_only=True):
    gl_account: Code
    amount: Amount
    vat_code: Code | None = None
    description: Text | None = None
    cost_center: Code | None = None
    project: Code | None = None


class Invoice(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase invoice to book (`book`, `book_and_block`): 1-500 lines, `entry_date` 2000-01-01..2099-12-31."""

    journal: Code
    supplier: Code
    entry_date: date
    description: Text
    lines: Annotated[list[InvoiceLine], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
    currency: Annotated[str, msgspec.Meta(pattern=r"\A[A-Z]{3}\Z")] = "EUR"

    def __post_init__(self) -> None:
        if not EARLIEST_ENTRY <= self.entry_date <= LATEST_ENTRY:
            raise ValueError(f"entry_date must lie between {EARLIEST_ENTRY} and {LATEST_ENTRY}; got {self.entry_date}")


class Relation(msgspec.Struct, frozen=True, kw_only=True):
    """A supplier or customer to create (`create_supplier`, `create_customer`). `code` is its key."""

    code: Code
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_ONE_LINE)]
    vat_number: Code | None = None
    email: Annotated[str, msgspec.Meta(max_length=254, pattern=_ONE_LINE)] | None = None
    country: Annotated[str, msgspec.Meta(pattern=r"\A[A-Z]{2}\Z")] | None = None


class PaymentRelease(msgspec.Struct, frozen=True, kw_only=True):
    """Release a booked invoice for payment (`unblock`): `booking_key` is the idempotency key it was booked with."""

    booking_key: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class MirrorWrite(msgspec.Struct, frozen=True, kw_only=True):
    """A row a mirror rule writes into its target (`mirror_insert`, `mirror_update`), in the target's own field
    names: `entity` (Visma.net: `customers`), `key` the value of the entity's key field that identifies the row
    (seed 001: the reference `EOL-<code>`), `fields` the mapped values to write (None clears nothing: the field is
    left out), and for an update `row`, the target's own id of the row (Visma.net: the customer number)."""

    entity: Code
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_ONE_LINE)]
    fields: dict[Code, Text | None]
    row: Code | None = None


PAYLOAD_TYPES: dict[ActionKind, type[msgspec.Struct]] = {
    ActionKind.BOOK: Invoice,
    ActionKind.BOOK_AND_BLOCK: Invoice,
    ActionKind.UNBLOCK: PaymentRelease,
    ActionKind.CREATE_SUPPLIER: Relation,
    ActionKind.CREATE_CUSTOMER: Relation,
    ActionKind.MIRROR_INSERT: MirrorWrite,
    ActionKind.MIRROR_UPDATE: MirrorWrite,
}

P = TypeVar("P", bound=msgspec.Struct)


def payload_of(action: InvoiceAction, kind: type[P]) -> P:
    if PAYLOAD_TYPES[action.kind] is not kind:
        raise InvalidAction(f"a {action.kind} action has no {kind.__name__} payload")
    try:
        return msgspec.convert(action.payload, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidAction(f"{action.kind} payload of {action.idempotency_key!r}: {exc}") from exc
