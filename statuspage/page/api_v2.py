"""The public JSON API, field for field the one of hosted status pages (v2), as msgspec Structs.

Existing clients (monitors, aggregators, chat bots, exporters) parse these documents by field name,
so names, nesting, nulls and vocabularies follow that API exactly; timestamps are ISO-8601 in the
page's time zone with milliseconds and offset, as that API writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from statuspage.core.clock import local
from statuspage.core.settings import text_in
from statuspage.page.snapshot import ComponentView, IncidentView, PageSnapshot, UpdateView

INCIDENT_LIST_LIMIT = 50


class Page(msgspec.Struct):
    id: str
    name: str
    url: str
    time_zone: str
    updated_at: str


class Status(msgspec.Struct):
    indicator: str
    description: str


class Component(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    status: str
    created_at: str
    updated_at: str
    position: int
    description: str | None
    showcase: bool
    start_date: str | None
    group_id: str | None
    page_id: str
    group: bool
    only_show_if_degraded: bool
    # Present on groups only: the ids of their children.
    components: list[str] | msgspec.UnsetType = msgspec.UNSET


class AffectedComponent(msgspec.Struct):
    code: str
    name: str
    old_status: str
    new_status: str


class IncidentUpdate(msgspec.Struct):
    id: str
    status: str
    body: str
    incident_id: str
    created_at: str
    updated_at: str
    display_at: str
    affected_components: list[AffectedComponent] | None
    deliver_notifications: bool
    custom_tweet: str | None
    tweet_id: str | None


class _IncidentFields(msgspec.Struct):
    id: str
    name: str
    status: str
    created_at: str
    updated_at: str
    monitoring_at: str | None
    resolved_at: str | None
    impact: str
    shortlink: str
    started_at: str
    page_id: str
    incident_updates: list[IncidentUpdate]
    components: list[Component]


class Incident(_IncidentFields):
    reminder_intervals: str | None


class ScheduledMaintenance(_IncidentFields):
    scheduled_for: str | None
    scheduled_until: str | None


class StatusDocument(msgspec.Struct):
    page: Page
    status: Status


class ComponentsDocument(msgspec.Struct):
    page: Page
    components: list[Component]


class IncidentsDocument(msgspec.Struct):
    page: Page
    incidents: list[Incident]


class ScheduledMaintenancesDocument(msgspec.Struct):
    page: Page
    scheduled_maintenances: list[ScheduledMaintenance]


class SummaryDocument(msgspec.Struct):
    page: Page
    components: list[Component]
    incidents: list[Incident]
    scheduled_maintenances: list[ScheduledMaintenance]
    status: Status


class DocumentWriter:
    """Turns one snapshot into API documents, in the page's language and time zone."""

    def __init__(self, snapshot: PageSnapshot) -> None:
        self.snapshot = snapshot
        self.settings = snapshot.settings
        self.zone = snapshot.settings.zone
        self.language = snapshot.settings.page.language
        self.components = snapshot.component_by_id

    def time(self, moment: datetime) -> str:
        text = local(moment, self.zone).isoformat(timespec="milliseconds")
        # Pages kept in UTC write "Z", as hosted status pages do.
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text

    def maybe_time(self, moment: datetime | None) -> str | None:
        return None if moment is None else self.time(moment)

    def text(self, value) -> str | None:
        return text_in(value, self.language, self.language)

    def name_of(self, component_id: str) -> str:
        # A component that has since left the configuration is still named by its code.
        view = self.components.get(component_id)
        return (self.text(view.name) if view else None) or component_id

    def qualified_name(self, component_id: str) -> str:
        """A child is named "Group - Child" in an update's affected components."""
        view = self.components.get(component_id)
        if view is None or view.group_id is None:
            return self.name_of(component_id)
        return f"{self.name_of(view.group_id)} - {self.name_of(component_id)}"

    def page(self) -> Page:
        page = self.settings.page
        return Page(page.id, page.name, page.url, page.time_zone, self.time(self.snapshot.updated_at))

    def status(self) -> Status:
        return Status(self.snapshot.status.indicator.value, self.snapshot.status.description)

    def component(self, view: ComponentView) -> Component:
        return Component(
            id=view.id,
            name=self.name_of(view.id),
            status=view.status.value,
            created_at=self.time(view.created_at),
            updated_at=self.time(view.updated_at),
            position=view.position,
            description=self.text(view.description),
            showcase=view.showcase,
            start_date=local(view.created_at, self.zone).date().isoformat(),
            group_id=view.group_id,
            page_id=self.settings.page.id,
            group=view.is_group,
            only_show_if_degraded=view.only_show_if_degraded,
            components=list(view.children) if view.is_group else msgspec.UNSET,
        )

    def update(self, view: UpdateView) -> IncidentUpdate:
        affected = [
            AffectedComponent(
                code=change.component_id,
                name=self.qualified_name(change.component_id),
                old_status=change.old_status.value,
                new_status=change.new_status.value,
            )
            for change in view.affected
        ]
        return IncidentUpdate(
            id=view.id,
            status=view.status,
            body=view.body,
            incident_id=view.incident_id,
            created_at=self.time(view.created_at),
            updated_at=self.time(view.updated_at),
            display_at=self.time(view.display_at),
            affected_components=affected or None,
            deliver_notifications=True,
            custom_tweet=None,
            tweet_id=None,
        )

    def incident_fields(self, view: IncidentView) -> dict:
        return dict(
            id=view.id,
            name=view.name,
            status=view.status,
            created_at=self.time(view.created_at),
            updated_at=self.time(view.updated_at),
            monitoring_at=self.maybe_time(view.monitoring_at),
            resolved_at=self.maybe_time(view.resolved_at),
            impact=view.impact.value,
            shortlink=f"{self.settings.page.url.rstrip('/')}/incidents/{view.id}",
            started_at=self.time(view.started_at),
            page_id=self.settings.page.id,
            incident_updates=[self.update(update) for update in view.updates],
            components=[self.component(self.components[key]) for key in view.component_ids if key in self.components],
        )

    def incident(self, view: IncidentView) -> Incident:
        return Incident(**self.incident_fields(view), reminder_intervals=None)

    def maintenance(self, view: IncidentView) -> ScheduledMaintenance:
        return ScheduledMaintenance(
            **self.incident_fields(view),
            scheduled_for=self.maybe_time(view.scheduled_for),
            scheduled_until=self.maybe_time(view.scheduled_until),
        )


