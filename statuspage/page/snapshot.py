"""The public state of the page at one moment, built from the configuration and the stored rows.

Everything the public page, the JSON API and (later) the feeds show comes from one PageSnapshot,
so they can never disagree. Building one is pure: rows and a moment in, a snapshot out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from statuspage.core.settings import ComponentSettings, GroupSettings, Settings, Text
from statuspage.core.storage import Incident, IncidentRows, PageRows, moment
from statuspage.core.vocabulary import ComponentStatus, IncidentStatus, MaintenanceStatus, ScopeKind, SwitchScope
from statuspage.page.status import (
    Override,
    PageStatus,
    StatusInputs,
    derive_component_status,
    maintenance_is_active,
    maintenance_phase,
    page_status,
    worst,
)
from statuspage.page.uptime import History, StatusChange, daily_history, day_bounds

UPTIME_DAYS = 90
PAST_INCIDENT_DAYS = 15


@dataclass(frozen=True)
class ComponentView:
    id: str
    name: Text
    description: Text | None
    position: int
    group_id: str | None
    is_group: bool
    children: tuple[str, ...]
    status: ComponentStatus
    created_at: datetime
    updated_at: datetime
    showcase: bool
    only_show_if_degraded: bool
    history: History
    # A kill switch holds this component's invoice actions: the integration's (all of them) or a
    # connection's (some environments'); None when nothing is held.
    paused: ScopeKind | None = None


@dataclass(frozen=True)
class AffectedComponent:
    component_id: str
    old_status: ComponentStatus
    new_status: ComponentStatus


@dataclass(frozen=True)
class UpdateView:
    id: str
    incident_id: str
    status: str
    body: str
    created_at: datetime
    updated_at: datetime
    display_at: datetime
    affected: tuple[AffectedComponent, ...]
    bodies: dict[str, str] = field(default_factory=dict)  # per language, when written in one or more


class IncidentView(Incident, frozen=True, kw_only=True):
    """An incident or maintenance window as the page shows it: the stored one (`storage.Incident`; for a
    maintenance window `status` is its phase now), with its updates and the components it names."""

    updates: tuple[UpdateView, ...]  # newest first
    component_ids: tuple[str, ...]
    component_statuses: dict[str, ComponentStatus] = {}

    @property
    def is_open(self) -> bool:
        if self.kind == "maintenance":
            return self.status != MaintenanceStatus.COMPLETED
        return IncidentStatus(self.status).is_open


@dataclass(frozen=True)
class PageSnapshot:
    settings: Settings
    now: datetime
    components: tuple[ComponentView, ...]  # groups followed by their children, in page order
    status: PageStatus
    incidents: tuple[IncidentView, ...]  # incidents only, newest first
    maintenances: tuple[IncidentView, ...]  # newest window first
    updated_at: datetime
    # The next moment at which the page changes by the clock alone (a day ends, a window opens).
    valid_until: datetime


    @property
    def component_by_id(self) -> dict[str, ComponentView]:
        return {component.id: component for component in self.components}

    @property
    def unresolved_incidents(self) -> list[IncidentView]:
        return [incident for incident in self.incidents if incident.is_open]

    @property
    def upcoming_maintenances(self) -> list[IncidentView]:
        return sorted(
            (item for item in self.maintenances if item.status == MaintenanceStatus.SCHEDULED),
            key=lambda item: item.scheduled_for or item.created_at,
        )

    @property
    def active_maintenances(self) -> list[IncidentView]:
        return [item for item in self.maintenances if maintenance_is_active(MaintenanceStatus(item.status))]

    def incidents_on(self, day_start: datetime, day_end: datetime) -> list[IncidentView]:
        """What the page's history lists for one day, latest first: the incidents that began in it and, as hosted
        status pages list them, the completed maintenance windows that began in it (those to come or under way
        stand under "Scheduled maintenance")."""
        def began(item: IncidentView) -> datetime:
            return item.scheduled_for or item.started_at if item.kind == "maintenance" else item.started_at

        done = [item for item in self.maintenances if item.status == MaintenanceStatus.COMPLETED]
        return sorted((item for item in [*self.incidents, *done] if day_start <= began(item) < day_end),
                      key=began, reverse=True)


def page_order(settings: Settings) -> list[GroupSettings | ComponentSettings]:
    """Groups in configured order, each followed by its components, then the ungrouped ones."""
    ordered: list[GroupSettings | ComponentSettings] = []
    for group in settings.groups:
        ordered.append(group)
        ordered.extend(component for component in settings.components if component.group == group.key)
    ordered.extend(component for component in settings.components if component.group is None)
    return ordered


def component_definitions(settings: Settings) -> dict[str, str]:
    """A stable text of each configured entry, so storage can notice when one changes."""
    return {
        entry.key: json.dumps(
            {name: getattr(entry, name) for name in entry.__struct_fields__}, sort_keys=True, ensure_ascii=False
        )
        for entry in page_order(settings)
    }


def derive_statuses(settings: Settings, rows: PageRows, now: datetime) -> dict[str, ComponentStatus]:
    """Every component's shown status (groups: the worst of their children)."""
    overrides = {
        row["component_id"]: Override(ComponentStatus(row["status"]), moment(row["expires_at"])) for row in rows.overrides
    }
    incidents = {incident.id: incident for incident in rows.incidents}
    from_incidents: dict[str, list[ComponentStatus]] = defaultdict(list)
    in_maintenance: set[str] = set()
    probe_claims: dict[str, list[ComponentStatus]] = defaultdict(list)
    for row in rows.probe_verdicts:
        probe_claims[row["component"]].append(ComponentStatus(row["verdict"]))
    for link in rows.incident_components:
        incident = incidents[link["incident_id"]]
        if incident.kind == "maintenance":
            phase = _phase(incident, now)
            if maintenance_is_active(phase):
                in_maintenance.add(link["component_id"])
        elif IncidentStatus(incident.status).is_open:
            from_incidents[link["component_id"]].append(ComponentStatus(link["status"]))
    statuses = {
        component.key: derive_component_status(
            StatusInputs(
                override=overrides.get(component.key),
                incident_statuses=tuple(from_incidents[component.key]),
                in_maintenance=component.key in in_maintenance,
                probe_verdict=worst(probe_claims[component.key]) if probe_claims[component.key] else None,
                # An integration's component carries its key: its switch off is its outage.
                switched_off=SwitchScope(component.key).key in rows.switched_off,
            ),
            now,
        )
        for component in settings.components
    }
    for group in settings.groups:
        children = [statuses[c.key] for c in settings.components if c.group == group.key]
        statuses[group.key] = worst(children)
    return statuses


