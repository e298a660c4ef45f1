"""The operator console under /console: Jinja pages over the same operations as the JSON API.

Sign in once with a token; a session cookie (HttpOnly, SameSite=Lax, Secure over TLS) carries the
sign-in from then on, and every form carries a CSRF token. Forms post and redirect, so a reload
never repeats a change; a refused change shows the form again with what to fix.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, Router, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from markupsafe import Markup

from integrations.base import ConnectorError
from statuspage.actions import outbox
from statuspage.actions.api import misroute_csv, replay_state
from statuspage.actions.connections import EXACT_ONLINE, STATE_LIFETIME, make_state, reach, read_state
from statuspage.core import storage
from statuspage.core.auth import SESSION_COOKIE, SESSION_LIFETIME, Role, digest, new_session_id
from statuspage.core.settings import ProbeSettings, text_in
from statuspage.incidents import operations
from statuspage.page.i18n import format_time, word
from statuspage.page.status import ComponentStatus, IncidentStatus, MaintenanceStatus
from statuspage.probes.api import probe_list
from statuspage.probes.charts import response_time_svg
from statuspage.web.api_support import perform
from statuspage.web.security import ConsoleSessionAuthentication, requires

COMPONENT_STATES = [status.value for status in ComponentStatus]
INCIDENT_STATES = [status.value for status in IncidentStatus if status is not IncidentStatus.POSTMORTEM]
MAINTENANCE_STATES = [status.value for status in MaintenanceStatus]
IMPACTS = ["none", "minor", "major", "critical"]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.app.state.settings.page.url.startswith("https://")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def render(
    request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Template:
    """A console page: the template plus what every console template uses."""
    state = request.app.state
    # The console's own words are English; mixing in the page's language would read badly.
    language, zone = "en", state.settings.zone
    return Template(
        template_name=f"console/{template}",
        status_code=status_code,
        headers=headers,
        context={
            "page": state.settings.page,
            "lang": language,
            "zone": zone.key,
            "me": request.user,
            "can_change": request.user is not None and request.user.role.allows(Role.OPERATOR),
            "t": lambda key, **values: word(language, key, **values),
            "when": lambda moment: format_time(moment, language, zone),
            "names": {c.key: text_in(c.name, language, language) for c in state.settings.components},
            "component_states": COMPONENT_STATES,
            "error": None,
            **context,
        },
    )


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value).strip() for key, value in form.items() if key != "_csrf_token"}


def components_from(form: dict[str, str]) -> dict[str, str]:
    """The `component.<key>` selects of a form; "" means the component is not affected."""
    prefix = "component."
    return {key[len(prefix):]: value for key, value in form.items() if key.startswith(prefix) and value}


def local_moment(request: Request, text: str, field: str) -> datetime:
    """A datetime-local input, read in the page's time zone."""
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise operations.Refused(f"{field} must be a date and time, like 2026-11-24T22:00") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=request.app.state.settings.zone)


class SignInController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/sign-in")
    async def sign_in_form(self, request: Request) -> Template:
        return render(request, "sign_in.html")

    @post("/sign-in")
    async def sign_in(self, request: Request) -> Response | Template:
        state = request.app.state
        now, client = state.clock(), _client(request)
        wait = state.sign_in_limiter.retry_after(client, now)
        if wait > 0:
            return render(request, "sign_in.html", status_code=429, headers={"Retry-After": str(math.ceil(wait))},
                          error=f"Too many failed sign-ins; try again in {math.ceil(wait)} seconds.")
        token = (await form_of(request)).get("token", "")
        row = await state.store.read(storage.token_by_hash, digest(token)) if token else None
        if row is None or Role(row["role"]) is Role.CLIENT:
            state.sign_in_limiter.failed(client, now)
            return render(request, "sign_in.html", status_code=401, error="That token is unknown or revoked.")
        state.sign_in_limiter.succeeded(client)
        session = new_session_id()
        await state.store.write(storage.insert_session, digest(session), row["id"], now, now + SESSION_LIFETIME)
        return Redirect(
            "/console",
            cookies=[Cookie(key=SESSION_COOKIE, value=session, path="/console", httponly=True, samesite="lax",
                            secure=_secure(request), max_age=int(SESSION_LIFETIME.total_seconds()))],
        )

    @post("/sign-out", guards=[requires(Role.VIEWER)])
    async def sign_out(self, request: Request) -> Response:
        session = request.auth
        if session:
            await request.app.state.store.write(storage.delete_session, digest(session))
        return Redirect("/console/sign-in", cookies=[Cookie(key=SESSION_COOKIE, value="", path="/console", max_age=0)])


