"""All SQL lives here: the schema, its migrations, and every query the service runs.

The shape is Datasette's: one writer thread owns the only write connection and runs each unit of
work inside BEGIN IMMEDIATE ... COMMIT; reads run on a small pool of threads, each with its own
connection, so SQLite never blocks the event loop and a slow write never blocks a read (WAL mode).
Other processes (the CLI) may write to the same file; the store notices through PRAGMA data_version.

Moments are stored as ISO-8601 text in UTC with microseconds, which sorts as time does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sqlite3
import string
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

P = ParamSpec("P")
T = TypeVar("T")
Row = dict[str, Any]

BUSY_TIMEOUT_MS = 5000
READER_THREADS = 2

migrations = Migrations("statuspage")


@migrations()
def m001_status_page(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE components (
            id TEXT PRIMARY KEY,
            definition TEXT NOT NULL,   -- the configured definition, to notice when it changes
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE component_overrides (
            component_id TEXT PRIMARY KEY REFERENCES components(id),
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            set_by TEXT NOT NULL,
            set_at TEXT NOT NULL,
            expires_at TEXT
        );
        -- Incidents and scheduled maintenance share one table, as on hosted status pages:
        -- a maintenance is an incident with a window.
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('incident', 'maintenance')),
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            impact TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            started_at TEXT NOT NULL,
            monitoring_at TEXT,
            resolved_at TEXT,
            scheduled_for TEXT,
            scheduled_until TEXT
        );
        CREATE INDEX incidents_by_kind_and_time ON incidents (kind, created_at);
        CREATE TABLE incident_components (
            incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
            component_id TEXT NOT NULL REFERENCES components(id),
            status TEXT NOT NULL,
            PRIMARY KEY (incident_id, component_id)
        );
        CREATE TABLE incident_updates (
            id TEXT PRIMARY KEY,
            incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            display_at TEXT NOT NULL
        );
        CREATE INDEX incident_updates_by_incident ON incident_updates (incident_id, display_at);
        CREATE TABLE incident_update_components (
            update_id TEXT NOT NULL REFERENCES incident_updates(id) ON DELETE CASCADE,
            component_id TEXT NOT NULL REFERENCES components(id),
            old_status TEXT NOT NULL,
            new_status TEXT NOT NULL,
            PRIMARY KEY (update_id, component_id)
        );
        -- The history of each component's shown status, for the uptime bars.
        CREATE TABLE status_events (
            id INTEGER PRIMARY KEY,
            component_id TEXT NOT NULL REFERENCES components(id),
            status TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX status_events_by_component ON status_events (component_id, at);
        """
    )


