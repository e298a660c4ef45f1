"""Everything one sandbox knows, behind one lock: its apps and companies, customers per company, tokens, hourly
windows, faults, and a log of the traffic it answered."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from integrations.base import Clock
from integrations.sandboxes.state import SandboxStateBase
from integrations.visma_net.sandbox.faults import Faults
from integrations.visma_net.sandbox.scenario import SandboxCompany, Scenario, SeedCustomer

HOUR = timedelta(hours=1)
MAX_PAGE_SIZE = 1000
NAME_LENGTH = 60
"""Visma.net allows names of at most 60 characters (seed 001)."""


def visma_time(moment: datetime) -> str:
    """As Visma writes `lastModifiedDateTime`: no zone, milliseconds (the sandbox's times are UTC)."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds")


def to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass
class SandboxCustomer:
    internal_id: int
    number: str
    name: str
    reference: str | None
    created: datetime
    modified: datetime
    made_by: str
    """`api` when created through the API, `hand` when seeded as made in Visma.net's screens."""
    status: str = "Active"
    corporate_id: str | None = None
    vat_registration_id: str | None = None

    def dto(self) -> dict[str, Any]:
        return {"internalId": self.internal_id, "number": self.number, "name": self.name, "status": self.status,
                "accountReference": self.reference, "corporateId": self.corporate_id,
                "vatRegistrationId": self.vat_registration_id, "createdDateTime": visma_time(self.created),
                "lastModifiedDateTime": visma_time(self.modified)}

    def report(self) -> dict[str, Any]:
        return {**self.dto(), "madeBy": self.made_by}


@dataclass
class CompanyBook:
    company_id: str
    tenant_id: str
    name: str
    granted_to: frozenset[str]
    customers: dict[str, SandboxCustomer] = field(default_factory=dict)
    next_internal_id: int = 1

    def add(self, seed: SeedCustomer, now: datetime, made_by: str) -> SandboxCustomer:
        number = seed.number or self.next_number()
        customer = SandboxCustomer(self.next_internal_id, number, seed.name, seed.reference, to_millis(now),
                                   to_millis(now), made_by)
        self.next_internal_id += 1
        self.customers[number] = customer
        return customer

    def next_number(self) -> str:
        """The company's auto-numbering: one past the highest numeric customer number, from 10000."""
        numeric = [int(n) for n in self.customers if n.isdigit()]
        return str(max(numeric, default=9999) + 1)


@dataclass
class Grant:
    client_id: str
    company_id: str
    scopes: frozenset[str]
    expires_at: datetime
    revoked: bool = False

    def works(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at


@dataclass(frozen=True)
class Exchange:
    at: datetime
    method: str
    path: str
    company: str | None
    status: int
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "method": self.method, "path": self.path, "company": self.company,
                "status": self.status, "note": self.note}


class SandboxState(SandboxStateBase[Faults, Exchange]):
    def __init__(self, scenario: Scenario, *, clock: Clock, seed: int, faults: Faults) -> None:
        super().__init__(name=scenario.name, apps=scenario.apps, clock=clock, seed=seed, faults=faults)
        self.companies: dict[str, CompanyBook] = {}
        for company in scenario.companies:
            self.add_company(company)
        self.grants: dict[str, Grant] = {}
        self.windows: dict[tuple[str, str, datetime], int] = {}

    def add_company(self, company: SandboxCompany) -> None:
        book = CompanyBook(company.company_id, company.tenant_id, company.name, company.granted_to)
        for seed in company.customers:
            book.add(seed, self.clock(), made_by="hand" if seed.reference is None else "api")
        self.companies[company.company_id] = book

    def company_of_tenant(self, tenant_id: str) -> CompanyBook | None:
        return next((c for c in self.companies.values() if c.tenant_id == tenant_id), None)

    def issue_token(self, client_id: str, company_id: str, scopes: frozenset[str], now: datetime) -> str:
        token = f"{self.rng.getrandbits(160):040x}"
        self.grants[token] = Grant(client_id, company_id, scopes,
                                   now + timedelta(seconds=self.faults.access_token_seconds))
        return token

    def take_call(self, client_id: str, company_id: str, now: datetime) -> tuple[bool, dict[str, str]]:
        """Spend one call of the client's hour in the company, if one is left; and the headers to answer with.
        Windows are clock hours (a fixed window); a refused call spends nothing."""
        start = now.replace(minute=0, second=0, microsecond=0)
        key = (client_id, company_id, start)
        used = self.windows.get(key, 0)
        allowed = used < self.faults.hourly_limit
        if allowed:
            used = self.windows[key] = used + 1
        reset = max(1, math.ceil((start + HOUR - now).total_seconds()))
        headers = {"X-RateLimit-Limit": str(self.faults.hourly_limit),
                   "X-RateLimit-Remaining": str(max(0, self.faults.hourly_limit - used)),
                   "X-RateLimit-Reset": str(reset), "X-RateLimit-Policy": "4-fixed-window"}
        if not allowed:
            headers["Retry-After"] = str(reset)
        return allowed, headers

    def _expire_access_tokens(self) -> None:
        for grant in self.grants.values():
            grant.revoked = True
