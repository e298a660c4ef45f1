"""The console's pages for incidents, maintenance, component overrides, subscribers and the audit log."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from statuspage.core import storage
from statuspage.core.addresses import masked, masked_in
from statuspage.core.auth import Role
from statuspage.core.operation import Refused
from statuspage.core.settings import LANGUAGES, Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import IncidentStatus, MaintenanceStatus
from statuspage.incidents import operations
from statuspage.incidents.inputs import IncidentCreate, MaintenanceCreate, OverrideSet, UpdateCreate, UpdateEdit, WebhookCreate
from statuspage.page.public import PagesDep, PublicPages
from statuspage.web.api_support import PerformerDep
from statuspage.web.console import Answer, Console, ConsoleDep, components_from, form_of, parse, required
from statuspage.web.dependencies import SettingsDep, StoreDep
from statuspage.web.security import requires

INCIDENT_STATES = [status.value for status in IncidentStatus if status is not IncidentStatus.POSTMORTEM]
MAINTENANCE_STATES = [status.value for status in MaintenanceStatus]
IMPACTS = ["none", "minor", "major", "critical"]


class IncidentConsole(Controller):
    path = "/console"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]

    @get("/")
    async def dashboard(
        self, console: ConsoleDep, store: StoreDep, pages: PagesDep
    ) -> Template:
        snapshot = await pages.snapshot()
        overrides = {row["component_id"]: row for row in await store.read(storage.override_rows)}
        drafts = await store.read(storage.draft_incidents)
        return console.render("incidents/dashboard.html", snapshot=snapshot, overrides=overrides,
                              drafts=drafts, leaves=[c for c in snapshot.components if not c.is_group])

    @get("/incidents/new")
    async def new_incident(
        self, console: ConsoleDep, settings: SettingsDep, template: FromQuery[str | None] = None,
        component: FromQuery[str | None] = None,
    ) -> Response | Template:
        # The templates speak of an integration ("Bookings to {component} are paused"): unless the link names a
        # component (or none, `component=`), the first integration's, not the page's first (Website availability).
        if component is None:
            component = next((c.key for c in settings.components if c.key in settings.integrations), None)
        form = functools.partial(console.render, "incidents/incident_form.html", states=INCIDENT_STATES,
                                 impacts=IMPACTS, incident_templates=settings.incident_templates,
                                 chosen=(template, component))

        async def prefill() -> Answer:
            values: dict[str, str] = {}
            if template:
                draft = operations.bilingual_draft(settings, template, component or None, {})
                # The page's language in the main fields, the template's other language (if any) beside it.
                first = settings.page.language if settings.page.language in draft.names else next(iter(draft.names))
                other = next((language for language in draft.names if language != first), None)
                values = {"language": first, "name": draft.names[first], "message": draft.messages[first],
                          "status": draft.status, "impact": draft.impact}
                if other:
                    values |= {"name_other": draft.names[other], "message_other": draft.messages[other]}
                values |= {f"component.{key}": state for key, state in draft.components.items()}
            return form(values=values)

        # A template that does not fit still shows the (empty) form, as a page asked for, not a refused post.
        return await console.attempt(prefill, lambda error: form(values={}, error=error))

    @post("/incidents", guards=[requires(Role.OPERATOR)])
    async def open_incident(
        self, request: Request, console: ConsoleDep, performer: PerformerDep, settings: SettingsDep
    ) -> Response | Template:
        form = await form_of(request)

        async def change() -> Answer:
            data = parse({**titled_texts(settings, form), "status": form.get("status") or "investigating",
                          "impact": form.get("impact") or "minor", "components": components_from(form)},
                         IncidentCreate)
            incident_id = await performer.perform(
                operations.open_incident, name=data.name, status=data.status, impact=data.impact,
                message=data.message, components=data.components, names=data.names, messages=data.messages,
            )
            return Redirect(f"/console/incidents/{incident_id}")

        return await console.attempt(change, console.form_again(
            "incidents/incident_form.html", values=form, states=INCIDENT_STATES, impacts=IMPACTS,
            chosen=(None, None), incident_templates=settings.incident_templates))

    @get("/incidents/{incident_id:str}")
    async def incident(self, console: ConsoleDep, pages: PagesDep, incident_id: FromPath[str]) -> Template:
        return await _incident_page(console, pages, incident_id)

    @post("/incidents/{incident_id:str}/updates", guards=[requires(Role.OPERATOR)])
    async def post_update(
        self, request: Request, console: ConsoleDep, performer: PerformerDep, pages: PagesDep,
        settings: SettingsDep, incident_id: FromPath[str],
    ) -> Response | Template:
        form = await form_of(request)

        async def change() -> Answer:
            message, messages = in_two_languages(settings, form, "message")
            data = parse({"status": form.get("status", ""), "message": message, "components": components_from(form),
                          "messages": messages}, UpdateCreate)
            await performer.perform(operations.post_update, incident_id, status=data.status, message=data.message,
                                    components=data.components, messages=data.messages)
            return Redirect(f"/console/incidents/{incident_id}")

        return await console.attempt(change, _incident_page_again(console, pages, incident_id))

    @post("/incidents/{incident_id:str}/updates/{update_id:str}/edit", guards=[requires(Role.OPERATOR)])
    async def edit_update(
        self, request: Request, console: ConsoleDep, performer: PerformerDep, pages: PagesDep,
        incident_id: FromPath[str], update_id: FromPath[str],
    ) -> Response | Template:
        form = await form_of(request)

        async def change() -> Answer:
            # One field per language: a language left empty is dropped from the update (no stale translation).
            data = parse({"messages": per_language(form, "message")}, UpdateEdit)
            await performer.perform(operations.edit_update, incident_id, update_id, message=data.message,
                                    messages=data.messages)
            return Redirect(f"/console/incidents/{incident_id}")

        return await console.attempt(change, _incident_page_again(console, pages, incident_id))

    @post("/incidents/{incident_id:str}/updates/{update_id:str}/delete", guards=[requires(Role.OPERATOR)])
    async def delete_update(
        self, console: ConsoleDep, performer: PerformerDep, pages: PagesDep, incident_id: FromPath[str],
        update_id: FromPath[str],
    ) -> Response | Template:
        async def change() -> Answer:
            await performer.perform(operations.delete_update, incident_id, update_id)
            return Redirect(f"/console/incidents/{incident_id}")

        return await console.attempt(change, _incident_page_again(console, pages, incident_id))

    @post("/incidents/{incident_id:str}/publish", guards=[requires(Role.OPERATOR)])
    async def publish(self, console: ConsoleDep, performer: PerformerDep, incident_id: FromPath[str]) -> Answer:
        async def change() -> Answer:
            await performer.perform(operations.publish_draft, incident_id)
            return Redirect(f"/console/incidents/{incident_id}")

        return await console.attempt(change, console.back_to("/console"))

    @get("/maintenances/new")
    async def new_maintenance(self, console: ConsoleDep) -> Template:
        return console.render("incidents/maintenance_form.html", values={})

    @post("/maintenances", guards=[requires(Role.OPERATOR)])
    async def schedule_maintenance(
        self, request: Request, console: ConsoleDep, performer: PerformerDep, settings: SettingsDep
    ) -> Response | Template:
        form = await form_of(request)

        async def change() -> Answer:
            data = parse({**titled_texts(settings, form),
                          "starts": console.local_moment(form.get("starts", ""), "starts", form.get("starts_fold")),
                          "ends": console.local_moment(form.get("ends", ""), "ends", form.get("ends_fold")),
                          "components": [key for key, value in components_from(form).items() if value == "on"]},
                         MaintenanceCreate)
            maintenance_id = await performer.perform(
                operations.schedule_maintenance, name=data.name, message=data.message, names=data.names,
                messages=data.messages, starts=data.starts, ends=data.ends, components=data.components,
            )
            return Redirect(f"/console/incidents/{maintenance_id}")

        return await console.attempt(change, console.form_again("incidents/maintenance_form.html", values=form))

    @post("/components/{component:str}/override", guards=[requires(Role.OPERATOR)])
    async def set_override(
        self, request: Request, console: ConsoleDep, performer: PerformerDep, component: FromPath[str]
    ) -> Answer:
        form = await form_of(request)

        async def change() -> Answer:
            if form.get("status") == "clear":
                await performer.perform(operations.clear_override, component)
            else:
                expires = form.get("expires_at")
                data = parse({"status": form.get("status", ""), "reason": form.get("reason", ""),
                              "expires_at": console.local_moment(expires, "expires_at", form.get("expires_at_fold"))
                              if expires else None},
                             OverrideSet)
                await performer.perform(operations.set_override, component, status=data.status, reason=data.reason,
                                        expires_at=data.expires_at)
            return Redirect("/console")

        return await console.attempt(change, console.back_to("/console"))

    @get("/subscribers")
    async def subscribers(
        self, request: Request, console: ConsoleDep, store: StoreDep
    ) -> Template:
        return await _subscribers_page(request, console, store)

    @post("/subscribers", guards=[requires(Role.OPERATOR)])
    async def add_webhook(
        self, request: Request, console: ConsoleDep, performer: PerformerDep, store: StoreDep
    ) -> Response | Template:
        form = await form_of(request)
        components = [key for key, value in components_from(form).items() if value == "on"] or None

        async def change() -> Answer:
            data = parse({"url": form.get("url", ""), "components": components}, WebhookCreate)
            _, secret = await performer.perform(operations.add_webhook, data.url, data.components)
            return await _subscribers_page(request, console, store, new_secret=secret)

        return await console.attempt(change, console.back_to("/console/subscribers"))

    @post("/subscribers/{subscriber_id:int}/remove", guards=[requires(Role.OPERATOR)])
    async def remove_subscriber(
        self, console: ConsoleDep, performer: PerformerDep, subscriber_id: FromPath[int]
    ) -> Answer:
        """Stop a subscriber's deliveries (the row and its deliveries stay, for the audit trail)."""
        async def change() -> Answer:
            await performer.perform(operations.remove_subscriber, subscriber_id)
            return Redirect("/console/subscribers")

        return await console.attempt(change, console.back_to("/console/subscribers"))

    @get("/audit")
    async def audit(self, request: Request, console: ConsoleDep, store: StoreDep) -> Template:
        entries = await store.read(lambda db: storage.audit_entries(db, limit=200))
        if not request.user.role.allows(Role.ADMIN):  # credentials in URLs are for admins' eyes only
            entries = [{**row, "before": masked_in(row["before"]), "after": masked_in(row["after"])} for row in entries]
        return console.render("incidents/audit.html", entries=entries)


