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
"""

from __future__ import annotations

from typing import Any

import msgspec

from integrations.exact_online.sandbox.faults import Faults
from integrations.exact_online.sandbox.messages import Reply, Request, error_reply, json_reply
from integrations.exact_online.sandbox.scenario import DIVISION_REASONS, USER_REASONS, SandboxUser
from integrations.exact_online.sandbox.state import SandboxState


class _UserChange(msgspec.Struct, forbid_unknown_fields=True):
    divisions: list[int] | None = None
    current_division: int | None = None
    status: str | None = None
    denied_rights: list[tuple[str, str]] | None = None


class _DivisionChange(msgspec.Struct, forbid_unknown_fields=True):
    status: str


def handle(state: SandboxState, request: Request) -> Reply:
    name = request.path.removeprefix("/_sandbox/")
    try:
        if name == "faults":
            return _change_faults(state, request.json()) if request.method == "POST" else _faults(state)
        if name == "ledger" and request.method == "GET":
            return json_reply(200, {"entries": [e.report() for e in state.ledger.entries],
                                    "accounts": [a.report() for a in state.ledger.accounts]})
        if name == "traffic" and request.method == "GET":
            return json_reply(200, state.traffic_report())
        if name == "scenario" and request.method == "GET":
            return json_reply(200, _scenario(state))
        if name.startswith("users/") and request.method == "POST":
            return _change_user(state, name.removeprefix("users/"), msgspec.convert(request.json(), _UserChange))
        if name.startswith("divisions/") and request.method == "POST":
            return _change_division(state, name.removeprefix("divisions/"),
                                    msgspec.convert(request.json(), _DivisionChange))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return error_reply(400, str(exc))
    return error_reply(404, f"No sandbox control {request.method} {request.path}.")


def _faults(state: SandboxState) -> Reply:
    return json_reply(200, state.faults)


def _change_faults(state: SandboxState, changes: Any) -> Reply:
    if not isinstance(changes, dict):
        return error_reply(400, "Send a JSON object.")
    if changes.pop("expire_access_tokens", False):
        state.authority.revoke_all_access()
    state.faults = msgspec.convert({**msgspec.to_builtins(state.faults), **changes}, Faults)
    return _faults(state)


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
