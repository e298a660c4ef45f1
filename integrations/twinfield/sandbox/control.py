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
    GET  /_sandbox/dimensions/<office>/<type>   every dimension of the type, hidden ones too (`hidden`, `modified`)
    POST /_sandbox/dimensions/<office>/<type>/<code>
                                   change a dimension (or add it) as a bookkeeper would in Twinfield: `name`,
                                   `hidden`; its modification time becomes now, so the Finder's `modifiedsince`
                                   sees it
"""

from __future__ import annotations

from typing import Any

import msgspec

from integrations.sandboxes import control as controls
from integrations.twinfield.sandbox.ledger import Dimension
from integrations.twinfield.sandbox.messages import Reply, Request, json_reply
from integrations.twinfield.sandbox.scenario import SandboxUser
from integrations.twinfield.sandbox.state import SandboxState


class _UserChange(msgspec.Struct, forbid_unknown_fields=True):
    offices: list[str] | None = None
    default_office: str | None = None


class _DimensionChange(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    hidden: bool | None = None


def handle(state: SandboxState, request: Request) -> Reply:
    return controls.handle(state, request, own=lambda name: _own(state, request, name),
                           scenario=lambda: _scenario(state, request.base_url), refuse=_error)


def _own(state: SandboxState, request: Request, name: str) -> Reply | None:
    if name == "ledger" and request.method == "GET":
        return json_reply(200, {
            "transactions": [t.report() for t in state.ledger.transactions],
            "dimensions": [d.report() for d in state.ledger.dimensions.values() if d.created_by is not None],
        })
    if name.startswith("users/") and request.method == "POST":
        return _change_user(state, name.removeprefix("users/"), msgspec.convert(request.json(), _UserChange))
    if name.startswith("dimensions/") and request.method == "GET":
        office, _, kind = name.removeprefix("dimensions/").partition("/")
        with state.lock:
            return json_reply(200, [_dimension(d) for d in state.ledger.dimensions_of(office, kind)])
    if name.startswith("dimensions/") and request.method == "POST":
        return _change_dimension(state, name.removeprefix("dimensions/"),
                                 msgspec.convert(request.json(), _DimensionChange))
    return None


def _change_user(state: SandboxState, code: str, change: _UserChange) -> Reply:
    user = state.users.get(code)
    if user is None:
        return _error(404, f"No user {code!r}.")
    if change.offices is not None:
        user.offices = set(change.offices)
    if change.default_office is not None:
        user.default_office = change.default_office
    return json_reply(200, _user(user))


def _change_dimension(state: SandboxState, where: str, change: _DimensionChange) -> Reply:
    office, _, rest = where.partition("/")
    kind, _, code = rest.partition("/")
    if office not in state.offices or not kind or not code:
        return _error(404, f"No office {office!r}, or no type and code: /_sandbox/dimensions/<office>/<type>/<code>.")
    with state.lock:
        known = state.ledger.dimension(office, kind, code)
        if known is None and change.name is None:
            return _error(400, f"Dimension {kind} {code} does not exist in {office}: give a name to add it.")
        dimension = known or Dimension(office, kind, code, "", state.clock())
        if change.name is not None:
            dimension.name = change.name
        if change.hidden is not None:
            dimension.hidden = change.hidden
        dimension.modified = state.clock()
        state.ledger.put_dimension(dimension)
    return json_reply(200, _dimension(dimension))


def _dimension(dimension: Dimension) -> dict[str, Any]:
    return {**dimension.report(), "hidden": dimension.hidden, "modified": dimension.modified.isoformat()}


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
