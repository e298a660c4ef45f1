"""The invoice product's API (`client` role) and the operators' kill switches, replay and misroute report.

POST /api/v1/actions hands in an invoice action under an idempotency key: the same key and request
again answer 200 with the same action, never a second one; the same key with another request is 409.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlite_utils import Database

from integrations.budget import CallClass, Window, reserve
from integrations.registry import LimitWindow
from statuspage.actions import outbox, replay
from statuspage.actions.connections import Links, LinksDep
from statuspage.actions.dispatcher import Dispatcher, DispatcherDep
from statuspage.actions.outbox import Action, action_document
from statuspage.actions.replay import Replay
from statuspage.actions.switches import PublicNotice, closed_scopes, connection_scope, names_of, switch
from statuspage.core import storage
from statuspage.core.addresses import masked
from statuspage.core.auth import Identity, Role
from statuspage.core.clock import Clock
from statuspage.core.operation import Refused
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import ActionState
from statuspage.web.api_support import Cursor, Performer, PerformerDep, RowId, as_http_error
from statuspage.web.dependencies import ClockDep, SettingsDep, StoreDep
from statuspage.web.security import requires


class ActionPage(msgspec.Struct):
    actions: list[Action]
    next_after_id: int | None  # pass as after_id for the next page; null on the last page


class Transition(msgspec.Struct):
    at: str
    from_state: str | None
    to_state: str
    cause: str


class CallbackSet(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]


class CallbackCreated(msgspec.Struct):
    url: str
    secret: str  # signs every callback, as webhooks are signed; shown once


class ActionCallback(msgspec.Struct):
    """Where a client hears of its own actions' final states (`PUT /api/v1/actions/callback`): not a subscriber of
    the page. `url` masked for all but admins; deliveries waiting and given up, listed at
    `GET /api/v1/subscribers/{id}/deliveries`."""

    id: int
    client: str
    url: str
    created_at: str
    pending: int
    failed: int


Texts = dict[str, Annotated[str, msgspec.Meta(max_length=10_000)]]


class SwitchIncident(msgspec.Struct, forbid_unknown_fields=True):
    """What the public is told with the flip, per language ({"nl": ..., "en": ...}); `{}` takes the defaults.

    Off: an incident opens with `title` and `message` (default: the "bookings paused" template). On: `message`
    is posted to the incident opened with the switch (default: "the delayed actions are being booked"), and
    `resolved` resolves it when the replay has nothing left."""

    title: Texts | None = None
    message: Texts | None = None
    resolved: Texts | None = None


class SwitchSet(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    incident: SwitchIncident | None = None  # left out: the public page only shows the component's state


class Switch(msgspec.Struct):
    """The switch after the request. `changed` false: it already stood as asked, nothing moved, and `reason`,
    `changed_by` and `changed_at` are those of the flip in force (the first reason is kept); `detail` says so."""

    scope: str
    enabled: bool
    actions_moved: int
    replay_id: int | None
    incident_id: str | None = None  # the incident opened or updated with the flip
    changed: bool = True
    detail: str = ""
    reason: str | None = None
    changed_by: str | None = None
    changed_at: str | None = None


class Connection(msgspec.Struct):
    id: int
    environment: str
    integration: str
    user_name: str | None
    full_name: str | None
    connected_at: str | None
    enabled: bool
    # When the accounting system refused its credentials, and its words: a person must connect it again; its
    # actions wait, queued, until then.
    refused_at: str | None = None
    refused_reason: str | None = None


class Limits(msgspec.Struct):
    limit: int
    remaining: int
    resets_at: str


class Budget(msgspec.Struct):
    """One (integration, administration) budget: the limits last stated, what is left, calls per class today."""

    integration: str
    administration: str
    minutely: Limits | None  # null until the accounting system has stated it (or after its reset)
    daily: Limits | None
    daily_reserve: int | None  # calls of the long window (`window`) kept for the first class
    calls_today: dict[str, int]  # booking, rights, probe, sync
    window: str = "day"  # what `daily` spans: "day" (Exact Online), "hour" (Visma.net: its limits are per hour)
    classes: dict[str, str] = msgspec.field(default_factory=dict)  # per class, what it carries: booking -> "bookings"


class Misroute(msgspec.Struct):
    action_id: int
    environment: str
    administration_asked: str
    administration_booked: str
    entry_number: str | None
    amount: float | None
    at: str


def _own(request: Request, row: storage.Action | None, action_id: int) -> storage.Action:
    """A client sees its own actions only; staff see all."""
    identity: Identity = request.user
    if row is None or (identity.role is Role.CLIENT and row.client != identity.name):
        raise NotFoundException(f"no action {action_id}")
    return row


class ActionController(Controller):
    path = "/actions"
    tags = ["Invoice actions"]

    @post("/", guards=[requires(Role.CLIENT)])
    async def hand_in(
        self, request: Request, store: StoreDep, settings: SettingsDep, clock: ClockDep, dispatcher: DispatcherDep,
        links: LinksDep, data: JSONBody[outbox.ActionRequest],
    ) -> Response[Action]:
        kinds = links[data.integration].integration.action_kinds if data.integration in links.registry else None
        try:
            action_id, new = await store.write(
                lambda db: outbox.accept(db, settings, request.user.name, clock(), data, kinds=kinds))
        except Refused as refused:
            raise as_http_error(refused) from None
        if new:
            dispatcher.wake()
        row = await store.read(storage.action, action_id)
        assert row is not None, f"action {action_id} was just handed in"
        return Response(action_document(row), status_code=HTTP_201_CREATED if new else HTTP_200_OK)

    @get("/", guards=[requires(Role.CLIENT, Role.VIEWER)])
    async def list_actions(
        self, request: Request, store: StoreDep,
        # `state` is a name Litestar keeps for itself; the query parameter is still called state.
        action_state: Annotated[ActionState | None, QueryParameter(name="state")] = None,
        environment: FromQuery[str | None] = None, administration: FromQuery[str | None] = None,
        integration: FromQuery[str | None] = None, after_id: Cursor = 0, limit: FromQuery[int] = 100,
    ) -> ActionPage:
        if not 1 <= limit <= 1000:
            raise HTTPException(status_code=400, detail=f"limit must be between 1 and 1000; got {limit}")
        asked = {"state": action_state, "environment": environment, "administration": administration,
                 "integration": integration}
        if request.user.role is Role.CLIENT:
            asked["client"] = request.user.name
        filters = {name: value for name, value in asked.items() if value is not None}
        rows = await store.read(
            lambda db: storage.actions_page(db, filters=filters, after_id=after_id, limit=limit))
        return ActionPage([action_document(row) for row in rows], rows[-1].id if len(rows) == limit else None)

    @get("/{action_id:int}", guards=[requires(Role.CLIENT, Role.VIEWER)])
    async def get_action(self, request: Request, store: StoreDep, action_id: RowId) -> Action:
        return action_document(_own(request, await store.read(storage.action, action_id), action_id))

    @get("/{action_id:int}/transitions", guards=[requires(Role.CLIENT, Role.VIEWER)])
    async def transitions(self, request: Request, store: StoreDep, action_id: RowId) -> list[Transition]:
        _own(request, await store.read(storage.action, action_id), action_id)
        return [Transition(storage.iso(move.at), move.from_state, move.to_state, move.cause)
                for move in await store.read(storage.transitions_of, action_id)]

    @post("/{action_id:int}/cancel", guards=[requires(Role.OPERATOR)], status_code=HTTP_200_OK)
    async def cancel(self, performer: PerformerDep, store: StoreDep, action_id: RowId) -> Action:
        await performer.run(outbox.cancel, action_id)  # refused with a 404 when there is no such action
        row = await store.read(storage.action, action_id)
        assert row is not None, f"action {action_id} was just cancelled"
        return action_document(row)

    @get("/callbacks", guards=[requires(Role.VIEWER)])
    async def callbacks(self, request: Request, store: StoreDep) -> list[ActionCallback]:
        """Every client's action callback in force."""
        admin = request.user.role.allows(Role.ADMIN)
        return [ActionCallback(row["id"], row["client"], row["address"] if admin else masked(row["address"]),
                               row["created_at"], row["pending"], row["failed"])
                for row in await store.read(active_callbacks)]

    @put("/callback", guards=[requires(Role.CLIENT)])
    async def set_callback(
        self, request: Request, store: StoreDep, settings: SettingsDep, clock: ClockDep, data: JSONBody[CallbackSet]
    ) -> CallbackCreated:
        try:
            secret = await store.write(
                lambda db: outbox.set_callback(db, settings, request.user.name, clock(), data.url))
        except Refused as refused:
            raise as_http_error(refused) from None
        return CallbackCreated(data.url, secret)