class ConsoleController(Controller):
    path = "/console"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]

    @get("/")
    async def dashboard(self, request: Request, error: FromQuery[str | None] = None) -> Template:
        state = request.app.state
        snapshot = await state.pages.snapshot()
        overrides = {row["component_id"]: row for row in await state.store.read(storage.override_rows)}
        drafts = await state.store.read(storage.draft_incidents)
        return render(request, "dashboard.html", snapshot=snapshot, overrides=overrides, error=error, drafts=drafts,
                      leaves=[c for c in snapshot.components if not c.is_group])

    @get("/incidents/new")
    async def new_incident(
        self, request: Request, template: FromQuery[str | None] = None, component: FromQuery[str | None] = None
    ) -> Template:
        values: dict[str, str] = {}
        error = None
        if template:
            try:
                draft = operations.draft_from_template(request.app.state.settings, template, component or None, {})
            except operations.Refused as refused:
                error = str(refused)
            else:
                values = {"name": draft.name, "message": draft.message, "status": draft.status, "impact": draft.impact}
                values |= {f"component.{key}": state for key, state in draft.components.items()}
        return render(request, "incident_form.html", values=values, states=INCIDENT_STATES, impacts=IMPACTS,
                      error=error, incident_templates=request.app.state.settings.incident_templates,
                      chosen=(template, component))

    @post("/incidents", guards=[requires(Role.OPERATOR)])
    async def open_incident(self, request: Request) -> Response | Template:
        form = await form_of(request)
        try:
            incident_id = await perform(
                request, operations.open_incident, name=_required(form, "name"), status=form.get("status", "investigating"),
                impact=form.get("impact", "minor"), message=_required(form, "message"), components=components_from(form),
            )
        except operations.Refused as refused:
            return render(request, "incident_form.html", status_code=400, error=str(refused), values=form,
                          states=INCIDENT_STATES, impacts=IMPACTS, chosen=(None, None),
                          incident_templates=request.app.state.settings.incident_templates)
        return Redirect(f"/console/incidents/{incident_id}")

    @get("/incidents/{incident_id:str}")
    async def incident(self, request: Request, incident_id: FromPath[str]) -> Template:
        return await _incident_page(request, incident_id)

    @post("/incidents/{incident_id:str}/updates", guards=[requires(Role.OPERATOR)])
    async def post_update(self, request: Request, incident_id: FromPath[str]) -> Response | Template:
        form = await form_of(request)
        try:
            await perform(request, operations.post_update, incident_id, status=form.get("status", ""),
                         message=_required(form, "message"), components=components_from(form))
        except operations.Refused as refused:
            return await _incident_page(request, incident_id, error=str(refused), status_code=400)
        return Redirect(f"/console/incidents/{incident_id}")

    @post("/incidents/{incident_id:str}/updates/{update_id:str}/edit", guards=[requires(Role.OPERATOR)])
    async def edit_update(self, request: Request, incident_id: FromPath[str], update_id: FromPath[str]) -> Response | Template:
        form = await form_of(request)
        try:
            await perform(request, operations.edit_update, update_id, message=_required(form, "message"))
        except operations.Refused as refused:
            return await _incident_page(request, incident_id, error=str(refused), status_code=400)
        return Redirect(f"/console/incidents/{incident_id}")

    @post("/incidents/{incident_id:str}/updates/{update_id:str}/delete", guards=[requires(Role.OPERATOR)])
    async def delete_update(self, request: Request, incident_id: FromPath[str], update_id: FromPath[str]) -> Response | Template:
        try:
            await perform(request, operations.delete_update, update_id)
        except operations.Refused as refused:
            return await _incident_page(request, incident_id, error=str(refused), status_code=400)
        return Redirect(f"/console/incidents/{incident_id}")

    @get("/maintenances/new")
    async def new_maintenance(self, request: Request) -> Template:
        return render(request, "maintenance_form.html", values={})

    @post("/maintenances", guards=[requires(Role.OPERATOR)])
    async def schedule_maintenance(self, request: Request) -> Response | Template:
        form = await form_of(request)
        try:
            maintenance_id = await perform(
                request, operations.schedule_maintenance, name=_required(form, "name"),
                message=_required(form, "message"), starts=local_moment(request, form.get("starts", ""), "starts"),
                ends=local_moment(request, form.get("ends", ""), "ends"),
                components=[key for key, value in components_from(form).items() if value == "on"],
            )
        except operations.Refused as refused:
            return render(request, "maintenance_form.html", status_code=400, error=str(refused), values=form)
        return Redirect(f"/console/incidents/{maintenance_id}")

    @post("/components/{component:str}/override", guards=[requires(Role.OPERATOR)])
    async def set_override(self, request: Request, component: FromPath[str]) -> Response:
        form = await form_of(request)
        try:
            if form.get("status") == "clear":
                await perform(request, operations.clear_override, component)
            else:
                expires = form.get("expires_at")
                await perform(request, operations.set_override, component, status=form.get("status", ""),
                             reason=_required(form, "reason"),
                             expires_at=local_moment(request, expires, "expires_at") if expires else None)
        except operations.Refused as refused:
            return Redirect(f"/console?error={quote(str(refused))}")
        return Redirect("/console")

    @get("/subscribers")
    async def subscribers(self, request: Request, error: FromQuery[str | None] = None) -> Template:
        return await _subscribers_page(request, error=error)

    @post("/subscribers", guards=[requires(Role.OPERATOR)])
    async def add_webhook(self, request: Request) -> Response | Template:
        form = await form_of(request)
        components = [key for key, value in components_from(form).items() if value == "on"] or None
        try:
            _, secret = await perform(request, operations.add_webhook, _required(form, "url"), components)
        except operations.Refused as refused:
            return Redirect(f"/console/subscribers?error={quote(str(refused))}")
        return await _subscribers_page(request, new_secret=secret)

    @get("/connections")
    async def connections(self, request: Request, error: FromQuery[str | None] = None) -> Template:
        state = request.app.state
        rows = {row["environment"]: row for row in await state.store.read(storage.connections, EXACT_ONLINE)}
        environments = [
            {"settings": environment, "connection": rows.get(environment.key),
             "reach": reach(environment, (rows.get(environment.key) or {}).get("accessible"))}
            for environment in state.settings.environments
        ]
        return render(request, "connections.html", environments=environments, error=error,
                      sandbox=state.settings.exact_online.uses_sandbox)

    @post("/connections/{environment:str}/exact-online", guards=[requires(Role.OPERATOR)])
    async def connect(self, request: Request, environment: FromPath[str]) -> Response:
        state = request.app.state
        if state.exact_online.environment(environment) is None:
            raise NotFoundException(f"no environment {environment!r} in the configuration")
        oauth_state = make_state(state.oauth_state_secret, environment, digest(request.auth),
                                 state.clock() + STATE_LIFETIME)
        return Redirect(state.exact_online.authorization_url(oauth_state))

    @get("/connections/exact-online/callback", guards=[requires(Role.OPERATOR)])
    async def connected(
        self, request: Request, code: FromQuery[str] = "", error: FromQuery[str] = "",
        # `state` is a name Litestar keeps for itself; OAuth's parameter is read under another.
        oauth_state: Annotated[str, QueryParameter(name="state")] = "",
    ) -> Response:
        app_state = request.app.state
        environment = read_state(app_state.oauth_state_secret, oauth_state, digest(request.auth), app_state.clock())
        if environment is None:
            return _back_to_connections("The sign-in at Exact Online expired or did not start here; please try again.")
        if error or not code:
            return _back_to_connections(f"Exact Online did not authorize the connection ({error or 'no code'}).")
        try:
            await app_state.exact_online.connect(environment, code, request.user.name)
        except ConnectorError as failure:
            return _back_to_connections(f"Connecting {environment} failed: {failure}")
        return Redirect("/console/connections")

    @post("/connections/{environment:str}/exact-online/check", guards=[requires(Role.OPERATOR)])
    async def check_connection(self, request: Request, environment: FromPath[str]) -> Response:
        try:
            await request.app.state.exact_online.check(environment)
        except ConnectorError as failure:
            return _back_to_connections(f"Checking {environment} failed: {failure}")
        return Redirect("/console/connections")

    @get("/switches")
    async def switches(self, request: Request, error: FromQuery[str | None] = None) -> Template:
        state = request.app.state

        def read(db):
            return (storage.switch_rows(db), storage.connections(db, EXACT_ONLINE), storage.backlog(db),
                    storage.misroute_rows(db))

        switch_rows, connections, backlog, misroutes = await state.store.read(read)
        replay = await replay_state(request, "exact-online")
        per_connection = {row["environment"]: await replay_state(request, "exact-online", row["environment"])
                          for row in connections}
        running = any(item.progress is not None and item.progress.left > 0 and item.enabled
                      for item in [replay, *per_connection.values()])
        return render(request, "switches.html", switches={row["scope"]: row for row in switch_rows},
                      connections=connections, backlog=backlog, replay=replay, misroutes=misroutes,
                      per_connection=per_connection,
                      integration_scope=outbox.integration_scope("exact-online"), refresh=running, error=error,
                      connection_scope=outbox.connection_scope)

    @post("/switches/{integration:str}", guards=[requires(Role.OPERATOR)])
    async def flip(self, request: Request, integration: FromPath[str]) -> Response:
        form = await form_of(request)
        environment = form.get("environment") or None
        try:
            await perform(request, outbox.switch, integration=integration, environment=environment,
                         enabled=form.get("enabled") == "on", reason=_required(form, "reason"))
        except operations.Refused as refused:
            return Redirect(f"/console/switches?error={quote(str(refused))}")
        request.app.state.dispatcher.wake()
        return Redirect("/console/switches")

    @get("/misroutes.csv", media_type="text/csv")
    async def misroutes_csv(self, request: Request) -> Response[str]:
        rows = await request.app.state.store.read(storage.misroute_rows)
        return Response(misroute_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="misroutes.csv"'})

    @post("/incidents/{incident_id:str}/publish", guards=[requires(Role.OPERATOR)])
    async def publish(self, request: Request, incident_id: FromPath[str]) -> Response:
        try:
            await perform(request, operations.publish_draft, incident_id)
        except operations.Refused as refused:
            return Redirect(f"/console?error={quote(str(refused))}")
        return Redirect(f"/console/incidents/{incident_id}")

    @get("/probes")
    async def probes(self, request: Request) -> Template:
        return render(request, "probes.html", probes=await probe_list(request))

    @get("/probes/{key:str}")
    async def probe(self, request: Request, key: FromPath[str]) -> Template:
        settings = request.app.state.settings
        probe = _probe_settings(request, key)
        results = await request.app.state.store.read(storage.probe_results, key, 120)
        zone = settings.zone
        points = [(storage.moment(row["at"]).astimezone(zone).strftime("%d-%m %H:%M:%S"), row["duration_ms"],
                   bool(row["success"])) for row in reversed(results)]
        standing = next(item for item in await probe_list(request) if item.key == key)
        return render(request, "probe.html", probe=probe, standing=standing, results=results[:30],
                      chart=Markup(response_time_svg(points, f"Response times of {key}")))

    @post("/probes/{key:str}/run", guards=[requires(Role.OPERATOR)])
    async def run_probe(self, request: Request, key: FromPath[str]) -> Response:
        _probe_settings(request, key)
        await request.app.state.prober.run(key)
        return Redirect(f"/console/probes/{key}")

    @post("/probes/{key:str}/pause", guards=[requires(Role.OPERATOR)])
    async def pause_probe(self, request: Request, key: FromPath[str]) -> Response:
        _probe_settings(request, key)
        paused = (await form_of(request)).get("paused") == "yes"
        await perform(request, operations.pause_probe, key, paused)
        return Redirect(f"/console/probes/{key}")

    @get("/actions")
    async def actions(self, request: Request,
                      action_state: Annotated[str | None, QueryParameter(name="state")] = None,
                      after_id: FromQuery[int] = 0) -> Template:
        state = action_state
        filters = {"state": state} if state else {}
        rows = await request.app.state.store.read(
            lambda db: storage.actions_page(db, filters=filters, after_id=after_id, limit=200))
        return render(request, "actions.html", actions=[outbox.action_document(row) for row in rows], chosen=state,
                      states=["queued", "running", "delayed", "done", "undone", "failed", "cancelled"],
                      next_after=rows[-1]["id"] if len(rows) == 200 else None)

    @get("/audit")
    async def audit(self, request: Request) -> Template:
        entries = await request.app.state.store.read(lambda db: storage.audit_entries(db, limit=200))
        return render(request, "audit.html", entries=entries)


def _probe_settings(request: Request, key: str) -> ProbeSettings:
    probe = next((probe for probe in request.app.state.settings.probes if probe.key == key), None)
    if probe is None:
        raise NotFoundException(f"no probe {key!r}")
    return probe


def _back_to_connections(error: str) -> Response:
    return Redirect(f"/console/connections?error={quote(error)}")


def _required(form: dict[str, str], field: str) -> str:
    value = form.get(field, "")
    if not value:
        raise operations.Refused(f"{field} is required")
    return value


async def _subscribers_page(request: Request, *, error: str | None = None, new_secret: str | None = None) -> Template:
    def read(db) -> tuple[list, dict]:
        subscribers = storage.list_subscribers(db)
        return subscribers, {row["id"]: storage.deliveries_of(db, row["id"], 20) for row in subscribers}

    subscribers, deliveries = await request.app.state.store.read(read)
    return render(request, "subscribers.html", subscribers=subscribers, deliveries=deliveries, error=error,
                  new_secret=new_secret)


async def _incident_page(request: Request, incident_id: str, **extra: Any) -> Template:
    snapshot = await request.app.state.pages.snapshot()
    item = next((item for item in snapshot.incidents + snapshot.maintenances if item.id == incident_id), None)
    if item is None:
        raise NotFoundException(f"no incident or maintenance with id {incident_id!r} among the recent ones")
    states = MAINTENANCE_STATES if item.kind == "maintenance" else INCIDENT_STATES
    return render(request, "incident.html", item=item, states=states, **extra)


def console_router(csrf: CSRFConfig) -> Router:
    # Who is signed in first, then CSRF: a change without a session is a 401, not a 403.
    return Router(path="/", route_handlers=[SignInController, ConsoleController],
                  middleware=[ConsoleSessionAuthentication, DefineMiddleware(CSRFMiddleware, config=csrf)])
