"""Writes down each component's shown status whenever it changes, for the uptime bars.

The shown status is derived, so it can change without any write: a maintenance window opens,
an override expires. The recorder looks at regular intervals and after every change it hears of.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from statuspage.core.clock import Clock
from statuspage.core.settings import Settings
from statuspage.core.storage import Store, read_page_rows, record_status_changes
from statuspage.incidents import notifications
from statuspage.page.snapshot import derive_statuses


def record_statuses_now(db: Database, settings: Settings, now: datetime) -> dict[str, str | None]:
    """Append a history entry for every component whose shown status changed, and tell the
    subscribers; return the changed components with their previous status."""
    statuses = derive_statuses(settings, read_page_rows(db, now), now)
    leaves = {component.key: statuses[component.key].value for component in settings.components}
    changes = record_status_changes(db, leaves, now)
    notifications.components_changed(db, settings, now, changes)
    return changes


async def record_statuses(store: Store, settings: Settings, clock: Clock) -> dict[str, str | None]:
    return await store.write(record_statuses_now, settings, clock())
