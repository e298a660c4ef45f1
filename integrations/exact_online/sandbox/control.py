"""The sandbox's own controls under `/_sandbox/`, for tests and the demo; Exact Online has nothing like it.

    GET  /_sandbox/faults             the fault modes and limits in force
    POST /_sandbox/faults             change some of them (JSON object); `"expire_access_tokens": true` kills
                                      every access token issued so far
    GET  /_sandbox/ledger             every purchase entry (asked division, booked division, entry number, ...)
                                      and every relation
    GET  /_sandbox/traffic            answers by status, the recent exchanges, token calls, errors, blocked apps
    GET  /_sandbox/scenario           divisions, users and their rights, and the demo's environments
    POST /_sandbox/users/<username>   change `divisions`, `current_division`, `status`, `denied_rights`
    POST /_sandbox/divisions/<code>   change `status`
    GET  /_sandbox/data/<division>    the division's generated data set: sizes, rows per entity, last Timestamp
    POST /_sandbox/data/<division>    set the data set's size per entity (`{"accounts": 100000}`, others kept):
                                      a new data set replaces the old one, row versions keep increasing
    POST /_sandbox/data/<division>/<entity>
                                      create a row: `{"set": {"Code": "A1", "Name": "..."}}`
    GET  /_sandbox/data/<division>/<entity>/<key>
    POST /_sandbox/data/<division>/<entity>/<key>
                                      change a row, `{"set": {"Name": "..."}}` (new Timestamp and Modified), or
                                      delete it, `{"delete": true}` (reported in sync/Deleted) or
                                      `{"delete": true, "hard": true}` (not reported: only a full read notices)
    Entities: accounts, gl_accounts, cost_centers, cost_units, projects, purchase_order_lines, transaction_lines,
    payments. A key is the row's `ID`, or the index of a generated row (`0` is the first).
"""

from __future__ import annotations

from typing import Any

import msgspec

from integrations.exact_online.sandbox.masterdata import DataSize, DivisionData, Unknown, json_row
from integrations.exact_online.sandbox.messages import Reply, Request, error_reply, json_reply
from integrations.exact_online.sandbox.scenario import DIVISION_REASONS, USER_REASONS, SandboxUser
from integrations.exact_online.sandbox.state import SandboxState
from integrations.sandboxes import control as controls


class _UserChange(msgspec.Struct, forbid_unknown_fields=True):
    divisions: list[int] | None = None
    current_division: int | None = None
    status: str | None = None
    denied_rights: list[tuple[str, str]] | None = None


class _DivisionChange(msgspec.Struct, forbid_unknown_fields=True):
    status: str


class _RowChange(msgspec.Struct, forbid_unknown_fields=True):
    set: dict[str, Any] | None = None
    delete: bool = False
    hard: bool = False


def handle(state: SandboxState, request: Request) -> Reply:
    return controls.handle(state, request, own=lambda name: _own(state, request, name), scenario=lambda: _scenario(state),
                           refuse=error_reply)


def _own(state: SandboxState, request: Request, name: str) -> Reply | None:
    try:
        if name == "ledger" and request.method == "GET":
            return json_reply(200, {"entries": [e.report() for e in state.ledger.entries],
                                    "accounts": [a.report() for a in state.ledger.accounts]})
        if name.startswith("users/") and request.method == "POST":
            return _change_user(state, name.removeprefix("users/"), msgspec.convert(request.json(), _UserChange))
        if name.startswith("divisions/") and request.method == "POST":
            return _change_division(state, name.removeprefix("divisions/"),
                                    msgspec.convert(request.json(), _DivisionChange))
        if name.startswith("data/"):
            return _data(state, request, name.removeprefix("data/").split("/"))
    except ValueError as exc:
        return error_reply(400, str(exc))
    except Unknown as exc:
        return error_reply(404, str(exc))
    return None


def _change_user(state: SandboxState, username: str, change: _UserChange) -> Reply:
    user = state.users.get(username)
    if user is None:
        return error_reply(404, f"No user {username!r}.")
    if change.status is not None and change.status != "active" and change.status not in USER_REASONS:
        return error_reply(400, f"status is one of active, {', '.join(USER_REASONS)}.")
    if change.divisions is not None:
        user.divisions = set(change.divisions)
    if change.current_division is not None:
        user.current_division = change.current_division
    if change.status is not None:
        user.status = change.status
    if change.denied_rights is not None:
        user.denied_rights = {(endpoint, method.upper()) for endpoint, method in change.denied_rights}
    return json_reply(200, _user(user))


def _change_division(state: SandboxState, code: str, change: _DivisionChange) -> Reply:
    division = state.divisions.get(int(code)) if code.isdigit() else None
    if division is None:
        return error_reply(404, f"No division {code!r}.")
    if change.status != "active" and change.status not in DIVISION_REASONS:
        return error_reply(400, f"status is one of active, {', '.join(DIVISION_REASONS)}.")
    division.status = change.status
    return json_reply(200, {"code": division.code, "name": division.name, "status": division.status})


def _data(state: SandboxState, request: Request, parts: list[str]) -> Reply:
    if not parts[0].isdigit() or int(parts[0]) not in state.divisions or len(parts) > 3:
        raise Unknown(f"No sandbox data at {request.path}.")
    code, now = int(parts[0]), state.clock()
    data = state.masterdata.division(code)
    if len(parts) == 1:
        if request.method == "POST":
            size = msgspec.convert({**msgspec.to_builtins(data.size), **request.json()}, DataSize)
            data = state.masterdata.resize(code, size)
        return json_reply(200, data.report())
    entity = parts[1]
    data.table(entity)  # an unknown entity is a 404
    if len(parts) == 2:
        if request.method != "POST":
            raise Unknown(f"No sandbox control {request.method} {request.path}.")
        change = msgspec.convert(request.json(), _RowChange)
        return json_reply(200, json_row(data.create(entity, change.set or {}, now, key=state.ledger.new_guid())))
    key = _row_key(data, entity, parts[2])
    if request.method == "GET":
        row = data.table(entity).find(key)
        if row is None:
            raise Unknown(f"No {entity} row {parts[2]!r}.")
        return json_reply(200, json_row(row))
    change = msgspec.convert(request.json(), _RowChange)
    if change.delete:
        record = data.delete(entity, key, now, hard=change.hard)
        return json_reply(200, {"deleted": key, "reported": None if record is None else json_row(record)})
    return json_reply(200, json_row(data.change(entity, key, change.set or {}, now)))


def _row_key(data: DivisionData, entity: str, key: str) -> str:
    return data.generation.key(entity, int(key)) if key.isdigit() else key


def _scenario(state: SandboxState) -> dict[str, Any]:
    return {
        "name": state.scenario_name,
        "client_ids": sorted(state.apps),
        "divisions": [{"code": d.code, "name": d.name, "customer": d.customer, "status": d.status}
                      for d in state.divisions.values()],
        "users": [_user(user) for user in state.users.values()],
        "environments": [{"name": e.name, "connection_user": e.connection_user, "divisions": list(e.divisions)}
                         for e in state.environments],
    }


def _user(user: SandboxUser) -> dict[str, Any]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "user_id": user.user_id,
        "divisions": sorted(user.divisions),
        "current_division": user.current_division,
        "status": user.status,
        "denied_rights": sorted([endpoint, method] for endpoint, method in user.denied_rights),
    }
