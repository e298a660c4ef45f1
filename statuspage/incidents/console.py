"""The console's pages for incidents, maintenance, component overrides, subscribers and the audit log."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from statuspage.core import storage
from statuspage.core.addresses import masked, masked_in
from statuspage.core.auth import Role
from statuspage.core.operation import Refused
from statuspage.core.settings import LANGUAGES
from statuspage.core.vocabulary import IncidentStatus, MaintenanceStatus
from statuspage.incidents import operations
from statuspage.incidents.inputs import (
    IncidentCreate,
    MaintenanceCreate,
    OverrideSet,
    UpdateCreate,
    UpdateEdit,
    WebhookCreate,
)
from statuspage.web.api_support import perform
from statuspage.web.console import components_from, form_of, local_moment, parse, render, required
from statuspage.web.security import requires

INCIDENT_STATES = [status.value for status in IncidentStatus if status is not IncidentStatus.POSTMORTEM]
MAINTENANCE_STATES = [status.value for status in MaintenanceStatus]
IMPACTS = ["none", "minor", "major", "critical"]


class IncidentConsole(Controller):
    path = "/console"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]

    @get("/")
    async def dashboard(self, request: Request, error: FromQuery[str | None] = None) -> Template:
        state = request.app.state
        snapshot = await state.pages.snapshot()
        overrides = {row["component_id"]: row for row in await state.store.read(storage.override_rows)}
        drafts = await state.store.read(storage.draft_incidents)
        return render(request, "incidents/dashboard.html", snapshot=snapshot, overrides=overrides, error=error, drafts=drafts,
                      leaves=[c for c in snapshot.components if not c.is_group])

    @get("/incidents/new")
    async def new_incident(
        self, request: Request, template: FromQuery[str | None] = None, component: FromQuery[str | None] = None
    ) -> Template:
        values: dict[str, str] = {}
        error = None
        if template:
            settings = request.app.state.settings
            try:
                draft = operations.bilingual_draft(settings, template, component or None, {})
            except Refused as refused:
                error = str(refused)
            else:
                # The page's language in the main fields, the template's other language (if any) beside it.
                first = settings.page.language if settings.page.language in draft.names else next(iter(draft.names))
                other = next((language for language in draft.names if language != first), None)
                values = {"language": first, "name": draft.names[first], "message": draft.messages[first],
                          "status": draft.status, "impact": draft.impact}
                if other:
                    values |= {"name_other": draft.names[other], "message_other": draft.messages[other]}
                values |= {f"component.{key}": state for key, state in draft.components.items()}
        return render(request, "incidents/incident_form.html", values=values, states=INCIDENT_STATES, impacts=IMPACTS,
                      error=error, incident_templates=request.app.state.settings.incident_templates,
                      chosen=(template, component))

    @post("/incidents", guards=[requires(Role.OPERATOR)])
    async def open_incident(self, request: Request) -> Response | Template:
        form = await form_of(request)
        try:
            name, names = in_two_languages(request, form, "name")
            message, messages = in_two_languages(request, form, "message")
            data = parse({"name": name, "message": message, "status": form.get("status") or "investigating",
                          "impact": form.get("impact") or "minor", "components": components_from(form),
                          "names": names, "messages": messages}, IncidentCreate)
            incident_id = await perform(
                request, operations.open_incident, name=data.name, status=data.status, impact=data.impact,
                message=data.message, components=data.components, names=data.names, messages=data.messages,
            )
        except Refused as refused:
            return render(request, "incidents/incident_form.html", status_code=400, error=str(refused), values=form,
                          states=INCIDENT_STATES, impacts=IMPACTS, chosen=(None, None),
                          incident_templates=request.app.state.settings.incident_templates)
        return Redirect(f"/console/incidents/{incident_id}")

    @get("/incidents/{incident_id:str}")
    async def incident(self, request: Request, incident_id: FromPath[str]) -> Template:
        return await _incident_page(request, incident_id)

    @post("/incidents/{incident_id:str}/updates", guards=[requires(Role.OPERATOR)])
    async def post_update(self, request: Request, incident_id: FromPath[str]) -> Response | Template:
        form = await form_of(request)
        try:
            message, messages = in_two_languages(request, form, "message")
            data = parse({"status": form.get("status", ""), "message": message, "components": components_from(form),
                          "messages": messages}, UpdateCreate)
            await perform(request, operations.post_update, incident_id, status=data.status, message=data.message,
                          components=data.components, messages=data.messages)
        except Refused as refused:
            return await _incident_page(request, incident_id, error=str(refused), status_code=400)
        return Redirect(f"/console/incidents/{incident_id}")

    @post("/incidents/{incident_id:str}/updates/{update_id:str}/edit", guards=[requires(Role.OPERATOR)])
    async def edit_update(self, request: Request, incident_id: FromPath[str], update_id: FromPath[str]) -> Response | Template:
        form = await form_of(request)
        try:
            data = parse({"message": form.get("message", "")}, UpdateEdit)
            await perform(request, operations.edit_update, incident_id, update_id, message=data.message)
        except Refused as refused:
            return await _incident_page(request, incident_id, error=str(refused), status_code=400)
        return Redirect(f"/console/incidents/{incident_id}")

    @post("/incidents/{incident_id:str}/updates/{update_id:str}/delete", guards=[requires(Role.OPERATOR)])
    async def delete_update(self, request: Request, incident_id: FromPath[str], update_id: FromPath[str]) -> Response | Template:
        try:
            await perform(request, operations.delete_update, incident_id, update_id)
        except Refused as refused:
            return await _incident_page(request, incident_id, error=str(refused), status_code=400)
        return Redirect(f"/console/incidents/{incident_id}")

    @post("/incidents/{incident_id:str}/publish", guards=[requires(Role.OPERATOR)])
    async def publish(self, request: Request, incident_id: FromPath[str]) -> Response:
        try:
            await perform(request, operations.publish_draft, incident_id)
        except Refused as refused:
            return Redirect(f"/console?error={quote(str(refused))}")
        return Redirect(f"/console/incidents/{incident_id}")

    @get("/maintenances/new")
    async def new_maintenance(self, request: Request) -> Template:
        return render(request, "incidents/maintenance_form.html", values={})

    @post("/maintenances", guards=[requires(Role.OPERATOR)])
    async def schedule_maintenance(self, request: Request) -> Response | Template:
        form = await form_of(request)
        try:
            data = parse({"name": form.get("name", ""), "message": form.get("message", ""),
                          "starts": local_moment(request, form.get("starts", ""), "starts", form.get("starts_fold")),
                          "ends": local_moment(request, form.get("ends", ""), "ends", form.get("ends_fold")),
                          "components": [key for key, value in components_from(form).items() if value == "on"]},
                         MaintenanceCreate)
            maintenance_id = await perform(
                request, operations.schedule_maintenance, name=data.name, message=data.message, starts=data.starts,
                ends=data.ends, components=data.components,
            )
        except Refused as refused:
            return render(request, "incidents/maintenance_form.html", status_code=400, error=str(refused), values=form)
        return Redirect(f"/console/incidents/{maintenance_id}")

    @post("/components/{component:str}/override", guards=[requires(Role.OPERATOR)])
    async def set_override(self, request: Request, component: FromPath[str]) -> Response:
        form = await form_of(request)
        try:
            if form.get("status") == "clear":
                await perform(request, operations.clear_override, component)
            else:
                expires = form.get("expires_at")
                data = parse({"status": form.get("status", ""), "reason": form.get("reason", ""),
                              "expires_at": local_moment(request, expires, "expires_at", form.get("expires_at_fold"))
                              if expires else None},
                             OverrideSet)
                await perform(request, operations.set_override, component, status=data.status, reason=data.reason,
                              expires_at=data.expires_at)
        except Refused as refused:
            return Redirect(f"/console?error={quote(str(refused))}")
        return Redirect("/console")

    @get("/subscribers")
    async def subscribers(self, request: Request, error: FromQuery[str | None] = None) -> Template:
        return await _subscribers_page(request, error=error)

    @post("/subscribers", guards=[requires(Role.OPERATOR)])
    async def add_webhook(self, request: Request) -> Response | Template:
        form = await form_of(request)
        components = [key for key, value in components_from(form).items() if value == "on"] or None
        try:
            data = parse({"url": form.get("url", ""), "components": components}, WebhookCreate)
            _, secret = await perform(request, operations.add_webhook, data.url, data.components)
        except Refused as refused:
            return Redirect(f"/console/subscribers?error={quote(str(refused))}")
        return await _subscribers_page(request, new_secret=secret)

    @post("/subscribers/{subscriber_id:int}/remove", guards=[requires(Role.OPERATOR)])
    async def remove_subscriber(self, request: Request, subscriber_id: FromPath[int]) -> Response:
        """Stop a subscriber's deliveries (the row and its deliveries stay, for the audit trail)."""
        try:
            await perform(request, operations.remove_subscriber, subscriber_id)
        except Refused as refused:
            return Redirect(f"/console/subscribers?error={quote(str(refused))}")
        return Redirect("/console/subscribers")

    @get("/audit")
    async def audit(self, request: Request) -> Template:
        entries = await request.app.state.store.read(lambda db: storage.audit_entries(db, limit=200))
        if not request.user.role.allows(Role.ADMIN):  # credentials in URLs are for admins' eyes only
            entries = [{**row, "before": masked_in(row["before"]), "after": masked_in(row["after"])} for row in entries]
        return render(request, "incidents/audit.html", entries=entries)


