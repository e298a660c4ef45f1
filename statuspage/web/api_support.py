"""What the JSON API's controllers share: running an operation and turning its refusal into an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import PathParameter, QueryParameter, SkipValidation

from statuspage.core.auth import Identity
from statuspage.core.clock import Clock
from statuspage.core.operation import Actor, Refused
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.web.dependencies import ClockDep, SettingsDep, StoreDep

# SQLite's integers are signed 64-bit: a larger id or cursor can name no row, and binding it raises.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID, description="a row id, 1 to 2^63-1")]
"""A numeric id in a path: 1 to 2^63-1, else a 400 naming the parameter."""
Cursor = Annotated[int, QueryParameter(ge=0, le=MAX_ROW_ID, description="a row id to page from, 0 to 2^63-1")]
"""A numeric cursor in a query (after_id, before_id): 0 to 2^63-1, else a 400 naming the parameter."""
OptionalCursor = Annotated[int | None, QueryParameter(ge=0, le=MAX_ROW_ID, description="a row id to page from")]


class Performer:
    """Runs operations as the signed-in caller, now: each in one write transaction, handed the settings, the
    caller as `Actor` and the time. Injected per request as `performer` (`PerformerDep`)."""

    def __init__(self, store: Store, settings: Settings, clock: Clock, identity: Identity) -> None:
        self.store, self.settings, self.clock, self.identity = store, settings, clock, identity

    async def perform(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`work(db, settings, actor, now, *args, **kwargs)`; a refusal is raised as `Refused`."""
        actor = Actor(self.identity.name)
        return await self.store.write(lambda db: work(db, self.settings, actor, self.clock(), *args, **kwargs))

    async def run(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`perform`, for the JSON API: a refusal becomes a 400, 404 or 409 that says why."""
        try:
            return await self.perform(work, *args, **kwargs)
        except Refused as refused:
            raise as_http_error(refused) from None


def provide_performer(request: Request, store: StoreDep, settings: SettingsDep, clock: ClockDep) -> Performer:
    """The performer for this request's caller (registered app-wide, resolved per request)."""
    return Performer(store, settings, clock, request.user)


PerformerDep = NamedDependency[SkipValidation[Performer]]


def as_http_error(refused: Refused) -> HTTPException:
    """A refused operation as the answer that says why: 404 for what does not exist, 409 for a clash, else 400."""
    if refused.not_found:
        return NotFoundException(str(refused))
    if refused.conflict:
        return HTTPException(status_code=409, detail=str(refused))
    return HTTPException(status_code=400, detail=str(refused))
