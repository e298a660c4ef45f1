"""The REST API under `/api/v1`: the gatekeeping every call passes, then the endpoints.

Gatekeeping, in order: faults that strike before anything happens; the bearer token; an app blocked for too
many errors; the app's budget in the division; the user's and the division's standing, where the 2019 bug
lives; then the endpoint. Answers carry the rate-limit headers; errors are counted against the app.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from integrations.exact_online.sandbox.faults import Strike, strike
from integrations.exact_online.sandbox.ledger import PURCHASE_ENTRY_FIELDS, Entry, Refused
from integrations.exact_online.sandbox.limits import COUNTED_AS_ERRORS, ErrorKey
from integrations.exact_online.sandbox.masterdata import (
    DELETED_FIELDS,
    KINDS,
    PAYMENT_OPEN,
    DivisionData,
    json_value,
    matching,
)
from integrations.exact_online.sandbox.messages import Reply, Request, error_reply, json_reply
from integrations.exact_online.sandbox.query import (
    Predicate,
    QueryError,
    Row,
    apply_filter,
    order_by,
    parse_filter,
    parse_select,
    parse_top,
)
from integrations.exact_online.sandbox.scenario import DIVISION_REASONS, USER_REASONS, SandboxUser
from integrations.exact_online.sandbox.state import Exchange, SandboxState

PAGE_SIZE = 60
SYNC_PAGE_SIZE = 1000
"""Exact Online's Sync API answers at most 1,000 rows a call; other list endpoints 60."""
ME = "current/Me"

_PATH = re.compile(
    r"^/api/v1/(?:(?P<division>[0-9]+)/)?(?P<endpoint>\w+/\w+(?:/\w+)?)(?:\((?P<key>[^)]*)\))?$"
)
_SYNC_FILTER = re.compile(
    r"^\s*Timestamp\s+(?P<op>gt|ge)\s+(?P<version>\d+)L?\s*(?:\s+and\s+(?P<rest>.+))?$", re.IGNORECASE | re.DOTALL
)
_GUID_KEY = re.compile(r"^guid'(?P<id>[0-9a-fA-F-]{36})'$")


@dataclass
class Call:
    """One API call that passed the gate: who asked, which division they named, and which serves it."""

    state: SandboxState
    request: Request
    user: SandboxUser
    endpoint: str
    asked: int | None
    division: int | None
    key: str | None
    now: datetime

    def denied(self) -> bool:
        """Whether the user's roles withhold this method on this endpoint."""
        return (self.endpoint, self.request.method) in self.user.denied_rights

    @property
    def served(self) -> int:
        """The division that serves the call, for the endpoints that live in one (the gate gave them one)."""
        assert self.division is not None
        return self.division

    def data(self) -> DivisionData:
        """The generated master data of the division that serves the call."""
        return self.state.masterdata.division(self.served)


def handle(state: SandboxState, request: Request) -> Reply:
    now = state.clock()
    match = _PATH.match(request.path)
    if match is None or (match["division"] is None) != (match["endpoint"] == ME):
        return error_reply(404, "The requested resource does not exist.")
    endpoint, key = match["endpoint"], match["key"]
    asked = int(match["division"]) if match["division"] else None
    creating = request.method == "POST"

    reply, user = _pass_gate(state, request, endpoint, asked, key, creating, now)
    reply.delay += state.faults.latency_ms / 1000
    state.record(Exchange(now, request.method, endpoint, asked, reply.status, user.username if user else None))
    return reply


def _pass_gate(
    state: SandboxState, request: Request, endpoint: str, asked: int | None, key: str | None, creating: bool,
    now: datetime,
) -> tuple[Reply, SandboxUser | None]:
    if (hit := strike(state.faults, state.rng, writing=creating, after_effect=False)) is not None:
        return _struck(state, hit), None

    grant = state.authority.resolve(request.headers.get("authorization", "").removeprefix("Bearer "))
    if grant is None or not grant.works(now):
        reply = error_reply(401, "Unauthorized.")
        reply.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        if grant is not None:
            state.errors.record(ErrorKey(grant.client_id, grant.user, asked, endpoint), now)
        return reply, None
    grant.uses += 1
    user = state.users[grant.user]

    if (blocked_until := state.errors.blocked_until(grant.client_id, now)) is not None:
        reply = error_reply(429, "This app is blocked for an hour: too many errors.")
        reply.headers["Retry-After"] = str(int((blocked_until - now).total_seconds()) + 1)
        return reply, user

    allowed, limit_headers = state.budgets.take(
        grant.client_id, asked, now, minutely_limit=state.faults.minutely_limit,
        daily_limit=state.faults.daily_limit, counts_daily=asked is not None,  # current/Me is free of the daily limit
    )
    if not allowed:
        reply = error_reply(429, "API rate limit exceeded.")
    else:
        refusal, division = _standing(state, user, asked)
        reply = refusal or ENDPOINTS.get(endpoint, _unknown)(
            Call(state, request, user, endpoint, asked, division, key, now)
        )
        if creating and reply.status == 201 and (hit := strike(state.faults, state.rng, writing=True, after_effect=True)):
            reply = _struck(state, hit)
    reply.headers.update(limit_headers)
    if reply.status in COUNTED_AS_ERRORS:
        state.errors.record(ErrorKey(grant.client_id, user.username, asked, endpoint), now)
    return reply, user