def in_two_languages(request: Request, form: dict[str, str], field: str) -> tuple[str, dict[str, str]]:
    """A form's text in the language it says it is written in (`language`), and optionally in the other
    (`<field>_other`): ("Bookings paused", {"en": "Bookings paused", "nl": "Boekingen gepauzeerd"})."""
    text = required(form, field)
    language = form.get("language") or request.app.state.settings.page.language
    if language not in LANGUAGES:
        raise Refused(f"language must be one of {', '.join(LANGUAGES)}")
    other = next(code for code in LANGUAGES if code != language)
    texts = {language: text} | ({other: form[f"{field}_other"]} if form.get(f"{field}_other") else {})
    return text, texts


async def _subscribers_page(request: Request, *, error: str | None = None, new_secret: str | None = None) -> Template:
    def read(db) -> tuple[list, dict]:
        subscribers = storage.list_subscribers(db)
        if not request.user.role.allows(Role.ADMIN):  # credentials in URLs are for admins' eyes only
            subscribers = [{**row, "address": masked(row["address"])} for row in subscribers]
        return subscribers, {row["id"]: storage.deliveries_of(db, row["id"], 20) for row in subscribers}

    subscribers, deliveries = await request.app.state.store.read(read)
    return render(request, "incidents/subscribers.html", subscribers=subscribers, deliveries=deliveries, error=error,
                  new_secret=new_secret)


async def _incident_page(request: Request, incident_id: str, **extra: Any) -> Template:
    snapshot = await request.app.state.pages.snapshot()
    item = next((item for item in snapshot.incidents + snapshot.maintenances if item.id == incident_id), None)
    if item is None:
        raise NotFoundException(f"no incident or maintenance with id {incident_id!r} among the recent ones")
    states = MAINTENANCE_STATES if item.kind == "maintenance" else INCIDENT_STATES
    return render(request, "incidents/incident.html", item=item, states=states, **extra)
