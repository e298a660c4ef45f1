"""One vocabulary for the whole service: the states and kinds that the API, the console, the page and
storage all speak, as enums, so that a new state is added in one place and never hunted for as a string.

The page's words are those of the most widely used hosted status page (component status, incident
status and impact, maintenance status, page indicator), so that the tools its customers already run
against such pages understand ours.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ComponentStatus(enum.StrEnum):
    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def severity(self) -> int:
        # Declaration order is severity order: an outage during maintenance is still an outage.
        return _COMPONENT_ORDER.index(self)


_COMPONENT_ORDER = list(ComponentStatus)


class IncidentStatus(enum.StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"

    @property
    def is_open(self) -> bool:
        return self not in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM)


class MaintenanceStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


class Impact(enum.StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"


class Indicator(enum.StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"


class ActionState(enum.StrEnum):
    """Where an invoice action stands in the outbox (DESIGN.md, "The kill switch and the action outbox")."""

    QUEUED = "queued"  # waiting for its turn in its administration's lane
    RUNNING = "running"  # claimed by the dispatcher; a call may be under way
    DELAYED = "delayed"  # held by a kill switch: factuuracties vertraagd
    DONE = "done"
    UNDONE = "undone"  # refused before anything was sent (e.g. the connection user lacks rights)
    FAILED = "failed"  # tries used up, or a misroute: an operator must look
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_ACTION_STATES


FINAL_ACTION_STATES = frozenset({ActionState.DONE, ActionState.UNDONE, ActionState.FAILED, ActionState.CANCELLED})


class ScopeKind(enum.StrEnum):
    """What a kill switch covers (DESIGN.md, "The kill switch and the action outbox")."""

    INTEGRATION = "integration"  # every environment of an integration
    CONNECTION = "connection"  # one environment's connection to an integration


@dataclass(frozen=True)
class SwitchScope:
    """What one kill switch covers: a whole integration (`environment` None) or one environment's connection to
    it. Stored, and shown, as its `key`: `integration:exact-online`, `connection:jansen-groep:exact-online`."""

    integration: str
    environment: str | None = None

    @property
    def kind(self) -> ScopeKind:
        return ScopeKind.INTEGRATION if self.environment is None else ScopeKind.CONNECTION

    @property
    def key(self) -> str:
        if self.environment is None:
            return f"{ScopeKind.INTEGRATION}:{self.integration}"
        return f"{ScopeKind.CONNECTION}:{self.environment}:{self.integration}"

    @classmethod
    def parse(cls, key: str) -> SwitchScope:
        """The scope stored as `key`; ValueError when `key` is of neither form."""
        match key.split(":"):
            case [ScopeKind.INTEGRATION, integration] if integration:
                return cls(integration)
            case [ScopeKind.CONNECTION, environment, integration] if environment and integration:
                return cls(integration, environment)
        raise ValueError(f"{key!r} is no switch scope: 'integration:<key>' or 'connection:<environment>:<key>'")


class SyncState(enum.StrEnum):
    """Where a master-data sync task, or one entity's run inside it, stands (issue 13, "Monitoring")."""

    QUEUED = "queued"  # asked for (manual, nightly, monthly, on send), not picked up yet
    RUNNING = "running"  # reading pages from the accounting system
    WAITING_FOR_BUDGET = "waiting_for_budget"  # bookings go first: one is waiting, or only the reserve is left
    PAUSED_BY_SWITCH = "paused_by_switch"  # a kill switch above it is off; resumes after the replay
    FAILED = "failed"
    DONE = "done"

    @property
    def is_final(self) -> bool:
        return self in (SyncState.FAILED, SyncState.DONE)


class SyncKind(enum.StrEnum):
    """Seeds 002 and 004: an incremental ("eenvoudige") sync takes what changed since the last one; a full
    sync reads everything again and is the only way to notice hard deletes."""

    INCREMENTAL = "incremental"
    FULL = "full"


class SyncTrigger(enum.StrEnum):
    """Why a sync task exists: the four kinds of sync of seed 002."""

    ON_SEND = "on_send"  # after a booking: refresh the entry and the relation it used
    NIGHTLY = "nightly"  # the nightly incremental, inside the environment's window
    MONTHLY = "monthly"  # the nightly that turns into a full sync on the month's drawn day
    MANUAL = "manual"  # "Sync now" in the console, or POST /api/v1/sync-tasks
    MIRROR = "mirror"  # a mirror rule reads its target again before it reconciles (issue 16)


class SyncProfile(enum.StrEnum):
    """How an environment uses the invoice product (seed 000): Scan–Book–Archive has no approval flow, so
    payment dates and payment state are not synced for it."""

    APPROVAL = "approval"
    SCAN_BOOK_ARCHIVE = "scan-book-archive"


class MirrorMode(enum.StrEnum):
    """What a mirror rule writes into its target (seed 001: insert only, "voeg gewoon 'of update' toe")."""

    INSERT_ONLY = "insert-only"  # rows missing in the target are inserted; existing ones are never touched
    INSERT_AND_UPDATE = "insert-and-update"  # and rows whose mapped fields differ are changed


class MirrorTrigger(enum.StrEnum):
    """Why a mirror run happened."""

    AFTER_SYNC = "after_sync"  # an incremental (or full) sync of its source finished
    MANUAL = "manual"  # "Run now" in the console, or POST /api/v1/mirrors/{key}/runs


class MirrorRunState(enum.StrEnum):
    """Where a mirror run stands: it reads the target, reconciles, and hands its writes to the outbox."""

    QUEUED = "queued"  # asked for (run now); the background work picks it up
    RUNNING = "running"
    DONE = "done"  # reconciled; its writes are in the outbox (queued, or delayed by a kill switch)
    FAILED = "failed"  # it could not reconcile (the source or target could not be read); nothing was written

    @property
    def is_final(self) -> bool:
        return self in (MirrorRunState.DONE, MirrorRunState.FAILED)