def _struck(state: SandboxState, hit: Strike) -> Reply:
    if hit is Strike.HANG:
        reply = error_reply(504, "Gateway timeout.")
        reply.delay = state.faults.hang_seconds
        return reply
    return error_reply(state.faults.fail_status, "The service is temporarily unavailable.")


def _standing(state: SandboxState, user: SandboxUser, asked: int | None) -> tuple[Reply | None, int | None]:
    """A refusal, or the division that serves the call: the one asked for, or under the bug the user's current."""
    if user.status in USER_REASONS:
        return error_reply(403, f"User {user.username} is {user.status}.", reason=USER_REASONS[user.status]), None
    if asked is None:
        return None, None
    division = asked
    if asked not in user.divisions or asked not in state.divisions:
        if not state.faults.misroute_bug:
            return error_reply(403, f"You have no access to division {asked}.", reason="NoDivisionAccess"), None
        division = user.current_division
    status = state.divisions[division].status
    if status in DIVISION_REASONS:
        return error_reply(403, f"Division {division} is {status.replace('_', ' ')}.",
                           reason=DIVISION_REASONS[status]), None
    return None, division


def _me(call: Call) -> Reply:
    user = call.user
    row = {"UserID": user.user_id, "UserName": user.username, "FullName": user.full_name, "Email": user.email,
           "CurrentDivision": user.current_division, "LanguageCode": "nl-NL"}
    return _page(call, [row], tuple(row))


def _divisions(call: Call) -> Reply:
    rows = [
        {"Code": code, "Description": division.name, "CustomerName": division.customer}
        for code in sorted(call.user.divisions)
        if (division := call.state.divisions.get(code)) is not None
    ]
    return _page(call, rows, ("Code", "Description", "CustomerName"))


def _hrm_divisions(call: Call) -> Reply:
    """hrm/Divisions: the divisions of the user's licence, with their standing (Status 1 active, 2 blocked)."""
    if call.request.method != "GET" or call.key is not None:
        return error_reply(405, "Method not allowed.")
    rows = [
        {"Code": code, "Description": division.name, "CustomerName": division.customer, "Country": "NL",
         "Currency": "EUR", "Status": 1 if division.status == "active" else 2}
        for code in sorted(call.user.divisions)
        if (division := call.state.divisions.get(code)) is not None
    ]
    return _page(call, [] if call.denied() else rows,
                 ("Code", "Description", "CustomerName", "Country", "Currency", "Status"))


def _user_has_rights(call: Call) -> Reply:
    endpoint = _literal(call.request.query.get("endpoint"))
    action = _literal(call.request.query.get("action"))
    if endpoint is None or action is None:
        return error_reply(400, "Mandatory: endpoint and action, as quoted strings.")
    return json_reply(200, {"d": {"UserHasRights": (endpoint, action.upper()) not in call.user.denied_rights}})


def _purchase_entries(call: Call) -> Reply:
    ledger, division = call.state.ledger, call.served
    if call.request.method == "GET":
        # Exact's trap, faithfully: without the right to read, a list is empty rather than refused.
        rows = [] if call.denied() else [e.representation() for e in ledger.entries_in(division)]
        return _page(call, rows, PURCHASE_ENTRY_FIELDS)
    if call.request.method != "POST" or call.key is not None:
        return error_reply(405, "Method not allowed.")
    if call.denied():
        return error_reply(403, "Forbidden.")
    try:
        entry = ledger.book(_json_object(call.request), division=division, asked_division=call.asked or division,
                            user=call.user.username, now=call.now)
    except Refused as refusal:
        return error_reply(400, str(refusal))
    _record_booking(call, entry)
    return _created(call, entry.representation(), "EntryID", f"PurchaseEntries(guid'{entry.entry_id}')")


