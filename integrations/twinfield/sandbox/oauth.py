"""The sandbox's identity server under `/auth/authentication/connect/`: the sign-in page, the token endpoint,
access-token validation (which names the organisation's cluster) and userinfo.

The sign-in page and its form post are the sandbox kit's (`integrations.sandboxes.oauth`): instead of a password
you pick one of the scenario's users by user code; "Authorize" redirects back to the app with `code` and `state`,
as Twinfield's identity server does. The page also wants the scopes `REQUIRED_SCOPES` and a `nonce`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from html import escape

from integrations.sandboxes import oauth as kit
from integrations.sandboxes.oauth import request_problem
from integrations.twinfield.sandbox.messages import Reply, Request, html_reply, json_reply
from integrations.twinfield.sandbox.state import Exchange, SandboxState
from integrations.twinfield.sandbox.tokens import OAuthRefusal

REQUIRED_SCOPES = {"openid", "twf.organisationUser"}


def sign_in_page(state: SandboxState, request: Request) -> Reply:
    query = request.query
    if (problem := request_problem(state, query, needs_response_type=True)) is not None:
        return problem
    if missing := REQUIRED_SCOPES - set(query.get("scope", "").split()):
        return html_reply(400, f"<p>Missing scope: {escape(', '.join(sorted(missing)))}.</p>")
    if not query.get("nonce"):
        return html_reply(400, "<p>A nonce is required.</p>")
    return kit.sign_in_page("Twinfield", "/auth/authentication/connect/authorize", query, user_field="user",
                            users=((u.code, f"{u.full_name} ({u.code}, {u.organisation})")
                                   for u in state.users.values()))


def authorize(state: SandboxState, request: Request) -> Reply:
    return kit.authorize(state, request, user_field="user")


def token(state: SandboxState, request: Request) -> Reply:
    now = state.clock()
    reply = kit.token(state, request, now, client=lambda form: _client(state, request),
                      lifetime=timedelta(seconds=state.faults.access_token_seconds), answer=lambda pair: {
                          "id_token": f"sandbox-id-token-{pair.access_token[:8]}",
                          "access_token": pair.access_token,
                          "expires_in": state.faults.access_token_seconds,
                          "token_type": "Bearer",
                          "refresh_token": pair.refresh_token,
                      })
    state.record(Exchange(now, "token", request.form().get("grant_type", ""), reply.status))
    return reply


def validation(state: SandboxState, request: Request) -> Reply:
    """Twinfield's access-token validation: the token's claims, or 400 for an invalid or expired one."""
    now = state.clock()
    grant = state.authority.resolve(request.query.get("token", ""))
    if grant is None or not grant.works(now):
        reply = json_reply(400, {"Message": "The access token is invalid or has expired."})
        state.record(Exchange(now, "validation", "accesstokenvalidation", 400))
        return reply
    user = state.users[grant.user]
    organisation = state.organisations[user.organisation]
    reply = json_reply(200, {
        "iss": f"{request.base_url}/auth/authentication",
        "aud": f"{request.base_url}/auth/authentication/resources",
        "exp": int(grant.expires_at.timestamp()),
        "nbf": int(grant.issued_at.timestamp()),
        "client_id": grant.client_id,
        "scope": ["openid", "twf.user", "twf.organisation", "twf.organisationUser", "offline_access"],
        "sub": user.subject,
        "twf.organisationUserCode": user.code,
        "twf.organisationCode": organisation.code,
        "twf.organisationId": organisation.organisation_id,
        "twf.clusterUrl": state.cluster_url(request.base_url, organisation),
    })
    state.record(Exchange(now, "validation", "accesstokenvalidation", 200, user.code, organisation.code))
    return reply


def userinfo(state: SandboxState, request: Request) -> Reply:
    now = state.clock()
    grant = state.authority.resolve(request.headers.get("authorization", "").removeprefix("Bearer "))
    if grant is None or not grant.works(now):
        state.record(Exchange(now, "userinfo", "userinfo", 401))
        return json_reply(401, {"error": "invalid_token"})
    user = state.users[grant.user]
    state.record(Exchange(now, "userinfo", "userinfo", 200, user.code, user.organisation))
    return json_reply(200, {
        "sub": user.subject,
        "name": user.full_name,
        "twf.organisationUserCode": user.code,
        "twf.organisationCode": user.organisation,
        "twf.defaultOffice": user.default_office,  # modelled: see the README
    })


def _client(state: SandboxState, request: Request) -> str:
    """The client from HTTP Basic authentication (Twinfield's token endpoint wants it there)."""
    header = request.headers.get("authorization", "")
    try:
        client_id, _, secret = base64.b64decode(header.removeprefix("Basic "), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id, secret = "", ""
    if not header.startswith("Basic ") or state.apps.get(client_id) != secret:
        raise OAuthRefusal(401, "invalid_client", "Unknown client or wrong secret.")
    return client_id
