"""The operators' JSON API under /api/v1: incidents, maintenance, component overrides, audit log, tokens.

Controllers stay thin: they parse the request into a Struct, hand it to `operations` inside one
write transaction, and answer with the shapes of the public API v2 where one exists. Every route
needs `Authorization: Bearer <token>`; reading needs the viewer role, changing the operator role,
managing tokens the admin role.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from statuspage.core import storage
from statuspage.core.addresses import masked, masked_in
from statuspage.core.auth import TOKEN_NAME_MAX, TOKEN_NAME_RULE, Identity, Role, new_token
from statuspage.core.limits import Value
from statuspage.core.operation import Refused
from statuspage.core.vocabulary import ComponentStatus, Impact, IncidentStatus
from statuspage.incidents import operations
from statuspage.incidents.inputs import IncidentCreate, MaintenanceCreate, OverrideSet, UpdateCreate, UpdateEdit, WebhookCreate
from statuspage.page import api_v2
from statuspage.page.public import PagesDep, PublicPages
from statuspage.page.snapshot import incident_views
from statuspage.web.api_support import OptionalCursor, PerformerDep, RowId, as_http_error
from statuspage.web.dependencies import SettingsDep, StoreDep
from statuspage.web.security import requires


class IncidentFromTemplate(msgspec.Struct, forbid_unknown_fields=True):
    template: str
    component: str | None = None
    values: dict[Value, Value] = {}
    language: Literal["nl", "en"] | None = None


class IncidentTemplate(msgspec.Struct):
    key: str
    name: str
    status: IncidentStatus
    impact: Impact
    component_status: ComponentStatus
    title: str | dict[str, str]
    message: str | dict[str, str]


class Draft(msgspec.Struct):
    id: str
    name: str
    created_at: str


class Override(msgspec.Struct):
    component: str
    status: ComponentStatus
    reason: str
    set_by: str
    set_at: str
    expires_at: str | None


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=TOKEN_NAME_MAX, description=TOKEN_NAME_RULE)]
    role: Literal["viewer", "operator", "admin", "client"]


class TokenCreated(msgspec.Struct):
    id: int
    name: str
    role: str
    token: str  # shown once, never again


class TokenInfo(msgspec.Struct):
    id: int
    name: str
    role: str
    created_at: str
    revoked_at: str | None


class AuditEntry(msgspec.Struct):
    id: int
    at: str
    actor: str
    action: str
    subject_type: str
    subject_id: str
    before: Any
    after: Any


class WebhookCreated(msgspec.Struct):
    id: int
    url: str
    components: list[str] | None
    secret: str  # signs every delivery; shown once, never again


class SubscriberInfo(msgspec.Struct):
    id: int
    kind: str
    address: str
    components: list[str] | None
    created_at: str
    confirmed_at: str | None
    unsubscribed_at: str | None
    pending: int
    failed: int


class DeliveryInfo(msgspec.Struct):
    id: int
    event: str
    state: str
    attempts: int
    next_attempt_at: str
    last_status: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None


class Me(msgspec.Struct):
    name: str
    role: str


def _sees_credentials(request: Request) -> bool:
    """Only admins see credentials in webhook URLs (user:password@, tokens in the query); others see them masked."""
    identity: Identity = request.user
    return identity.role.allows(Role.ADMIN)


async def incident_document(pages: PublicPages, incident_id: str) -> api_v2.Incident | api_v2.ScheduledMaintenance:
    snapshot = await pages.snapshot()
    found = api_v2.find(snapshot, incident_id)
    if found is None:
        raise NotFoundException(f"no incident or maintenance with id {incident_id!r} among the recent ones")
    return found


async def _opened(pages: PublicPages, incident_id: str) -> api_v2.Incident:
    """The incident just written, as the v2 API shows it (an incident, never a maintenance)."""
    document = await incident_document(pages, incident_id)
    assert isinstance(document, api_v2.Incident), f"{incident_id} is a maintenance, not an incident"
    return document


async def _scheduled(pages: PublicPages, maintenance_id: str) -> api_v2.ScheduledMaintenance:
    """The maintenance just written, as the v2 API shows it."""
    document = await incident_document(pages, maintenance_id)
    assert isinstance(document, api_v2.ScheduledMaintenance), f"{maintenance_id} is an incident, not a maintenance"
    return document


class IncidentController(Controller):
    path = "/incidents"
    tags = ["Operator API: incidents and maintenance"]

    @get("/", guards=[requires(Role.VIEWER)])
    async def list_incidents(self, pages: PagesDep) -> api_v2.IncidentsDocument:
        return api_v2.incidents(await pages.snapshot())

    @get("/{incident_id:str}", guards=[requires(Role.VIEWER)])
    async def get_incident(
        self, pages: PagesDep, store: StoreDep, incident_id: FromPath[str]
    ) -> api_v2.Incident | api_v2.ScheduledMaintenance:
        """Any incident or maintenance by its id: a draft the service wrote, or one too old for the page, too."""
        snapshot = await pages.snapshot()
        found = api_v2.find(snapshot, incident_id)
        if found is not None:
            return found
        views = incident_views(await store.read(storage.read_incident_rows, incident_id), snapshot.now)
        if not views:
            raise NotFoundException(f"no incident or maintenance with id {incident_id!r}")
        return api_v2.document_of(snapshot, views[0])

    @post("/", guards=[requires(Role.OPERATOR)], status_code=HTTP_201_CREATED)
    async def open_incident(
        self, performer: PerformerDep, pages: PagesDep, data: JSONBody[IncidentCreate]
    ) -> api_v2.Incident:
        incident_id = await performer.run(
            operations.open_incident, name=data.name, status=data.status, impact=data.impact,
            message=data.message, components=data.components, names=data.names, messages=data.messages,
        )
        return await _opened(pages, incident_id)

    @post("/from-template", guards=[requires(Role.OPERATOR)], status_code=HTTP_201_CREATED)
    async def open_from_template(
        self, performer: PerformerDep, pages: PagesDep, settings: SettingsDep, data: JSONBody[IncidentFromTemplate]
    ) -> api_v2.Incident:
        try:
            draft = operations.draft_from_template(settings, data.template, data.component, data.values,
                                                   data.language)
        except Refused as refused:
            raise as_http_error(refused) from None
        # The template's text is in the language asked for, which need not be the page's.
        incident_id = await performer.run(operations.open_incident, name="", names={draft.language: draft.name},
                                          status=draft.status, impact=draft.impact, message="",
                                          messages={draft.language: draft.message}, components=draft.components)
        return await _opened(pages, incident_id)

    @get("/drafts", guards=[requires(Role.VIEWER)])
    async def drafts(self, store: StoreDep) -> list[Draft]:
        rows = await store.read(storage.draft_incidents)
        return [Draft(row["id"], row["name"], row["created_at"]) for row in rows]

    @post("/{incident_id:str}/publish", guards=[requires(Role.OPERATOR)], status_code=HTTP_200_OK)
    async def publish(self, performer: PerformerDep, pages: PagesDep, incident_id: FromPath[str]) -> api_v2.Incident:
        await performer.run(operations.publish_draft, incident_id)
        return await _opened(pages, incident_id)

    @post("/{incident_id:str}/updates", guards=[requires(Role.OPERATOR)], status_code=HTTP_201_CREATED)
    async def post_update(
        self, performer: PerformerDep, pages: PagesDep, incident_id: FromPath[str], data: JSONBody[UpdateCreate]
    ) -> api_v2.Incident | api_v2.ScheduledMaintenance:
        await performer.run(operations.post_update, incident_id, status=data.status, message=data.message,
                            components=data.components, messages=data.messages)
        return await incident_document(pages, incident_id)

    @patch("/{incident_id:str}/updates/{update_id:str}", guards=[requires(Role.OPERATOR)])
    async def edit_update(
        self, performer: PerformerDep, pages: PagesDep, incident_id: FromPath[str], update_id: FromPath[str],
        data: JSONBody[UpdateEdit],
    ) -> api_v2.Incident | api_v2.ScheduledMaintenance:
        await performer.run(operations.edit_update, incident_id, update_id, message=data.message,
                            messages=data.messages)
        return await incident_document(pages, incident_id)

    @delete("/{incident_id:str}/updates/{update_id:str}", guards=[requires(Role.OPERATOR)],
            status_code=HTTP_204_NO_CONTENT)
    async def delete_update(self, performer: PerformerDep, incident_id: FromPath[str], update_id: FromPath[str]) -> None:
        await performer.run(operations.delete_update, incident_id, update_id)


class MaintenanceController(Controller):
    path = "/maintenances"
    tags = ["Operator API: incidents and maintenance"]

    @post("/", guards=[requires(Role.OPERATOR)], status_code=HTTP_201_CREATED)
    async def schedule(
        self, performer: PerformerDep, pages: PagesDep, data: JSONBody[MaintenanceCreate]
    ) -> api_v2.ScheduledMaintenance:
        maintenance_id = await performer.run(
            operations.schedule_maintenance, name=data.name, message=data.message, names=data.names,
            messages=data.messages, starts=data.starts, ends=data.ends, components=data.components,
        )
        return await _scheduled(pages, maintenance_id)


class ComponentController(Controller):
    path = "/components"
    tags = ["Operator API: components"]

    @get("/", guards=[requires(Role.VIEWER)])
    async def list_components(self, pages: PagesDep) -> api_v2.ComponentsDocument:
        return api_v2.components(await pages.snapshot())

    @get("/overrides", guards=[requires(Role.VIEWER)])
    async def list_overrides(self, store: StoreDep) -> list[Override]:
        rows = await store.read(storage.override_rows)
        return [Override(row["component_id"], ComponentStatus(row["status"]), row["reason"], row["set_by"], row["set_at"],
                         row["expires_at"]) for row in rows]

    @put("/{component:str}/override", guards=[requires(Role.OPERATOR)])
    async def set_override(
        self, performer: PerformerDep, pages: PagesDep, component: FromPath[str], data: JSONBody[OverrideSet]
    ) -> api_v2.ComponentsDocument:
        await performer.run(operations.set_override, component, status=data.status, reason=data.reason,
                            expires_at=data.expires_at)
        return api_v2.components(await pages.snapshot())

    @delete("/{component:str}/override", guards=[requires(Role.OPERATOR)], status_code=HTTP_204_NO_CONTENT)
    async def clear_override(self, performer: PerformerDep, component: FromPath[str]) -> None:
        await performer.run(operations.clear_override, component)


class AuditController(Controller):
    path = "/audit"
    tags = ["Operator API: audit log"]

    @get("/", guards=[requires(Role.VIEWER)])
    async def list_entries(
        self, request: Request, store: StoreDep, before_id: OptionalCursor = None, limit: FromQuery[int] = 100
    ) -> list[AuditEntry]:
        if not 1 <= limit <= 500:
            raise HTTPException(status_code=400, detail=f"limit must be between 1 and 500; got {limit}")
        rows = await store.read(lambda db: storage.audit_entries(db, before_id=before_id, limit=limit))
        if not _sees_credentials(request):
            rows = [{**row, "before": masked_in(row["before"]), "after": masked_in(row["after"])} for row in rows]
        return [msgspec.convert(row, AuditEntry) for row in rows]


class TokenController(Controller):
    path = "/tokens"
    tags = ["Operator API: tokens"]
    guards = [requires(Role.ADMIN)]

    @get("/")
    async def list_tokens(self, store: StoreDep) -> list[TokenInfo]:
        return [msgspec.convert(row, TokenInfo) for row in await store.read(storage.list_tokens)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_token(self, performer: PerformerDep, data: JSONBody[TokenCreate]) -> TokenCreated:
        token = new_token()
        token_id = await performer.run(operations.create_token, data.name, data.role, token)
        return TokenCreated(token_id, data.name, data.role, token)

    @delete("/{token_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def revoke(self, performer: PerformerDep, token_id: RowId) -> None:
        await performer.run(operations.revoke_token, token_id)


class SubscriberController(Controller):
    path = "/subscribers"
    tags = ["Operator API: subscribers"]

    @get("/", guards=[requires(Role.VIEWER)])
    async def list_subscribers(self, request: Request, store: StoreDep) -> list[SubscriberInfo]:
        rows = await store.read(storage.list_subscribers)
        if not _sees_credentials(request):
            rows = [{**row, "address": masked(row["address"])} for row in rows]
        return [msgspec.convert(row, SubscriberInfo) for row in rows]

    @post("/", guards=[requires(Role.OPERATOR)], status_code=HTTP_201_CREATED)
    async def add_webhook(self, performer: PerformerDep, data: JSONBody[WebhookCreate]) -> WebhookCreated:
        subscriber_id, secret = await performer.run(operations.add_webhook, data.url, data.components)
        return WebhookCreated(subscriber_id, data.url, data.components, secret)

    @delete("/{subscriber_id:int}", guards=[requires(Role.OPERATOR)], status_code=HTTP_204_NO_CONTENT)
    async def remove(self, performer: PerformerDep, subscriber_id: RowId) -> None:
        await performer.run(operations.remove_subscriber, subscriber_id)

    @get("/{subscriber_id:int}/deliveries", guards=[requires(Role.VIEWER)])
    async def deliveries(self, store: StoreDep, subscriber_id: RowId) -> list[DeliveryInfo]:
        rows = await store.read(storage.deliveries_of, subscriber_id)
        return [msgspec.convert(row, DeliveryInfo) for row in rows]


@get("/incident-templates", guards=[requires(Role.VIEWER)], tags=["Operator API: incidents and maintenance"])
async def incident_templates(settings: SettingsDep) -> list[IncidentTemplate]:
    return [msgspec.convert(msgspec.to_builtins(template), IncidentTemplate)
            for template in settings.incident_templates]


@get("/me", tags=["Operator API: tokens"])
async def whoami(request: Request) -> Me:
    identity: Identity = request.user
    return Me(identity.name, identity.role.value)


INCIDENT_HANDLERS: list[ControllerRouterHandler] = [
    IncidentController, MaintenanceController, ComponentController, AuditController, TokenController,
    SubscriberController, incident_templates, whoami,
]
"""The operators' routes of this area, mounted under /api/v1 by the app beside the other areas' routes."""
