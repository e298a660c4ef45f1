"""Mirror rules over the JSON API: each rule's monitoring, its preview before anything is written, and "run now"."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_400_BAD_REQUEST

from statuspage.core.auth import Role
from statuspage.core.operation import Refused
from statuspage.core.vocabulary import MirrorTrigger
from statuspage.mirrors.engine import MirrorEngine, MirrorsDep
from statuspage.mirrors.monitoring import (
    PreviewDocument,
    RuleDetail,
    RuleState,
    Run,
    preview_of,
    rule_detail,
    rule_state,
)
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
    async def rule(self, mirrors: MirrorsDep, key: FromPath[str]) -> RuleDetail:
        """One rule's monitoring, with its recent runs, newest first."""
        return await rule_detail(mirrors.store, known(mirrors, key), RECENT_RUNS)

    @get("/{key:str}/preview", guards=[requires(Role.VIEWER)])
    async def preview(self, mirrors: MirrorsDep, key: FromPath[str], limit: Limit = 100) -> PreviewDocument:
        """What a run would write now, against the target as last read: nothing is written, nothing is asked of
        either accounting system."""
        known(mirrors, key)
        return await preview_of(mirrors, key, limit)

    @post("/{key:str}/runs", guards=[requires(Role.OPERATOR)], status_code=HTTP_202_ACCEPTED)
    async def run_now(self, request: Request, mirrors: MirrorsDep, key: FromPath[str]) -> Response[Run]:
        """Run the rule now: it reads the target again, reconciles and hands its writes to the outbox. 202 with the
        run, queued for the background work; while a run of the rule is queued already, 202 with that one (it does
        what a second would), as `POST /api/v1/sync-tasks` answers a task asked for twice. The body is empty or
        `{}`. `GET /api/v1/mirrors/{key}` shows it running, then done."""
        known(mirrors, key)
        await _no_options(request)
        run_id = await mirrors.ask(key, MirrorTrigger.MANUAL)
        state = await rule_detail(mirrors.store, mirrors.rule(key), RECENT_RUNS)
        run = next(item for item in state.runs if item.id == run_id)
        return Response(run, status_code=HTTP_202_ACCEPTED, headers={"Location": f"/api/v1/mirrors/{key}"})


async def _no_options(request: Request) -> None:
    """A run takes no options: an empty body or `{}`; anything else is a 400 rather than an option ignored."""
    body = await request.body()
    if not body.strip():
        return
    try:
        given = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise HTTPException(status_code=HTTP_400_BAD_REQUEST,
                            detail="the body is not JSON: send no body, or {}") from None
    if given != {}:
        raise HTTPException(status_code=HTTP_400_BAD_REQUEST,
                            detail="a run takes no options: send no body, or {}")