def in_two_languages(settings: Settings, form: dict[str, str], field: str) -> tuple[str, dict[str, str]]:
    """A form's text as `in_languages` takes it: `<field>` is written in the language the form names
    (`language`, else the page's) and `<field>_other`, optional, in the other. Returns the text in the page's
    language as the plain value (so a refusal names the form's field) and the rest per language:
    ("Boekingen gepauzeerd", {"en": "Bookings paused"}) on a Dutch page."""
    text = required(form, field)
    language = form.get("language") or settings.page.language
    if language not in LANGUAGES:
        raise Refused(f"language must be one of {', '.join(LANGUAGES)}")
    other = next(code for code in LANGUAGES if code != language)
    texts = {language: text} | ({other: form[f"{field}_other"]} if form.get(f"{field}_other") else {})
    return texts.pop(settings.page.language, ""), texts


def titled_texts(settings: Settings, form: dict[str, str]) -> dict[str, str | dict[str, str]]:
    """The name and first message of a new incident or maintenance window, as `IncidentCreate` and
    `MaintenanceCreate` take them: `name` and `message` in the page's language, `names` and `messages` in the
    other (`in_two_languages`)."""
    name, names = in_two_languages(settings, form, "name")
    message, messages = in_two_languages(settings, form, "message")
    return {"name": name, "message": message, "names": names, "messages": messages}


