"""The sign-in page every sandbox shows at its authorization endpoint, and the form post behind it.

Instead of a password, the page lets you pick one of the scenario's users; "Authorize" posts a real form back to
the same endpoint, which redirects to the app's `redirect_uri` with `code` and `state` (RFC 6749 4.1.2), as the
real systems do. Each sandbox adds its own checks (Twinfield's scopes and nonce). The token endpoint's grants are
shared too (`token`); how the client authenticates and what the answer holds are each system's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from html import escape
from typing import Any, Protocol
from urllib.parse import urlencode

from integrations.sandboxes.messages import Reply, Request, html_reply, json_reply
from integrations.sandboxes.tokens import OAuthRefusal, TokenAuthority, TokenPair

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{system} sandbox: sign in</title></head>
<body>
<h1>{system} sandbox</h1>
<p>The app <code>{client_id}</code> asks to work in {system} on your behalf.</p>
<form method="post" action="{action}">
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


class SignInState(Protocol):
    """What the sign-in needs of a sandbox's state: its apps (client id to secret), its users by the name they
    sign in with, its token authority and its clock."""

    @property
    def apps(self) -> Mapping[str, str]: ...

    @property
    def users(self) -> Mapping[str, object]: ...

    @property
    def authority(self) -> TokenAuthority: ...

    def clock(self) -> datetime: ...


def request_problem(state: SignInState, fields: Mapping[str, str], *, needs_response_type: bool) -> Reply | None:
    """An HTML 400 for an unknown `client_id`, a `redirect_uri` that is not http(s), or (on the page itself) a
    `response_type` other than `code`; None when the request may go on."""
    if fields.get("client_id") not in state.apps:
        return html_reply(400, "<p>Unknown client_id.</p>")
    if not fields.get("redirect_uri", "").startswith(("http://", "https://")):
        return html_reply(400, "<p>redirect_uri must be an http(s) URL.</p>")
    if needs_response_type and fields.get("response_type") != "code":
        return html_reply(400, "<p>response_type must be code.</p>")
    return None


def sign_in_page(
    system: str, action: str, query: Mapping[str, str], *, user_field: str, users: Iterable[tuple[str, str]]
) -> Reply:
    """The page for a checked request: `action` is the path the form posts to, `users` (what `user_field`
    carries, label) the choices, the first one checked."""
    choices = "\n".join(
        f'<label><input type="radio" name="{user_field}" value="{escape(value)}"{" checked" if i == 0 else ""}>'
        f" {escape(label)}</label><br>"
        for i, (value, label) in enumerate(users)
    )
    return html_reply(200, _PAGE.format(system=system, action=action, client_id=escape(query["client_id"]),
                                        redirect_uri=escape(query["redirect_uri"]),
                                        state=escape(query.get("state", "")), users=choices))


def authorize(state: SignInState, request: Request, *, user_field: str) -> Reply:
    """The form post: a code for the chosen user, and a 302 back to the app with `code` and `state`."""
    form = request.form()
    if (problem := request_problem(state, form, needs_response_type=False)) is not None:
        return problem
    if form.get(user_field) not in state.users:
        return html_reply(400, "<p>Pick a user to sign in as.</p>")
    code = state.authority.issue_code(form[user_field], form["client_id"], form["redirect_uri"], state.clock())
    separator = "&" if "?" in form["redirect_uri"] else "?"
    location = f"{form['redirect_uri']}{separator}{urlencode({'code': code, 'state': form.get('state', '')})}"
    return Reply(302, headers={"Location": location})


def refusal_reply(refusal: OAuthRefusal) -> Reply:
    """A token endpoint's refusal as RFC 6749 5.2 shapes it: `error` and `error_description`."""
    return json_reply(refusal.status, {"error": refusal.error, "error_description": refusal.description})


def token(
    state: SignInState, request: Request, now: datetime, *, client: Callable[[Mapping[str, str]], str],
    lifetime: timedelta, answer: Callable[[TokenPair], dict[str, Any]],
) -> Reply:
    """A token endpoint (RFC 6749 4.1.3 and 6): the client `client(form)` authenticates (its client id, or
    `OAuthRefusal`), the form's grant redeemed at `now` for tokens of `lifetime`, answered 200 with `answer(pair)`;
    a refusal as `refusal_reply` shapes it."""
    form = request.form()
    try:
        pair = state.authority.grant(form, client(form), now, lifetime)
    except OAuthRefusal as refusal:
        return refusal_reply(refusal)
    return json_reply(200, answer(pair))
