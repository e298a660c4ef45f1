"""The sync over the JSON API: manual tasks, their progress, monitoring, and the change feed the invoice
product keeps its own copy of the master data with (issue 13)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, JSONBody, Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from statuspage.core import storage
from statuspage.core.auth import Identity, Role
from statuspage.core.operation import Refused
from statuspage.core.storage import Store
from statuspage.core.vocabulary import SyncKind, SyncTrigger
from statuspage.sync.engine import SyncEngine
from statuspage.sync.monitoring import Overview, TaskView, read_overview, read_task
from statuspage.web.api_support import Cursor, RowId, as_http_error
from statuspage.web.security import requires

FEED_LIMIT = 1000


class SyncTaskRequest(msgspec.Struct, forbid_unknown_fields=True):
    environment: str
    kind: SyncKind
    administration: str | None = None
    """None: every administration of the environment."""
    entities: Annotated[list[str], msgspec.Meta(min_length=1)] | None = None
    """Left out (or null): every entity the environment's profile syncs. An empty list is refused (400): it would
    sync nothing, and reading it as "all" would start the costliest sync by mistake."""


class FeedRow(msgspec.Struct):
    key: str
    """The accounting system's key (the entity's key field: Exact Online's row ID, Twinfield's dimension code)."""
    seq: int
    deleted: bool
    deleted_at: datetime | None
    content: dict[str, Any]
    """The row as last seen; for a deleted row, as it was before it was deleted."""


class Feed(msgspec.Struct):
    rows: list[FeedRow]
    next_after: int
    """Ask `?after=` this next time; equal to `after` when nothing changed."""
    more: bool
    """More rows wait beyond this page: ask again at once."""
    synced_at: datetime | None = None
    """When this entity of the administration last synced well; null: never, so an empty page says nothing is known
    yet (for example the connection user cannot open the administration: `last_error`), not that it is empty."""
    last_error: str | None = None
    """Why the latest sync of this entity failed, if it did."""


def provide_engine(state: State) -> SyncEngine:
    engine: SyncEngine = state.sync
    return engine


def provide_store(state: State) -> Store:
    store: Store = state.store
    return store


Engine = NamedDependency[SyncEngine]
StoreDependency = NamedDependency[Store]
DEPENDENCIES = {"engine": Provide(provide_engine, sync_to_thread=False),
                "store": Provide(provide_store, sync_to_thread=False)}


async def ask(engine: SyncEngine, data: SyncTaskRequest, who: str) -> TaskView:
    """Queue a manual task (or find the same one queued) and return it. `Refused` says what was wrong."""
    task_id, _ = await engine.request(data.environment, data.administration, data.kind, SyncTrigger.MANUAL,
                                      data.entities, who)
    view = await read_task(engine.store, engine.clock, task_id)
    assert view is not None
    return view


class SyncTaskController(Controller):
    path = "/sync-tasks"
    tags = ["Sync"]
    dependencies = DEPENDENCIES

    @post("/", guards=[requires(Role.OPERATOR, Role.CLIENT)], status_code=HTTP_202_ACCEPTED)
    async def queue(self, request: Request, engine: Engine, data: JSONBody[SyncTaskRequest]
                    ) -> TaskView:
        """Queue a manual incremental or full sync; picked up within seconds. Asked again while it is still
        queued, the same task is answered."""
        identity: Identity = request.user
        try:
            return await ask(engine, data, identity.name)
        except Refused as refused:
            raise as_http_error(refused) from None

    @get("/{task_id:int}", guards=[requires(Role.VIEWER, Role.CLIENT)])
    async def task(self, engine: Engine, task_id: RowId) -> TaskView:
        view = await read_task(engine.store, engine.clock, task_id)
        if view is None:
            raise NotFoundException(f"no sync task {task_id}")
        return view


class SyncFeedController(Controller):
    path = "/sync"
    tags = ["Sync"]
    dependencies = DEPENDENCIES

    @get("/runs", guards=[requires(Role.VIEWER)])
    async def runs(self, engine: Engine) -> Overview:
        """Per environment, administration and entity: the latest run's state, counts, calls and duration,
        the last success, the next nightly run and the month's full-sync day; and the recent tasks."""
        return await read_overview(engine)

    @get("/{environment:str}/{administration:str}/{entity:str}", guards=[requires(Role.CLIENT)])
    async def feed(self, engine: Engine, store: StoreDependency, environment: FromPath[str],
                   administration: FromPath[str], entity: FromPath[str], after: Cursor = 0,
                   limit: Annotated[int, Parameter(ge=1, le=FEED_LIMIT)] = 500) -> Feed:
        """Rows of the mirror changed or deleted after sequence number `after`, in order; deletes come as
        tombstones (`deleted: true`). Start with `after=0` and keep `next_after`."""
        try:
            settings = engine.environment(environment)
        except Refused as refused:
            raise as_http_error(refused) from None
        if administration not in {item.code for item in settings.administrations}:
            raise NotFoundException(f"environment {environment!r} has no administration {administration!r}")
        known = engine.entities_of(settings)
        if entity not in known:
            raise HTTPException(status_code=400, detail=f"unknown entity {entity!r}; known: {', '.join(known)}")
        rows, (synced, error) = await store.read(lambda db: (
            storage.feed_rows(db, environment, administration, entity, after, limit + 1),
            storage.sync_standing(db, environment, administration, entity)))
        page = rows[:limit]
        return Feed(rows=[FeedRow(row["key"], row["seq"], row["deleted_at"] is not None,
                                  storage.moment(row["deleted_at"]), json.loads(row["content"])) for row in page],
                    next_after=page[-1]["seq"] if page else after, more=len(rows) > limit,
                    synced_at=storage.moment(synced), last_error=error)


SYNC_HANDLERS = [SyncTaskController, SyncFeedController]
