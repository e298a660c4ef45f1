"""The sandbox's own controls under `/_sandbox/`, for tests and the demo; Twinfield has nothing like it.

    GET  /_sandbox/faults          the fault modes and limits in force
    POST /_sandbox/faults          change some of them (JSON object); `"expire_access_tokens": true` kills every
                                   access token issued so far
    GET  /_sandbox/ledger          every transaction (asked office, booked office, number, invoice number, blocked)
                                   and every dimension the API created or overwrote
    GET  /_sandbox/traffic         answers by status, recent exchanges, refreshes, refresh tokens used twice, the
                                   most calls in flight per organisation, calls refused for credits or concurrency
    GET  /_sandbox/scenario        organisations, offices, users and their offices, the demo's environments
    POST /_sandbox/users/<code>    change `offices`, `default_office`
"""

from __future__ import annotations

from typing import Any

import msgspec

from integrations.sandboxes.state import faults_control
from integrations.twinfield.sandbox.messages import Reply, Request, json_reply
from integrations.twinfield.sandbox.scenario import SandboxUser
from integrations.twinfield.sandbox.state import SandboxState


class _UserChange(msgspec.Struct, forbid_unknown_fields=True):
    offices: list[str] | None = None
    default_office: str | None = None


def handle(state: SandboxState, request: Request) -> Reply:
    name = request.path.removeprefix("/_sandbox/")
    try:
        if name == "faults":
            return faults_control(state, request, refuse=_error)
        if name == "ledger" and request.method == "GET":
            return json_reply(200, {
                "transactions": [t.report() for t in state.ledger.transactions],
                "dimensions": [d.report() for d in state.ledger.dimensions.values() if d.created_by is not None],
            })
        if name == "traffic" and request.method == "GET":
            return json_reply(200, state.traffic_report())
        if name == "scenario" and request.method == "GET":
            return json_reply(200, _scenario(state, request.base_url))
        if name.startswith("users/") and request.method == "POST":
            return _change_user(state, name.removeprefix("users/"), msgspec.convert(request.json(), _UserChange))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return _error(400, str(exc))
    return _error(404, f"No sandbox control {request.method} {request.path}.")


def _change_user(state: SandboxState, code: str, change: _UserChange) -> Reply:
    user = state.users.get(code)
    if user is None:
        return _error(404, f"No user {code!r}.")
    if change.offices is not None:
        user.offices = set(change.offices)
    if change.default_office is not None:
        user.default_office = change.default_office
    return json_reply(200, _user(user))


def _scenario(state: SandboxState, base_url: str) -> dict[str, Any]:
    return {
        "name": state.scenario_name,
        "client_ids": sorted(state.apps),
        "organisations": [{"code": o.code, "name": o.name, "id": o.organisation_id,
                           "cluster_url": state.cluster_url(base_url, o)} for o in state.organisations.values()],
        "offices": [{"code": o.code, "name": o.name, "organisation": o.organisation} for o in state.offices.values()],
        "users": [_user(user) for user in state.users.values()],
        "environments": [{"name": e.name, "connection_user": e.connection_user, "offices": list(e.offices)}
                         for e in state.environments],
    }


def _user(user: SandboxUser) -> dict[str, Any]:
    return {"code": user.code, "full_name": user.full_name, "organisation": user.organisation,
            "offices": sorted(user.offices), "default_office": user.default_office}


def _error(status: int, message: str) -> Reply:
    """The sandbox's own error shape for its controls: `{"error": message}`."""
    return json_reply(status, {"error": message})