def summary(snapshot: PageSnapshot) -> SummaryDocument:
    writer = DocumentWriter(snapshot)
    return SummaryDocument(
        page=writer.page(),
        components=[writer.component(view) for view in snapshot.components],
        incidents=[writer.incident(view) for view in snapshot.unresolved_incidents],
        scheduled_maintenances=[
            writer.maintenance(view) for view in snapshot.active_maintenances + snapshot.upcoming_maintenances
        ],
        status=writer.status(),
    )


def status(snapshot: PageSnapshot) -> StatusDocument:
    writer = DocumentWriter(snapshot)
    return StatusDocument(page=writer.page(), status=writer.status())


def components(snapshot: PageSnapshot) -> ComponentsDocument:
    writer = DocumentWriter(snapshot)
    return ComponentsDocument(page=writer.page(), components=[writer.component(view) for view in snapshot.components])


def _incident_list(snapshot: PageSnapshot, views: Sequence[IncidentView]) -> IncidentsDocument:
    writer = DocumentWriter(snapshot)
    return IncidentsDocument(page=writer.page(), incidents=[writer.incident(view) for view in views])


def _maintenance_list(snapshot: PageSnapshot, views: Sequence[IncidentView]) -> ScheduledMaintenancesDocument:
    writer = DocumentWriter(snapshot)
    return ScheduledMaintenancesDocument(
        page=writer.page(), scheduled_maintenances=[writer.maintenance(view) for view in views]
    )


def incidents(snapshot: PageSnapshot) -> IncidentsDocument:
    return _incident_list(snapshot, snapshot.incidents[:INCIDENT_LIST_LIMIT])


def unresolved_incidents(snapshot: PageSnapshot) -> IncidentsDocument:
    return _incident_list(snapshot, snapshot.unresolved_incidents)


def scheduled_maintenances(snapshot: PageSnapshot) -> ScheduledMaintenancesDocument:
    return _maintenance_list(snapshot, snapshot.maintenances[:INCIDENT_LIST_LIMIT])


def upcoming_maintenances(snapshot: PageSnapshot) -> ScheduledMaintenancesDocument:
    return _maintenance_list(snapshot, snapshot.upcoming_maintenances)


def active_maintenances(snapshot: PageSnapshot) -> ScheduledMaintenancesDocument:
    return _maintenance_list(snapshot, snapshot.active_maintenances)


# Path below /api/v2 -> the document it serves and its type (for the OpenAPI schema).
DOCUMENTS = {
    "summary.json": (summary, SummaryDocument),
    "status.json": (status, StatusDocument),
    "components.json": (components, ComponentsDocument),
    "incidents.json": (incidents, IncidentsDocument),
    "incidents/unresolved.json": (unresolved_incidents, IncidentsDocument),
    "scheduled-maintenances.json": (scheduled_maintenances, ScheduledMaintenancesDocument),
    "scheduled-maintenances/upcoming.json": (upcoming_maintenances, ScheduledMaintenancesDocument),
    "scheduled-maintenances/active.json": (active_maintenances, ScheduledMaintenancesDocument),
}


def find(snapshot: PageSnapshot, incident_id: str) -> Incident | ScheduledMaintenance | None:
    """One incident or maintenance of the snapshot, in its API shape."""
    view = next((view for view in snapshot.incidents + snapshot.maintenances if view.id == incident_id), None)
    return None if view is None else document_of(snapshot, view)


def document_of(snapshot: PageSnapshot, view: IncidentView) -> Incident | ScheduledMaintenance:
    """An incident or maintenance in its API shape, its components named as in `snapshot`; `view` need not be
    one the page lists (a draft, an old one: `snapshot.incident_views`)."""
    writer = DocumentWriter(snapshot)
    return writer.maintenance(view) if view.kind == "maintenance" else writer.incident(view)