@migrations()
def m002_operators(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,  -- SHA-256 of the token; the token itself is never stored
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE console_sessions (
            session_hash TEXT PRIMARY KEY,
            token_id INTEGER NOT NULL REFERENCES api_tokens(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE TABLE service_secrets (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject_type TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            before TEXT,   -- JSON
            after TEXT     -- JSON
        );
        -- What happened stays what happened: the log only grows.
        CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log cannot be changed'); END;
        CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log cannot be changed'); END;
        """
    )


@migrations()
def m003_subscribers(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
            address TEXT NOT NULL,          -- the webhook URL or the e-mail address
            secret TEXT,                    -- webhooks: the key of the HMAC signature
            components TEXT,                -- JSON list of component ids; NULL for all
            created_at TEXT NOT NULL,
            confirmed_at TEXT,
            unsubscribed_at TEXT
        );
        CREATE UNIQUE INDEX subscribers_once_per_address ON subscribers (kind, address) WHERE unsubscribed_at IS NULL;
        -- Notifications waiting to go out, going out, or gone: an outbox, so that a subscriber whose
        -- server is down neither loses a message nor holds up the change that caused it.
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
            event TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_status INTEGER,
            last_error TEXT,
            created_at TEXT NOT NULL,
            delivered_at TEXT
        );
        CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
        CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber_id, id);
        """
    )


@migrations()
def m004_connections(db: Database) -> None:
    db.executescript(
        """
        -- One environment's link to one accounting system, and the user it runs under.
        CREATE TABLE connections (
            id INTEGER PRIMARY KEY,
            environment TEXT NOT NULL,
            integration TEXT NOT NULL,
            user_id TEXT,
            user_name TEXT,
            full_name TEXT,
            current_administration TEXT,
            connected_at TEXT,
            connected_by TEXT,
            accessible TEXT,        -- JSON [{code, name}]: what the connection user could open when last checked
            checked_at TEXT,
            tokens TEXT,            -- JSON; secret: never shown, never logged
            UNIQUE (environment, integration)
        );
        """
    )


@migrations()
def m005_outbox(db: Database) -> None:
    db.executescript(
        """
        -- Invoice actions handed in by the invoice product; the id is the order of arrival.
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY,
            client TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,      -- of what was asked, to tell a repeat from a conflicting reuse of a key
            integration TEXT NOT NULL,
            environment TEXT NOT NULL,
            administration TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,          -- JSON
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'delayed', 'undone', 'failed', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before TEXT,                -- a retry waits until then
            replay_id INTEGER,              -- the replay that released it from delayed, if any
            result TEXT,                    -- JSON: administration, entry_number, entry_id, reference, amount
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (client, idempotency_key)
        );
        CREATE INDEX actions_by_lane ON actions (state, integration, environment, administration, id);
        CREATE INDEX actions_by_replay ON actions (replay_id, state);
        CREATE TABLE action_transitions (
            id INTEGER PRIMARY KEY,
            action_id INTEGER NOT NULL REFERENCES actions(id),
            at TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            cause TEXT NOT NULL
        );
        CREATE INDEX action_transitions_by_action ON action_transitions (action_id, id);
        -- Kill switches: 'integration:<key>' for all environments, 'connection:<environment>:<key>' for one.
        CREATE TABLE switches (
            scope TEXT PRIMARY KEY,
            enabled INTEGER NOT NULL,
            reason TEXT NOT NULL,
            changed_by TEXT NOT NULL,
            changed_at TEXT NOT NULL
        );
        CREATE TABLE replays (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            started_by TEXT NOT NULL,
            started_at TEXT NOT NULL,
            total INTEGER NOT NULL
        );
        -- Bookings that landed in another administration than asked: what support needs to repair the books.
        CREATE TABLE misroutes (
            id INTEGER PRIMARY KEY,
            action_id INTEGER NOT NULL REFERENCES actions(id),
            integration TEXT NOT NULL,
            environment TEXT NOT NULL,
            administration_asked TEXT NOT NULL,
            administration_booked TEXT NOT NULL,
            entry_number TEXT,
            entry_id TEXT,
            amount REAL,
            at TEXT NOT NULL
        );
        -- Subscribers hear of the page's events unless they ask for others: the invoice product's
        -- callback hears only of its actions.
        ALTER TABLE subscribers ADD COLUMN events TEXT;  -- JSON list; NULL: incidents and components
        ALTER TABLE subscribers ADD COLUMN client TEXT;  -- the client token's name, for action callbacks
        -- An incident the service drafted (after a misroute) waits for an operator before it is public.
        ALTER TABLE incidents ADD COLUMN draft INTEGER NOT NULL DEFAULT 0;
        """
    )


@migrations()
def m006_probes(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE probe_results (
            id INTEGER PRIMARY KEY,
            probe TEXT NOT NULL,
            at TEXT NOT NULL,
            duration_ms REAL NOT NULL,
            success INTEGER NOT NULL,
            conditions TEXT NOT NULL,   -- JSON [{condition, success, description}]
            error TEXT,
            detail TEXT                 -- JSON: what the probe saw, e.g. unreachable administrations
        );
        CREATE INDEX probe_results_by_probe ON probe_results (probe, id);
        CREATE INDEX probe_results_by_time ON probe_results (at);
        -- Each probe's standing, for the hysteresis: a verdict only after several results agree.
        CREATE TABLE probe_states (
            probe TEXT PRIMARY KEY,
            component TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0,
            verdict TEXT,               -- the component status the probe claims; NULL: no complaint
            paused INTEGER NOT NULL DEFAULT 0,
            changed_at TEXT
        );
        CREATE TABLE probe_events (
            id INTEGER PRIMARY KEY,
            probe TEXT NOT NULL,
            at TEXT NOT NULL,
            old_verdict TEXT,
            new_verdict TEXT
        );
        -- Master-data syncs the invoice product reports, for the sync-freshness probe.
        CREATE TABLE syncs (
            id INTEGER PRIMARY KEY,
            environment TEXT NOT NULL,
            integration TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('full', 'incremental')),
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL
        );
        CREATE INDEX syncs_by_connection ON syncs (environment, integration, finished_at);
        """
    )


# ---------------------------------------------------------------------------------------------
# Connections and transactions


def connect(path: str | Path) -> Database:
    """A connection usable from whichever thread owns it, waiting on locks instead of failing."""
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def open_database(path: str | Path) -> Database:
    """Connect, switch to WAL and bring the schema up to date. Run once at start-up."""
    db = connect(path)
    db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    migrations.apply(db)
    return db


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    # IMMEDIATE takes the write lock up front: a deferred transaction that upgrades to a write
    # fails with SQLITE_BUSY at once instead of waiting for the busy timeout.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextlib.contextmanager
def read_transaction(db: Database) -> Iterator[Database]:
    """Several SELECTs that see one consistent state of the file."""
    db.conn.execute("BEGIN")
    try:
        yield db
    finally:
        db.conn.execute("COMMIT")


class Store:
    """The async face of the database: one writer thread, a few reader threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.generation = 0  # bumped on every change to the data, ours or another process's
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._read_dbs: list[Database] = []
        self._write_db: Database | None = None
        self._data_version: int | None = None

    def open(self) -> None:
        """Migrate and open the write connection, on the writer thread that will own it."""
        self._write_db = self._writer.submit(open_database, self.path).result()
        self._data_version = self._writer.submit(self._read_data_version).result()

    def close(self) -> None:
        self._readers.shutdown(wait=True)
        for db in self._read_dbs:
            db.close()
        self._writer.submit(self._close_writer).result()
        self._writer.shutdown(wait=True)

    def _close_writer(self) -> None:
        if self._write_db is not None:
            self._write_db.close()
            self._write_db = None

    async def write(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(db, *args)` in one write transaction on the writer thread."""
        result, changed = await asyncio.get_running_loop().run_in_executor(self._writer, self._run_write, work, args)
        if changed:
            self.generation += 1
        return result

    def _run_write(self, work: Callable[..., T], args: Sequence[Any]) -> tuple[T, bool]:
        assert self._write_db is not None, "Store.open() was not called"
        before = self._write_db.conn.total_changes
        with write_transaction(self._write_db) as db:
            result = work(db, *args)
        return result, self._write_db.conn.total_changes != before

    async def read(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(db, *args)` in one read transaction on a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._run_read, work, args)

    def _run_read(self, work: Callable[..., T], args: Sequence[Any]) -> T:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
            self._read_dbs.append(db)
        with read_transaction(db):
            return work(db, *args)

    async def notice_external_changes(self) -> bool:
        """Bump the generation if another process wrote to the file since the last look."""
        version = await asyncio.get_running_loop().run_in_executor(self._writer, self._read_data_version)
        changed = version != self._data_version
        self._data_version = version
        if changed:
            self.generation += 1
        return changed

    def _read_data_version(self) -> int:
        assert self._write_db is not None, "Store.open() was not called"
        return int(self._write_db.execute("PRAGMA data_version").fetchone()[0])


# ---------------------------------------------------------------------------------------------
# Values


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id() -> str:
    """Opaque ids of twelve characters, the form hosted status pages use."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


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
        [component_id, status, reason, set_by, iso(now), iso(expires_at) if expires_at else None],
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
) -> str:
    """Open an incident (or schedule a maintenance) with its first update. Returns its id."""
    incident_id = new_id()
    db.execute(
        """
        INSERT INTO incidents (id, kind, name, status, impact, created_at, updated_at, started_at,
                               scheduled_for, scheduled_until)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            incident_id, kind, name, status, impact, iso(now), iso(now), iso(now),
            iso(scheduled_for) if scheduled_for else None, iso(scheduled_until) if scheduled_until else None,
        ],
    )
    add_incident_update(db, incident_id, status=status, body=body, now=now, components=components)
    return incident_id