def per_language(form: dict[str, str], field: str) -> dict[str, str]:
    """A form's text per language from one field per language (`<field>.nl`, `<field>.en`), empty ones left out."""
    return {code: form[f"{field}.{code}"] for code in LANGUAGES if form.get(f"{field}.{code}", "").strip()}


async def _subscribers_page(
    request: Request, console: Console, store: Store, *, new_secret: str | None = None
) -> Template:
    def read(db) -> tuple[list, dict]:
        subscribers = storage.list_subscribers(db)
        if not request.user.role.allows(Role.ADMIN):  # credentials in URLs are for admins' eyes only
            subscribers = [{**row, "address": masked(row["address"])} for row in subscribers]
        return subscribers, {row["id"]: storage.deliveries_of(db, row["id"], 20) for row in subscribers}

    subscribers, deliveries = await store.read(read)
    return console.render("incidents/subscribers.html", subscribers=subscribers, deliveries=deliveries,
                          new_secret=new_secret)


async def _incident_page(console: Console, pages: PublicPages, incident_id: str, **extra: Any) -> Template:
    snapshot = await pages.snapshot()
    item = next((item for item in snapshot.incidents + snapshot.maintenances if item.id == incident_id), None)
    if item is None:
        raise NotFoundException(f"no incident or maintenance with id {incident_id!r} among the recent ones")
    states = MAINTENANCE_STATES if item.kind == "maintenance" else INCIDENT_STATES
    return console.render("incidents/incident.html", item=item, states=states, **extra)


def _incident_page_again(
    console: Console, pages: PublicPages, incident_id: str
) -> Callable[[str], Awaitable[Template]]:
    """For `Console.attempt`: the incident's page again, with the error above its forms."""
    return lambda error: _incident_page(console, pages, incident_id, error=error, status_code=400)
