"""The application factory: settings in, a Litestar app out, with its storage and background work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import msgspec
from litestar import Litestar, Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException, ValidationException
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.template import TemplateConfig

from integrations.registry import Registry
from statuspage import sandboxes
from statuspage.actions.api import ActionController, BudgetController, SwitchController
from statuspage.actions.connections import Links
from statuspage.actions.console import ActionConsole
from statuspage.actions.dispatcher import Dispatcher
from statuspage.background import (
    LeasedBackground,
    Services,
    keep_up_with_the_clock,
    make_mirror_engine,
    make_sync_engine,
    stop_tasks,
    watch_for_changes,
)
from statuspage.config import load_settings
from statuspage.core import logs
from statuspage.core.auth import Limiter
from statuspage.core.clock import Clock, system_clock
from statuspage.core.i18n import choose_language, word
from statuspage.core.installed import INSTALLED
from statuspage.core.limits import allowed_values, readable
from statuspage.core.settings import Settings
from statuspage.core.storage import (
    Store,
    ensure_connections,
    open_database,
    service_secret,
    sync_components,
    write_transaction,
)
from statuspage.incidents.api import INCIDENT_HANDLERS
from statuspage.incidents.console import IncidentConsole
from statuspage.incidents.delivery import Deliverer
from statuspage.incidents.subscriptions import SUBSCRIBE_LIMIT, SUBSCRIPTION_HANDLERS
from statuspage.mirrors.api import MirrorController
from statuspage.mirrors.console import MirrorConsole
from statuspage.page.public import PublicPages
from statuspage.page.routes import PUBLIC_HANDLERS
from statuspage.page.snapshot import component_definitions
from statuspage.probes.api import ProbeController, SyncController
from statuspage.probes.console import ProbeConsole
from statuspage.probes.runner import Prober
from statuspage.sync.api import SYNC_HANDLERS
from statuspage.sync.console import SyncConsole
from statuspage.web.api_support import provide_performer
from statuspage.web.console import Console, console_router, provide_console
from statuspage.web.dependencies import provided, started_in_lifespan
from statuspage.web.security import BearerTokenAuthentication
from statuspage.web.templating import make_environment

log = logging.getLogger("statuspage")

__all__ = ["create_app", "app_from_environment", "run_services", "keep_up_with_the_clock"]


def create_app(settings: Settings, clock: Clock = system_clock, registry: Registry = INSTALLED) -> Litestar:
    """The service for `settings` (loaded by `statuspage.config.load_settings` with the same `registry`)."""
    # httpx tells of every request at INFO; the connector's calls to Exact Online would drown the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    store = Store(settings.database.path)
    csrf_secret = _service_secret(settings, "csrf")
    templates = make_environment(settings.templates_dir)
    pages = PublicPages(settings, store, clock, templates)
    sign_in_limiter = Limiter(store, "sign-in")
    subscribe_limiter = Limiter(store, "subscribe", attempts=SUBSCRIBE_LIMIT, window=timedelta(hours=1))
    oauth_state_secret = _service_secret(settings, "oauth-state")
    console_secret = _service_secret(settings, "console-messages")

    @contextlib.asynccontextmanager
    async def run_storage(app: Litestar) -> AsyncIterator[None]:
        await asyncio.to_thread(store.open)
        async with run_services(settings, store, clock, registry, background=settings.server.background) as services:
            app.state.update(deliverer=services.deliverer, links=services.links, dispatcher=services.dispatcher,
                             prober=services.prober, sync=services.sync, mirrors=services.mirrors,
                             services=services)
            yield
        await asyncio.to_thread(store.close)

    app = Litestar(
        route_handlers=[
            *PUBLIC_HANDLERS,
            *SUBSCRIPTION_HANDLERS,
            Router(path="/api/v1", middleware=[BearerTokenAuthentication],
                   route_handlers=[*INCIDENT_HANDLERS, ActionController, SwitchController, BudgetController,
                                   ProbeController, SyncController, *SYNC_HANDLERS, MirrorController]),
            # Forms exist only in the console, so CSRF protection sits on its routes alone: the JSON API
            # takes bearer tokens, which CSRF cannot reach, and the public routes stay as lean as they can.
            console_router(CSRFConfig(secret=csrf_secret, cookie_path="/console", cookie_httponly=True,
                                      cookie_secure=settings.page.url.startswith("https://")),
                           [IncidentConsole, ActionConsole, ProbeConsole, SyncConsole, MirrorConsole]),
        ],
        lifespan=[run_storage],
        # Handlers name the services they use (`web.dependencies`); registered here, once, for every route.
        dependencies={
            "store": provided(store),
            "settings": provided(settings),
            "clock": provided(clock),
            "pages": provided(pages),
            "sign_in_limiter": provided(sign_in_limiter),
            "subscribe_limiter": provided(subscribe_limiter),
            "oauth_state_secret": provided(oauth_state_secret),
            "console_secret": provided(console_secret),
            "links": started_in_lifespan("links"),
            "dispatcher": started_in_lifespan("dispatcher"),
            "prober": started_in_lifespan("prober"),
            "mirrors": started_in_lifespan("mirrors"),
            # Per request: they carry the caller (and the console, the request's zone cookie).
            "performer": Provide(provide_performer, sync_to_thread=False),
            "console": Provide(provide_console, sync_to_thread=False),
        },
        exception_handlers={
            NotFoundException: not_found,
            MethodNotAllowedException: method_not_allowed,
            ValidationException: invalid_request,
            HTTPException: http_error,
            Exception: unexpected_error,
        },
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(templates)),
        logging_config=LoggingConfig(formatters={"standard": logs.formatter_config()}),
        openapi_config=OpenAPIConfig(
            title=settings.page.name,
            version="2",
            path="/api/schema",
        ),
    )
    _document_error_answers(app)
    # The same services in the app's state, for what gets no injection: the authentication middleware, the
    # exception handlers, the public routes' hot path (`page.routes`), the CLI and the tests.
    app.state.update(settings=settings, store=store, clock=clock, pages=pages, sign_in_limiter=sign_in_limiter,
                     subscribe_limiter=subscribe_limiter, oauth_state_secret=oauth_state_secret,
                     console_secret=console_secret)
    return app


@contextlib.asynccontextmanager
async def integration_addresses(registry: Registry, settings: Settings, store: Store,
                                clock: Clock) -> AsyncIterator[dict[str, str]]:
    """Each integration's address: the configured one, or that of its sandbox when the configuration names none
    (the demo): the one `statuspage serve` started and recorded, else one started here (`statuspage.sandboxes`)."""
    found = await store.write(sandboxes.find_or_start, registry, settings, clock())
    try:
        yield sandboxes.addresses(registry, settings, found.addresses)
    finally:
        await asyncio.to_thread(found.stop)
        with contextlib.suppress(Exception):  # a locked file at the end: the record dies with this process anyway
            await store.write(found.forget)


class ErrorBody(msgspec.Struct):
    """Every error the JSON API answers: the status code, what is wrong, and for validation errors the
    fields (`extra`: `message`, `key`, `source`)."""

    status_code: int
    detail: str
    extra: list[dict[str, str]] | None = None


_ERROR_ANSWERS = {
    400: "the request is malformed or refused; `detail` and `extra` say what to fix",
    401: "no bearer token, or an unknown or revoked one",
    403: "the token's role may not do this",
    404: "nothing with that id or key",
    405: "the method is not allowed on this path",
}


def _document_error_answers(app: Litestar) -> None:
    """List in the OpenAPI schema the errors each /api/v1 route really answers: 401 and 405 on every route,
    400 on those that take input, 403 on those with a role guard, 404 on those that name something in their
    path, 409 on POST and PUT (a used key, URL or name)."""
    for route in app.routes:
        if not route.path.startswith("/api/v1"):
            continue
        for handler in getattr(route, "route_handlers", []):
            # The injected services (`web.dependencies`) are no input of the caller's.
            injected = set(handler.resolve_dependencies())
            takes_input = bool(set(handler.parsed_fn_signature.parameters) - {"self", "request"} - injected)
            codes = ([400] if takes_input else []) + [401] + ([403] if handler.resolve_guards() else []) + [405]
            codes += [404] if "{" in route.path else []
            answers = {code: ResponseSpec(data_container=ErrorBody, description=_ERROR_ANSWERS[code])
                       for code in codes}
            if handler.http_methods & {"POST", "PUT"}:
                answers[409] = ResponseSpec(data_container=ErrorBody,
                                            description="it clashes with what exists (a used key, URL or name)")
            handler.responses = {**answers, **(handler.responses or {})}


def _service_secret(settings: Settings, name: str) -> str:
    """A secret kept in the database, so that it survives restarts without being configured."""
    db = open_database(settings.database.path)
    try:
        with write_transaction(db):
            return service_secret(db, name, lambda: secrets.token_urlsafe(32))
    finally:
        db.close()


def app_from_environment() -> Litestar:
    """The factory the server process calls: settings from $STATUSPAGE_CONFIG and friends."""
    return create_app(load_settings())


@contextlib.asynccontextmanager
async def run_services(
    settings: Settings, store: Store, clock: Clock, registry: Registry = INSTALLED, *, background: bool
) -> AsyncIterator[Services]:
    """The services of one process, with the background work run under the lease when `background`.

    The first try for the lease is made before the block runs, so a single process (the default
    `serve`) starts its background work before it serves, as it always did. Leaving the block stops the
    work and gives the lease up, so another process takes over at once. Every process keeps its call
    budgets written down (`Links.keep_budgets_forever`): web workers call integrations too (connecting).
    """
    await store.write(sync_components, component_definitions(settings), clock())
    await store.write(ensure_connections, [(environment.key, environment.integration)
                                           for environment in settings.environments])
    async with httpx.AsyncClient() as http, integration_addresses(registry, settings, store, clock) as addresses:
        links = Links(registry, settings, store, clock, addresses)
        dispatcher = Dispatcher(store, settings, clock, links)
        sync = make_sync_engine(settings, store, clock, links)
        services = Services(settings=settings, store=store, clock=clock, links=links, dispatcher=dispatcher,
                            prober=Prober(settings, store, clock, http, links),
                            deliverer=Deliverer(store, settings, clock, http), sync=sync,
                            mirrors=make_mirror_engine(settings, store, clock, links, sync, dispatcher))
        leased = LeasedBackground(services)
        tasks = [asyncio.create_task(watch_for_changes(store, settings, clock, services), name="statuspage-watcher"),
                 asyncio.create_task(links.keep_budgets_forever(), name="statuspage-budgets")]
        if background:
            with contextlib.suppress(Exception):  # a busy file now is tried again in a moment
                await leased.try_take()
            tasks.append(asyncio.create_task(leased.run_forever(), name="statuspage-lease"))
        try:
            yield services
        finally:
            await stop_tasks(tasks)
            await leased.release()
            with contextlib.suppress(Exception):
                await links.keep_budgets()
            await links.aclose()


# ---------------------------------------------------------------------------------------------
# Errors: JSON below /api/, a friendly page everywhere else.


# Exception handlers get no dependency injection: they read the public pages (templates, settings) from the
# app state.


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _in_console(request: Request) -> bool:
    return request.url.path == "/console" or request.url.path.startswith("/console/")


def _error_response(
    request: Request, status_code: int, detail: str, title_key: str, headers: dict | None = None, extra: object = None
) -> Response:
    if _wants_json(request):
        body = {"status_code": status_code, "detail": detail} | ({"extra": extra} if extra else {})
        return Response(body, status_code=status_code, headers=headers)
    if _in_console(request):
        # The console's own layout and language (English), with its menu: an operator is not a visitor.
        state = request.app.state
        console = Console(request, state.settings, state.clock, state.console_secret)
        title = {404: "Not found", 405: "Not allowed here"}.get(status_code, "Something went wrong")
        return console.render("web/console_error.html", status_code=status_code, headers=headers, menu=True,
                              title=title, detail=detail)
    pages: PublicPages = request.app.state.pages
    language = choose_language(
        request.query_params.get("lang"), request.headers.get("accept-language"), pages.settings.page.language
    )
    html = pages.templates.get_template("web/error.html").render(
        lang=language,
        page=pages.settings.page,
        title=word(language, title_key),
        message=detail,
        back=word(language, "back_home"),
    )
    return Response(html, status_code=status_code, media_type="text/html", headers=headers)


def not_found(request: Request, error: NotFoundException) -> Response:
    # The router's own 404 says only "Not Found"; a handler's says what is missing.
    routed = error.detail != "Not Found"
    if _wants_json(request):
        detail = error.detail if routed else (
            f"No such endpoint: {request.url.path}. The public API is described at /api/schema.")
        return _error_response(request, 404, detail, "")
    if _in_console(request):
        detail = error.detail if routed else f"The console has no page at {request.url.path}; the menu lists its pages."
        return _error_response(request, 404, detail, "")
    pages: PublicPages = request.app.state.pages
    language = choose_language(
        request.query_params.get("lang"), request.headers.get("accept-language"), pages.settings.page.language
    )
    return _error_response(request, 404, error.detail if routed else word(language, "not_found"), "not_found_title")


def method_not_allowed(request: Request, error: MethodNotAllowedException) -> Response:
    listed = {key.lower(): value for key, value in (error.headers or {}).items()}.get("allow", "")
    # The router lists methods in no fixed order; a message should read the same every time.
    allowed = ", ".join(sorted(method.strip() for method in listed.split(",") if method.strip()))
    detail = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
    response = _error_response(request, 405, detail, "error_title")
    if allowed:
        response.headers["Allow"] = allowed
    return response


def invalid_request(request: Request, error: ValidationException) -> Response:
    """Litestar's validation errors, with the allowed values added where a field takes a fixed set."""
    handler = request.route_handler
    data_field = getattr(handler, "parsed_data_field", None)
    body_type = data_field.annotation if data_field is not None else None
    extra = error.extra if isinstance(error.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        item["message"] = readable(str(item.get("message", "")))
        allowed = None
        if item.get("source") == "body" and item.get("key") == "data" and item["message"] == "'data'":
            # Litestar's KeyError for a body that is not there at all.
            item["message"] = "the request body is missing: send a JSON object with Content-Type: application/json"
        elif item.get("source") == "query":
            # Litestar names the handler's parameter (`action_state`); the caller knows it by its query name.
            parameter = handler.parsed_fn_signature.parameters.get(str(item.get("key")))
            if parameter is not None:
                kwarg = parameter.kwarg_definition
                alias = getattr(kwarg, "name", None) or getattr(kwarg, "query", None)
                item["key"] = alias or item["key"]
                allowed = allowed_values(parameter.annotation, "")
        elif body_type is not None:
            allowed = allowed_values(body_type, str(item.get("key", "")))
        if allowed and item["message"].startswith("Invalid enum value"):
            item["message"] += f"; {item['key']} must be one of {', '.join(map(repr, allowed))}"
    return _error_response(request, error.status_code, error.detail, "error_title", error.headers, extra or error.extra)


def unexpected_error(request: Request, error: Exception) -> Response:
    """Whatever no handler foresaw. JSON nested too deeply for the decoder is the caller's mistake (400); anything
    else is ours: logged with its traceback, answered with a 500 that reveals nothing of the inside."""
    if isinstance(error, RecursionError) and "deserializing" in str(error):
        return _error_response(request, 400, "the request body is nested too deeply to read", "error_title")
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return _error_response(request, 500, "Internal Server Error", "error_title")


def http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code >= 500:
        # An internal error dressed as an HTTP one (Litestar's own configuration errors among them): its
        # detail is for us, not for the caller.
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return _error_response(request, error.status_code, "Internal Server Error", "error_title")
    if error.status_code == 401 and request.method == "GET" and request.url.path.startswith("/console"):
        return Redirect("/console/sign-in")
    return _error_response(request, error.status_code, error.detail, "error_title", error.headers, error.extra)
