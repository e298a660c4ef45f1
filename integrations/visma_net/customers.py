"""Visma.net Financials customers, with Visma's field names mapped to plain Python ones.

Reading (`GET /v1/customer`, `GET /v1/customer/{number}`) answers Visma's `CustomerDto`, of which we keep:

    internalId            -> internal_id          Visma's own row id (int)
    number                -> number               the customer number ("10001"); the key of get and update
    name                  -> name                 at most 60 characters in Visma.net (seed 001)
    status                -> status               "Active", "Inactive", "OnHold", ...
    accountReference      -> reference            free text; holds `EOL-<code>` for relations mirrored from
                                                  Exact Online, and is empty for customers made by hand
    corporateId           -> corporate_id         the company registration number
    vatRegistrationId     -> vat_registration_id
    createdDateTime       -> created              read as UTC (Visma sends no zone)
    lastModifiedDateTime  -> last_modified        read as UTC (Visma sends no zone)

Why `accountReference` holds the key: seed 001 identifies a mirrored relation by the customer's "Referentie" field
(`'EOL-' || code accountreference`), it is the one free-text reference on the customer card that Visma.net's API
both returns and accepts, and it is empty on hand-made customers, which the mirror must leave alone.

Writing (`POST /v1/customer`, `PUT /v1/customer/{number}`) takes Visma's update DTO, where every field is wrapped
as `{"value": ...}` (Visma's `DtoValueOf...` types) and only the fields sent are changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    """One customer as Visma.net holds it."""

    number: str
    name: str
    reference: str | None = msgspec.field(default=None, name="accountReference")
    status: str | None = None
    internal_id: int | None = msgspec.field(default=None, name="internalId")
    corporate_id: str | None = msgspec.field(default=None, name="corporateId")
    vat_registration_id: str | None = msgspec.field(default=None, name="vatRegistrationId")
    created: datetime | None = msgspec.field(default=None, name="createdDateTime")
    last_modified: datetime | None = msgspec.field(default=None, name="lastModifiedDateTime")


class CustomerDraft(msgspec.Struct, frozen=True, kw_only=True):
    """A customer to create. `reference` is required: it is how a create whose answer was lost is found again.
    Without `number`, Visma numbers the customer itself (the company's auto-numbering)."""

    name: str
    reference: str
    number: str | None = None
    corporate_id: str | None = None
    vat_registration_id: str | None = None


class CustomerChange(msgspec.Struct, frozen=True, kw_only=True):
    """Fields to change on an existing customer; None leaves a field as it is."""

    name: str | None = None
    reference: str | None = None
    status: str | None = None
    corporate_id: str | None = None
    vat_registration_id: str | None = None


_WIRE_NAMES = {"number": "number", "name": "name", "reference": "accountReference", "status": "status",
               "corporate_id": "corporateId", "vat_registration_id": "vatRegistrationId"}


def update_dto(fields: CustomerDraft | CustomerChange) -> dict[str, Any]:
    """Visma's update DTO: `{"name": {"value": "..."}, "accountReference": {"value": "EOL-1"}, ...}`."""
    return {_WIRE_NAMES[name]: {"value": value} for name, value in msgspec.structs.asdict(fields).items()
            if value is not None}


def read_customer(row: Any) -> Customer:
    customer = msgspec.convert(row, Customer, strict=False)
    return msgspec.structs.replace(customer, created=_as_utc(customer.created),
                                   last_modified=_as_utc(customer.last_modified))


def filter_value(moment: datetime) -> str:
    """A moment as Visma's `lastModifiedDateTime` filter takes it: `2026-11-23 09:30:10.123` (UTC, no zone; Visma
    documents `YYYY-MM-DD`, `YYYY-MM-DD hh:mm:ss` and `YYYY-MM-DD hh:mm:ss.fff`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