def build_snapshot(settings: Settings, rows: PageRows, now: datetime) -> PageSnapshot:
    statuses = derive_statuses(settings, rows, now)
    stored = {row["id"]: row for row in rows.components}
    histories = _histories(rows, now, settings)
    components = []
    for position, entry in enumerate(page_order(settings), start=1):
        is_group = isinstance(entry, GroupSettings)
        row = stored.get(entry.key, {"created_at": now.isoformat(), "updated_at": now.isoformat()})
        components.append(
            ComponentView(
                id=entry.key,
                name=entry.name,
                description=entry.description,
                position=position,
                group_id=entry.group if isinstance(entry, ComponentSettings) else None,
                is_group=is_group,
                children=tuple(c.key for c in settings.components if c.group == entry.key) if is_group else (),
                status=statuses[entry.key],
                created_at=moment(row["created_at"]),
                updated_at=_latest(moment(row["updated_at"]), histories[entry.key]),
                showcase=getattr(entry, "showcase", False),
                only_show_if_degraded=getattr(entry, "only_show_if_degraded", False),
                history=daily_history(histories[entry.key], now, settings.zone, UPTIME_DAYS),
                paused=None if is_group else paused_by(entry.key, rows.switched_off),
            )
        )
    incidents = incident_views(rows, now)
    open_impacts = [item.impact for item in incidents if item.kind == "incident" and item.is_open]
    leaf_statuses = [component.status for component in components if not component.is_group]
    updated_at = max(
        [component.updated_at for component in components] + [item.updated_at for item in incidents],
        default=now,
    )
    return PageSnapshot(
        settings=settings,
        now=now,
        components=tuple(components),
        status=page_status(leaf_statuses, open_impacts),
        incidents=tuple(item for item in incidents if item.kind == "incident"),
        maintenances=tuple(
            sorted(
                (item for item in incidents if item.kind == "maintenance"),
                key=lambda item: item.scheduled_for or item.created_at,
                reverse=True,
            )
        ),
        updated_at=updated_at,
        valid_until=_next_change(settings, rows, now),
    )


