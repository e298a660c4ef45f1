"""Mirror rules over the JSON API: each rule's monitoring, its preview before anything is written, and "run now"."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from statuspage.core.auth import Role
from statuspage.core.operation import Refused
from statuspage.core.vocabulary import MirrorTrigger
from statuspage.mirrors.engine import MirrorEngine, MirrorsDep
from statuspage.mirrors.monitoring import PreviewDocument, RuleState, Run, preview_document, rule_state
from statuspage.mirrors.rules import MirrorRule
from statuspage.web.api_support import as_http_error
from statuspage.web.security import requires

RECENT_RUNS = 20
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="rows listed per kind of write, 1 to 1000")]


def known(mirrors: MirrorEngine, key: str) -> MirrorRule:
    """The rule `key`, or a 404 naming the configured ones."""
    try:
        return mirrors.rule(key)
    except Refused as refused:
        raise as_http_error(refused) from None


class MirrorController(Controller):
    path = "/mirrors"
    tags = ["Mirror rules"]

    @get("/", guards=[requires(Role.VIEWER)])
    async def rules(self, mirrors: MirrorsDep) -> list[RuleState]:
        """Every rule: its last run, rows inserted and changed, what waits in the outbox, its errors."""
        return [await rule_state(mirrors.store, rule) for rule in mirrors.rules.values()]

    @get("/{key:str}", guards=[requires(Role.VIEWER)])
    async def rule(self, mirrors: MirrorsDep, key: FromPath[str]) -> RuleState:
        """One rule's monitoring, with its recent runs, newest first."""
        return await rule_state(mirrors.store, known(mirrors, key), runs=RECENT_RUNS)

    @get("/{key:str}/preview", guards=[requires(Role.VIEWER)])
    async def preview(self, mirrors: MirrorsDep, key: FromPath[str], limit: Limit = 100) -> PreviewDocument:
        """What a run would write now, against the target as last read: nothing is written, nothing is asked of
        either accounting system."""
        known(mirrors, key)
        return preview_document(await mirrors.preview(key), limit)

    @post("/{key:str}/runs", guards=[requires(Role.OPERATOR)], status_code=HTTP_202_ACCEPTED)
    async def run_now(self, mirrors: MirrorsDep, key: FromPath[str]) -> Response[Run]:
        """Run the rule now: it reads the target again, reconciles and hands its writes to the outbox. 202 with the
        run, queued for the background work; `GET /api/v1/mirrors/{key}` shows it running, then done."""
        known(mirrors, key)
        run_id = await mirrors.ask(key, MirrorTrigger.MANUAL)
        state = await rule_state(mirrors.store, mirrors.rule(key), runs=RECENT_RUNS)
        run = next(item for item in state.runs if item.id == run_id)
        return Response(run, status_code=HTTP_202_ACCEPTED, headers={"Location": f"/api/v1/mirrors/{key}"})
