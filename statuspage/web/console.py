"""The operator console's shared plumbing: rendering a console page, reading its forms, signing in.

Sign in once with a token; a session cookie (HttpOnly, SameSite=Lax, Secure over TLS) carries the
sign-in from then on, and every form carries a CSRF token. Forms post and redirect, so a reload
never repeats a change; a refused change shows the form again with what to fix (`Console.attempt`, the
one place that does so). Each area keeps its
own console pages (`incidents.console`, `actions.console`, `probes.console`); this module serves
them all and holds no domain rule.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, Router, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import SkipValidation
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from markupsafe import Markup

from statuspage.core import limits, signed, storage
from statuspage.core.auth import SESSION_COOKIE, SESSION_LIFETIME, Role, digest, new_session_id
from statuspage.core.clock import Clock, NoSuchLocalTime, from_wall_clock
from statuspage.core.i18n import format_relative, format_stamp, word, zone_named
from statuspage.core.operation import Refused
from statuspage.core.settings import LANGUAGES, Settings, text_in
from statuspage.core.vocabulary import ComponentStatus
from statuspage.web.dependencies import ClockDep, LimiterDep, SecretDep, SettingsDep, StoreDep
from statuspage.web.security import ConsoleSessionAuthentication, client_of, requires

S = TypeVar("S", bound=msgspec.Struct)
COMPONENT_STATES = [status.value for status in ComponentStatus]
# The page's languages as the console (in English) names them, in the page's order of languages.
LANGUAGE_NAMES = [(code, {"nl": "Dutch", "en": "English"}[code]) for code in LANGUAGES]


def _secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.page.url.startswith("https://")


ZONE_COOKIE = "console_tz"
# Offered in the console's zone picker besides the page's own; any IANA name is accepted.
ZONE_CHOICES = ("UTC", "Europe/Amsterdam", "Europe/London", "America/New_York", "Asia/Kolkata")


def console_zone(request: Request, settings: Settings) -> ZoneInfo:
    """The zone the operator chose (cookie `console_tz`), else the page's."""
    chosen = request.cookies.get(ZONE_COOKIE)
    return (zone_named(chosen) if chosen else None) or settings.zone


def stamp_of(value: datetime | str | None, zone: ZoneInfo, now: datetime, relative: bool = True) -> Markup:
    """A moment as the console shows it everywhere: `<time>` in the page's zone, one format with the zone
    ("2026-11-23 10:30 CET"), followed by how long ago when `relative`; the full moment in the tooltip.
    Accepts a datetime or the ISO 8601 text storage keeps; None shows as a dash."""
    if value is None or value == "":
        return Markup("–")
    moment = value if isinstance(value, datetime) else storage.moment(value)
    if moment is None:
        return Markup("–")
    exact = moment.astimezone(zone)
    shown = format_stamp(moment, zone)
    ago = f" <span class=\"ago\">({format_relative(moment, now)})</span>" if relative else ""
    return Markup('<time datetime="{}" title="{}">{}</time>{}').format(
        exact.isoformat(timespec="seconds"), exact.strftime("%A %d %B %Y, %H:%M:%S %Z"), shown, Markup(ago))


Answer = Response | Template
"""What a console route answers: a page, or a redirect."""


# What a redirect may carry to the page it leads to (`Console.redirect`): `?error=` and `?notice=`.
CARRIED = ("error", "notice")


