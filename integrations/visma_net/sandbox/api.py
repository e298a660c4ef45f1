"""Visma Connect's token endpoint and the ERP API's customer endpoints.

Gatekeeping of an API call, in order: faults that strike before anything happens; the bearer token; the company
in `ipp-company-id` against the token's tenant; the client's hourly budget in the company; the token's scopes;
then the endpoint, and faults that strike after an insert took effect. Answers past the token carry the
`X-RateLimit-*` headers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

import msgspec

from integrations.visma_net.sandbox.faults import Strike, strike
from integrations.visma_net.sandbox.messages import Reply, Request, gateway_error, ipp_error, json_reply
from integrations.visma_net.sandbox.scenario import SeedCustomer
from integrations.visma_net.sandbox.state import (
    MAX_PAGE_SIZE,
    NAME_LENGTH,
    CompanyBook,
    Exchange,
    SandboxState,
    to_millis,
)

READ, CREATE, UPDATE = (f"vismanet_erp_service_api:{verb}" for verb in ("read", "create", "update"))
KNOWN_SCOPES = frozenset({READ, CREATE, UPDATE, "vismanet_erp_service_api:delete"})
_CUSTOMER = re.compile(r"^/v1/customer(?:/(?P<number>[^/]+))?$")
_FILTER_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
_CONDITIONS = {">": datetime.__gt__, ">=": datetime.__ge__, "<": datetime.__lt__, "<=": datetime.__le__}
_UPDATABLE = {"name": "name", "accountReference": "reference", "status": "status", "corporateId": "corporate_id",
              "vatRegistrationId": "vat_registration_id"}


def token(state: SandboxState, request: Request) -> Reply:
    """POST /connect/token with the client-credentials grant; the token is bound to the tenant's company."""
    form = request.form()
    client_id = form.get("client_id", "")
    if client_id not in state.apps or state.apps[client_id] != form.get("client_secret"):
        reply = json_reply(400, {"error": "invalid_client"})
    elif form.get("grant_type") != "client_credentials":
        reply = json_reply(400, {"error": "unsupported_grant_type"})
    elif not (scopes := frozenset(form.get("scope", "").split())) or not scopes <= KNOWN_SCOPES:
        reply = json_reply(400, {"error": "invalid_scope"})
    elif (company := state.company_of_tenant(form.get("tenant_id", ""))) is None or client_id not in company.granted_to:
        reply = json_reply(400, {"error": "invalid_request",
                                 "error_description": "The tenant has not granted this client access."})
    else:
        now = state.clock()
        scopes -= frozenset(state.faults.withheld_scopes)  # RFC 6749 3.3: issued with fewer, and says which
        reply = json_reply(200, {"access_token": state.issue_token(client_id, company.company_id, scopes, now),
                                 "expires_in": state.faults.access_token_seconds, "token_type": "Bearer",
                                 "scope": " ".join(sorted(scopes))})
    state.record(Exchange(state.clock(), "POST", "/connect/token", None, reply.status, client_id))
    return reply


def handle(state: SandboxState, request: Request) -> Reply:
    now = state.clock()
    reply, company = _pass_gate(state, request, now)
    reply.delay += state.faults.latency_ms / 1000
    state.record(Exchange(now, request.method, request.path, company, reply.status))
    return reply


def _pass_gate(state: SandboxState, request: Request, now: datetime) -> tuple[Reply, str | None]:
    match = _CUSTOMER.match(request.path)
    if match is None:
        return gateway_error(404, "Resource not found"), None
    number = unquote(match["number"]) if match["number"] else None
    inserting = request.method == "POST" and number is None
    if (hit := strike(state.faults, state.rng, inserting=inserting, done=False)) is not None:
        return _struck(state, hit), None

    grant = state.grants.get(request.headers.get("authorization", "").removeprefix("Bearer "))
    if grant is None or not grant.works(now):
        return gateway_error(401, "Unauthorized. Access token is missing or invalid."), None
    asked = request.headers.get("ipp-company-id", grant.company_id)
    if asked != grant.company_id:
        return ipp_error(403, f"The token does not give access to company {asked}.", "12002", "sandbox"), asked

    allowed, limit_headers = state.take_call(grant.client_id, grant.company_id, now)
    if not allowed:
        reply = gateway_error(429, f"Rate limit is exceeded. Try again in {limit_headers['Retry-After']} seconds.")
    else:
        needed = {"GET": READ, "POST": CREATE, "PUT": UPDATE}.get(request.method)
        book = state.companies[grant.company_id]
        if needed is None:
            reply = gateway_error(405, "Method not allowed")
        elif needed not in grant.scopes:
            reply = ipp_error(403, f"The token lacks the scope {needed}.", "10001", "sandbox")
        else:
            reply = _customers(state, book, request, number, now)
            if inserting and reply.status == 201:
                reply.delay += state.faults.insert_ms / 1000
                if (hit := strike(state.faults, state.rng, inserting=True, done=True)) is not None:
                    reply = _struck(state, hit)
    reply.headers.update(limit_headers)
    return reply, grant.company_id


