"""The console's "Mirrors" tab: each rule's monitoring, its preview before anything is written, and "Run now"."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from statuspage.core.auth import Role
from statuspage.core.vocabulary import MirrorTrigger
from statuspage.mirrors.api import RECENT_RUNS, known
from statuspage.mirrors.engine import MirrorsDep
from statuspage.mirrors.monitoring import preview_of, rule_detail, rule_state
from statuspage.web.console import ConsoleDep
from statuspage.web.security import requires

PREVIEW_ROWS = 50


class MirrorConsole(Controller):
    path = "/console/mirrors"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]

    @get("/")
    async def overview(self, console: ConsoleDep, mirrors: MirrorsDep) -> Template:
        states = [await rule_state(mirrors.store, rule) for rule in mirrors.rules.values()]
        busy = any(state.last_run is not None and not state.last_run.state.is_final for state in states)
        return console.render("mirrors/mirrors.html", rules=states, busy=busy)

    @get("/{key:str}")
    async def rule(self, console: ConsoleDep, mirrors: MirrorsDep, key: FromPath[str],
                   error: FromQuery[str | None] = None) -> Template:
        """One rule: its monitoring, recent runs, and the preview of what a run would write now."""
        state = await rule_detail(mirrors.store, known(mirrors, key), RECENT_RUNS)
        preview = await preview_of(mirrors, key, PREVIEW_ROWS)
        busy = state.last_run is not None and not state.last_run.state.is_final
        return console.render("mirrors/rule.html", rule=state, preview=preview, busy=busy, error=error,
                              shown=PREVIEW_ROWS)

    @post("/{key:str}/run", guards=[requires(Role.OPERATOR)])
    async def run_now(self, mirrors: MirrorsDep, key: FromPath[str]) -> Response:
        """"Run now": the run is queued for the background work; the rule's page follows it."""
        known(mirrors, key)
        await mirrors.ask(key, MirrorTrigger.MANUAL)
        return Redirect(f"/console/mirrors/{key}")
