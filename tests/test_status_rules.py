"""The rules that decide what customers read: a component's shown status and the page's."""

from datetime import UTC, datetime, timedelta

import pytest

from statuspage.core.vocabulary import ComponentStatus as C
from statuspage.core.vocabulary import Impact, Indicator
from statuspage.core.vocabulary import MaintenanceStatus as M
from statuspage.page.status import Override, StatusInputs, derive_component_status, maintenance_phase, page_status

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
EARLIER = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("inputs", "shown"),
    [
        (StatusInputs(), C.OPERATIONAL),
        (StatusInputs(override=Override(C.DEGRADED_PERFORMANCE)), C.DEGRADED_PERFORMANCE),
        (StatusInputs(override=Override(C.MAJOR_OUTAGE, expires_at=LATER)), C.MAJOR_OUTAGE),
        (StatusInputs(override=Override(C.MAJOR_OUTAGE, expires_at=EARLIER)), C.OPERATIONAL),
        (StatusInputs(override=Override(C.MAJOR_OUTAGE, expires_at=NOW)), C.OPERATIONAL),
        (StatusInputs(incident_statuses=(C.PARTIAL_OUTAGE, C.DEGRADED_PERFORMANCE)), C.PARTIAL_OUTAGE),
        (StatusInputs(in_maintenance=True), C.UNDER_MAINTENANCE),
        # An outage during maintenance is still an outage.
        (StatusInputs(in_maintenance=True, incident_statuses=(C.MAJOR_OUTAGE,)), C.MAJOR_OUTAGE),
        (StatusInputs(in_maintenance=True, probe_verdict=C.DEGRADED_PERFORMANCE), C.DEGRADED_PERFORMANCE),
        (StatusInputs(probe_verdict=C.PARTIAL_OUTAGE), C.PARTIAL_OUTAGE),
        (StatusInputs(switched_off=True), C.MAJOR_OUTAGE),
        (StatusInputs(switched_off=True, in_maintenance=True), C.MAJOR_OUTAGE),
        # An operator cannot talk away what an incident or a probe shows: the worst claim wins.
        (StatusInputs(override=Override(C.OPERATIONAL), probe_verdict=C.MAJOR_OUTAGE), C.MAJOR_OUTAGE),
        (
            StatusInputs(
                override=Override(C.DEGRADED_PERFORMANCE),
                incident_statuses=(C.PARTIAL_OUTAGE,),
                in_maintenance=True,
                probe_verdict=C.OPERATIONAL,
            ),
            C.PARTIAL_OUTAGE,
        ),
    ],
)
def test_a_component_shows_the_worst_of_its_inputs(inputs: StatusInputs, shown: C) -> None:
    assert derive_component_status(inputs, NOW) is shown


@pytest.mark.parametrize(
    ("components", "impacts", "indicator", "description"),
    [
        ([], [], Indicator.NONE, "All Systems Operational"),
        ([C.OPERATIONAL, C.OPERATIONAL], [], Indicator.NONE, "All Systems Operational"),
        ([C.OPERATIONAL, C.UNDER_MAINTENANCE], [], Indicator.MAINTENANCE, "Service Under Maintenance"),
        ([C.DEGRADED_PERFORMANCE, C.UNDER_MAINTENANCE], [], Indicator.MINOR, "Partially Degraded Service"),
        ([C.PARTIAL_OUTAGE, C.DEGRADED_PERFORMANCE], [], Indicator.MINOR, "Minor Service Outage"),
        ([C.MAJOR_OUTAGE, C.OPERATIONAL], [], Indicator.MAJOR, "Partial System Outage"),
        ([C.MAJOR_OUTAGE, C.MAJOR_OUTAGE], [], Indicator.CRITICAL, "Major System Outage"),
        ([C.OPERATIONAL], [Impact.MINOR], Indicator.MINOR, "Minor Service Outage"),
        ([C.OPERATIONAL], [Impact.MAJOR], Indicator.MAJOR, "Partial System Outage"),
        ([C.DEGRADED_PERFORMANCE], [Impact.CRITICAL, Impact.MINOR], Indicator.CRITICAL, "Major System Outage"),
        ([C.OPERATIONAL], [Impact.NONE], Indicator.NONE, "All Systems Operational"),
    ],
)
def test_the_page_status_is_the_most_serious_of_components_and_open_incidents(
    components: list[C], impacts: list[Impact], indicator: Indicator, description: str
) -> None:
    status = page_status(components, impacts)
    assert (status.indicator, status.description) == (indicator, description)


START, END = NOW + timedelta(hours=2), NOW + timedelta(hours=4)


@pytest.mark.parametrize(
    ("recorded", "now", "phase"),
    [
        (M.SCHEDULED, NOW, M.SCHEDULED),
        (M.SCHEDULED, START, M.IN_PROGRESS),
        (M.SCHEDULED, END - timedelta(seconds=1), M.IN_PROGRESS),
        (M.SCHEDULED, END, M.COMPLETED),
        (M.IN_PROGRESS, NOW, M.IN_PROGRESS),  # an operator started early
        (M.VERIFYING, END + timedelta(hours=1), M.VERIFYING),  # verifying overruns the window
        (M.COMPLETED, START, M.COMPLETED),  # finished early
    ],
)
def test_a_maintenance_window_moves_along_with_the_clock(recorded: M, now: datetime, phase: M) -> None:
    assert maintenance_phase(recorded, START, END, now) is phase
