"""Writes down each component's shown status whenever it changes, for the uptime bars.

The shown status is derived, so it can change without any write: a maintenance window opens,
an override expires. The recorder looks at regular intervals and after every change it hears of.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from statuspage.core.clock import Clock
from statuspage.core.settings import Settings
from statuspage.core.storage import (
    PageRows,
    Store,
    latest_status_at,
    moment,
    read_page_rows,
    record_status_changes,
)
from statuspage.incidents import notifications
from statuspage.page.snapshot import derive_statuses


def record_statuses_now(db: Database, settings: Settings, now: datetime) -> dict[str, str | None]:
    """Append a history entry for every component whose shown status changed, and tell the
    subscribers; return the changed components with their previous status.

    A change the clock made (an override that expired) is stamped at the moment it took effect, not when
    this runs: after a restart at 12:30, an override that expired at 10:00 is recorded as ending at 10:00
    (`effective_moments`). Maintenance windows are stamped by the updates `advance_maintenances` posts at
    their own start and end.
    """
    rows = read_page_rows(db, now)
    changes: dict[str, str | None] = {}
    for at in effective_moments(rows, latest_status_at(db), now):
        statuses = derive_statuses(settings, rows, at)
        leaves = {component.key: statuses[component.key].value for component in settings.components}
        for component, old in record_status_changes(db, leaves, at).items():
            changes.setdefault(component, old)
    notifications.components_changed(db, settings, now, changes)
    return changes


def effective_moments(rows: PageRows, last_recorded: datetime | None, now: datetime) -> list[datetime]:
    """The moments to derive and record statuses at, oldest first, ending with `now`: each override expiry
    after the last recorded change (and after the latest write the rows show, since the rows describe the state
    only from then on) and up to `now`."""
    since = max([last_recorded, *(moment(row["set_at"]) for row in rows.overrides),
                 *(incident.updated_at for incident in rows.incidents)],
                key=lambda value: value or datetime.min.replace(tzinfo=now.tzinfo))
    expiries = {moment(row["expires_at"]) for row in rows.overrides if row["expires_at"]}
    return sorted(at for at in expiries if at is not None and (since is None or at > since) and at < now) + [now]
async def record_statuses(store: Store, settings: Settings, clock: Clock) -> dict[str, str | None]:
    return await store.write(record_statuses_now, settings, clock())
