"""What the JSON API's controllers share: running an operation and turning its refusal into an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Request
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import PathParameter, QueryParameter

from statuspage.core.auth import Identity
from statuspage.core.operation import Actor, Refused

# SQLite's integers are signed 64-bit: a larger id or cursor can name no row, and binding it raises.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID, description="a row id, 1 to 2^63-1")]
"""A numeric id in a path: 1 to 2^63-1, else a 400 naming the parameter."""
Cursor = Annotated[int, QueryParameter(ge=0, le=MAX_ROW_ID, description="a row id to page from, 0 to 2^63-1")]
"""A numeric cursor in a query (after_id, before_id): 0 to 2^63-1, else a 400 naming the parameter."""
OptionalCursor = Annotated[int | None, QueryParameter(ge=0, le=MAX_ROW_ID, description="a row id to page from")]


async def perform(request: Request, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One operation in one write transaction, done as the signed-in caller, now."""
    state = request.app.state
    identity: Identity = request.user
    return await state.store.write(
        lambda db: work(db, state.settings, Actor(identity.name), state.clock(), *args, **kwargs)
    )


async def run(request: Request, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`perform`, for the JSON API: a refusal becomes a 400, 404 or 409 that says why."""
    try:
        return await perform(request, work, *args, **kwargs)
    except Refused as refused:
        raise as_http_error(refused) from None


def as_http_error(refused: Refused) -> HTTPException:
    """A refused operation as the answer that says why: 404 for what does not exist, 409 for a clash, else 400."""
    if refused.not_found:
        return NotFoundException(str(refused))
    if refused.conflict:
        return HTTPException(status_code=409, detail=str(refused))
    return HTTPException(status_code=400, detail=str(refused))
