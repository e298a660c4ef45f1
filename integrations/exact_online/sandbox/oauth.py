"""The sandbox's sign-in page and token endpoint (`/api/oauth2/auth`, `/api/oauth2/token`).

The sign-in page and its form post are the sandbox kit's (`integrations.sandboxes.oauth`): instead of a password
you pick one of the scenario's users by username; "Authorize" redirects back to the app with `code` and `state`,
as Exact Online does.
"""

from __future__ import annotations

from datetime import timedelta

from integrations.exact_online.sandbox.messages import Reply, Request, json_reply
from integrations.exact_online.sandbox.state import Exchange, SandboxState
from integrations.exact_online.sandbox.tokens import OAuthRefusal
from integrations.sandboxes import oauth as kit
from integrations.sandboxes.oauth import refusal_reply, request_problem


def sign_in_page(state: SandboxState, request: Request) -> Reply:
    if (problem := request_problem(state, request.query, needs_response_type=True)) is not None:
        return problem
    return kit.sign_in_page("Exact Online", "/api/oauth2/auth", request.query, user_field="username",
                            users=((u.username, f"{u.full_name} ({u.username})") for u in state.users.values()))


def authorize(state: SandboxState, request: Request) -> Reply:
    return kit.authorize(state, request, user_field="username")


def token(state: SandboxState, request: Request) -> Reply:
    form = request.form()
    now = state.clock()
    grant_type = form.get("grant_type", "")
    client_id = form.get("client_id", "")
    try:
        if client_id not in state.apps or state.apps[client_id] != form.get("client_secret"):
            raise OAuthRefusal(401, "invalid_client", "Unknown client or wrong secret.")
        pair = state.authority.grant(form, client_id, now, timedelta(seconds=state.faults.access_token_seconds))
    except OAuthRefusal as refusal:
        reply = refusal_reply(refusal)
    else:
        reply = json_reply(200, {
            "access_token": pair.access_token,
            "token_type": "bearer",
            "expires_in": str(state.faults.access_token_seconds),  # a string, as Exact sends it
            "refresh_token": pair.refresh_token,
        })
    state.record(Exchange(now, "POST", "oauth2/token", None, reply.status, None, note=grant_type))
    return reply
