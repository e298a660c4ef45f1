"""The console's pages for connections, kill switches and replay, misroutes and invoice actions."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from integrations.base import ConnectorError
from statuspage.actions import outbox, switches
from statuspage.actions.api import misroute_csv, replay_state
from statuspage.actions.connections import EXACT_ONLINE, STATE_LIFETIME, make_state, reach, read_state
from statuspage.core import storage
from statuspage.core.auth import Role, digest
from statuspage.core.operation import Refused
from statuspage.core.settings import LANGUAGES
from statuspage.core.vocabulary import ActionState
from statuspage.web.api_support import OptionalCursor, perform
from statuspage.web.console import form_of, render, required
from statuspage.web.security import requires


class ActionConsole(Controller):
    path = "/console"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]

    @get("/connections")
    async def connections(self, request: Request, error: FromQuery[str | None] = None,
                          connected: FromQuery[str | None] = None) -> Template:
        """The connections; `connected`: the environment just connected, confirmed at the top of the page."""
        state = request.app.state
        rows = {row["environment"]: row for row in await state.store.read(storage.connections, EXACT_ONLINE)}
        environments = [
            {"settings": environment, "connection": rows.get(environment.key),
             "reach": reach(environment, (rows.get(environment.key) or {}).get("accessible"))}
            for environment in state.settings.environments
        ]
        just = next((item for item in environments if item["settings"].key == connected and item["connection"]), None)
        return render(request, "actions/connections.html", environments=environments, error=error,
                      sandbox=state.settings.exact_online.uses_sandbox, just_connected=just)

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
        return Redirect(f"/console/connections?connected={quote(environment)}")

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
        return render(request, "actions/switches.html", switches={row["scope"]: row for row in switch_rows},
                      connections=connections, backlog=backlog, replay=replay, misroutes=misroutes,
                      per_connection=per_connection, languages=LANGUAGES,
                      off_notice=switches.off_notice(state.settings, "exact-online"),
                      on_notice=switches.on_notice(state.settings, "exact-online"),
                      integration_scope=switches.integration_scope("exact-online"), refresh=running, error=error,
                      connection_scope=switches.connection_scope)

    @post("/switches/{integration:str}", guards=[requires(Role.OPERATOR)])
    async def flip(self, request: Request, integration: FromPath[str]) -> Response:
        form = await form_of(request)
        environment = form.get("environment") or None
        # The "tell the public" box: the texts per language, as pre-filled or as the operator edited them.
        notice = switches.PublicNotice(*({language: form.get(f"{field}.{language}", "") for language in LANGUAGES}
                                         for field in ("title", "message", "resolved"))) if form.get("incident") else None
        try:
            await perform(request, switches.switch, integration=integration, environment=environment,
                         enabled=form.get("enabled") == "on", reason=required(form, "reason"), notice=notice)
        except Refused as refused:
            return Redirect(f"/console/switches?error={quote(str(refused))}")
        request.app.state.dispatcher.wake()
        return Redirect("/console/switches")

    @get("/misroutes.csv", media_type="text/csv")
    async def misroutes_csv(self, request: Request) -> Response[str]:
        rows = await request.app.state.store.read(storage.misroute_rows)
        return Response(misroute_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="misroutes.csv"'})

    @get("/actions")
    async def actions(self, request: Request,
                      action_state: Annotated[str | None, QueryParameter(name="state")] = None,
                      environment: FromQuery[str | None] = None, administration: FromQuery[str | None] = None,
                      before_id: OptionalCursor = None) -> Template:
        """Newest first, filtered by state, environment and administration (each optional)."""
        filters = {name: value for name, value in (("state", action_state), ("environment", environment),
                                                   ("administration", administration)) if value}
        rows, lanes = await request.app.state.store.read(
            lambda db: (storage.actions_newest_first(db, filters=filters, before_id=before_id, limit=PAGE_SIZE),
                        storage.action_lanes(db)))
        return render(request, "actions/actions.html", actions=[outbox.action_document(row) for row in rows],
                      chosen=filters, states=list(ActionState),
                      environments=sorted({lane["environment"] for lane in lanes}),
                      administrations=sorted({lane["administration"] for lane in lanes}),
                      next_before=rows[-1]["id"] if len(rows) == PAGE_SIZE else None)


PAGE_SIZE = 200


def _back_to_connections(error: str) -> Response:
    return Redirect(f"/console/connections?error={quote(error)}")