def _record_booking(call: Call, entry: Entry) -> None:
    """A booking shows up where Exact shows it: its lines in sync/Financial/TransactionLines, and an open
    payment line in cashflow/Payments."""
    data = call.state.masterdata.division(entry.division)
    for number, line in enumerate(entry.lines, start=1):
        data.create("transaction_lines", {
            "EntryID": entry.entry_id, "EntryNumber": entry.entry_number, "LineNumber": number,
            "JournalCode": entry.journal, "Type": 30, "Date": datetime.combine(entry.entry_date, datetime.min.time()),
            "FinancialYear": entry.entry_date.year, "FinancialPeriod": entry.entry_date.month,
            "GLAccountCode": line.get("GLAccount"), "AmountDC": line.get("AmountFC"),
            "Description": line.get("Description"), "CostCenter": line.get("CostCenter"),
            "CostUnit": line.get("CostUnit"), "Project": line.get("Project"),
        }, call.now, key=call.state.ledger.new_guid())
    data.create("payments", {
        "TransactionEntryID": entry.entry_id, "EntryNumber": entry.entry_number, "YourRef": entry.your_ref,
        "AmountFC": entry.amount, "Currency": entry.currency, "Description": entry.description,
        "Status": PAYMENT_OPEN, "PaymentBlocked": False,
    }, call.now, key=entry.payment_id)


def _payments(call: Call) -> Reply:
    ledger, division, data = call.state.ledger, call.served, call.data()
    if call.request.method == "GET" and call.key is None:
        return _read(call, data, "payments")
    if call.request.method != "PUT" or call.key is None:
        return error_reply(405, "Method not allowed.")
    if call.denied():
        return error_reply(403, "Forbidden.")
    key = _GUID_KEY.match(call.key)
    line = data.table("payments").find(key["id"]) if key else None
    if key is None or line is None:
        return error_reply(404, "Payment not found.")
    try:
        changes = _json_object(call.request)
    except Refused as refusal:
        return error_reply(400, str(refusal))
    # PaymentMethod, Description and PaymentReference are Exact's documented PUT fields; PaymentBlocked is our
    # model of blocking for payment, which Exact's REST API does not document (see the README).
    unknown = set(changes) - {"PaymentBlocked", "PaymentMethod", "Description", "PaymentReference"}
    if unknown:
        return error_reply(400, f"Property {sorted(unknown)[0]} cannot be changed.")
    kept: dict[str, Any] = {name: changes[name] for name in ("PaymentBlocked", "Description") if name in changes}
    if "PaymentBlocked" in kept:
        kept["PaymentBlocked"] = bool(kept["PaymentBlocked"])
        if (entry := ledger.payment(division, line["ID"])) is not None:
            entry.payment_blocked = kept["PaymentBlocked"]
    if kept:
        data.change("payments", line["ID"], kept, call.now)
    return Reply(204)


def _accounts(call: Call) -> Reply:
    ledger, division, data = call.state.ledger, call.served, call.data()
    if call.request.method == "GET" and call.key is None:
        return _read(call, data, "accounts")
    if call.request.method != "POST" or call.key is not None:
        return error_reply(405, "Method not allowed.")
    if call.denied():
        return error_reply(403, "Forbidden.")
    try:
        account = ledger.create_account(_json_object(call.request), division=division, user=call.user.username,
                                        code_taken=data.code_taken)
    except Refused as refusal:
        return error_reply(400, str(refusal))
    row = data.create("accounts", account.representation(), call.now, key=account.account_id)
    return _created(call, _public(row, KINDS["accounts"].fields), "ID", f"Accounts(guid'{account.account_id}')")


def _reader(entity: str) -> Callable[[Call], Reply]:
    """A plain OData list endpoint over one entity of the division's master data."""

    def read(call: Call) -> Reply:
        if call.request.method != "GET" or call.key is not None:
            return error_reply(405, "Method not allowed.")
        return _read(call, call.data(), entity)

    return read


def _read(call: Call, data: DivisionData, entity: str) -> Reply:
    # Exact's trap, faithfully: without the right to read, a list is empty rather than refused.
    rows: Iterable[Row] = () if call.denied() else data.table(entity).rows()
    return _page(call, rows, KINDS[entity].fields)


def _syncer(entity: str | None) -> Callable[[Call], Reply]:
    """A `sync/...` endpoint: rows after a row version, in row-version order, 1,000 a call (None: sync/Deleted)."""
    fields = (*KINDS[entity].fields, "Timestamp") if entity is not None else DELETED_FIELDS

    def sync(call: Call) -> Reply:
        if call.request.method != "GET" or call.key is not None:
            return error_reply(405, "Method not allowed.")
        data = call.data()
        query = call.request.query
        try:
            after, rest, condition = _sync_filter(query.get("$filter"), fields)
            limit = min(SYNC_PAGE_SIZE, parse_top(query["$top"])) if "$top" in query else SYNC_PAGE_SIZE
            names = parse_select(query["$select"], fields) if "$select" in query else list(fields)
            if call.denied():
                rows: list[Row] = []
                more = False
            else:
                source = data.table(entity).rows(after) if entity is not None else iter(data.deleted_after(after))
                rows, more = matching(source, condition, limit)
        except QueryError as exc:
            return error_reply(400, str(exc))
        page: dict[str, Any] = {"results": [_public(row, names) for row in rows]}
        if more:
            cursor = f"Timestamp gt {rows[-1]['Timestamp']}L" + (f" and {rest}" if rest else "")
            page["__next"] = _link(call, {**query, "$filter": cursor})
        return json_reply(200, {"d": page})

    return sync