def add_incident_update(
    db: Database, incident_id: str, *, status: str, body: str, now: datetime, components: dict[str, str]
) -> str:
    """Post an update; `components` gives the state each named component is in from now on."""
    update_id = new_id()
    db.execute(
        """
        INSERT INTO incident_updates (id, incident_id, status, body, created_at, updated_at, display_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        [update_id, incident_id, status, body, iso(now), iso(now), iso(now)],
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
    db["status_events"].insert_all(
        ({"component_id": component_id, "status": statuses[component_id], "at": iso(now)} for component_id in changed)
    )
    return changed


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
    incidents: list[Row]  # open ones, and the most recent ones of each kind
    incident_components: list[Row]
    updates: list[Row]
    update_components: list[Row]
    status_events: list[Row]  # since `history_since`, plus the one in force at that moment
    switched_off: list[str]  # scopes of kill switches that are off
    probe_verdicts: list[Row]  # component and verdict of each probe that complains


RECENT_LIMIT = 50


def read_page_rows(db: Database, history_since: datetime) -> PageRows:
    incidents = list(
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
    )
    ids = [incident["id"] for incident in incidents]
    marks = ", ".join("?" * len(ids))
    return PageRows(
        components=list(db.query("SELECT * FROM components ORDER BY rowid")),
        overrides=list(db.query("SELECT * FROM component_overrides")),
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


# ---------------------------------------------------------------------------------------------
# Operators: API tokens, console sessions, the service's own secrets


def insert_token(db: Database, name: str, role: str, token_hash: str, now: datetime) -> int:
    cursor = db.execute(
        "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
        [name, role, token_hash, iso(now)],
    )
    return int(cursor.lastrowid)


def token_by_hash(db: Database, token_hash: str) -> Row | None:
    rows = list(db.query("SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", [token_hash]))
    return rows[0] if rows else None


def token_by_name(db: Database, name: str) -> Row | None:
    rows = list(db.query("SELECT * FROM api_tokens WHERE name = ?", [name]))
    return rows[0] if rows else None


def list_tokens(db: Database) -> list[Row]:
    return list(db.query("SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY id"))


def revoke_token(db: Database, token_id: int, now: datetime) -> None:
    db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [iso(now), token_id])
    db.execute("DELETE FROM console_sessions WHERE token_id = ?", [token_id])


def insert_session(db: Database, session_hash: str, token_id: int, now: datetime, expires_at: datetime) -> None:
    db.execute("DELETE FROM console_sessions WHERE expires_at <= ?", [iso(now)])
    db.execute(
        "INSERT INTO console_sessions (session_hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [session_hash, token_id, iso(now), iso(expires_at)],
    )


def token_by_session(db: Database, session_hash: str, now: datetime) -> Row | None:
    rows = list(
        db.query(
            """
            SELECT t.* FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
            WHERE s.session_hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL
            """,
            [session_hash, iso(now)],
        )
    )
    return rows[0] if rows else None


def delete_session(db: Database, session_hash: str) -> None:
    db.execute("DELETE FROM console_sessions WHERE session_hash = ?", [session_hash])


def service_secret(db: Database, name: str, make: Callable[[], str]) -> str:
    """A secret the service keeps across restarts, made on first use."""
    db.execute("INSERT OR IGNORE INTO service_secrets (name, value) VALUES (?, ?)", [name, make()])
    return next(db.query("SELECT value FROM service_secrets WHERE name = ?", [name]))["value"]


# ---------------------------------------------------------------------------------------------
# The audit log


def append_audit(
    db: Database, *, at: datetime, actor: str, action: str, subject_type: str, subject_id: str,
    before: Any = None, after: Any = None,
) -> None:
    db.execute(
        """
        INSERT INTO audit_log (at, actor, action, subject_type, subject_id, before, after)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        [iso(at), actor, action, subject_type, subject_id, _json_or_none(before), _json_or_none(after)],
    )


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def audit_entries(db: Database, *, before_id: int | None = None, limit: int = 100) -> list[Row]:
    rows = db.query(
        """
        SELECT * FROM audit_log WHERE (:before IS NULL OR id < :before)
        ORDER BY id DESC LIMIT :limit
        """,
        {"before": before_id, "limit": limit},
    )
    return [
        {**row, "before": _json_or_none_loads(row["before"]), "after": _json_or_none_loads(row["after"])} for row in rows
    ]


