"""The controls every sandbox has under `/_sandbox/`, for tests and the demo (no real system has them):

    GET  /_sandbox/faults     the fault modes and limits in force
    POST /_sandbox/faults     change some of them (a JSON object, `SandboxStateBase.change_faults`);
                              `"expire_access_tokens": true` kills every access token issued so far
    GET  /_sandbox/traffic    answers by status, the recent exchanges, and what the sandbox adds
    GET  /_sandbox/scenario   who and what the scenario holds, in the sandbox's own terms

A sandbox's `control` module adds its own controls (`own`) and answers in its own shapes (`reply`, `refuse`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from integrations.sandboxes.messages import Reply, Request, json_reply
from integrations.sandboxes.state import SandboxStateBase


def handle(
    state: SandboxStateBase[Any, Any], request: Request, *, own: Callable[[str], Reply | None],
    scenario: Callable[[], Any], refuse: Callable[[int, str], Reply],
    reply: Callable[[int, Any], Reply] = json_reply,
) -> Reply:
    """Answer `/_sandbox/<name>`: the controls above, else the sandbox's own (`own(name)`, None when it has no such
    control), else a 404. `reply(status, document)` is the sandbox's JSON answer, `refuse(status, message)` its
    error; a body that is not JSON or has fields of the wrong type is refused with 400, and a faults change that is
    not a JSON object too."""
    name = request.path.removeprefix("/_sandbox/")
    try:
        if name == "faults":
            if request.method == "POST":
                changes = request.json()
                if not isinstance(changes, dict):
                    return refuse(400, "Send a JSON object.")
                state.change_faults(changes)
            return reply(200, state.faults)
        if name == "traffic" and request.method == "GET":
            return reply(200, state.traffic_report())
        if name == "scenario" and request.method == "GET":
            return reply(200, scenario())
        answer = own(name)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return refuse(400, str(exc))
    return answer if answer is not None else refuse(404, f"No sandbox control {request.method} {request.path}.")
