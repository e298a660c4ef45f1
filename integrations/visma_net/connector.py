"""Visma.net Financials as one connection of the service: the target of mirror rules (seed 001), written through the
outbox like any action, checked before every write like any booking.

A connection is made with **client credentials** (a service integration, see README): no person signs in, so the
operator types, per company the environment's customer granted the app in the Visma App Store, the company id and
the Visma Connect tenant id it gave us, as `1896329=5f0c1e2a-...` (several separated by commas or spaces). That grant
is the connection's credential, kept in the service's database like other connections' tokens; access tokens are
asked for per tenant by the shared client and never stored.

What the registry's words mean here: an administration is a **company** (`ipp-company-id`); the connection "user" is
the app itself (its client id); the companies it can open are those whose tenant still grants the app a token and
whose API answers for it. Visma.net's rights are the app's scopes, asked for with every token for the whole tenant
(`SERVICE_SCOPES`): a token without them is refused (`invalid_scope`), so there are no per-endpoint rights to check.

Actions: `mirror_insert` creates a customer (`CustomerDraft`, reference = the mirror key) once, looked up by its
reference before any resend (the client's `create_customer`); `mirror_update` changes the mapped fields of the
customer the rule matched (`row`: its number), which is safe to repeat. Invoice actions are not Visma.net's here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from integrations.base import (
    ActionKind,
    ActionResult,
    Administration,
    AuthorizationError,
    ConnectionUser,
    Health,
    InvalidAction,
    InvoiceAction,
    NoAccess,
    Right,
)
from integrations.http_connection import timed_health
from integrations.payloads import MirrorWrite, payload_of
from integrations.registry import CredentialStore, MirrorTarget
from integrations.visma_net.client import Company, VismaNetClient
from integrations.visma_net.customers import Customer, CustomerChange, CustomerDraft

CUSTOMERS = "customers"
"""The one entity mirror rules write into: Visma.net's customers (`/v1/customer`)."""

MIRROR_TARGETS = {CUSTOMERS: MirrorTarget(
    key_field="reference",
    insert_fields=("name", "number", "corporate_id", "vat_registration_id"),
    update_fields=("name", "corporate_id", "vat_registration_id", "status"),
    required=("name",),
)}
"""Seed 001: a relation is identified by the customer's reference (`accountReference`); the name is required (Visma
refuses a customer without one, 1-60 characters); `number` may be given on insert (seed 001 sets it to the Exact
code), never changed after."""

APP_WIDE_REFUSALS = frozenset({"invalid_client", "invalid_scope", "unauthorized_client"})
"""Visma Connect's refusals that concern the app, not one tenant: no company can be opened."""

_PAIR = re.compile(r"^(?P<company>[^=\s,]+)=(?P<tenant>[^=\s,]+)$")


def parse_grant(grant: str) -> dict[str, str]:
    """`"1896329=5f0c...,1896330=77aa..."` -> {company id: tenant id}. `InvalidAction` naming what to type when the
    text is not that (the console shows it)."""
    pairs = [part for part in re.split(r"[\s,]+", grant.strip()) if part]
    companies: dict[str, str] = {}
    for part in pairs:
        match = _PAIR.match(part)
        if match is None:
            raise InvalidAction(f"{part!r} is not COMPANY=TENANT: type each company's id and the Visma Connect tenant "
                                f"id its administrator granted the app, like 1896329=5f0c1e2a-7d3b-...")
        companies[match["company"]] = match["tenant"]
    if not companies:
        raise InvalidAction("no company given: type COMPANY=TENANT, like 1896329=5f0c1e2a-7d3b-...")
    return companies


