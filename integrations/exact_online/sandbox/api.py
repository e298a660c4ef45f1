"""The REST API under `/api/v1`: the gatekeeping every call passes, then the endpoints.

Gatekeeping, in order: faults that strike before anything happens; the bearer token; an app blocked for too
many errors; the app's budget in the division; the user's and the division's standing, where the 2019 bug
lives; then the endpoint. Answers carry the rate-limit headers; errors are counted against the app.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from integrations.exact_online.sandbox.faults import Strike, strike
from integrations.exact_online.sandbox.ledger import Refused
from integrations.exact_online.sandbox.limits import COUNTED_AS_ERRORS, ErrorKey
from integrations.exact_online.sandbox.messages import Reply, Request, error_reply, json_reply
from integrations.exact_online.sandbox.scenario import DIVISION_REASONS, USER_REASONS, SandboxUser
from integrations.exact_online.sandbox.state import Exchange, SandboxState

PAGE_SIZE = 60
ME = "current/Me"

_PATH = re.compile(r"^/api/v1/(?:(?P<division>[0-9]+)/)?(?P<endpoint>\w+/\w+)(?:\((?P<key>[^)]*)\))?$")
_FILTER = re.compile(
    r"^\s*(?:trim\((?P<trimmed>\w+)\)|(?P<field>\w+))\s+eq\s+(?P<guid>guid)?'(?P<value>(?:[^']|'')*)'\s*$"
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
    if (hit := strike(state.faults, state.rng, booking=creating, booked=False)) is not None:
        return _struck(state, hit), None

    grant = state.authority.resolve(request.headers.get("authorization", "").removeprefix("Bearer "))
    if grant is None or not grant.works(now):
        reply = error_reply(401, "Unauthorized.")
        reply.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        if grant is not None:
            state.errors.record(ErrorKey(grant.client_id, grant.username, asked, endpoint), now)
        return reply, None
    grant.uses += 1
    user = state.users[grant.username]

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
        if creating and reply.status == 201 and (hit := strike(state.faults, state.rng, booking=True, booked=True)):
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
    return _page(call, [row])


def _divisions(call: Call) -> Reply:
    rows = [
        {"Code": code, "Description": division.name, "CustomerName": division.customer}
        for code in sorted(call.user.divisions)
        if (division := call.state.divisions.get(code)) is not None
    ]
    return _page(call, rows)


def _user_has_rights(call: Call) -> Reply:
    endpoint = _literal(call.request.query.get("endpoint"))
    action = _literal(call.request.query.get("action"))
    if endpoint is None or action is None:
        return error_reply(400, "Mandatory: endpoint and action, as quoted strings.")
    return json_reply(200, {"d": {"UserHasRights": (endpoint, action.upper()) not in call.user.denied_rights}})


def _purchase_entries(call: Call) -> Reply:
    ledger, division = call.state.ledger, call.division
    assert division is not None
    if call.request.method == "GET":
        # Exact's trap, faithfully: without the right to read, a list is empty rather than refused.
        rows = [] if call.denied() else [e.representation() for e in ledger.entries_in(division)]
        return _page(call, rows)
    if call.request.method != "POST" or call.key is not None:
        return error_reply(405, "Method not allowed.")
    if call.denied():
        return error_reply(403, "Forbidden.")
    try:
        entry = ledger.book(_json_object(call.request), division=division, asked_division=call.asked or division,
                            user=call.user.username, now=call.now)
    except Refused as refusal:
        return error_reply(400, str(refusal))
    return _created(call, entry.representation(), f"PurchaseEntries(guid'{entry.entry_id}')")


def _payments(call: Call) -> Reply:
    ledger, division = call.state.ledger, call.division
    assert division is not None
    if call.request.method == "GET" and call.key is None:
        return _page(call, [] if call.denied() else [e.payment_line() for e in ledger.entries_in(division)])
    if call.request.method != "PUT" or call.key is None:
        return error_reply(405, "Method not allowed.")
    if call.denied():
        return error_reply(403, "Forbidden.")
    key = _GUID_KEY.match(call.key)
    entry = ledger.payment(division, key["id"].lower()) if key else None
    if entry is None:
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
    if "PaymentBlocked" in changes:
        entry.payment_blocked = bool(changes["PaymentBlocked"])
    return Reply(204)


def _accounts(call: Call) -> Reply:
    ledger, division = call.state.ledger, call.division
    assert division is not None
    if call.request.method == "GET":
        return _page(call, [] if call.denied() else [a.representation() for a in ledger.accounts_in(division)])
    if call.request.method != "POST" or call.key is not None:
        return error_reply(405, "Method not allowed.")
    if call.denied():
        return error_reply(403, "Forbidden.")
    try:
        account = ledger.create_account(_json_object(call.request), division=division, user=call.user.username)
    except Refused as refusal:
        return error_reply(400, str(refusal))
    return _created(call, account.representation(), f"Accounts(guid'{account.account_id}')")


def _unknown(call: Call) -> Reply:
    return error_reply(404, f"Endpoint {call.endpoint} does not exist.")


ENDPOINTS: dict[str, Callable[[Call], Reply]] = {
    ME: _me,
    "system/Divisions": _divisions,
    "users/UserHasRights": _user_has_rights,
    "purchaseentry/PurchaseEntries": _purchase_entries,
    "cashflow/Payments": _payments,
    "crm/Accounts": _accounts,
}


def _created(call: Call, representation: dict[str, Any], key: str) -> Reply:
    location = {"Location": f"{call.request.base_url}/api/v1/{call.asked}/{call.endpoint.split('/')[0]}/{key}"}
    if call.request.headers.get("prefer") == "return=representation":
        return json_reply(201, {"d": representation}, location)
    return Reply(201, headers=location)


def _page(call: Call, rows: list[dict[str, Any]]) -> Reply:
    """`$filter`, `$select` and pages of 60 with a `__next` link, as far as the connector uses them."""
    query = call.request.query
    if "$filter" in query:
        filtered = _filtered(rows, query["$filter"])
        if filtered is None:
            return error_reply(400, f"The sandbox cannot filter on {query['$filter']!r}.")
        rows = filtered
    if "$select" in query:
        fields = [name.strip() for name in query["$select"].split(",")]
        if rows and (missing := [name for name in fields if name not in rows[0]]):
            return error_reply(400, f"Property {missing[0]} does not exist.")
        rows = [{name: row[name] for name in fields} for row in rows]
    skip = int(query.get("$skiptoken", "0") or 0)
    data: dict[str, Any] = {"results": rows[skip:skip + PAGE_SIZE]}
    if skip + PAGE_SIZE < len(rows):
        rest = urlencode({**query, "$skiptoken": str(skip + PAGE_SIZE)}, quote_via=quote)
        data["__next"] = f"{call.request.base_url}{call.request.path}?{rest}"
    return json_reply(200, {"d": data})


def _filtered(rows: list[dict[str, Any]], expression: str) -> list[dict[str, Any]] | None:
    match = _FILTER.match(expression)
    if match is None:
        return None
    name = match["trimmed"] or match["field"]
    wanted = match["value"].replace("''", "'")

    def value(row: dict[str, Any]) -> str:
        found = str(row.get(name))
        return found.strip() if match["trimmed"] else found.lower() if match["guid"] else found

    return [row for row in rows if value(row) == (wanted.lower() if match["guid"] else wanted)]


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