class Console:
    """What every console page uses: rendering with the page's names and the operator's zone, reading moments
    in forms, and the one place where a refused change becomes the error message on its form. Injected per
    request as `console` (`ConsoleDep`); `secret` signs the messages a redirect carries."""

    def __init__(self, request: Request, settings: Settings, clock: Clock, secret: str) -> None:
        self.request, self.settings, self.clock, self.secret = request, settings, clock, secret

    def _purpose(self) -> str:
        # Bound to the browser's session: a message made for one operator never shows in another's console.
        return f"console-message:{digest(self.request.cookies.get(SESSION_COOKIE, ''))}"

    def redirect(self, path: str, *, error: str | None = None, notice: str | None = None) -> Response:
        """A redirect to the console page `path` that shows `error` (in the error banner) or `notice` there. The
        text travels in the query signed for this session (`core.signed.sign_text`), so a link someone else wrote
        with `?error=` shows nothing."""
        carried = {name: signed.sign_text(self.secret, self._purpose(), text)
                   for name, text in (("error", error), ("notice", notice)) if text}
        return Redirect(f"{path}{'&' if '?' in path else '?'}{urlencode(carried, quote_via=quote)}" if carried else path)

    def carried(self, name: str) -> str | None:
        """The message `name` ("error" or "notice") a `redirect` carried to this page, or None: also when the query
        holds text this service did not sign for this session."""
        token = self.request.query_params.get(name)
        return signed.unsign_text(self.secret, self._purpose(), token) if token else None

    @property
    def zone(self) -> ZoneInfo:
        return console_zone(self.request, self.settings)

    def render(
        self, template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> Template:
        """A console page: the template plus what every console template uses. `stamp(moment)` shows any
        timestamp in the page's zone with the zone and a relative time; `stamp(moment, False)` without it."""
        request, settings = self.request, self.settings
        # The console's own words are English; mixing in the page's language would read badly.
        language, zone = "en", self.zone
        now = self.clock()
        # None on a page no console route answered (an error page): the middleware that names the user never ran.
        me = request.scope.get("user")
        return Template(
            template_name=template,
            status_code=status_code,
            headers=headers,
            context={
                "page": settings.page,
                "lang": language,
                "zone": zone.key,
                "me": me,
                "menu": me is not None,
                "can_change": me is not None and me.role.allows(Role.OPERATOR),
                "t": lambda key, **values: word(language, key, **values),
                "when": lambda moment: stamp_of(moment, zone, now),
                "stamp": lambda moment, relative=True: stamp_of(moment, zone, now, relative),
                "names": {c.key: text_in(c.name, language, language) for c in settings.components},
                "component_states": COMPONENT_STATES,
                "languages": LANGUAGE_NAMES,
                "zone_choices": sorted({settings.zone.key, zone.key, *ZONE_CHOICES}),
                "here": request.url.path,
                **context,
                # A message the page was given wins; else the one its redirect carried.
                **{name: context.get(name) or self.carried(name) for name in CARRIED},
            },
        )

    def local_moment(self, text: str, field: str, fold: str | None = None) -> datetime:
        """A datetime-local input, read in the zone the console shows (the operator's choice, else the page's)
        by `clock.from_wall_clock`: a time the clocks skip is refused, a time they pass twice needs `fold` ("0"
        the first, "1" the second), else it is refused asking which."""
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            raise Refused(f"{field} must be a date and time, like 2026-11-24T22:00") from None
        if naive.tzinfo is not None:
            return naive
        try:
            return from_wall_clock(naive, self.zone, field, int(fold) if fold in ("0", "1") else None)
        except NoSuchLocalTime as refused:
            raise Refused(str(refused)) from None

    @staticmethod
    async def attempt(change: Callable[[], Awaitable[Answer]],
                      again: Callable[[str], Answer | Awaitable[Answer]]) -> Answer:
        """The one place a refused change becomes the form's error message: `change()`'s answer, or, when an
        operation (or the reading of the form) is refused, `again(why)`: the form shown again with the error
        (`form_again`), or a redirect to a page that shows it (`back_to`)."""
        try:
            return await change()
        except Refused as refused:
            answer = again(str(refused))
            return await answer if inspect.isawaitable(answer) else answer

    def form_again(self, template: str, status_code: int = 400, **context: Any) -> Callable[[str], Template]:
        """For `attempt`: the form's page again, with the error and (as `context`) what was filled in."""
        return lambda error: self.render(template, status_code=status_code, error=error, **context)

    def back_to(self, path: str) -> Callable[[str], Response]:
        """For `attempt`: a redirect to `path`, whose page shows the error (`redirect`)."""
        return lambda error: self.redirect(path, error=error)


def provide_console(request: Request, settings: SettingsDep, clock: ClockDep, console_secret: SecretDep) -> Console:
    """The console for this request (registered app-wide, resolved per request)."""
    return Console(request, settings, clock, console_secret)


ConsoleDep = NamedDependency[SkipValidation[Console]]


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value).strip() for key, value in form.items() if key != "_csrf_token"}


