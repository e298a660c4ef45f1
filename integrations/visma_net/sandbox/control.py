"""The sandbox's own controls under `/_sandbox/`, for tests and the demo; Visma.net has nothing like it.

    GET  /_sandbox/faults                        the fault modes and limits in force
    POST /_sandbox/faults                        change some of them (JSON object); `"expire_access_tokens": true`
                                                 revokes every access token issued so far
    GET  /_sandbox/companies/<id>/customers      every customer the company holds, with `madeBy` (`api`, `hand`)
    POST /_sandbox/companies/<id>/customers      seed customers: a JSON list of {"name", "reference"?, "number"?};
                                                 without a reference they count as made by hand
    POST /_sandbox/companies/<id>/customers/<number>
                                                 change a customer as someone would in Visma.net's screens:
                                                 `{"set": {"name": ..., "reference": ...}}`, or `{"delete": true}`
    GET  /_sandbox/traffic                       answers by status and the recent exchanges
    GET  /_sandbox/scenario                      the companies, their tenants, and the app's client id
"""

from __future__ import annotations

from typing import Any

import msgspec

from integrations.sandboxes import control as controls
from integrations.visma_net.sandbox.messages import Reply, Request, json_reply
from integrations.visma_net.sandbox.scenario import SeedCustomer
from integrations.visma_net.sandbox.state import SandboxState, to_millis


class _HandEdit(msgspec.Struct, forbid_unknown_fields=True):
    set: dict[str, str | None] = msgspec.field(default_factory=dict)
    delete: bool = False


class _Seed(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    reference: str | None = None
    number: str | None = None


def handle(state: SandboxState, request: Request) -> Reply:
    return controls.handle(state, request, own=lambda name: _own(state, request, name), scenario=lambda: _scenario(state),
                           refuse=_error, reply=json_reply)


def _own(state: SandboxState, request: Request, name: str) -> Reply | None:
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == "companies" and parts[2] == "customers":
        book = state.companies.get(parts[1])
        if book is None:
            return _error(404, f"No company {parts[1]!r}.")
        if request.method == "POST":
            for seed in msgspec.convert(request.json(), list[_Seed]):
                if seed.number is not None and seed.number in book.customers:
                    return _error(400, f"Customer {seed.number} exists.")
                book.add(SeedCustomer(seed.name, seed.reference, seed.number), state.clock(),
                         made_by="hand" if seed.reference is None else "api")
        return json_reply(200, [c.report() for c in sorted(book.customers.values(), key=lambda c: c.internal_id)])
    if len(parts) == 4 and parts[0] == "companies" and parts[2] == "customers" and request.method == "POST":
        return _hand_edit(state, parts[1], parts[3], msgspec.convert(request.json(), _HandEdit))
    return None


def _hand_edit(state: SandboxState, company: str, number: str, edit: _HandEdit) -> Reply:
    """A change made in Visma.net's own screens: the customer's `lastModifiedDateTime` moves; a deleted customer is
    gone from every list (Visma.net reports no deletions)."""
    book = state.companies.get(company)
    customer = None if book is None else book.customers.get(number)
    if book is None or customer is None:
        return _error(404, f"No customer {number!r} in company {company!r}.")
    if edit.delete:
        del book.customers[number]
        return json_reply(200, {"deleted": number})
    unknown = sorted(set(edit.set) - {"name", "reference"})
    if unknown:
        return _error(400, f"Only name and reference change by hand here, not {unknown[0]}.")
    for field, value in edit.set.items():
        setattr(customer, field, value)
    customer.modified = to_millis(state.clock())
    customer.made_by = "hand" if customer.reference is None else customer.made_by
    return json_reply(200, customer.report())


def _scenario(state: SandboxState) -> dict[str, Any]:
    return {
        "name": state.scenario_name,
        "client_ids": sorted(state.apps),
        "companies": [{"company_id": c.company_id, "tenant_id": c.tenant_id, "name": c.name,
                       "customers": len(c.customers)} for c in state.companies.values()],
    }


def _error(status: int, message: str) -> Reply:
    """The sandbox's own error shape for its controls: `{"error": message}`."""
    return json_reply(status, {"error": message})
