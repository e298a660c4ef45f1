"""What the JSON API's controllers share: running an operation and turning its refusal into an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException, NotFoundException

from statuspage.core.auth import Identity
from statuspage.core.operation import Actor, Refused


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
