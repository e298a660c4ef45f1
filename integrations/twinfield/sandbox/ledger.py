"""What was booked where, and the master data of each office.

Each transaction remembers the office it was asked for next to the one it landed in, so a misroute shows in the
ledger the way support needed it in 2019: asked, booked, transaction number. Dimensions are generated from the
seed per office (suppliers, customers, GL accounts, cost centres, projects), plus whatever the API created.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

PURCHASE_JOURNALS = ("INK",)

_FIRST = ("Van Dijk", "Bakker", "Visser", "Smit", "Meijer", "De Boer", "Mulder", "De Groot", "Bos", "Vos",
          "Peters", "Hendriks", "Dekker", "Brouwer", "Dijkstra")
_TRADE = ("Installatietechniek", "Transport", "Bouw", "Groothandel", "Advies", "Schoonmaak", "Drukwerk",
          "Catering", "ICT", "Hoveniers")
_FORM = ("B.V.", "V.O.F.", "Holding B.V.", "& Zn.")


class Refused(Exception):
    """The document is not acceptable: answered with `result="0"` and this message on `element`."""

    def __init__(self, element: str, message: str) -> None:
        super().__init__(message)
        self.element = element
        self.message = message


@dataclass
class Transaction:
    office: str
    asked_office: str
    journal: str
    number: str
    invoice_number: str
    supplier: str
    entry_date: date
    currency: str
    amount: float
    booked_by: str
    booked_at: datetime
    blocked: bool = False
    lines: list[dict[str, str]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {"office": self.office, "asked_office": self.asked_office, "journal": self.journal,
                "number": self.number, "invoice_number": self.invoice_number, "supplier": self.supplier,
                "amount": self.amount, "blocked": self.blocked, "booked_by": self.booked_by,
                "booked_at": self.booked_at.isoformat()}


@dataclass
class Dimension:
    office: str
    type: str
    code: str
    name: str
    modified: datetime
    hidden: bool = False
    created_by: str | None = None
    country: str | None = None
    email: str | None = None
    vat_number: str | None = None

    def report(self) -> dict[str, Any]:
        return {"office": self.office, "type": self.type, "code": self.code, "name": self.name,
                "created_by": self.created_by, "country": self.country, "email": self.email,
                "vat_number": self.vat_number}


class Ledger:
    def __init__(self, rng: random.Random, offices: list[str], now: datetime) -> None:
        self._rng = rng
        self.transactions: list[Transaction] = []
        self.dimensions: dict[tuple[str, str, str], Dimension] = {}
        self._last_numbers: dict[tuple[str, str], int] = {}
        for office in offices:
            self._generate(office, now)

    def _generate(self, office: str, now: datetime) -> None:
        def add(kind: str, code: str, name: str) -> None:
            self.dimensions[(office, kind, code)] = Dimension(office, kind, code, name, now)

        for n in range(25):
            add("CRD", str(2000 + n), self._company())
            add("DEB", str(1000 + n), self._company())
        for code, name in (("0100", "Gebouwen"), ("1100", "Bank"), ("1600", "Crediteuren"), ("1300", "Debiteuren"),
                           ("1500", "Te vorderen btw")):
            add("BAS", code, name)
        for code, name in (("4000", "Personeelskosten"), ("4300", "Huisvestingskosten"), ("7000", "Inkoopwaarde"),
                           ("8000", "Omzet")):
            add("PNL", code, name)
        for n, name in enumerate(("Algemeen", "Verkoop", "Productie", "Inkoop", "Directie")):
            add("KPL", str(100 + n), name)
        for n in range(3):
            add("PRJ", f"P{n + 1:04d}", f"Project {self._rng.choice(_FIRST)}")
        # One hidden supplier per office, so "hidden" is something a Finder option changes.
        hidden = Dimension(office, "CRD", "2999", self._company(), now, hidden=True)
        self.dimensions[(office, "CRD", "2999")] = hidden

    def _company(self) -> str:
        return f"{self._rng.choice(_FIRST)} {self._rng.choice(_TRADE)} {self._rng.choice(_FORM)}"

    def dimensions_of(self, office: str, kind: str) -> list[Dimension]:
        return sorted((d for (o, k, _), d in self.dimensions.items() if o == office and k == kind),
                      key=lambda d: d.code)

    def dimension(self, office: str, kind: str, code: str) -> Dimension | None:
        return self.dimensions.get((office, kind, code))

    def put_dimension(self, dimension: Dimension) -> Dimension:
        """Create, or overwrite, as Twinfield does with a dimension sent under an existing code."""
        self.dimensions[(dimension.office, dimension.type, dimension.code)] = dimension
        return dimension

    def book(self, *, office: str, asked_office: str, journal: str, invoice_number: str, supplier: str,
             entry_date: date, currency: str, amount: float, lines: list[dict[str, str]], blocked: bool, user: str,
             now: datetime) -> Transaction:
        transaction = Transaction(
            office=office, asked_office=asked_office, journal=journal,
            number=self._next_number(office, journal, entry_date), invoice_number=invoice_number,
            supplier=supplier, entry_date=entry_date, currency=currency, amount=amount, booked_by=user,
            booked_at=now, blocked=blocked, lines=lines,
        )
        self.transactions.append(transaction)
        return transaction

    def transaction(self, office: str, journal: str, number: str) -> Transaction | None:
        return next((t for t in self.transactions
                     if (t.office, t.journal, t.number) == (office, journal, number)), None)

    def transactions_in(self, office: str) -> list[Transaction]:
        return [t for t in self.transactions if t.office == office]

    def _next_number(self, office: str, journal: str, day: date) -> str:
        # Twinfield numbers per transaction type and year: 202600001 is the first of 2026. The seed decides where
        # each sequence starts, so numbers differ between offices yet repeat between runs.
        key = (office, journal)
        number = self._last_numbers.get(key, self._rng.randrange(100)) + 1
        self._last_numbers[key] = number
        return f"{day.year}{number:05d}"