def paused_by(component: str, switched_off: list[str]) -> ScopeKind | None:
    """Which kill switch holds an integration component's actions, from the scope keys of the switches that are
    off: its own (integration) when that is off, one of its environments' (connection) when only those are, else
    None."""
    scopes = [SwitchScope.parse(key) for key in switched_off]
    if SwitchScope(component) in scopes:
        return ScopeKind.INTEGRATION
    if any(scope.integration == component for scope in scopes):
        return ScopeKind.CONNECTION
    return None


def _phase(incident: Incident, now: datetime) -> MaintenanceStatus:
    recorded, starts, ends = MaintenanceStatus(incident.status), incident.scheduled_for, incident.scheduled_until
    if starts is None or ends is None:  # a window is always scheduled with both (operations.schedule_maintenance)
        return recorded
    return maintenance_phase(recorded, starts, ends, now)


def _histories(rows: PageRows, now: datetime, settings: Settings) -> dict[str, list[StatusChange]]:
    histories: dict[str, list[StatusChange]] = defaultdict(list)
    for event in rows.status_events:
        histories[event["component_id"]].append(StatusChange(moment(event["at"]), ComponentStatus(event["status"])))
    for group in settings.groups:
        histories[group.key] = _group_history([histories[c.key] for c in settings.components if c.group == group.key])
    return histories


def _group_history(children: list[list[StatusChange]]) -> list[StatusChange]:
    """A group's history: at every change of a child, the worst of the children at that moment."""
    moments = sorted({change.at for history in children for change in history})
    merged: list[StatusChange] = []
    for at in moments:
        in_force = [_status_at(history, at) for history in children]
        status = worst(status for status in in_force if status is not None)
        if not merged or merged[-1].status != status:
            merged.append(StatusChange(at, status))
    return merged


def _status_at(history: list[StatusChange], at: datetime) -> ComponentStatus | None:
    current = None
    for change in history:
        if change.at > at:
            break
        current = change.status
    return current


def _latest(stored: datetime, history: list[StatusChange]) -> datetime:
    return max([stored] + [change.at for change in history[-1:]])


def incident_views(rows: PageRows | IncidentRows, now: datetime) -> list[IncidentView]:
    """The incidents and maintenance windows of `rows` as the page shows them at `now` (a window's phase by the clock)."""
    affected: dict[str, list[AffectedComponent]] = defaultdict(list)
    for row in rows.update_components:
        affected[row["update_id"]].append(
            AffectedComponent(row["component_id"], ComponentStatus(row["old_status"]), ComponentStatus(row["new_status"]))
        )
    updates: dict[str, list[UpdateView]] = defaultdict(list)
    for row in rows.updates:
        updates[row["incident_id"]].append(
            UpdateView(
                id=row["id"],
                incident_id=row["incident_id"],
                status=row["status"],
                body=row["body"],
                created_at=moment(row["created_at"]),
                updated_at=moment(row["updated_at"]),
                display_at=moment(row["display_at"]),
                affected=tuple(affected[row["id"]]),
                bodies=json.loads(row["bodies"]) if row.get("bodies") else {},
            )
        )
    links: dict[str, dict[str, ComponentStatus]] = defaultdict(dict)
    for row in rows.incident_components:
        links[row["incident_id"]][row["component_id"]] = ComponentStatus(row["status"])
    return [
        IncidentView(
            **msgspec.structs.asdict(incident)
            | {"status": _phase(incident, now).value if incident.kind == "maintenance" else incident.status},
            updates=tuple(updates[incident.id]),
            component_ids=tuple(links[incident.id]),
            component_statuses=links[incident.id],
        )
        for incident in rows.incidents
    ]


# Durations on the page (how long an outage has lasted today, the uptime percentages) grow with the
# clock alone; re-render at least this often, which under any flood is still next to nothing.
LONGEST_KEPT = timedelta(minutes=1)


def _next_change(settings: Settings, rows: PageRows, now: datetime) -> datetime:
    today = now.astimezone(settings.zone).date()
    candidates: list[datetime | None] = [day_bounds(today, settings.zone)[1], now + LONGEST_KEPT]
    for incident in rows.incidents:
        if incident.kind == "maintenance" and incident.status not in ("completed", "verifying"):
            candidates += [incident.scheduled_for, incident.scheduled_until]
    candidates += [moment(row["expires_at"]) for row in rows.overrides if row["expires_at"]]
    later = [candidate for candidate in candidates if candidate is not None and candidate > now]
    return min(later, default=now + timedelta(days=1))
