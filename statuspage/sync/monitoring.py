"""What monitoring shows of the sync (issue 13, seed 002's "Monitoring" tab), as Structs the JSON API returns
and the console renders: per environment its schedule, per administration the day's calls, per entity the
latest run, and the recent tasks. Plain shaping of rows; the reads are `read_overview` and `read_task`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from statuspage.core import storage
from statuspage.core.clock import Clock
from statuspage.core.storage import Store
from statuspage.core.vocabulary import SyncKind, SyncProfile, SyncState
from statuspage.sync import schedule
from statuspage.sync.engine import SyncEngine


class RunView(msgspec.Struct, kw_only=True):
    """One entity of one administration within a task. `calls` are API calls (one per page); `rows_read` is
    the progress of a running sync; `duration_seconds` runs on while it runs."""

    task_id: int
    environment: str
    administration: str
    entity: str
    kind: SyncKind
    state: SyncState
    started_at: datetime
    finished_at: datetime | None
    last_success: datetime | None = None
    duration_seconds: float
    calls: int
    rows_read: int
    inserted: int
    changed: int
    deleted: int
    error: str | None


# A task as the API shows it: the stored task, and its runs per administration and entity.
class TaskView(storage.SyncTask, frozen=True, kw_only=True):
    runs: list[RunView]


class AdministrationView(msgspec.Struct, kw_only=True):
    code: str
    name: str
    calls_left_today: int | None
    """As the accounting system last said (Exact Online's X-RateLimit-Remaining); None before any call, or where
    it states no daily limit (Twinfield)."""
    daily_limit: int | None


class EnvironmentView(msgspec.Struct, kw_only=True):
    key: str
    name: str
    integration: str
    profile: SyncProfile
    nightly_window: str
    next_nightly: datetime | None
    """None: the environment's window is empty (no nightly sync)."""
    full_sync_day: int | None
    """The day of the month its nightly sync is a full one (drawn once, seed 002)."""
    next_full_sync: date | None
    administrations: list[AdministrationView]
    runs: list[RunView]


class Overview(msgspec.Struct, kw_only=True):
    environments: list[EnvironmentView]
    tasks: list[TaskView]


def run_view(row: storage.Row, now: datetime) -> RunView:
    started = storage.moment(row["started_at"])
    finished = storage.moment(row["finished_at"])
    assert started is not None
    return RunView(
        task_id=row["task_id"], environment=row["environment"], administration=row["administration"],
        entity=row["entity"], kind=SyncKind(row["kind"]), state=SyncState(row["state"]), started_at=started,
        finished_at=finished, last_success=storage.moment(row.get("last_success")),
        duration_seconds=round(((finished or now) - started).total_seconds(), 3), calls=row["pages"],
        rows_read=row["rows_read"], inserted=row["inserted"], changed=row["changed"], deleted=row["deleted"],
        error=row["error"])


def task_view(task: storage.SyncTask, runs: list[storage.Row], now: datetime) -> TaskView:
    return TaskView(**msgspec.structs.asdict(task), runs=[run_view(run, now) for run in runs])


async def read_task(store: Store, clock: Clock, task_id: int) -> TaskView | None:
    def read(db: Any) -> tuple[storage.SyncTask | None, list[storage.Row]]:
        return storage.sync_task(db, task_id), storage.sync_runs_of(db, task_id)

    row, runs = await store.read(read)
    return None if row is None else task_view(row, runs, clock())


async def read_overview(engine: SyncEngine, tasks: int = 15) -> Overview:
    """Every mirrored environment (`SyncEngine.environments`) and the `tasks` most recent tasks."""
    store, settings, clock, budget = engine.store, engine.settings, engine.clock, engine.budget
    synced = engine.environments

    def read(db: Any) -> tuple[list[storage.Row], dict[str, storage.Row | None], list[tuple[storage.SyncTask, list]]]:
        schedules = {e.key: storage.sync_schedule(db, e.key) for e in synced}
        recent = [(task, storage.sync_runs_of(db, task.id)) for task in storage.recent_sync_tasks(db, tasks)]
        return storage.latest_sync_runs(db), schedules, recent

    latest, schedules, recent = await store.read(read)
    now = clock()
    today = now.astimezone(settings.zone).date()
    environments = []
    for environment in synced:
        plan = schedules.get(environment.key)
        last = date.fromisoformat(plan["last_nightly"]) if plan and plan["last_nightly"] else None
        day = plan["full_sync_day"] if plan else None
        administrations = []
        for item in environment.administrations:
            known = budget.daily(environment.integration, engine.budget_key_of(environment.key, item.code))
            administrations.append(AdministrationView(code=item.code, name=item.name,
                                                      calls_left_today=known[0] if known else None,
                                                      daily_limit=known[1] if known else None))
        environments.append(EnvironmentView(
            key=environment.key, name=environment.name, integration=environment.integration,
            profile=environment.profile,
            nightly_window=environment.nightly_window,
            next_nightly=schedule.next_nightly(now, settings.zone, schedule.Window.parse(environment.nightly_window),
                                               last),
            full_sync_day=day, next_full_sync=schedule.full_sync_date(today, day) if day else None,
            administrations=administrations,
            runs=[run_view(row, now) for row in latest if row["environment"] == environment.key]))
    return Overview(environments=environments, tasks=[task_view(row, runs, now) for row, runs in recent])
