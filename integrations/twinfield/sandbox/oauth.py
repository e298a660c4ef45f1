"""The sandbox's identity server under `/auth/authentication/connect/`: the sign-in page, the token endpoint,
access-token validation (which names the organisation's cluster) and userinfo.

Instead of a password, the sign-in page lets you pick one of the scenario's users; "Authorize" posts a real form
and redirects back to the app with `code` and `state`, as Twinfield's identity server does.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from html import escape
from urllib.parse import urlencode

from integrations.twinfield.sandbox.messages import Reply, Request, html_reply, json_reply
from integrations.twinfield.sandbox.state import Exchange, SandboxState
from integrations.twinfield.sandbox.tokens import OAuthRefusal

REQUIRED_SCOPES = {"openid", "twf.organisationUser"}

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Twinfield sandbox: sign in</title></head>
<body>
<h1>Twinfield sandbox</h1>
<p>The app <code>{client_id}</code> asks to work in Twinfield on your behalf.</p>
<form method="post" action="/auth/authentication/connect/authorize">
<input type="hidden" name="client_id" value="{client_id}">
<input type="hidden" name="redirect_uri" value="{redirect_uri}">
<input type="hidden" name="state" value="{state}">
<fieldset>
<legend>Sign in as</legend>
{users}
</fieldset>
<button type="submit">Authorize</button>
</form>
</body>
</html>
"""


def sign_in_page(state: SandboxState, request: Request) -> Reply:
    query = request.query
    if (problem := _bad_request(state, query)) is not None:
        return problem
    if query.get("response_type") != "code":
        return html_reply(400, "<p>response_type must be code.</p>")
    if missing := REQUIRED_SCOPES - set(query.get("scope", "").split()):
        return html_reply(400, f"<p>Missing scope: {escape(', '.join(sorted(missing)))}.</p>")
    if not query.get("nonce"):
        return html_reply(400, "<p>A nonce is required.</p>")
    users = "\n".join(
        f'<label><input type="radio" name="user" value="{escape(user.code)}"{" checked" if i == 0 else ""}>'
        f" {escape(user.full_name)} ({escape(user.code)}, {escape(user.organisation)})</label><br>"
        for i, user in enumerate(state.users.values())
    )
    return html_reply(200, _PAGE.format(client_id=escape(query["client_id"]),
                                        redirect_uri=escape(query["redirect_uri"]),
                                        state=escape(query.get("state", "")), users=users))


def authorize(state: SandboxState, request: Request) -> Reply:
    form = request.form()
    if (problem := _bad_request(state, form)) is not None:
        return problem
    if form.get("user") not in state.users:
        return html_reply(400, "<p>Pick a user to sign in as.</p>")
    code = state.authority.issue_code(form["user"], form["client_id"], form["redirect_uri"], state.clock())
    separator = "&" if "?" in form["redirect_uri"] else "?"
    location = f"{form['redirect_uri']}{separator}{urlencode({'code': code, 'state': form.get('state', '')})}"
    return Reply(302, headers={"Location": location})


def token(state: SandboxState, request: Request) -> Reply:
    form = request.form()
    now = state.clock()
    grant_type = form.get("grant_type", "")
    lifetime = timedelta(seconds=state.faults.access_token_seconds)
    try:
        client_id = _client(state, request)
        if grant_type == "authorization_code":
            pair = state.authority.redeem_code(form.get("code", ""), client_id, form.get("redirect_uri", ""), now,
                                               lifetime)
        elif grant_type == "refresh_token":
            pair = state.authority.refresh(form.get("refresh_token", ""), client_id, now, lifetime)
        else:
            raise OAuthRefusal(400, "unsupported_grant_type", f"Grant type {grant_type!r} is not supported.")
    except OAuthRefusal as refusal:
        reply = json_reply(refusal.status, {"error": refusal.error, "error_description": refusal.description})
    else:
        reply = json_reply(200, {
            "id_token": f"sandbox-id-token-{pair.access_token[:8]}",
            "access_token": pair.access_token,
            "expires_in": state.faults.access_token_seconds,
            "token_type": "Bearer",
            "refresh_token": pair.refresh_token,
        })
    state.record(Exchange(now, "token", grant_type, reply.status))
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


def _bad_request(state: SandboxState, fields: dict[str, str]) -> Reply | None:
    if fields.get("client_id") not in state.apps:
        return html_reply(400, "<p>Unknown client_id.</p>")
    if not fields.get("redirect_uri", "").startswith(("http://", "https://")):
        return html_reply(400, "<p>redirect_uri must be an http(s) URL.</p>")
    return None