class VismaNetConnector:
    """One environment's connection to Visma.net. `client` is shared by every connection of the app in a process
    (the hourly limit is per company and client); `credentials` holds this connection's grant."""

    def __init__(self, client: VismaNetClient, credentials: CredentialStore, *, client_id: str) -> None:
        self.client = client
        self._credentials = credentials
        self._client_id = client_id

    async def connect(self, grant: str) -> ConnectionUser:
        """Keep the companies typed in, once every one of them answers: from now on the connection writes there."""
        companies = parse_grant(grant)
        for company_id, tenant_id in companies.items():
            await self._probe(Company(company_id=company_id, tenant_id=tenant_id))
        canonical = ",".join(f"{company}={tenant}" for company, tenant in companies.items())
        await self._credentials.save(canonical, canonical)
        return await self.connection_user()

    async def aclose(self) -> None:
        """The shared client belongs to the integration's link, which closes its HTTP client."""

    async def companies(self) -> Mapping[str, Company]:
        stored = await self._credentials.load()
        if not stored:
            raise AuthorizationError("not connected: connect the environment to Visma.net in the console "
                                     "(Connections) with its companies and tenant ids")
        return {company: Company(company_id=company, tenant_id=tenant)
                for company, tenant in parse_grant(stored).items()}

    async def company(self, administration: str) -> Company:
        """The company as this connection reaches it; `NoAccess` for one the grant does not name."""
        found = (await self.companies()).get(administration)
        if found is None:
            raise NoAccess(administration, "the connection was not granted this company (connect it again with "
                                           "its tenant id)")
        return found

    def rights_needed(self, kind: ActionKind) -> tuple[Right, ...]:
        """None per endpoint: the app's scopes hold for the whole tenant (see the module's docstring)."""
        return ()

    async def check_health(self) -> Health:
        async def probe() -> str:
            first = next(iter((await self.companies()).values()))
            await self._probe(first)
            return f"company {first.company_id} answers for client {self._client_id}"

        return await timed_health(probe)

    async def connection_user(self) -> ConnectionUser:
        companies = await self.companies()
        return ConnectionUser(user_id=self._client_id, user_name=self._client_id,
                              full_name="Visma.net service integration (client credentials)",
                              current_administration=next(iter(companies)))

    async def accessible_administrations(self) -> list[Administration]:
        """The granted companies that answer now: one call each (a page of one customer)."""
        reachable: list[Administration] = []
        for company in (await self.companies()).values():
            try:
                await self._probe(company)
            except NoAccess:
                continue
            except AuthorizationError as refused:
                if refused.reason in APP_WIDE_REFUSALS:
                    raise
                continue  # this tenant withdrew its grant: the others may still answer
            reachable.append(Administration(company.company_id, company.company_id))
        return reachable

    async def has_right(self, administration: str, endpoint: str, action: str) -> bool:
        return administration in {item.code for item in await self.accessible_administrations()}

    async def execute(self, action: InvoiceAction) -> ActionResult:
        company = await self.company(action.administration)
        write = self._write_of(action)
        if action.kind is ActionKind.MIRROR_INSERT:
            draft = _draft(write)
            return _result(action, await self.client.create_customer(company, draft), write.key)
        if not write.row:
            raise InvalidAction(f"a mirror update of {write.key!r} names no customer number (`row`)")
        await self.client.update_customer(company, write.row, _change(write))
        return ActionResult(administration=action.administration, reference=write.key, entry_number=write.row)

    async def find_result(self, action: InvoiceAction) -> ActionResult | None:
        """An insert tried before is looked up by its reference among every customer (a retry may come hours after
        the first try, past any narrower window); an update is simply repeated."""
        company = await self.company(action.administration)
        write = self._write_of(action)
        if action.kind is ActionKind.MIRROR_UPDATE:
            return None
        found = await self.client.find_by_reference(company, write.key, modified_since=None)
        return None if found is None else _result(action, found, write.key)

    async def _probe(self, company: Company) -> None:
        async for _ in self.client.customer_pages(company, page_size=1):
            break

    def _write_of(self, action: InvoiceAction) -> MirrorWrite:
        if action.kind not in (ActionKind.MIRROR_INSERT, ActionKind.MIRROR_UPDATE):
            raise InvalidAction(f"Visma.net takes mirror writes here, not {action.kind} actions")
        write = payload_of(action, MirrorWrite)
        target = MIRROR_TARGETS.get(write.entity)
        if target is None:
            raise InvalidAction(f"Visma.net has no mirror target {write.entity!r}; it has {', '.join(MIRROR_TARGETS)}")
        allowed = target.insert_fields if action.kind is ActionKind.MIRROR_INSERT else target.update_fields
        unknown = sorted(set(write.fields) - set(allowed))
        if unknown:
            raise InvalidAction(f"{action.kind} of {write.entity} cannot set {', '.join(unknown)}; "
                                f"it sets {', '.join(allowed)}")
        return write


def _draft(write: MirrorWrite) -> CustomerDraft:
    fields = {name: value for name, value in write.fields.items() if value is not None}
    if not fields.get("name"):
        raise InvalidAction(f"a customer needs a name; the mirror row {write.key!r} has none")
    return msgspec.convert({**fields, "reference": write.key}, CustomerDraft)


def _change(write: MirrorWrite) -> CustomerChange:
    return msgspec.convert({name: value for name, value in write.fields.items() if value is not None}, CustomerChange)


def _result(action: InvoiceAction, customer: Customer, key: str) -> ActionResult:
    """The customer Visma.net holds: its number as the entry number, its internal id as the entry id. Visma's answer
    names no company: the customer was read back in the context of the company asked (`ipp-company-id`)."""
    return ActionResult(administration=action.administration, reference=customer.reference or key,
                        entry_number=customer.number,
                        entry_id=None if customer.internal_id is None else str(customer.internal_id))