class SwitchController(Controller):
    path = "/"
    tags = ["Kill switches and replay"]

    @put("/integrations/{integration:str}/switch", guards=[requires(Role.OPERATOR)])
    async def switch_integration(
        self, performer: PerformerDep, dispatcher: DispatcherDep, links: LinksDep, integration: FromPath[str],
        data: JSONBody[SwitchSet],
    ) -> Switch:
        return await _switch(performer, dispatcher, links, integration, None, data)

    @put("/connections/{connection_id:int}/switch", guards=[requires(Role.OPERATOR)])
    async def switch_connection(
        self, performer: PerformerDep, dispatcher: DispatcherDep, links: LinksDep, store: StoreDep,
        connection_id: RowId, data: JSONBody[SwitchSet],
    ) -> Switch:
        row = await _connection(store, connection_id)
        return await _switch(performer, dispatcher, links, row.integration, row.environment, data)

    @get("/connections", guards=[requires(Role.VIEWER)])
    async def connections(self, store: StoreDep) -> list[Connection]:
        def read(db: Database) -> tuple[list[storage.Connection], list[str]]:
            return storage.connections(db), closed_scopes(db)

        rows, closed = await store.read(read)
        return [Connection(row.id, row.environment, row.integration, row.user_name, row.full_name,
                           storage.iso(row.connected_at), connection_scope(row.environment, row.integration) not in closed,
                           storage.iso(row.refused_at), row.refused_reason)
                for row in rows]

    @get("/integrations/{integration:str}/replay", guards=[requires(Role.VIEWER)])
    async def replay(
        self, store: StoreDep, settings: SettingsDep, clock: ClockDep, links: LinksDep, integration: FromPath[str]
    ) -> Replay:
        return await replay_state(store, settings, clock, links, integration)

    @get("/connections/{connection_id:int}/replay", guards=[requires(Role.VIEWER)])
    async def connection_replay(
        self, store: StoreDep, settings: SettingsDep, clock: ClockDep, links: LinksDep, connection_id: RowId
    ) -> Replay:
        row = await _connection(store, connection_id)
        return await replay_state(store, settings, clock, links, row.integration, row.environment)

    @get("/misroutes", guards=[requires(Role.VIEWER)])
    async def misroutes(self, store: StoreDep) -> list[Misroute]:
        return [misroute_document(row) for row in await store.read(storage.misroute_rows)]

    @get("/misroutes.csv", guards=[requires(Role.VIEWER)], media_type="text/csv")
    async def misroutes_csv(self, store: StoreDep) -> Response[str]:
        return Response(misroute_csv(await store.read(storage.misroute_rows)), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="misroutes.csv"'})


MISROUTE_COLUMNS = ["environment", "administration_asked", "administration_booked", "entry_number", "amount", "at",
                    "action_id"]


def misroute_document(row: storage.Misrouted) -> Misroute:
    return Misroute(row.action_id, row.environment, row.administration_asked, row.administration_booked,
                    row.entry_number, row.amount, storage.iso(row.at))


def misroute_csv(rows: list[storage.Misrouted]) -> str:
    """What support needs to repair the books, one booking a line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MISROUTE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(msgspec.to_builtins(misroute_document(row)) for row in rows)
    return out.getvalue()


def active_callbacks(db: Database) -> list[storage.Row]:
    """The clients' action callbacks in force (a replaced one is kept, unsubscribed, for its deliveries)."""
    return [row for row in storage.list_subscribers(db, callbacks=True) if row["unsubscribed_at"] is None]


async def _connection(store: Store, connection_id: int) -> storage.Connection:
    rows = await store.read(storage.connections)
    row = next((row for row in rows if row.id == connection_id), None)
    if row is None:
        raise NotFoundException(f"no connection {connection_id}; GET /api/v1/connections lists them")
    return row


async def _switch(
    performer: Performer, dispatcher: Dispatcher, links: Links, integration: str, environment: str | None,
    data: SwitchSet,
) -> Switch:
    notice = None if data.incident is None else PublicNotice(
        data.incident.title or {}, data.incident.message or {}, data.incident.resolved or {})
    change = await performer.run(switch, integration=integration, environment=environment,
                                 enabled=data.enabled, reason=data.reason, notice=notice,
                                 names=integration_names(links, integration))
    if change.enabled:
        dispatcher.wake()
    return Switch(change.scope, change.enabled, change.moved, change.replay_id, change.incident_id, change.changed,
                  change.describe(), change.reason, change.changed_by, change.changed_at)


def integration_names(links: Links, integration: str) -> dict[str, str] | None:
    """The integration's name per language, for a switch's notice; None for one not installed (the switch refuses
    it, naming the key)."""
    return names_of(links[integration].integration) if integration in links.registry else None


async def replay_state(
    store: Store, settings: Settings, clock: Clock, links: Links, integration: str, environment: str | None = None
) -> Replay:
    """The replay of an integration, or of one environment's connection, as `replay.replay_state` reads it."""
    if integration not in settings.integrations:
        raise NotFoundException(f"unknown integration {integration!r}")
    budget = links.budget
    hourly = integration in links.registry and links.registry.get(integration).limit_window is LimitWindow.HOUR

    def calls_a_minute(administration: str) -> float | None:
        """The pace the stated limits allow: Visma.net's hour (the budget's long window) spread over its minutes."""
        if not hourly:
            return budget.minutely_limit(integration, administration)
        known = budget.known().get((integration, administration))
        return known.daily.limit / 60 if known is not None and known.daily is not None else None

    return await store.read(replay.replay_state, integration, environment, clock(), calls_a_minute,
                            "hour" if hourly else "minute")


# ---------------------------------------------------------------------------------------------
# Call budgets


async def budgets_now(links: Links, store: Store, clock: Clock) -> list[Budget]:
    """Every administration's budget: limits as last stated (by any process), calls per class today (summed
    over every process), for the API and the console alike."""
    await links.keep_budgets()  # this process's latest first
    now = clock()
    rows = await store.read(storage.budget_rows, now.date())
    fraction = links.budget.reserve_fraction

    def limits(window: Window | None) -> Limits | None:
        if window is None or window.reset_at <= now:
            return None  # not stated yet, or reset since: the next answer states it anew
        return Limits(window.limit, window.remaining, storage.iso(window.reset_at))

    def described(key: str) -> tuple[str, dict[str, str]]:
        """The integration's long window and what each class carries for it (defaults for one no longer installed)."""
        found = links.registry.get(key) if key in links.registry else None
        window = found.limit_window.value if found is not None else LimitWindow.DAY.value
        first = found.first_class_name if found is not None else CLASS_NAMES[CallClass.BOOKING]
        return window, {cls.label: first if cls is CallClass.BOOKING else CLASS_NAMES[cls] for cls in CallClass}

    return [Budget(row.integration, row.administration, limits(row.minutely), limits(row.daily),
                   reserve(row.daily.limit, fraction) if row.daily is not None else None,
                   {cls.label: row.calls.get(cls.label, 0) for cls in CallClass}, *described(row.integration))
            for row in rows]


CLASS_NAMES = {CallClass.BOOKING: "bookings", CallClass.RIGHTS: "rights checks", CallClass.PROBE: "probes",
               CallClass.SYNC: "sync"}
"""What each class of the call budget carries, as the console names it (the first: `Integration.first_class_name`)."""


class BudgetController(Controller):
    path = "/budgets"
    tags = ["Call budgets"]

    @get("/", guards=[requires(Role.VIEWER)])
    async def budgets(self, links: LinksDep, store: StoreDep, clock: ClockDep) -> list[Budget]:
        """Per (integration, administration): the limits the accounting system last stated, what is left, and
        the calls each class (booking, rights, probe, sync) made today."""
        return await budgets_now(links, store, clock)
