"""The console's pages for connections, kill switches and replay, call budgets, misroutes and invoice actions,
for every registered integration."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from sqlite_utils import Database

from integrations.base import ConnectorError
from integrations.registry import ConnectMethod
from statuspage.actions import outbox, switches
from statuspage.actions.api import active_callbacks, budgets_now, integration_names, misroute_csv, replay_state
from statuspage.actions.connections import (
    STATE_LIFETIME,
    IntegrationLink,
    Links,
    LinksDep,
    make_state,
    reach,
    read_state,
)
from statuspage.actions.dispatcher import DispatcherDep
from statuspage.actions.replay import describe_duration
from statuspage.core import storage
from statuspage.core.addresses import masked
from statuspage.core.auth import Role, digest
from statuspage.core.i18n import format_stamp
from statuspage.core.operation import Refused
from statuspage.core.settings import LANGUAGES
from statuspage.core.vocabulary import ActionState
from statuspage.web.api_support import OptionalCursor, PerformerDep
from statuspage.web.console import Answer, ConsoleDep, form_of, required
from statuspage.web.dependencies import ClockDep, SecretDep, SettingsDep, StoreDep
from statuspage.web.security import requires

CONNECTIONS = "/console/connections"


def _link(links: Links, integration: str, environment: str | None = None) -> IntegrationLink:
    """The integration's link, and (when named) an environment that connects to it; 404 otherwise."""
    if integration not in links.registry:
        raise NotFoundException(f"no integration {integration!r} is installed")
    link = links[integration]
    if environment is not None and link.environment(environment) is None:
        raise NotFoundException(f"no environment {environment!r} connects to {link.integration.name} "
                                f"in the configuration")
    return link


