"""Queries behind the public page: components, incidents and maintenance, status history, and the
one read of everything the page shows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from statuspage.core.storage.engine import Row, iso, new_id
from statuspage.core.storage.incidents import Incident, incident_from_row

# ---------------------------------------------------------------------------------------------
# Components


def sync_components(db: Database, definitions: dict[str, str], now: datetime) -> None:
    """Record the configured components; `definitions` maps each id to a text of its definition.

    A new component is created now; a changed definition moves its updated_at. Components that left
    the configuration keep their rows, so their history survives a configuration mistake.
    """
    existing = {row["id"]: row["definition"] for row in db.query("SELECT id, definition FROM components")}
    for component_id, definition in definitions.items():
        if component_id not in existing:
            db.execute(
                "INSERT INTO components (id, definition, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [component_id, definition, iso(now), iso(now)],
            )
        elif existing[component_id] != definition:
            db.execute(
                "UPDATE components SET definition = ?, updated_at = ? WHERE id = ?",
                [definition, iso(now), component_id],
            )


def set_override(
    db: Database, component_id: str, status: str, reason: str, set_by: str, now: datetime, expires_at: datetime | None
) -> None:
    db.execute(
        """
        INSERT INTO component_overrides (component_id, status, reason, set_by, set_at, expires_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (component_id) DO UPDATE SET
            status = excluded.status, reason = excluded.reason, set_by = excluded.set_by,
            set_at = excluded.set_at, expires_at = excluded.expires_at
        """,
        [component_id, status, reason, set_by, iso(now), iso(expires_at)],
    )


def clear_override(db: Database, component_id: str) -> None:
    db.execute("DELETE FROM component_overrides WHERE component_id = ?", [component_id])


# ---------------------------------------------------------------------------------------------
# Incidents and maintenance


def create_incident(
    db: Database,
    *,
    kind: str,
    name: str,
    status: str,
    impact: str,
    body: str,
    now: datetime,
    components: dict[str, str],
    scheduled_for: datetime | None = None,
    scheduled_until: datetime | None = None,
    draft: bool = False,
    names: dict[str, str] | None = None,
    bodies: dict[str, str] | None = None,
) -> str:
    """Open an incident (or schedule a maintenance) with its first update. Returns its id.

    A draft is kept off the public page until an operator publishes it. `names` and `bodies` hold the
    title and first text per language ({"nl": ..., "en": ...}) when written in more than one."""
    incident_id = new_id()
    db.execute(
        """
        INSERT INTO incidents (id, kind, name, status, impact, created_at, updated_at, started_at,
                               scheduled_for, scheduled_until, draft, names)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            incident_id, kind, name, status, impact, iso(now), iso(now), iso(now),
            iso(scheduled_for), iso(scheduled_until),
            int(draft), json.dumps(names, ensure_ascii=False) if names else None,
        ],
    )
    add_incident_update(db, incident_id, status=status, body=body, now=now, components=components, bodies=bodies)
    return incident_id