def _json_or_none_loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# ---------------------------------------------------------------------------------------------
# Incidents, one at a time (for operators)


def incident_row(db: Database, incident_id: str) -> Row | None:
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


def edit_incident_update(db: Database, update_id: str, *, body: str, now: datetime) -> None:
    db.execute("UPDATE incident_updates SET body = ?, updated_at = ? WHERE id = ?", [body, iso(now), update_id])
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


def maintenances_needing_a_step(db: Database) -> list[Row]:
    """Maintenance windows not yet recorded as finished, for the clock to move along."""
    return list(db.query("SELECT * FROM incidents WHERE kind = 'maintenance' AND status IN ('scheduled', 'in_progress')"))


def override_rows(db: Database) -> list[Row]:
    return list(db.query("SELECT * FROM component_overrides ORDER BY component_id"))


# ---------------------------------------------------------------------------------------------
# Subscribers and the deliveries owed to them


def insert_subscriber(
    db: Database, *, kind: str, address: str, secret: str | None, components: list[str] | None,
    now: datetime, confirmed: bool,
) -> int:
    cursor = db.execute(
        """
        INSERT INTO subscribers (kind, address, secret, components, created_at, confirmed_at)
        VALUES (?, ?, ?, ?, ?, ?)
        """,
        [kind, address, secret, _json_or_none(components), iso(now), iso(now) if confirmed else None],
    )
    return int(cursor.lastrowid)


def active_subscriber(db: Database, kind: str, address: str) -> Row | None:
    rows = list(db.query(
        "SELECT * FROM subscribers WHERE kind = ? AND address = ? AND unsubscribed_at IS NULL", [kind, address]))
    return rows[0] if rows else None


def subscriber(db: Database, subscriber_id: int) -> Row | None:
    rows = list(db.query("SELECT * FROM subscribers WHERE id = ?", [subscriber_id]))
    return rows[0] if rows else None