def _struck(state: SandboxState, hit: Strike) -> Reply:
    if hit is Strike.THROTTLE:
        reply = gateway_error(429, "Rate limit is exceeded.")
        reply.headers["Retry-After"] = str(state.faults.throttle_retry_after)
        return reply
    if hit is Strike.HANG:
        reply = gateway_error(504, "Gateway timeout.")
        reply.delay = state.faults.hang_seconds
        return reply
    return gateway_error(state.faults.fail_status, "The service is temporarily unavailable.")


def _customers(state: SandboxState, book: CompanyBook, request: Request, number: str | None, now: datetime) -> Reply:
    if number is None and request.method == "GET":
        return _list(book, request)
    if number is None and request.method == "POST":
        return _create(book, request, now)
    if number is not None and request.method in ("GET", "PUT"):
        customer = book.customers.get(number)
        if customer is None:
            return ipp_error(404, f"Customer with number {number} not found.", "10404", "sandbox")
        if request.method == "GET":
            return json_reply(200, customer.dto())
        try:
            fields = _values(request)
        except ValueError as exc:
            return ipp_error(400, str(exc), "10400", "sandbox")
        if len(fields.get("name") or "") > NAME_LENGTH or fields.get("name", "x") == "":
            return ipp_error(400, f"Name: 1 to {NAME_LENGTH} characters.", "10400", "sandbox")
        for wire, attribute in _UPDATABLE.items():
            if wire in fields:
                setattr(customer, attribute, fields[wire])
        customer.modified = to_millis(now)
        return Reply(204)
    return gateway_error(405, "Method not allowed")


def _list(book: CompanyBook, request: Request) -> Reply:
    query = request.query
    try:
        page_number = int(query.get("pageNumber", "1"))
        page_size = int(query.get("pageSize", "100"))
    except ValueError:
        return ipp_error(400, "pageNumber and pageSize are whole numbers.", "10400", "sandbox")
    if page_number < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        return ipp_error(400, f"pageNumber from 1; pageSize from 1 to {MAX_PAGE_SIZE}.", "10400", "sandbox")
    rows = sorted(book.customers.values(), key=lambda c: c.internal_id)
    if "lastModifiedDateTime" in query:
        condition = query.get("lastModifiedDateTimeCondition")
        moment = _filter_moment(query["lastModifiedDateTime"])
        if condition not in _CONDITIONS or moment is None:
            return ipp_error(400, "lastModifiedDateTime needs a lastModifiedDateTimeCondition of >, >=, < or <=, "
                                  "and a date as YYYY-MM-DD[ hh:mm:ss[.fff]].", "10400", "sandbox")
        compare = _CONDITIONS[condition]
        rows = [c for c in rows if compare(c.modified.replace(tzinfo=None), moment)]
    metadata = {"totalCount": len(rows), "maxPageSize": MAX_PAGE_SIZE}
    page = rows[(page_number - 1) * page_size: page_number * page_size]
    return json_reply(200, [{**c.dto(), "metadata": metadata} for c in page])


def _create(book: CompanyBook, request: Request, now: datetime) -> Reply:
    try:
        fields = _values(request)
    except ValueError as exc:
        return ipp_error(400, str(exc), "10400", "sandbox")
    name, number = fields.get("name"), fields.get("number")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_LENGTH:
        return ipp_error(400, f"Name: 1 to {NAME_LENGTH} characters.", "10400", "sandbox")
    if number is not None and number in book.customers:
        return ipp_error(400, f"A customer with number {number} already exists.", "10409", "sandbox")
    customer = book.add(SeedCustomer(name, fields.get("accountReference"), number), now, made_by="api")
    for wire in ("corporateId", "vatRegistrationId", "status"):
        if wire in fields:
            setattr(customer, _UPDATABLE[wire], fields[wire])
    return Reply(201, headers={"Location": f"{request.base_url}/v1/customer/{quote(customer.number, safe='')}"})


def _values(request: Request) -> dict[str, Any]:
    """Visma's update DTO unwrapped: `{"name": {"value": "x"}}` becomes `{"name": "x"}`."""
    try:
        body = request.json()
    except msgspec.DecodeError as exc:
        raise ValueError(f"The body is not JSON: {exc}") from exc
    if not isinstance(body, dict) or not all(isinstance(v, dict) and "value" in v for v in body.values()):
        raise ValueError('Send an object whose fields are {"value": ...}.')
    return {name: wrapped["value"] for name, wrapped in body.items()}


def _filter_moment(text: str) -> datetime | None:
    for layout in _FILTER_FORMATS:
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    return None