def add_incident_update(
    db: Database, incident_id: str, *, status: str, body: str, now: datetime, components: dict[str, str],
    bodies: dict[str, str] | None = None,
) -> str:
    """Post an update; `components` gives the state each named component is in from now on, `bodies`
    the text per language it was written in (None: `body` alone)."""
    update_id = new_id()
    db.execute(
        """
        INSERT INTO incident_updates (id, incident_id, status, body, created_at, updated_at, display_at, bodies)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [update_id, incident_id, status, body, iso(now), iso(now), iso(now),
         json.dumps(bodies, ensure_ascii=False) if bodies else None],
    )
    current = {
        row["component_id"]: row["status"]
        for row in db.query("SELECT component_id, status FROM incident_components WHERE incident_id = ?", [incident_id])
    }
    for component_id, new_status in components.items():
        db.execute(
            """
            INSERT INTO incident_update_components (update_id, component_id, old_status, new_status)
            VALUES (?, ?, ?, ?)
            """,
            [update_id, component_id, current.get(component_id, "operational"), new_status],
        )
        db.execute(
            """
            INSERT INTO incident_components (incident_id, component_id, status) VALUES (?, ?, ?)
            ON CONFLICT (incident_id, component_id) DO UPDATE SET status = excluded.status
            """,
            [incident_id, component_id, new_status],
        )
    stamps = {"monitoring": "monitoring_at", "verifying": "monitoring_at", "resolved": "resolved_at", "completed": "resolved_at"}
    stamp = stamps.get(status)
    db.execute(
        f"UPDATE incidents SET status = ?, updated_at = ?{f', {stamp} = ?' if stamp else ''} WHERE id = ?",
        [status, iso(now), *([iso(now)] if stamp else []), incident_id],
    )
    return update_id


# ---------------------------------------------------------------------------------------------
# Status history


def record_status_changes(db: Database, statuses: dict[str, str], now: datetime) -> dict[str, str | None]:
    """Append a history entry for each component whose shown status differs from its last one.

    Returns the changed components with the status each had before (None: its first entry).
    """
    last = latest_statuses(db)
    changed = {component_id: last.get(component_id) for component_id, status in statuses.items()
               if last.get(component_id) != status}
    db.table("status_events").insert_all(
        {"component_id": component_id, "status": statuses[component_id], "at": iso(now)} for component_id in changed
    )
    return changed


def latest_status_at(db: Database) -> datetime | None:
    """When the last change of any component's shown status was recorded; None before the first."""
    row = db.execute("SELECT max(at) FROM status_events").fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def latest_statuses(db: Database) -> dict[str, str]:
    rows = db.query(
        """
        SELECT component_id, status FROM status_events
        WHERE id IN (SELECT max(id) FROM status_events GROUP BY component_id)
        """
    )
    return {row["component_id"]: row["status"] for row in rows}


# ---------------------------------------------------------------------------------------------
# What the public page needs, read in one transaction


@dataclass(frozen=True)
class PageRows:
    components: list[Row]
    overrides: list[Row]
    incidents: list[Incident]  # open ones, and the most recent ones of each kind; no drafts
    incident_components: list[Row]
    updates: list[Row]
    update_components: list[Row]
    status_events: list[Row]  # since `history_since`, plus the one in force at that moment
    switched_off: list[str]  # scopes of kill switches that are off
    probe_verdicts: list[Row]  # component and verdict of each probe that complains


@dataclass(frozen=True)
class IncidentRows:
    """Incidents with what hangs off them, as in PageRows: what `page.snapshot.incident_views` reads."""

    incidents: list[Incident]
    incident_components: list[Row]
    updates: list[Row]  # newest first
    update_components: list[Row]


def _incident_rows(db: Database, incidents: list[Incident]) -> IncidentRows:
    ids = [incident.id for incident in incidents]
    marks = ", ".join("?" * len(ids))
    return IncidentRows(
        incidents=incidents,
        incident_components=list(db.query(f"SELECT * FROM incident_components WHERE incident_id IN ({marks})", ids)),
        updates=list(
            db.query(
                f"SELECT * FROM incident_updates WHERE incident_id IN ({marks}) ORDER BY display_at DESC, rowid DESC",
                ids,
            )
        ),
        update_components=list(
            db.query(
                f"""
                SELECT uc.* FROM incident_update_components uc
                JOIN incident_updates u ON u.id = uc.update_id
                WHERE u.incident_id IN ({marks})
                """,
                ids,
            )
        ),
    )


def read_incident_rows(db: Database, incident_id: str) -> IncidentRows:
    """One incident or maintenance with its updates, drafts and those too old for the page included (for
    operators); `incidents` is empty when there is no such id."""
    return _incident_rows(db, [incident_from_row(row) for row in db.query("SELECT * FROM incidents WHERE id = ?",
                                                                          [incident_id])])


RECENT_LIMIT = 50


def read_page_rows(db: Database, history_since: datetime) -> PageRows:
    incidents = [incident_from_row(row) for row in (
        db.query(
            """
            SELECT * FROM incidents
            WHERE draft = 0 AND id IN (
                SELECT id FROM incidents
                WHERE status NOT IN ('resolved', 'postmortem', 'completed') OR created_at >= :since
                UNION
                SELECT id FROM (SELECT id FROM incidents WHERE kind = 'incident'
                                ORDER BY created_at DESC LIMIT :limit)
                UNION
                SELECT id FROM (SELECT id FROM incidents WHERE kind = 'maintenance'
                                ORDER BY scheduled_for DESC LIMIT :limit)
            )
            ORDER BY created_at DESC
            """,
            {"since": iso(history_since), "limit": RECENT_LIMIT},
        )
    )]
    details = _incident_rows(db, incidents)
    return PageRows(
        components=list(db.query("SELECT * FROM components ORDER BY rowid")),
        overrides=list(db.query("SELECT * FROM component_overrides")),
        incidents=incidents,
        incident_components=details.incident_components,
        updates=details.updates,
        update_components=details.update_components,
        switched_off=[row["scope"] for row in db.query("SELECT scope FROM switches WHERE enabled = 0")],
        probe_verdicts=list(db.query(
            "SELECT component, verdict FROM probe_states WHERE verdict IS NOT NULL AND paused = 0 AND component IS NOT NULL")),
        status_events=list(
            db.query(
                """
                SELECT component_id, status, at FROM status_events
                WHERE at >= :since
                   OR id IN (SELECT max(id) FROM status_events WHERE at < :since GROUP BY component_id)
                ORDER BY component_id, at, id
                """,
                {"since": iso(history_since)},
            )
        ),
    )


