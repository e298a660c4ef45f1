"""The console's "Sync" tab (seed 002's "Monitoring"): the state of every environment's master-data sync per
administration and entity, the schedule, recent tasks, and "Sync now"."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from statuspage.core.auth import Identity, Role
from statuspage.core.operation import Refused
from statuspage.core.vocabulary import SyncKind, SyncState
from statuspage.sync.api import DEPENDENCIES, Engine, SyncTaskRequest, ask
from statuspage.sync.engine import SyncEngine
from statuspage.sync.monitoring import read_overview
from statuspage.web.console import Console, ConsoleDep, form_of, required
from statuspage.web.security import requires

BUSY = {SyncState.QUEUED, SyncState.RUNNING, SyncState.WAITING_FOR_BUDGET, SyncState.PAUSED_BY_SWITCH}


class SyncConsole(Controller):
    path = "/console"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]
    dependencies = {"engine": DEPENDENCIES["engine"]}

    @get("/sync")
    async def overview(self, console: ConsoleDep, engine: Engine) -> Template:
        return await _page(console, engine)

    @post("/sync/now", guards=[requires(Role.OPERATOR)])
    async def sync_now(self, request: Request, console: ConsoleDep, engine: Engine) -> Response | Template:
        """"Sync now": queue a manual task (seed 004: simple or full), then show the tab."""
        identity: Identity = request.user
        form = await form_of(request)
        try:
            data = SyncTaskRequest(environment=required(form, "environment"),
                                   kind=SyncKind(form.get("kind") or SyncKind.INCREMENTAL),
                                   administration=form.get("administration") or None)
            await ask(engine, data, identity.name)
        except (Refused, ValueError) as refused:
            return await _page(console, engine, str(refused), status_code=400)
        return Redirect("/console/sync")


async def _page(console: Console, engine: SyncEngine, error: str | None = None, status_code: int = 200) -> Template:
    overview = await read_overview(engine)
    busy = any(task.state in BUSY for task in overview.tasks)
    return console.render("sync/sync.html", status_code=status_code, overview=overview, busy=busy,
                          kinds=list(SyncKind), error=error)