def _sync_filter(expression: str | None, fields: Sequence[str]) -> tuple[int, str | None, Predicate | None]:
    """`Timestamp gt N` (or `ge`), optionally `and` more conditions: the row version to start after, the rest."""
    if expression is None:
        return 0, None, None
    match = _SYNC_FILTER.match(expression)
    if match is None:
        raise QueryError("A sync endpoint is filtered on the row version first: $filter=Timestamp gt <n>.")
    after = int(match["version"]) - (1 if match["op"].lower() == "ge" else 0)
    rest = match["rest"]
    return after, rest, parse_filter(rest, fields) if rest else None


def _unknown(call: Call) -> Reply:
    return error_reply(404, f"Endpoint {call.endpoint} does not exist.")


ENDPOINTS: dict[str, Callable[[Call], Reply]] = {
    ME: _me,
    "system/Divisions": _divisions,
    "users/UserHasRights": _user_has_rights,
    "purchaseentry/PurchaseEntries": _purchase_entries,
    "cashflow/Payments": _payments,
    "crm/Accounts": _accounts,
    "hrm/Divisions": _hrm_divisions,
    "financial/GLAccounts": _reader("gl_accounts"),
    "hrm/CostCenters": _reader("cost_centers"),
    "hrm/CostUnits": _reader("cost_units"),
    "project/Projects": _reader("projects"),
    "sync/CRM/Accounts": _syncer("accounts"),
    "sync/Financial/GLAccounts": _syncer("gl_accounts"),
    "sync/Project/Projects": _syncer("projects"),
    "sync/PurchaseOrder/PurchaseOrders": _syncer("purchase_order_lines"),
    "sync/Financial/TransactionLines": _syncer("transaction_lines"),
    "sync/Deleted": _syncer(None),
}


def _created(call: Call, representation: dict[str, Any], key_field: str, key: str) -> Reply:
    """201 with the entity. Asked `Prefer: return=representation`, as stored; otherwise as Exact answers
    without it: the properties that were sent and the new key, every other property null."""
    location = {"Location": f"{call.request.base_url}/api/v1/{call.asked}/{call.endpoint.split('/')[0]}/{key}"}
    if call.request.headers.get("prefer") == "return=representation":
        return json_reply(201, {"d": representation}, location)
    sent = _json_object(call.request)
    echoed = {name: sent.get(name) for name in representation}
    echoed[key_field] = representation[key_field]
    return json_reply(201, {"d": echoed}, location)


def _page(call: Call, rows: Iterable[Row], fields: Sequence[str]) -> Reply:
    """`$filter`, `$orderby`, `$top`, `$select`, then pages of 60 with a `__next` link."""
    query = call.request.query
    try:
        selected = apply_filter(rows, query["$filter"], fields) if "$filter" in query else list(rows)
        if "$orderby" in query:
            selected = order_by(selected, query["$orderby"], fields)
        if "$top" in query:
            selected = selected[:parse_top(query["$top"])]
        names = parse_select(query["$select"], fields) if "$select" in query else list(fields)
        skip = int(query.get("$skiptoken", "0") or 0)
    except QueryError as exc:
        return error_reply(400, str(exc))
    except ValueError:
        return error_reply(400, "$skiptoken is not one this sandbox handed out.")
    data: dict[str, Any] = {"results": [_public(row, names) for row in selected[skip:skip + PAGE_SIZE]]}
    if skip + PAGE_SIZE < len(selected):
        data["__next"] = _link(call, {**query, "$skiptoken": str(skip + PAGE_SIZE)})
    return json_reply(200, {"d": data})


def _link(call: Call, query: dict[str, str]) -> str:
    """A `__next` link back to where the client reached us: its scheme and `Host`, our path."""
    return f"{call.request.base_url}{call.request.path}?{urlencode(query, quote_via=quote)}"


def _public(row: Row, names: Iterable[str]) -> dict[str, Any]:
    return {name: json_value(row.get(name)) for name in names}


def _literal(raw: str | None) -> str | None:
    if raw is None or len(raw) < 2 or raw[0] != "'" or raw[-1] != "'":
        return None
    return raw[1:-1].replace("''", "'")


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except msgspec.DecodeError:
        raise Refused("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Refused("The body must be a JSON object.")
    return body
