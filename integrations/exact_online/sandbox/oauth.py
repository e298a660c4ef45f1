"""The sandbox's sign-in page and token endpoint (`/api/oauth2/auth`, `/api/oauth2/token`).

Instead of a password, the sign-in page lets you pick one of the scenario's users; "Authorize" posts a real
form and redirects back to the app with `code` and `state`, as Exact Online does.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from integrations.exact_online.sandbox.messages import Reply, Request, html_reply, json_reply
from integrations.exact_online.sandbox.state import Exchange, SandboxState
from integrations.exact_online.sandbox.tokens import ACCESS_TOKEN_LIFETIME, OAuthRefusal

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Exact Online sandbox: sign in</title></head>
<body>
<h1>Exact Online sandbox</h1>
<p>The app <code>{client_id}</code> asks to work in Exact Online on your behalf.</p>
<form method="post" action="/api/oauth2/auth">
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
    if (problem := _bad_request(state, query, needs_response_type=True)) is not None:
        return problem
    users = "\n".join(
        f'<label><input type="radio" name="username" value="{escape(user.username)}"{" checked" if i == 0 else ""}>'
        f" {escape(user.full_name)} ({escape(user.username)})</label><br>"
        for i, user in enumerate(state.users.values())
    )
    return html_reply(200, _PAGE.format(client_id=escape(query["client_id"]),
                                        redirect_uri=escape(query["redirect_uri"]),
                                        state=escape(query.get("state", "")), users=users))


def authorize(state: SandboxState, request: Request) -> Reply:
    form = request.form()
    if (problem := _bad_request(state, form, needs_response_type=False)) is not None:
        return problem
    if form.get("username") not in state.users:
        return html_reply(400, "<p>Pick a user to sign in as.</p>")
    code = state.authority.issue_code(form["username"], form["client_id"], form["redirect_uri"], state.clock())
    separator = "&" if "?" in form["redirect_uri"] else "?"
    location = f"{form['redirect_uri']}{separator}{urlencode({'code': code, 'state': form.get('state', '')})}"
    return Reply(302, headers={"Location": location})


def token(state: SandboxState, request: Request) -> Reply:
    form = request.form()
    now = state.clock()
    grant_type = form.get("grant_type", "")
    client_id = form.get("client_id", "")
    try:
        if client_id not in state.apps or state.apps[client_id] != form.get("client_secret"):
            raise OAuthRefusal(401, "invalid_client", "Unknown client or wrong secret.")
        if grant_type == "authorization_code":
            pair = state.authority.redeem_code(form.get("code", ""), client_id, form.get("redirect_uri", ""), now,
                                               ACCESS_TOKEN_LIFETIME)
        elif grant_type == "refresh_token":
            pair = state.authority.refresh(form.get("refresh_token", ""), client_id, now, ACCESS_TOKEN_LIFETIME)
        else:
            raise OAuthRefusal(400, "unsupported_grant_type", f"Grant type {grant_type!r} is not supported.")
    except OAuthRefusal as refusal:
        reply = json_reply(refusal.status, {"error": refusal.error, "error_description": refusal.description})
    else:
        reply = json_reply(200, {
            "access_token": pair.access_token,
            "token_type": "bearer",
            "expires_in": str(int(ACCESS_TOKEN_LIFETIME.total_seconds())),  # a string, as Exact sends it
            "refresh_token": pair.refresh_token,
        })
    state.record(Exchange(now, "POST", "oauth2/token", None, reply.status, None, note=grant_type))
    return reply


def _bad_request(state: SandboxState, fields: dict[str, str], *, needs_response_type: bool) -> Reply | None:
    if fields.get("client_id") not in state.apps:
        return html_reply(400, "<p>Unknown client_id.</p>")
    if not fields.get("redirect_uri", "").startswith(("http://", "https://")):
        return html_reply(400, "<p>redirect_uri must be an http(s) URL.</p>")
    if needs_response_type and fields.get("response_type") != "code":
        return html_reply(400, "<p>response_type must be code.</p>")
    return None
