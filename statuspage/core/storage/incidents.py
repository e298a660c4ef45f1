"""Incidents one at a time, for operators: rows, updates, drafts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

import msgspec
from sqlite_utils import Database

from statuspage.core.storage.engine import Row, iso, json_loads_or_none, moment
from statuspage.core.vocabulary import Impact

# ---------------------------------------------------------------------------------------------
# Incidents, one at a time (for operators)


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    """An incident or a maintenance window as operators change it; a row of `incidents`."""

    id: str
    kind: Literal["incident", "maintenance"]
    name: str
    names: dict[str, str]
    """The name per language, where it was written in one or more; empty when only `name` was given."""
    status: str
    """An `IncidentStatus` for an incident, a `MaintenanceStatus` for a maintenance window."""
    impact: Impact
    draft: bool
    """Opened by the service (a misroute), not yet published by an operator."""
    created_at: datetime
    updated_at: datetime
    started_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    scheduled_for: datetime | None
    scheduled_until: datetime | None


class IncidentUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One update of an incident, with `components`: {component id: the status this update gave it}."""

    id: str
    incident_id: str
    status: str
    body: str
    created_at: datetime
    display_at: datetime
    components: dict[str, str]


def incident_from_row(row: Row) -> Incident:
    """An `incidents` row, as read, as an Incident."""
    return Incident(
        id=row["id"], kind=row["kind"], name=row["name"], names=json_loads_or_none(row["names"]) or {},
        status=row["status"], impact=Impact(row["impact"]), draft=bool(row["draft"]), created_at=moment(row["created_at"]),
        updated_at=moment(row["updated_at"]), started_at=moment(row["started_at"]),
        monitoring_at=moment(row["monitoring_at"]), resolved_at=moment(row["resolved_at"]),
        scheduled_for=moment(row["scheduled_for"]), scheduled_until=moment(row["scheduled_until"]))


def incident(db: Database, incident_id: str) -> Incident | None:
    """The incident or maintenance window `incident_id`; None when there is none."""
    rows = list(db.query("SELECT * FROM incidents WHERE id = ?", [incident_id]))
    return incident_from_row(rows[0]) if rows else None


def incident_row(db: Database, incident_id: str) -> Row | None:
    """The incident's row as stored, texts and all: what the audit log keeps of it."""
    rows = list(db.query("SELECT * FROM incidents WHERE id = ?", [incident_id]))
    return rows[0] if rows else None


def incident_components(db: Database, incident_id: str) -> dict[str, str]:
    return {
        row["component_id"]: row["status"]
        for row in db.query("SELECT component_id, status FROM incident_components WHERE incident_id = ?", [incident_id])
    }


def update_row(db: Database, update_id: str) -> Row | None:
    rows = list(db.query("SELECT * FROM incident_updates WHERE id = ?", [update_id]))
    return rows[0] if rows else None


def update_count(db: Database, incident_id: str) -> int:
    return int(db.execute("SELECT count(*) FROM incident_updates WHERE incident_id = ?", [incident_id]).fetchone()[0])


def edit_incident_update(db: Database, update_id: str, *, body: str, bodies: dict[str, str], now: datetime) -> None:
    """Replace an update's texts: `body` the one shown where no language is chosen, `bodies` per language."""
    db.execute("UPDATE incident_updates SET body = ?, bodies = ?, updated_at = ? WHERE id = ?",
               [body, json.dumps(bodies, ensure_ascii=False) if bodies else None, iso(now), update_id])
    db.execute(
        "UPDATE incidents SET updated_at = ? WHERE id = (SELECT incident_id FROM incident_updates WHERE id = ?)",
        [iso(now), update_id],
    )


def delete_incident_update(db: Database, update_id: str, now: datetime) -> None:
    row = update_row(db, update_id)
    if row is None:
        return
    db.execute("DELETE FROM incident_updates WHERE id = ?", [update_id])
    db.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", [iso(now), row["incident_id"]])


def updates_oldest_first(db: Database, incident_id: str) -> list[IncidentUpdate]:
    """An incident's updates in the order the page shows them, oldest first."""
    updates = list(db.query(
        "SELECT * FROM incident_updates WHERE incident_id = ? ORDER BY display_at, rowid", [incident_id]))
    named: dict[str, dict[str, str]] = {update["id"]: {} for update in updates}
    for row in db.query(
        """
        SELECT uc.update_id, uc.component_id, uc.new_status FROM incident_update_components uc
        JOIN incident_updates u ON u.id = uc.update_id WHERE u.incident_id = ?
        """,
        [incident_id],
    ):
        named[row["update_id"]][row["component_id"]] = row["new_status"]
    return [IncidentUpdate(id=update["id"], incident_id=update["incident_id"], status=update["status"],
                           body=update["body"], created_at=moment(update["created_at"]),
                           display_at=moment(update["display_at"]), components=named[update["id"]])
            for update in updates]


def set_incident_state(
    db: Database, incident_id: str, *, status: str, components: dict[str, str], monitoring_at: datetime | None,
    resolved_at: datetime | None, now: datetime,
) -> None:
    """Put an incident in the given status with exactly these component statuses (others are dropped)."""
    db.execute(
        "UPDATE incidents SET status = ?, monitoring_at = ?, resolved_at = ?, updated_at = ? WHERE id = ?",
        [status, iso(monitoring_at), iso(resolved_at), iso(now),
         incident_id],
    )
    db.execute("DELETE FROM incident_components WHERE incident_id = ?", [incident_id])
    for component_id, component_status in components.items():
        db.execute("INSERT INTO incident_components (incident_id, component_id, status) VALUES (?, ?, ?)",
                   [incident_id, component_id, component_status])


def maintenances_needing_a_step(db: Database) -> list[Incident]:
    """Maintenance windows not yet recorded as finished, for the clock to move along."""
    return [incident_from_row(row) for row in db.query(
        "SELECT * FROM incidents WHERE kind = 'maintenance' AND status IN ('scheduled', 'in_progress')")]


def override_rows(db: Database) -> list[Row]:
    return list(db.query("SELECT * FROM component_overrides ORDER BY component_id"))


