"""What was booked where: purchase entries with their payment line, and relations, per division.

Each entry remembers the division it was asked for next to the one it landed in, so a misroute shows in the
ledger the way support needed to see it in 2019: asked, booked, entry number.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from integrations.exact_online.sandbox.masterdata import ACCOUNT_CODE_WIDTH

PURCHASE_ENTRY_FIELDS = ("EntryID", "EntryNumber", "Division", "YourRef", "Journal", "Supplier", "EntryDate",
                         "Description", "Currency", "AmountFC", "PurchaseEntryLines")


class Refused(Exception):
    """The body is not acceptable: answered 400 with this message."""


@dataclass
class Entry:
    entry_id: str
    entry_number: int
    division: int
    asked_division: int
    your_ref: str | None
    journal: str
    supplier: str
    entry_date: date
    description: str
    currency: str
    lines: list[dict[str, Any]]
    amount: float
    booked_by: str
    booked_at: datetime
    payment_id: str
    payment_blocked: bool = False

    def representation(self) -> dict[str, Any]:
        return {
            "EntryID": self.entry_id,
            "EntryNumber": self.entry_number,
            "Division": self.division,
            "YourRef": self.your_ref,
            "Journal": self.journal,
            "Supplier": self.supplier,
            "EntryDate": odata_date(self.entry_date),
            "Description": self.description,
            "Currency": self.currency,
            "AmountFC": self.amount,
            "PurchaseEntryLines": {"results": self.lines},
        }

    def report(self) -> dict[str, Any]:
        return {
            "division": self.division,
            "asked_division": self.asked_division,
            "entry_number": self.entry_number,
            "entry_id": self.entry_id,
            "your_ref": self.your_ref,
            "amount": self.amount,
            "payment_blocked": self.payment_blocked,
            "booked_by": self.booked_by,
            "booked_at": self.booked_at.isoformat(),
        }


@dataclass
class Account:
    account_id: str
    code: str
    name: str
    division: int
    is_supplier: bool
    is_sales: bool
    vat_number: str | None
    email: str | None
    country: str | None
    created_by: str

    def representation(self) -> dict[str, Any]:
        return {
            "ID": self.account_id,
            "Code": self.code,
            "Name": self.name,
            "Division": self.division,
            "IsSupplier": self.is_supplier,
            "IsSales": self.is_sales,
            "VATNumber": self.vat_number,
            "Email": self.email,
            "Country": self.country,
        }

    def report(self) -> dict[str, Any]:
        return {"division": self.division, "code": self.code.strip(), "name": self.name,
                "is_supplier": self.is_supplier, "is_sales": self.is_sales, "created_by": self.created_by}


def odata_date(day: date) -> str:
    """OData v2's JSON date, as Exact writes it: `/Date(<epoch ms>)/`."""
    return f"/Date({int(datetime.combine(day, time(), UTC).timestamp() * 1000)})/"


class Ledger:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.entries: list[Entry] = []
        self.accounts: list[Account] = []
        self._last_numbers: dict[tuple[int, str], int] = {}

    def book(self, body: dict[str, Any], *, division: int, asked_division: int, user: str, now: datetime) -> Entry:
        journal = _text(body, "Journal")
        if not journal.isdigit():
            raise Refused(f"Journal {journal!r} does not exist.")
        lines = body.get("PurchaseEntryLines")
        if not isinstance(lines, list) or not lines:
            raise Refused("Mandatory: PurchaseEntryLines.")
        for line in lines:
            _text(line, "GLAccount")
            if not isinstance(line.get("AmountFC"), int | float):
                raise Refused("Mandatory: AmountFC.")
        entry = Entry(
            entry_id=self._guid(),
            entry_number=self._next_number(division, journal, now),
            division=division,
            asked_division=asked_division,
            your_ref=body.get("YourRef"),
            journal=journal,
            supplier=_text(body, "Supplier"),
            entry_date=_entry_date(body.get("EntryDate"), now),
            description=str(body.get("Description") or ""),
            currency=str(body.get("Currency") or "EUR"),
            lines=lines,
            amount=round(sum(line["AmountFC"] for line in lines), 2),
            booked_by=user,
            booked_at=now,
            payment_id=self._guid(),
        )
        self.entries.append(entry)
        return entry

    def entries_in(self, division: int) -> list[Entry]:
        return [entry for entry in self.entries if entry.division == division]

    def payment(self, division: int, payment_id: str) -> Entry | None:
        return next((e for e in self.entries if e.division == division and e.payment_id == payment_id), None)

    def create_account(
        self, body: dict[str, Any], *, division: int, user: str, code_taken: Callable[[str], bool]
    ) -> Account:
        """A relation created through the API; `code_taken` knows the division's other relations."""
        code = _text(body, "Code")
        if len(code) > ACCOUNT_CODE_WIDTH:
            raise Refused(f"Code is longer than {ACCOUNT_CODE_WIDTH} characters.")
        if code_taken(code):
            raise Refused(f"Code {code!r} already exists.")
        account = Account(
            account_id=self._guid(),
            code=code.rjust(ACCOUNT_CODE_WIDTH),  # Exact pads codes with leading spaces
            name=_text(body, "Name"),
            division=division,
            is_supplier=bool(body.get("IsSupplier")),
            is_sales=bool(body.get("IsSales")),
            vat_number=body.get("VATNumber"),
            email=body.get("Email"),
            country=body.get("Country"),
            created_by=user,
        )
        self.accounts.append(account)
        return account

    def _next_number(self, division: int, journal: str, now: datetime) -> int:
        # Exact numbers entries per journal and year: 26700001 is the first of journal 70 in 2026. The seed
        # decides where each sequence starts, so numbers differ between divisions yet repeat between runs.
        key = (division, journal)
        number = self._last_numbers.get(key, self._rng.randrange(100)) + 1
        self._last_numbers[key] = number
        return int(f"{now.year % 100:02d}{journal}{number:04d}")

    def new_guid(self) -> str:
        return self._guid()

    def _guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"Mandatory: {name}.")
    return value.strip()


def _entry_date(value: Any, now: datetime) -> date:
    if value is None:
        return now.date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise Refused(f"EntryDate {value!r} is not a date.") from None