def confirm_subscriber(db: Database, subscriber_id: int, now: datetime) -> None:
    db.execute("UPDATE subscribers SET confirmed_at = ? WHERE id = ? AND confirmed_at IS NULL", [iso(now), subscriber_id])


def unsubscribe(db: Database, subscriber_id: int, now: datetime) -> None:
    db.execute("UPDATE subscribers SET unsubscribed_at = ? WHERE id = ? AND unsubscribed_at IS NULL",
               [iso(now), subscriber_id])
    db.execute("UPDATE deliveries SET state = 'failed', last_error = 'unsubscribed' "
               "WHERE subscriber_id = ? AND state = 'pending'", [subscriber_id])


def subscribers_to_notify(db: Database, event: str) -> list[Row]:
    """Active subscribers who hear of `event`: those without a list hear of incidents and components."""
    rows = db.query("SELECT * FROM subscribers WHERE confirmed_at IS NOT NULL AND unsubscribed_at IS NULL")
    wanted = []
    for row in rows:
        events = _json_or_none_loads(row["events"]) or ["incident", "component"]
        if event in events:
            wanted.append({**row, "components": _json_or_none_loads(row["components"])})
    return wanted


def list_subscribers(db: Database) -> list[Row]:
    rows = db.query(
        """
        SELECT s.id, s.kind, s.address, s.components, s.created_at, s.confirmed_at, s.unsubscribed_at,
               (SELECT count(*) FROM deliveries d WHERE d.subscriber_id = s.id AND d.state = 'pending') AS pending,
               (SELECT count(*) FROM deliveries d WHERE d.subscriber_id = s.id AND d.state = 'failed') AS failed
        FROM subscribers s ORDER BY s.id
        """
    )
    return [{**row, "components": _json_or_none_loads(row["components"])} for row in rows]


def enqueue_delivery(db: Database, subscriber_id: int, event: str, body: str, now: datetime) -> int:
    cursor = db.execute(
        """
        INSERT INTO deliveries (subscriber_id, event, body, state, next_attempt_at, created_at)
        VALUES (?, ?, ?, 'pending', ?, ?)
        """,
        [subscriber_id, event, body, iso(now), iso(now)],
    )
    return int(cursor.lastrowid)


def due_deliveries(db: Database, now: datetime, limit: int) -> list[Row]:
    return list(db.query(
        """
        SELECT d.*, s.kind, s.address, s.secret FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
        WHERE d.state = 'pending' AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.id LIMIT ?
        """,
        [iso(now), limit],
    ))


