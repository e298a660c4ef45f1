"""The schema, as migrations applied in order at start-up (sqlite-utils' Migrations, each in a transaction)."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

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




@migrations()
def m007_bilingual_incidents_and_switch_notices(db: Database) -> None:
    db.executescript(
        """
        -- An incident's title and an update's text in each language it was written in: JSON
        -- {"nl": ..., "en": ...}. NULL: only `name` / `body`, in no language in particular.
        ALTER TABLE incidents ADD COLUMN names TEXT;
        ALTER TABLE incident_updates ADD COLUMN bodies TEXT;
        -- The incident opened (or drafted) when a switch went off, for switching on to close.
        ALTER TABLE switches ADD COLUMN incident_id TEXT;
        -- When a replay had nothing left (or was stopped by the switch going off again), and the
        -- incident to resolve then, with the resolving update's texts (JSON, per language).
        ALTER TABLE replays ADD COLUMN finished_at TEXT;
        ALTER TABLE replays ADD COLUMN incident_id TEXT;
        ALTER TABLE replays ADD COLUMN resolved_texts TEXT;
        """
    )


@migrations()
def m008_action_keys_across_clients(db: Database) -> None:
    # An idempotency key is the booking's reference in the accounting system, looked up by it: one client's
    # key must not be another's, which needs a look-up by key alone.
    db.execute("CREATE INDEX IF NOT EXISTS actions_by_key ON actions (idempotency_key)")


@migrations()
def m009_delivery_subjects(db: Database) -> None:
    # What a notice is about ("incident:<id>", "component:<id>"), so that an older notice about the same
    # subject can be dropped once a newer one exists for the same subscriber.
    db.execute("ALTER TABLE deliveries ADD COLUMN subject TEXT")
    db.execute("CREATE INDEX deliveries_by_subject ON deliveries (subscriber_id, subject, id)")


@migrations()
def m010_page_version(db: Database) -> None:
    # A counter that moves only when something the public page shows changes (components, overrides,
    # incidents and their updates, status history, kill switches, probe verdicts): the page's caches follow
    # it, so the thousands of action transitions of a replay no longer throw them away.
    db.executescript(
        """
        CREATE TABLE page_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
        INSERT INTO page_version (id, version) VALUES (1, 0);
        CREATE TRIGGER page_version_components_insert AFTER INSERT ON components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_components_update AFTER UPDATE ON components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_components_delete AFTER DELETE ON components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_component_overrides_insert AFTER INSERT ON component_overrides
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_component_overrides_update AFTER UPDATE ON component_overrides
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_component_overrides_delete AFTER DELETE ON component_overrides
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incidents_insert AFTER INSERT ON incidents
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incidents_update AFTER UPDATE ON incidents
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incidents_delete AFTER DELETE ON incidents
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_components_insert AFTER INSERT ON incident_components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_components_update AFTER UPDATE ON incident_components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_components_delete AFTER DELETE ON incident_components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_updates_insert AFTER INSERT ON incident_updates
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_updates_update AFTER UPDATE ON incident_updates
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_updates_delete AFTER DELETE ON incident_updates
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_update_components_insert AFTER INSERT ON incident_update_components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_update_components_update AFTER UPDATE ON incident_update_components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_incident_update_components_delete AFTER DELETE ON incident_update_components
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_status_events_insert AFTER INSERT ON status_events
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_status_events_update AFTER UPDATE ON status_events
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_status_events_delete AFTER DELETE ON status_events
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_switches_insert AFTER INSERT ON switches
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_switches_update AFTER UPDATE OF enabled ON switches
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_switches_delete AFTER DELETE ON switches
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_probe_states_insert AFTER INSERT ON probe_states
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_probe_states_update AFTER UPDATE OF verdict, paused, component ON probe_states
        BEGIN UPDATE page_version SET version = version + 1; END;
        CREATE TRIGGER page_version_probe_states_delete AFTER DELETE ON probe_states
        BEGIN UPDATE page_version SET version = version + 1; END;
        """
    )


@migrations()
def m011_shared_connections_and_budgets(db: Database) -> None:
    db.executescript(
        """
        -- Compare-and-set of rotated tokens: the fingerprint of the refresh token the stored pair holds.
        ALTER TABLE connections ADD COLUMN token_guard TEXT;
        -- Bumped by every (re)connect, so every process notices a new connection user before its next call.
        ALTER TABLE connections ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
        -- Until when one process holds the right to refresh the connection's tokens (one refresh at a time).
        ALTER TABLE connections ADD COLUMN refresh_claimed_until TEXT;
        -- The limits an accounting system last stated per administration (whichever process heard them).
        CREATE TABLE budgets (
            integration TEXT NOT NULL,
            administration TEXT NOT NULL,
            minutely_limit INTEGER,
            minutely_remaining INTEGER,
            minutely_reset TEXT,
            daily_limit INTEGER,
            daily_remaining INTEGER,
            daily_reset TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (integration, administration)
        );
        -- Calls made per class per (UTC) day, summed over every process.
        CREATE TABLE budget_calls (
            integration TEXT NOT NULL,
            administration TEXT NOT NULL,
            day TEXT NOT NULL,
            class TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (integration, administration, day, class)
        );
        """
    )


@migrations()
def m012_leases_and_claims(db: Database) -> None:
    db.executescript(
        """
        -- Named leases: the one process that runs the background work holds 'background' (core/lease.py).
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,       -- host:pid
            expires_at TEXT NOT NULL,
            taken_at TEXT NOT NULL      -- when this holder took it (renewals leave it)
        );
        -- An action in 'running' is claimed by a process until claim_until; recovery takes back only
        -- claims that lapsed, never another live process's.
        ALTER TABLE actions ADD COLUMN claimed_by TEXT;
        ALTER TABLE actions ADD COLUMN claim_until TEXT;
        CREATE INDEX actions_running_claims ON actions (state, claim_until) WHERE state = 'running';
        -- A delivery being sent is claimed the same way.
        ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
        ALTER TABLE deliveries ADD COLUMN claim_until TEXT;
        """
    )


@migrations()
def m013_sync(db: Database) -> None:
    """The master-data mirror (issue 13): rows per environment, administration and entity, never deleted."""
    db.executescript(
        """
        -- One row per record of the accounting system. A delete is a tombstone (deleted_at), never a DELETE:
        -- the invoice product's change feed must hear of it. `seq` rises with every change of any row, so
        -- the feed is "everything with seq > N".
        CREATE TABLE mirror_rows (
            environment TEXT NOT NULL,
            administration TEXT NOT NULL,
            entity TEXT NOT NULL,
            key TEXT NOT NULL,              -- the accounting system's key (Exact: the row's ID)
            hash TEXT NOT NULL,             -- of the normalised content, to tell a change from a re-read
            content TEXT NOT NULL,          -- JSON, the row as the invoice product reads it
            seq INTEGER NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            deleted_at TEXT,                -- the tombstone
            PRIMARY KEY (environment, administration, entity, key)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX mirror_rows_by_seq ON mirror_rows (environment, administration, entity, seq);
        CREATE TABLE mirror_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
        INSERT INTO mirror_sequence (id, last) VALUES (1, 0);
        -- Where the next incremental read starts: a Timestamp (JSON number), a Modified cursor (JSON object),
        -- or for the entity 'deleted' the division's sync/Deleted feed. Written with the page it follows.
        CREATE TABLE sync_cursors (
            environment TEXT NOT NULL,
            administration TEXT NOT NULL,
            entity TEXT NOT NULL,
            cursor TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (environment, administration, entity)
        );
        CREATE TABLE sync_tasks (
            id INTEGER PRIMARY KEY,
            environment TEXT NOT NULL,
            administration TEXT,            -- NULL: every administration of the environment
            kind TEXT NOT NULL CHECK (kind IN ('incremental', 'full')),
            trigger TEXT NOT NULL,
            entities TEXT,                  -- JSON list; NULL: every entity the environment's profile syncs
            fingerprint TEXT NOT NULL,      -- what was asked, so the same task asked twice while queued is one
            state TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            error TEXT
        );
        CREATE UNIQUE INDEX sync_tasks_one_queued ON sync_tasks (fingerprint) WHERE state = 'queued';
        CREATE INDEX sync_tasks_by_state ON sync_tasks (state, id);
        -- One entity of one administration within a task: what monitoring shows.
        CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            task_id INTEGER NOT NULL REFERENCES sync_tasks(id),
            environment TEXT NOT NULL,
            administration TEXT NOT NULL,
            entity TEXT NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT,
            pages INTEGER NOT NULL DEFAULT 0,   -- one API call each
            rows_read INTEGER NOT NULL DEFAULT 0,
            inserted INTEGER NOT NULL DEFAULT 0,
            changed INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            error TEXT
        );
        CREATE INDEX sync_runs_by_target ON sync_runs (environment, administration, entity, id);
        CREATE INDEX sync_runs_by_task ON sync_runs (task_id, id);
        -- Per environment: the month's full-sync day, drawn once at random and kept (seed 002), and the
        -- local date of the last nightly run, so a night is synced once.
        CREATE TABLE sync_schedules (
            environment TEXT PRIMARY KEY,
            full_sync_day INTEGER NOT NULL CHECK (full_sync_day BETWEEN 1 AND 28),
            last_nightly TEXT
        );
        """
    )


@migrations()
def m014_spent_credits(db: Database) -> None:
    db.executescript(
        """
        -- What was spent of a budget the accounting system does not report on (Twinfield's credits), per window,
        -- by every process together; `administration` is the budget's key (Twinfield's organisation).
        CREATE TABLE spent_credits (
            integration TEXT NOT NULL,
            administration TEXT NOT NULL,
            window_start TEXT NOT NULL,
            spent INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (integration, administration, window_start)
        );
        """
    )


@migrations()
def m015_listeners(db: Database) -> None:
    """Where the parts a `statuspage serve` started listen (its own address, the demo's sandboxes), so that every
    other process on the database reaches the same ones instead of starting its own (statuspage/sandboxes.py)."""
    db.executescript(
        """
        CREATE TABLE listeners (
            name TEXT PRIMARY KEY,      -- 'serve', or 'sandbox:<integration>'
            url TEXT NOT NULL,
            holder TEXT NOT NULL,       -- host:pid of the process that listens there
            started_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m016_refused_connections(db: Database) -> None:
    """A connection whose credentials the accounting system refused (invalid_grant: its refresh token is unknown or
    revoked) needs a person to connect it again; until then its actions wait and nothing calls with it."""
    db.executescript(
        """
        ALTER TABLE connections ADD COLUMN refused_at TEXT;
        ALTER TABLE connections ADD COLUMN refused_reason TEXT;  -- the system's word for it, never a secret
        """
    )


@migrations()
def m017_mirror_rules(db: Database) -> None:
    """Mirror rules (issue 16): each run's reconciliation. Its writes are actions in the outbox, client
    'mirror:<rule>', so their states, retries and replay are the outbox's."""
    db.executescript(
        """
        CREATE TABLE mirror_runs (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            trigger TEXT NOT NULL,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            source_sync_run INTEGER,        -- the source's latest finished sync run when this run began
            target_note TEXT,               -- why the target was not read again before this run, if it was not
            source_rows INTEGER NOT NULL DEFAULT 0,
            target_rows INTEGER NOT NULL DEFAULT 0,
            inserts INTEGER NOT NULL DEFAULT 0,     -- writes handed to the outbox by this run
            changes INTEGER NOT NULL DEFAULT 0,
            waiting INTEGER NOT NULL DEFAULT 0,     -- rows to write that an earlier run's write is still on
            unchanged INTEGER NOT NULL DEFAULT 0,
            only_in_target INTEGER NOT NULL DEFAULT 0,
            source_without_key INTEGER NOT NULL DEFAULT 0,
            target_without_key INTEGER NOT NULL DEFAULT 0,
            duplicate_keys INTEGER NOT NULL DEFAULT 0,
            error TEXT
        );
        CREATE INDEX mirror_runs_by_rule ON mirror_runs (rule, id);
        """
    )


@migrations(transactional=False)
def m018_narrow_actions(db: Database) -> None:
    """Switching off 100,000 queued actions rewrites 100,000 rows (issue 15): the rows a switch rewrites are
    kept narrow, no index they sit in holds `state`, and their CHECK on `state` is one a row can pass
    cheaply, so the switch costs the rows themselves and little else. What it writes down of the move is
    one row per run of consecutive actions moved, not one per action (`action_moves`); the view
    `action_transitions` still shows a row per action and move, as the table of that name did.

    The table is rebuilt (SQLite's documented way to change a CHECK: a new table, the rows copied, the old
    dropped, the new renamed), which must run with foreign keys off, hence outside the usual transaction.
    """
    if "action_requests" in db.table_names():
        return  # rebuilt already; only its record was missing (a crash between the two)
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        # Inside a transaction the PRAGMA does nothing, and dropping the old table would then fail on every
        # transition pointing at it: say why instead.
        if db.execute("PRAGMA foreign_keys").fetchone()[0]:
            raise RuntimeError("m018 must run outside a transaction, with foreign keys off")
        with db.atomic():
            # One statement at a time: executescript would commit the transaction first.
            for statement in _NARROW_ACTIONS.split(";\n"):
                db.execute(statement)
            broken = db.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"m018 would leave rows pointing at no action: {broken[:5]}")
    finally:
        db.execute("PRAGMA foreign_keys = ON")


_NARROW_ACTIONS = """
-- What was asked, written once and read by the dispatcher: apart from the rows a switch rewrites.
CREATE TABLE action_requests (
    action_id INTEGER PRIMARY KEY REFERENCES actions(id),
    fingerprint TEXT NOT NULL,      -- of what was asked, to tell a repeat from a conflicting reuse of a key
    payload TEXT NOT NULL           -- JSON
);
INSERT INTO action_requests (action_id, fingerprint, payload) SELECT id, fingerprint, payload FROM actions;
CREATE TABLE actions_narrow (
    id INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    integration TEXT NOT NULL,
    environment TEXT NOT NULL,
    administration TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- ORs rather than IN (...): SQLite checks an IN list here at about ten times the cost, on every row an
    -- UPDATE touches.
    state TEXT NOT NULL CHECK (state = 'queued' OR state = 'running' OR state = 'delayed' OR state = 'done'
                               OR state = 'undone' OR state = 'failed' OR state = 'cancelled'),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT,                -- a retry waits until then
    replay_id INTEGER,              -- the replay that released it from delayed, if any
    result TEXT,                    -- JSON: administration, entry_number, entry_id, reference, amount
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- When it reached a final state (done, undone, failed, cancelled); NULL while open (queued, running,
    -- delayed). The index of open actions keys on it rather than on `state`, so actions moving between
    -- queued and delayed stay where they are in it.
    finished_at TEXT,
    claimed_by TEXT,                -- the process whose claim a running action is under (core/lease.py)
    claim_until TEXT,
    UNIQUE (client, idempotency_key)
);
INSERT INTO actions_narrow (id, client, idempotency_key, integration, environment, administration, kind, state,
                            attempts, not_before, replay_id, result, error, created_at, updated_at, finished_at,
                            claimed_by, claim_until)
SELECT id, client, idempotency_key, integration, environment, administration, kind, state, attempts, not_before,
       replay_id, result, error, created_at, updated_at,
       CASE WHEN state IN ('done', 'undone', 'failed', 'cancelled') THEN updated_at END, claimed_by, claim_until
FROM actions;
DROP TABLE actions;
ALTER TABLE actions_narrow RENAME TO actions;
CREATE INDEX actions_by_key ON actions (idempotency_key);
CREATE INDEX actions_running_claims ON actions (state, claim_until) WHERE state = 'running';
-- Each administration's open actions in arrival order: its lane.
CREATE INDEX actions_open ON actions (integration, environment, administration, id) WHERE finished_at IS NULL;
-- A replay's actions, open (finished_at NULL) or final. Only actions a replay released are in it, and a switch
-- going off mid-replay (delayed again) leaves it as it is.
CREATE INDEX actions_by_replay ON actions (replay_id, finished_at) WHERE replay_id IS NOT NULL;
-- Every state change of the actions: one row per change of one action (first = last), or per run of
-- consecutive actions a switch moved together (first < last), in the order they happened (id).
CREATE TABLE action_moves (
    id INTEGER PRIMARY KEY,
    first_action_id INTEGER NOT NULL REFERENCES actions(id),
    last_action_id INTEGER NOT NULL REFERENCES actions(id),
    at TEXT NOT NULL,
    from_state TEXT,                -- NULL: received
    to_state TEXT NOT NULL,
    cause TEXT NOT NULL,
    CHECK (first_action_id <= last_action_id)
);
INSERT INTO action_moves (id, first_action_id, last_action_id, at, from_state, to_state, cause)
SELECT id, action_id, action_id, at, from_state, to_state, cause FROM action_transitions;
DROP TABLE action_transitions;
CREATE INDEX action_moves_by_action ON action_moves (first_action_id, id);
CREATE INDEX action_moves_runs ON action_moves (last_action_id) WHERE first_action_id < last_action_id;
-- Each action's transitions, a row per action and change, as the table of this name held them before.
CREATE VIEW action_transitions (id, action_id, at, from_state, to_state, cause) AS
SELECT m.id, a.id, m.at, m.from_state, m.to_state, m.cause
FROM action_moves m JOIN actions a ON a.id BETWEEN m.first_action_id AND m.last_action_id
"""


@migrations()
def m019_limit_hits(db: Database) -> None:
    # What the per-client limits counted (failed console sign-ins, e-mail subscriptions), in the database so
    # that every web worker counts against the same limit (issue 15). Rows older than a limit's window go.
    db.executescript(
        """
        CREATE TABLE limit_hits (
            limiter TEXT NOT NULL,          -- 'sign-in', 'subscribe'
            client TEXT NOT NULL,           -- the client's address (web/security.py, client_of)
            at TEXT NOT NULL
        );
        CREATE INDEX limit_hits_by_client ON limit_hits (limiter, client, at);
        CREATE INDEX limit_hits_by_time ON limit_hits (limiter, at);
        """
    )


@migrations()
def m020_mirror_run_problems(db: Database) -> None:
    # What a mirror run found wrong (issue 16): writes the target refused for good and not planned again, keys
    # several rows share; counted, and the first of them listed with the row's key and the reason.
    db.executescript(
        """
        ALTER TABLE mirror_runs ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE mirror_runs ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE mirror_runs ADD COLUMN problems TEXT;  -- JSON: [{"key", "reason"}], the first 50
        """
    )
