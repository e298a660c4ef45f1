"""Visitors subscribe to e-mail about incidents, confirm by the link they are sent, and leave by the
link in every message. The only public routes that change anything, and none of them can change
what the page shows. Each client (by address, `client_of`) may ask for at most SUBSCRIBE_LIMIT subscriptions
an hour, so the form cannot be used to send confirmation mail to a list of strangers."""

from __future__ import annotations

import math

from litestar import Request, Response, get, post
from litestar.params import FromQuery

from statuspage.core.i18n import choose_language, word
from statuspage.core.operation import Refused
from statuspage.incidents import operations
from statuspage.web.security import client_of

SUBSCRIBE_LIMIT = 5


def _message(request: Request, title_key: str, message_key: str, status_code: int = 200, **values: str) -> Response:
    state = request.app.state
    language = choose_language(request.query_params.get("lang"), request.headers.get("accept-language"),
                               state.settings.page.language)
    html = state.pages.templates.get_template("web/message.html").render(
        lang=language, page=state.settings.page, title=word(language, title_key),
        message=word(language, message_key, **values), back=word(language, "back_home"),
        form_token=values.get("token"),
    )
    return Response(html, status_code=status_code, media_type="text/html")


async def _run(request: Request, work, *args):
    state = request.app.state
    return await state.store.write(lambda db: work(db, state.settings, state.clock(), *args))


@post("/subscriptions", include_in_schema=False)
async def subscribe(request: Request) -> Response:
    state = request.app.state
    wait = state.subscribe_limiter.spend(client_of(request, state.settings), state.clock())
    if wait > 0:
        minutes = str(math.ceil(wait / 60))
        response = _message(request, "subscribe_title", "subscribe_too_often", status_code=429, minutes=minutes)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    form = await request.form()
    address = str(form.get("email", "")).strip()
    components = [str(value) for value in form.getall("component", [])] or None
    try:
        await _run(request, operations.subscribe_email, address, components)
    except Refused as refused:
        return _message(request, "subscribe_title", "subscribe_refused", status_code=400, reason=str(refused))
    return _message(request, "subscribe_title", "subscribe_check_inbox", address=address)


@get("/subscriptions/confirm", include_in_schema=False)
async def confirm(request: Request, token: FromQuery[str] = "") -> Response:
    if await _run(request, operations.confirm_subscription, token):
        return _message(request, "subscribe_title", "subscribe_confirmed")
    return _message(request, "subscribe_title", "link_invalid", status_code=404)


@get("/subscriptions/unsubscribe", include_in_schema=False)
async def unsubscribe_form(request: Request, token: FromQuery[str] = "") -> Response:
    # Mail scanners open links; leaving takes a click, not a visit.
    return _message(request, "unsubscribe_title", "unsubscribe_ask", token=token)


@post("/subscriptions/unsubscribe", include_in_schema=False)
async def unsubscribe(request: Request, token: FromQuery[str] = "") -> Response:
    form = await request.form()
    token = str(form.get("token", token))
    if await _run(request, operations.unsubscribe_by_link, token):
        return _message(request, "unsubscribe_title", "unsubscribed")
    return _message(request, "unsubscribe_title", "link_invalid", status_code=404)


SUBSCRIPTION_HANDLERS = [subscribe, confirm, unsubscribe_form, unsubscribe]