def record_attempt(
    db: Database, delivery_id: int, *, now: datetime, delivered: bool, status: int | None, error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    """One try of a delivery: delivered, to be tried again at `next_attempt_at`, or given up (None)."""
    state = "delivered" if delivered else ("pending" if next_attempt_at else "failed")
    db.execute(
        """
        UPDATE deliveries SET attempts = attempts + 1, state = ?, last_status = ?, last_error = ?,
               next_attempt_at = COALESCE(?, next_attempt_at), delivered_at = ?
        WHERE id = ? AND state = 'pending'
        """,
        [state, status, error, iso(next_attempt_at) if next_attempt_at else None, iso(now) if delivered else None,
         delivery_id],
    )


def deliveries_of(db: Database, subscriber_id: int, limit: int = 100) -> list[Row]:
    return list(db.query(
        "SELECT * FROM deliveries WHERE subscriber_id = ? ORDER BY id DESC LIMIT ?", [subscriber_id, limit]))


# ---------------------------------------------------------------------------------------------
# Connections to accounting systems

_CONNECTION_FIELDS = ("id, environment, integration, user_id, user_name, full_name, current_administration, "
                      "connected_at, connected_by, accessible, checked_at")


def connection_id(db: Database, environment: str, integration: str) -> int:
    """The connection of an environment to an integration, made (empty) on first use."""
    db.execute("INSERT OR IGNORE INTO connections (environment, integration) VALUES (?, ?)", [environment, integration])
    return next(db.query("SELECT id FROM connections WHERE environment = ? AND integration = ?",
                         [environment, integration]))["id"]


def ensure_connections(db: Database, environments: Sequence[str], integration: str) -> None:
    """A (not yet connected) connection for every configured environment, so each has an id to switch by."""
    for environment in environments:
        connection_id(db, environment, integration)


def connections(db: Database, integration: str) -> list[Row]:
    """Every connection of an integration, without its tokens."""
    rows = db.query(f"SELECT {_CONNECTION_FIELDS} FROM connections WHERE integration = ? ORDER BY id", [integration])
    return [{**row, "accessible": _json_or_none_loads(row["accessible"])} for row in rows]


def connection_tokens(db: Database, connection: int) -> str | None:
    rows = list(db.query("SELECT tokens FROM connections WHERE id = ?", [connection]))
    return rows[0]["tokens"] if rows else None


def save_connection_tokens(db: Database, connection: int, tokens: str) -> None:
    db.execute("UPDATE connections SET tokens = ? WHERE id = ?", [tokens, connection])


def record_connection_user(
    db: Database, connection: int, *, user_id: str, user_name: str, full_name: str, current_administration: str,
    connected_by: str, now: datetime,
) -> None:
    db.execute(
        """
        UPDATE connections SET user_id = ?, user_name = ?, full_name = ?, current_administration = ?,
               connected_by = ?, connected_at = ? WHERE id = ?
        """,
        [user_id, user_name, full_name, current_administration, connected_by, iso(now), connection],
    )


def record_accessible(db: Database, connection: int, accessible: list[dict], now: datetime) -> None:
    db.execute("UPDATE connections SET accessible = ?, checked_at = ? WHERE id = ?",
               [json.dumps(accessible), iso(now), connection])


# ---------------------------------------------------------------------------------------------
# The outbox of invoice actions

FINAL_STATES = ("done", "undone", "failed", "cancelled")


def action_by_key(db: Database, client: str, key: str) -> Row | None:
    rows = list(db.query("SELECT * FROM actions WHERE client = ? AND idempotency_key = ?", [client, key]))
    return rows[0] if rows else None


def action(db: Database, action_id: int) -> Row | None:
    rows = list(db.query("SELECT * FROM actions WHERE id = ?", [action_id]))
    return rows[0] if rows else None


def insert_action(db: Database, fields: dict[str, Any], now: datetime, cause: str) -> int:
    cursor = db.execute(
        """
        INSERT INTO actions (client, idempotency_key, fingerprint, integration, environment, administration, kind,
                             payload, state, created_at, updated_at)
        VALUES (:client, :idempotency_key, :fingerprint, :integration, :environment, :administration, :kind,
                :payload, :state, :now, :now)
        """,
        {**fields, "now": iso(now)},
    )
    action_id = int(cursor.lastrowid)
    db.execute("INSERT INTO action_transitions (action_id, at, from_state, to_state, cause) VALUES (?, ?, NULL, ?, ?)",
               [action_id, iso(now), fields["state"], cause])
    return action_id


def move_action(
    db: Database, action_id: int, *, expected: str, to: str, now: datetime, cause: str, **fields: Any
) -> bool:
    """Move one action on, only if it is still in `expected`; the transition is written with it."""
    assignments = "".join(f", {name} = :{name}" for name in fields)
    cursor = db.execute(
        f"UPDATE actions SET state = :to, updated_at = :now{assignments} WHERE id = :id AND state = :expected",
        {"to": to, "now": iso(now), "id": action_id, "expected": expected, **fields},
    )
    if cursor.rowcount != 1:
        return False
    db.execute("INSERT INTO action_transitions (action_id, at, from_state, to_state, cause) VALUES (?, ?, ?, ?, ?)",
               [action_id, iso(now), expected, to, cause])
    return True


def move_actions_in_scope(
    db: Database, *, integration: str, environment: str | None, from_states: tuple[str, ...], to: str,
    now: datetime, cause: str, replay_id: int | None = None, except_environments: tuple[str, ...] = (),
) -> int:
    """Move every action of an integration (or of one environment's connection) in one statement.

    `except_environments`: environments whose own switch is still off; their actions stay where they are.
    """
    states = ", ".join("?" * len(from_states))
    where = f"integration = ? AND state IN ({states})"
    params: list[Any] = [integration, *from_states]
    if environment is not None:
        where += " AND environment = ?"
        params.append(environment)
    for excepted in except_environments:
        where += " AND environment != ?"
        params.append(excepted)
    db.execute("CREATE TEMP TABLE IF NOT EXISTS moving (id INTEGER PRIMARY KEY, from_state TEXT)")
    db.execute("DELETE FROM moving")
    db.execute(f"INSERT INTO moving (id, from_state) SELECT id, state FROM actions WHERE {where}", params)
    db.execute(
        "INSERT INTO action_transitions (action_id, at, from_state, to_state, cause) "
        "SELECT id, ?, from_state, ?, ? FROM moving",
        [iso(now), to, cause],
    )
    cursor = db.execute(
        "UPDATE actions SET state = ?, updated_at = ?, not_before = NULL, replay_id = COALESCE(?, replay_id) "
        "WHERE id IN (SELECT id FROM moving)",
        [to, iso(now), replay_id],
    )
    return cursor.rowcount


def lane_heads(db: Database, now: datetime, closed_scopes: list[str], limit: int) -> list[Row]:
    """The first unfinished action of each administration, when it is queued and due.

    An administration's actions go strictly in arrival order: a later action never overtakes an earlier
    one that waits, runs or is held, so a booking is always done before its release for payment.
    """
    # Only lanes with something queued can have a head to start; a large backlog held as delayed
    # (a switch off) costs nothing here.
    rows = db.query(
        """
        WITH lanes AS (
            SELECT DISTINCT integration, environment, administration FROM actions WHERE state = 'queued'
        ), heads AS (
            SELECT (SELECT min(id) FROM actions b
                    WHERE b.state IN ('queued', 'running', 'delayed') AND b.integration = lanes.integration
                      AND b.environment = lanes.environment AND b.administration = lanes.administration) AS head
            FROM lanes
        )
        SELECT a.* FROM actions a JOIN heads ON a.id = heads.head
        WHERE a.state = 'queued' AND (a.not_before IS NULL OR a.not_before <= ?)
        ORDER BY a.id LIMIT ?
        """,
        [iso(now), limit],
    )
    closed = set(closed_scopes)
    return [row for row in rows if f"integration:{row['integration']}" not in closed
            and f"connection:{row['environment']}:{row['integration']}" not in closed]


def actions_page(db: Database, *, filters: dict[str, Any], after_id: int, limit: int) -> list[Row]:
    where = ["id > :after_id"] + [f"{name} = :{name}" for name in filters]
    return list(db.query(
        f"SELECT * FROM actions WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit",
        {**filters, "after_id": after_id, "limit": limit},
    ))


def transitions_of(db: Database, action_id: int) -> list[Row]:
    return list(db.query("SELECT at, from_state, to_state, cause FROM action_transitions WHERE action_id = ? ORDER BY id",
                         [action_id]))


def stuck_running(db: Database) -> list[Row]:
    """Actions a previous process left mid-call: their outcome is unknown."""
    return list(db.query("SELECT * FROM actions WHERE state = 'running'"))


def switch_rows(db: Database) -> list[Row]:
    return list(db.query("SELECT * FROM switches ORDER BY scope"))


def set_switch(db: Database, scope: str, *, enabled: bool, reason: str, changed_by: str, now: datetime) -> None:
    db.execute(
        """
        INSERT INTO switches (scope, enabled, reason, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (scope) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason,
            changed_by = excluded.changed_by, changed_at = excluded.changed_at
        """,
        [scope, int(enabled), reason, changed_by, iso(now)],
    )


def insert_replay(db: Database, scope: str, started_by: str, now: datetime) -> int:
    cursor = db.execute("INSERT INTO replays (scope, started_by, started_at, total) VALUES (?, ?, ?, 0)",
                        [scope, started_by, iso(now)])
    return int(cursor.lastrowid)


def set_replay_total(db: Database, replay_id: int, total: int) -> None:
    db.execute("UPDATE replays SET total = ? WHERE id = ?", [total, replay_id])


def latest_replay(db: Database, scope: str) -> Row | None:
    rows = list(db.query("SELECT * FROM replays WHERE scope = ? ORDER BY id DESC LIMIT 1", [scope]))
    return rows[0] if rows else None


def replay_counts(db: Database, replay_id: int) -> dict[str, int]:
    return {row["state"]: row["n"] for row in db.query(
        "SELECT state, count(*) AS n FROM actions WHERE replay_id = ? GROUP BY state", [replay_id])}


def replay_done_since(db: Database, replay_id: int, since: datetime) -> int:
    return next(db.query(
        "SELECT count(*) AS n FROM actions WHERE replay_id = ? AND state IN ('done', 'undone', 'failed') "
        "AND updated_at >= ?", [replay_id, iso(since)]))["n"]


def delayed_by_administration(db: Database, integration: str, environment: str | None) -> list[Row]:
    return list(db.query(
        """
        SELECT environment, administration, count(*) AS actions, min(created_at) AS oldest
        FROM actions WHERE integration = :integration AND state = 'delayed'
          AND (:environment IS NULL OR environment = :environment)
        GROUP BY environment, administration ORDER BY environment, administration
        """,
        {"integration": integration, "environment": environment},
    ))


def backlog(db: Database) -> list[Row]:
    return list(db.query(
        "SELECT integration, state, count(*) AS actions, min(created_at) AS oldest FROM actions "
        "WHERE state IN ('queued', 'running', 'delayed') GROUP BY integration, state"))


def insert_misroute(db: Database, fields: dict[str, Any]) -> None:
    db["misroutes"].insert(fields)


def misroute_rows(db: Database) -> list[Row]:
    return list(db.query("SELECT * FROM misroutes ORDER BY id"))


def callback_of(db: Database, client: str) -> Row | None:
    rows = list(db.query("SELECT * FROM subscribers WHERE client = ? AND unsubscribed_at IS NULL", [client]))
    return rows[0] if rows else None


def draft_incidents(db: Database) -> list[Row]:
    return list(db.query("SELECT * FROM incidents WHERE draft = 1 ORDER BY created_at DESC"))


def publish_incident(db: Database, incident_id: str, now: datetime) -> None:
    db.execute("UPDATE incidents SET draft = 0, created_at = ?, started_at = ?, updated_at = ? WHERE id = ?",
               [iso(now), iso(now), iso(now), incident_id])
    db.execute("UPDATE incident_updates SET created_at = ?, updated_at = ?, display_at = ? WHERE incident_id = ?",
               [iso(now), iso(now), iso(now), incident_id])


# ---------------------------------------------------------------------------------------------
# Probes


def probe_state(db: Database, probe: str) -> Row | None:
    rows = list(db.query("SELECT * FROM probe_states WHERE probe = ?", [probe]))
    return rows[0] if rows else None


def save_probe_state(db: Database, probe: str, *, component: str | None, failures: int, successes: int,
                     verdict: str | None, now: datetime) -> None:
    before = probe_state(db, probe)
    db.execute(
        """
        INSERT INTO probe_states (probe, component, failures, successes, verdict, changed_at)
        VALUES (:probe, :component, :failures, :successes, :verdict, :now)
        ON CONFLICT (probe) DO UPDATE SET component = excluded.component, failures = excluded.failures,
            successes = excluded.successes, verdict = excluded.verdict,
            changed_at = CASE WHEN probe_states.verdict IS excluded.verdict THEN probe_states.changed_at
                              ELSE excluded.changed_at END
        """,
        {"probe": probe, "component": component, "failures": failures, "successes": successes, "verdict": verdict,
         "now": iso(now)},
    )
    old = before["verdict"] if before else None
    if old != verdict:
        db.execute("INSERT INTO probe_events (probe, at, old_verdict, new_verdict) VALUES (?, ?, ?, ?)",
                   [probe, iso(now), old, verdict])


def pause_probe(db: Database, probe: str, paused: bool) -> None:
    db.execute("INSERT OR IGNORE INTO probe_states (probe) VALUES (?)", [probe])
    db.execute("UPDATE probe_states SET paused = ? WHERE probe = ?", [int(paused), probe])


def insert_probe_result(db: Database, probe: str, *, at: datetime, duration_ms: float, success: bool,
                        conditions: list[dict], error: str | None, detail: Any) -> None:
    db.execute(
        "INSERT INTO probe_results (probe, at, duration_ms, success, conditions, error, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [probe, iso(at), duration_ms, int(success), json.dumps(conditions), error, _json_or_none(detail)],
    )


def probe_results(db: Database, probe: str, limit: int = 100) -> list[Row]:
    rows = db.query("SELECT * FROM probe_results WHERE probe = ? ORDER BY id DESC LIMIT ?", [probe, limit])
    return [{**row, "conditions": json.loads(row["conditions"]), "detail": _json_or_none_loads(row["detail"])}
            for row in rows]


def latest_probe_results(db: Database) -> dict[str, Row]:
    rows = db.query(
        "SELECT * FROM probe_results WHERE id IN (SELECT max(id) FROM probe_results GROUP BY probe)")
    return {row["probe"]: {**row, "conditions": json.loads(row["conditions"]),
                           "detail": _json_or_none_loads(row["detail"])} for row in rows}


def probe_states(db: Database) -> dict[str, Row]:
    return {row["probe"]: row for row in db.query("SELECT * FROM probe_states")}


def trim_probe_results(db: Database, before: datetime) -> int:
    return db.execute("DELETE FROM probe_results WHERE at < ?", [iso(before)]).rowcount


def record_sync(db: Database, *, environment: str, integration: str, kind: str, started_at: datetime,
                finished_at: datetime) -> int:
    cursor = db.execute(
        "INSERT INTO syncs (environment, integration, kind, started_at, finished_at) VALUES (?, ?, ?, ?, ?)",
        [environment, integration, kind, iso(started_at), iso(finished_at)])
    return int(cursor.lastrowid)


def last_syncs(db: Database, integration: str) -> dict[str, datetime]:
    """The last finished sync of each environment's connection."""
    return {row["environment"]: moment(row["finished"]) for row in db.query(
        "SELECT environment, max(finished_at) AS finished FROM syncs WHERE integration = ? GROUP BY environment",
        [integration])}


def backlog_of(db: Database, integration: str) -> Row:
    return next(db.query(
        """
        SELECT sum(state = 'queued') AS queued, sum(state = 'delayed') AS delayed, sum(state = 'running') AS running,
               min(created_at) AS oldest
        FROM actions WHERE integration = ? AND state IN ('queued', 'running', 'delayed')
        """, [integration]))
