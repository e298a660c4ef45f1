"""What an invoice action's payload holds, per kind, in the invoice product's words (not any system's).

The outbox keeps payloads as JSON dicts; a connector turns them into these types with `payload_of`, so a
malformed payload fails before anything is sent.
"""

from __future__ import annotations

from datetime import date
from typing import TypeVar

import msgspec

from integrations.base import ActionKind, InvalidAction, InvoiceAction


class InvoiceLine(msgspec.Struct, frozen=True, kw_only=True):
    gl_account: str
    amount: float
    vat_code: str | None = None
    description: str | None = None
    cost_center: str | None = None
    project: str | None = None


class Invoice(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase invoice to book (`book`, `book_and_block`)."""

    journal: str
    supplier: str
    entry_date: date
    description: str
    lines: list[InvoiceLine]
    currency: str = "EUR"


class Relation(msgspec.Struct, frozen=True, kw_only=True):
    """A supplier or customer to create (`create_supplier`, `create_customer`). `code` is its key."""

    code: str
    name: str
    vat_number: str | None = None
    email: str | None = None
    country: str | None = None


class PaymentRelease(msgspec.Struct, frozen=True, kw_only=True):
    """Release a booked invoice for payment (`unblock`): `booking_key` is the idempotency key it was booked with."""

    booking_key: str


PAYLOAD_TYPES: dict[ActionKind, type[msgspec.Struct]] = {
    ActionKind.BOOK: Invoice,
    ActionKind.BOOK_AND_BLOCK: Invoice,
    ActionKind.UNBLOCK: PaymentRelease,
    ActionKind.CREATE_SUPPLIER: Relation,
    ActionKind.CREATE_CUSTOMER: Relation,
}

P = TypeVar("P", bound=msgspec.Struct)


def payload_of(action: InvoiceAction, kind: type[P]) -> P:
    if PAYLOAD_TYPES[action.kind] is not kind:
        raise InvalidAction(f"a {action.kind} action has no {kind.__name__} payload")
    try:
        return msgspec.convert(action.payload, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidAction(f"{action.kind} payload of {action.idempotency_key!r}: {exc}") from exc