class ActionConsole(Controller):
    path = "/console"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]

    @get("/connections")
    async def connections(self, console: ConsoleDep, store: StoreDep, settings: SettingsDep, links: LinksDep,
                          connected: FromQuery[str | None] = None) -> Template:
        """The connections; `connected`: the environment just connected, confirmed at the top of the page."""
        connections, callbacks = await store.read(lambda db: (storage.connections(db), active_callbacks(db)))
        rows = {(row.environment, row.integration): row for row in connections}
        environments = []
        for environment in settings.environments:
            link: IntegrationLink = links[environment.integration]
            connection = rows.get((environment.key, environment.integration))
            environments.append({
                "settings": environment, "connection": connection, "integration": link.integration,
                "sandbox": link.options.uses_sandbox,
                "credentials": link.integration.connect_method is ConnectMethod.CREDENTIALS,
                "reach": reach(environment, connection.accessible if connection else None),
            })
        just = next((item for item in environments if item["settings"].key == connected and item["connection"]), None)
        if not console.request.user.role.allows(Role.ADMIN):  # credentials in URLs are for admins' eyes only
            callbacks = [{**row, "address": masked(row["address"])} for row in callbacks]
        return console.render("actions/connections.html", environments=environments, just_connected=just,
                              callbacks=callbacks)

    @post("/connections/{environment:str}/{integration:str}", guards=[requires(Role.OPERATOR)])
    async def connect(
        self, request: Request, console: ConsoleDep, links: LinksDep, clock: ClockDep, oauth_state_secret: SecretDep,
        environment: FromPath[str], integration: FromPath[str],
    ) -> Response:
        """Start connecting: to the accounting system's sign-in page (OAuth), or, for an integration that takes
        credentials, with the credentials posted in the form's `credentials` field."""
        link = _link(links, integration, environment)
        if link.integration.connect_method is ConnectMethod.CREDENTIALS:
            form = await form_of(request)
            try:
                await link.connect(environment, required(form, "credentials"), request.user.name)
            except (ConnectorError, Refused) as failure:
                return console.redirect(CONNECTIONS, error=f"Connecting {environment} failed: {failure}")
            return Redirect(f"/console/connections?connected={quote(environment)}")
        oauth_state = make_state(oauth_state_secret, environment, digest(request.auth), clock() + STATE_LIFETIME)
        return Redirect(link.authorization_url(oauth_state))

    @get("/connections/{integration:str}/callback", guards=[requires(Role.OPERATOR)])
    async def connected(
        self, request: Request, console: ConsoleDep, links: LinksDep, clock: ClockDep, oauth_state_secret: SecretDep,
        integration: FromPath[str], code: FromQuery[str] = "", error: FromQuery[str] = "",
        # `state` is a name Litestar keeps for itself; OAuth's parameter is read under another.
        oauth_state: Annotated[str, QueryParameter(name="state")] = "",
    ) -> Response:
        """Where the accounting system's sign-in returns (Exact Online: /console/connections/exact-online/callback,
        the redirect URI registered with it)."""
        link = _link(links, integration)
        name = link.integration.name
        environment = read_state(oauth_state_secret, oauth_state, digest(request.auth), clock())
        if environment is None or link.environment(environment) is None:
            return console.redirect(CONNECTIONS,
                                    error=f"The sign-in at {name} expired or did not start here; please try again.")
        if error or not code:
            return console.redirect(CONNECTIONS, error=f"{name} did not authorize the connection ({error or 'no code'}).")
        try:
            await link.connect(environment, code, request.user.name)
        except ConnectorError as failure:
            return console.redirect(CONNECTIONS, error=f"Connecting {environment} failed: {failure}")
        return Redirect(f"/console/connections?connected={quote(environment)}")

    @post("/connections/{environment:str}/{integration:str}/check", guards=[requires(Role.OPERATOR)])
    async def check_connection(self, console: ConsoleDep, links: LinksDep, environment: FromPath[str],
                               integration: FromPath[str]) -> Response:
        try:
            await _link(links, integration, environment).check(environment)
        except NotFoundException as missing:
            return console.redirect(CONNECTIONS, error=f"Checking {environment} failed: {missing.detail}")
        except ConnectorError as failure:
            return console.redirect(CONNECTIONS, error=f"Checking {environment} failed: {failure}")
        return Redirect("/console/connections")

    @get("/switches")
    async def switches(
        self, console: ConsoleDep, store: StoreDep, settings: SettingsDep, clock: ClockDep, links: LinksDep,
    ) -> Template:

        def read(db: Database) -> tuple[list[storage.KillSwitch], list[storage.Connection], list[storage.Backlog],
                                        list[storage.Misrouted]]:
            return (storage.switch_rows(db), storage.connections(db), storage.backlog(db),
                    storage.misroute_rows(db))

        switch_rows, connections, backlog, misroutes = await store.read(read)
        integrations = []
        for link in links:
            names = switches.names_of(link.integration)
            integrations.append({"key": link.key, "name": link.integration.name,
                                 "replay": await replay_state(store, settings, clock, links, link.key),
                                 "scope": switches.integration_scope(link.key),
                                 # Nothing on the public page shows it: an incident would tell of what nobody sees.
                                 "public": switches.component_of(settings, link.key) is not None,
                                 "off_notice": switches.off_notice(settings, link.key, names),
                                 "on_notice": switches.on_notice(settings, link.key, names)})
        per_connection = {(row.environment, row.integration):
                          await replay_state(store, settings, clock, links, row.integration, row.environment)
                          for row in connections}
        running = any(item.progress is not None and item.progress.left > 0 and item.enabled
                      for item in [*(i["replay"] for i in integrations), *per_connection.values()])
        return console.render("actions/switches.html", switches={row.scope.key: row for row in switch_rows},
                              connections=connections, backlog=backlog, integrations=integrations,
                              misroutes=misroutes, per_connection=per_connection, languages=LANGUAGES,
                              refresh=running, connection_scope=switches.connection_scope,
                              describe_duration=describe_duration)

    @post("/switches/{integration:str}", guards=[requires(Role.OPERATOR)])
    async def flip(
        self, request: Request, console: ConsoleDep, performer: PerformerDep, dispatcher: DispatcherDep,
        links: LinksDep, integration: FromPath[str],
    ) -> Answer:
        form = await form_of(request)
        environment = form.get("environment") or None
        names = integration_names(links, integration)
        # The "tell the public" box: the texts per language, as pre-filled or as the operator edited them.
        notice = switches.PublicNotice(*({language: form.get(f"{field}.{language}", "") for language in LANGUAGES}
                                         for field in ("title", "message", "resolved"))) if form.get("incident") else None

        async def change() -> Answer:
            flipped = await performer.perform(switches.switch, integration=integration, environment=environment,
                                              enabled=_position(form), reason=required(form, "reason"),
                                              notice=notice, names=names)
            dispatcher.wake()
            if flipped.changed:
                return console.redirect("/console/switches")
            # A page older than someone else's flip asked for what already is: say so rather than nothing, as the
            # console says everything: by name, in the operator's zone.
            subject = (names or {}).get("en", integration)
            place = console.settings.environment(environment) if environment else None
            if place is not None:
                subject = f"{subject} for {place.name}"

            def local_time(at: str) -> str:
                moment = storage.moment(at)
                return format_stamp(moment, console.zone) if moment else at

            return console.redirect("/console/switches", notice=flipped.describe(subject, local_time))

        return await console.attempt(change, console.back_to("/console/switches"))

    @get("/budgets")
    async def budgets(self, console: ConsoleDep, links: LinksDep, store: StoreDep, clock: ClockDep) -> Template:
        """Per administration: the limits last stated, what is left, and the calls each class used today."""
        return console.render("actions/budgets.html", budgets=await budgets_now(links, store, clock),
                              reserve_percent=round(links.budget.reserve_fraction * 100),
                              integration_names={integration.key: integration.name for integration in links.registry})

    @get("/misroutes.csv", media_type="text/csv")
    async def misroutes_csv(self, store: StoreDep) -> Response[str]:
        rows = await store.read(storage.misroute_rows)
        return Response(misroute_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="misroutes.csv"'})

    @get("/actions")
    async def actions(self, console: ConsoleDep, store: StoreDep,
                      action_state: Annotated[str | None, QueryParameter(name="state")] = None,
                      environment: FromQuery[str | None] = None, administration: FromQuery[str | None] = None,
                      before_id: OptionalCursor = None) -> Template:
        """Newest first, filtered by state, environment and administration (each optional)."""
        filters = {name: value for name, value in (("state", action_state), ("environment", environment),
                                                   ("administration", administration)) if value}
        rows, lanes = await store.read(
            lambda db: (storage.actions_newest_first(db, filters=filters, before_id=before_id, limit=PAGE_SIZE),
                        storage.action_lanes(db)))
        return console.render("actions/actions.html", actions=[outbox.action_document(row) for row in rows],
                      chosen=filters, states=list(ActionState),
                      environments=sorted({environment for environment, _ in lanes}),
                      administrations=sorted({administration for _, administration in lanes}),
                      next_before=rows[-1].id if len(rows) == PAGE_SIZE else None)


PAGE_SIZE = 200


def _position(form: dict[str, str]) -> bool:
    """The switch form's `enabled`: "on" or "off"; anything else is refused rather than read as off."""
    position = form.get("enabled", "")
    if position not in ("on", "off"):
        raise Refused(f"enabled must be on or off (got {position!r})")
    return position == "on"

