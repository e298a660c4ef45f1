"""The status vocabulary and the rules that derive what the public page shows.

Plain Python on purpose: these rules decide what customers read on a bad day, so they must be
readable and testable without a web framework, a database or a clock.

The vocabulary is the one of the most widely used hosted status page, so that the tools its
customers already run against such pages (monitors, chat bots, exporters) understand ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from statuspage.core.vocabulary import ComponentStatus, Impact, Indicator, MaintenanceStatus


@dataclass(frozen=True)
class PageStatus:
    indicator: Indicator
    description: str


# What each thing that can be wrong makes of the page, least serious first. The sentences are the
# ones hosted status pages write; clients of their API match on them.
_ALL_WELL = PageStatus(Indicator.NONE, "All Systems Operational")
_MAINTENANCE = PageStatus(Indicator.MAINTENANCE, "Service Under Maintenance")
_DEGRADED = PageStatus(Indicator.MINOR, "Partially Degraded Service")
_MINOR_OUTAGE = PageStatus(Indicator.MINOR, "Minor Service Outage")
_PARTIAL_SYSTEM_OUTAGE = PageStatus(Indicator.MAJOR, "Partial System Outage")
_MAJOR_SYSTEM_OUTAGE = PageStatus(Indicator.CRITICAL, "Major System Outage")
_SEVERITY = [_ALL_WELL, _MAINTENANCE, _DEGRADED, _MINOR_OUTAGE, _PARTIAL_SYSTEM_OUTAGE, _MAJOR_SYSTEM_OUTAGE]

_PAGE_STATUS_FOR_COMPONENT = {
    ComponentStatus.OPERATIONAL: _ALL_WELL,
    ComponentStatus.UNDER_MAINTENANCE: _MAINTENANCE,
    ComponentStatus.DEGRADED_PERFORMANCE: _DEGRADED,
    ComponentStatus.PARTIAL_OUTAGE: _MINOR_OUTAGE,
    ComponentStatus.MAJOR_OUTAGE: _PARTIAL_SYSTEM_OUTAGE,
}

_PAGE_STATUS_FOR_IMPACT = {
    Impact.NONE: _ALL_WELL,
    Impact.MAINTENANCE: _MAINTENANCE,
    Impact.MINOR: _MINOR_OUTAGE,
    Impact.MAJOR: _PARTIAL_SYSTEM_OUTAGE,
    Impact.CRITICAL: _MAJOR_SYSTEM_OUTAGE,
}


@dataclass(frozen=True)
class Override:
    """An operator's manual status for a component, optionally until a moment."""

    status: ComponentStatus
    expires_at: datetime | None = None

    def in_force(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class StatusInputs:
    """Everything that has a say in one component's shown status at one moment."""

    override: Override | None = None
    incident_statuses: tuple[ComponentStatus, ...] = ()
    in_maintenance: bool = False
    probe_verdict: ComponentStatus | None = None
    # The integration's kill switch is off: nothing is booked, whatever else is true.
    switched_off: bool = False


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=lambda status: status.severity, default=ComponentStatus.OPERATIONAL)


def derive_component_status(inputs: StatusInputs, now: datetime) -> ComponentStatus:
    """The status a component shows: the worst that any of its inputs claims."""
    claims: list[ComponentStatus] = list(inputs.incident_statuses)
    if inputs.override is not None and inputs.override.in_force(now):
        claims.append(inputs.override.status)
    if inputs.in_maintenance:
        claims.append(ComponentStatus.UNDER_MAINTENANCE)
    if inputs.probe_verdict is not None:
        claims.append(inputs.probe_verdict)
    if inputs.switched_off:
        claims.append(ComponentStatus.MAJOR_OUTAGE)
    return worst(claims)


def page_status(
    component_statuses: Sequence[ComponentStatus], open_incident_impacts: Iterable[Impact] = ()
) -> PageStatus:
    """The page's overall status: the most serious of its components and its unresolved incidents.

    One component down is a partial system outage; every component down is a major one.
    """
    candidates = [_PAGE_STATUS_FOR_COMPONENT[status] for status in component_statuses]
    candidates += [_PAGE_STATUS_FOR_IMPACT[impact] for impact in open_incident_impacts]
    if component_statuses and all(status is ComponentStatus.MAJOR_OUTAGE for status in component_statuses):
        candidates.append(_MAJOR_SYSTEM_OUTAGE)
    return max(candidates, key=_SEVERITY.index, default=_ALL_WELL)


def maintenance_phase(
    recorded: MaintenanceStatus, scheduled_for: datetime, scheduled_until: datetime, now: datetime
) -> MaintenanceStatus:
    """Where a maintenance window stands now.

    Operators may move a window along by hand (to verifying, or completed early); otherwise the
    clock moves it, so the page is right even before anything has written the new status down.
    """
    if recorded in (MaintenanceStatus.VERIFYING, MaintenanceStatus.COMPLETED):
        return recorded
    if now >= scheduled_until:
        return MaintenanceStatus.COMPLETED
    if now >= scheduled_for or recorded is MaintenanceStatus.IN_PROGRESS:
        return MaintenanceStatus.IN_PROGRESS
    return MaintenanceStatus.SCHEDULED


def maintenance_is_active(phase: MaintenanceStatus) -> bool:
    return phase in (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)
