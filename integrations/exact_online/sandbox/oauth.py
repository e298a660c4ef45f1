"""The sandbox's sign-in page and token endpoint (`/api/oauth2/auth`, `/api/oauth2/token`).

The sign-in page and its form post are the sandbox kit's (`integrations.sandboxes.oauth`): instead of a password
you pick one of the scenario's users by username; "Authorize" redirects back to the app with `code` and `state`,
as Exact Online does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from integrations.exact_online.sandbox.messages import Reply, Request
from integrations.exact_online.sandbox.state import Exchange, SandboxState
from integrations.exact_online.sandbox.tokens import OAuthRefusal
from integrations.sandboxes import oauth as kit
from integrations.sandboxes.oauth import request_problem


def sign_in_page(state: SandboxState, request: Request) -> Reply:
    if (problem := request_problem(state, request.query, needs_response_type=True)) is not None:
        return problem
    return kit.sign_in_page("Exact Online", "/api/oauth2/auth", request.query, user_field="username",
                            users=((u.username, f"{u.full_name} ({u.username})") for u in state.users.values()))


def authorize(state: SandboxState, request: Request) -> Reply:
    return kit.authorize(state, request, user_field="username")


def token(state: SandboxState, request: Request) -> Reply:
    now = state.clock()
    reply = kit.token(state, request, now, client=lambda form: _client(state, form),
                      lifetime=timedelta(seconds=state.faults.access_token_seconds), answer=lambda pair: {
                          "access_token": pair.access_token,
                          "token_type": "bearer",
                          "expires_in": str(state.faults.access_token_seconds),  # a string, as Exact sends it
                          "refresh_token": pair.refresh_token,
                      })
    state.record(Exchange(now, "POST", "oauth2/token", None, reply.status, None, note=request.form().get("grant_type", "")))
    return reply


def _client(state: SandboxState, form: Mapping[str, str]) -> str:
    """The client from the form's `client_id` and `client_secret` (Exact's token endpoint wants them there)."""
    client_id = form.get("client_id", "")
    if client_id not in state.apps or state.apps[client_id] != form.get("client_secret"):
        raise OAuthRefusal(401, "invalid_client", "Unknown client or wrong secret.")
    return client_id