def components_from(form: dict[str, str]) -> dict[str, str]:
    """The `component.<key>` selects of a form; "" means the component is not affected."""
    prefix = "component."
    return {key[len(prefix):]: value for key, value in form.items() if key.startswith(prefix) and value}


def parse(values: Mapping[str, Any], into: type[S]) -> S:
    """A form's values as the JSON API's Struct `into`: the same types and limits (`core.limits`), refused
    with "<field>: <what to fix>" for the form to show."""
    try:
        return limits.convert(values, into)
    except ValueError as error:
        raise Refused(str(error)) from None


def required(form: dict[str, str], field: str) -> str:
    """A form field that must not be empty; refused with the field's name otherwise."""
    value = form.get(field, "")
    if not value:
        raise Refused(f"{field} is required")
    return value


class SignInController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/sign-in")
    async def sign_in_form(self, console: ConsoleDep) -> Template:
        return console.render("web/sign_in.html")

    @post("/sign-in")
    async def sign_in(
        self, request: Request, console: ConsoleDep, store: StoreDep, settings: SettingsDep, clock: ClockDep,
        sign_in_limiter: LimiterDep,
    ) -> Response | Template:
        now, client = clock(), client_of(request, settings)
        wait = await sign_in_limiter.retry_after(client, now)
        if wait > 0:
            return console.render("web/sign_in.html", status_code=429, headers={"Retry-After": str(math.ceil(wait))},
                                  error=f"Too many failed sign-ins; try again in {math.ceil(wait)} seconds.")
        token = (await form_of(request)).get("token", "")
        row = await store.read(storage.token_by_hash, digest(token)) if token else None
        if row is None or Role(row["role"]) is Role.CLIENT:
            await sign_in_limiter.failed(client, now)
            return console.render("web/sign_in.html", status_code=401, error="That token is unknown or revoked.")
        session = new_session_id()
        await store.write(storage.insert_session, digest(session), row["id"], now, now + SESSION_LIFETIME)
        return Redirect(
            "/console",
            cookies=[Cookie(key=SESSION_COOKIE, value=session, path="/console", httponly=True, samesite="lax",
                            secure=_secure(request, settings), max_age=int(SESSION_LIFETIME.total_seconds()))],
        )

    @post("/zone", guards=[requires(Role.VIEWER)])
    async def choose_zone(self, request: Request, console: ConsoleDep, settings: SettingsDep) -> Response:
        """Show the console's times in another zone (a cookie for this browser); back to where it was asked."""
        form = await form_of(request)
        back = form.get("back", "/console")
        back = back if back.startswith("/console") and "//" not in back else "/console"
        zone = zone_named(form.get("tz", ""))
        if zone is None:
            return console.redirect("/console", error="That is not a time zone; use an IANA name like Europe/Amsterdam.")
        return Redirect(back, cookies=[Cookie(key=ZONE_COOKIE, value=zone.key, path="/console", httponly=True,
                                              samesite="lax", secure=_secure(request, settings), max_age=365 * 86400)])

    @post("/sign-out", guards=[requires(Role.VIEWER)])
    async def sign_out(self, request: Request, store: StoreDep) -> Response:
        session = request.auth
        if session:
            await store.write(storage.delete_session, digest(session))
        return Redirect("/console/sign-in", cookies=[Cookie(key=SESSION_COOKIE, value="", path="/console", max_age=0)])


def console_router(csrf: CSRFConfig, controllers: list[ControllerRouterHandler]) -> Router:
    """The console under /console: sign-in plus each area's `controllers`, behind the session and CSRF."""
    # Who is signed in first, then CSRF: a change without a session is a 401, not a 403.
    return Router(path="/", route_handlers=[SignInController, *controllers],
                  middleware=[ConsoleSessionAuthentication, DefineMiddleware(CSRFMiddleware, config=csrf)])
