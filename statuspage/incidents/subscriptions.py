"""Visitors subscribe to e-mail about incidents, confirm by the link they are sent, and leave by the
link in every message. The only public routes that change anything, and none of them can change
what the page shows. Each client (by address, `client_of`) may ask for at most SUBSCRIBE_LIMIT subscriptions
an hour, so the form cannot be used to send confirmation mail to a list of strangers."""

from __future__ import annotations

import math

from litestar import Request, Response, get, post
from litestar.params import FromQuery

from statuspage.core.clock import Clock
from statuspage.core.i18n import choose_language, word
from statuspage.core.operation import Refused
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.incidents import operations
from statuspage.page.public import PagesDep, PublicPages
from statuspage.web.dependencies import ClockDep, LimiterDep, SettingsDep, StoreDep
from statuspage.web.security import client_of

SUBSCRIBE_LIMIT = 5


def _message(
    request: Request, pages: PublicPages, title_key: str, message_key: str, status_code: int = 200, **values: str
) -> Response:
    settings = pages.settings
    language = choose_language(request.query_params.get("lang"), request.headers.get("accept-language"),
                               settings.page.language)
    html = pages.templates.get_template("web/message.html").render(
        lang=language, page=settings.page, title=word(language, title_key),
        message=word(language, message_key, **values), back=word(language, "back_home"),
        form_token=values.get("token"),
    )
    return Response(html, status_code=status_code, media_type="text/html")


def _by_link(request: Request, pages: PublicPages, done: bool, title_key: str, done_key: str) -> Response:
    """The answer to following a link from an e-mail: what it did (`done_key`), or, when its token was not valid
    (forged, expired, used up), that the link is invalid (404)."""
    if done:
        return _message(request, pages, title_key, done_key)
    return _message(request, pages, title_key, "link_invalid", status_code=404)


async def _run(store: Store, settings: Settings, clock: Clock, work, *args):
    return await store.write(lambda db: work(db, settings, clock(), *args))


@post("/subscriptions", include_in_schema=False)
async def subscribe(
    request: Request, store: StoreDep, settings: SettingsDep, clock: ClockDep, pages: PagesDep,
    subscribe_limiter: LimiterDep,
) -> Response:
    wait = await subscribe_limiter.spend(client_of(request, settings), clock())
    if wait > 0:
        minutes = str(math.ceil(wait / 60))
        response = _message(request, pages, "subscribe_title", "subscribe_too_often", status_code=429, minutes=minutes)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    form = await request.form()
    address = str(form.get("email", "")).strip()
    components = [str(value) for value in form.getall("component", [])] or None
    try:
        await _run(store, settings, clock, operations.subscribe_email, address, components)
    except Refused as refused:
        return _message(request, pages, "subscribe_title", "subscribe_refused", status_code=400, reason=str(refused))
    return _message(request, pages, "subscribe_title", "subscribe_check_inbox", address=address)


@get("/subscriptions/confirm", include_in_schema=False)
async def confirm(
    request: Request, store: StoreDep, settings: SettingsDep, clock: ClockDep, pages: PagesDep,
    token: FromQuery[str] = "",
) -> Response:
    done = await _run(store, settings, clock, operations.confirm_subscription, token)
    return _by_link(request, pages, done, "subscribe_title", "subscribe_confirmed")


@get("/subscriptions/unsubscribe", include_in_schema=False)
async def unsubscribe_form(request: Request, pages: PagesDep, token: FromQuery[str] = "") -> Response:
    # Mail scanners open links; leaving takes a click, not a visit.
    return _message(request, pages, "unsubscribe_title", "unsubscribe_ask", token=token)


@post("/subscriptions/unsubscribe", include_in_schema=False)
async def unsubscribe(
    request: Request, store: StoreDep, settings: SettingsDep, clock: ClockDep, pages: PagesDep,
    token: FromQuery[str] = "",
) -> Response:
    form = await request.form()
    done = await _run(store, settings, clock, operations.unsubscribe_by_link, str(form.get("token", token)))
    return _by_link(request, pages, done, "unsubscribe_title", "unsubscribed")


SUBSCRIPTION_HANDLERS = [subscribe, confirm, unsubscribe_form, unsubscribe]
