"""The probes' schedule: APScheduler 3 (AsyncIOScheduler), started and stopped with the app.

Each probe is a job on an interval trigger with jitter, so probes with the same interval do not all
fire together; one run at a time per probe (max_instances), a missed run is run late rather than
dropped (a misfire grace as long as the interval), and a run skipped while paused. At most
`probing.at_once` probes run at the same moment (the Prober's semaphore).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from statuspage.core import storage
from statuspage.core.clock import Clock
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.probes import runner as probes
from statuspage.probes.kinds import configured
from statuspage.probes.runner import Prober

log = logging.getLogger("statuspage.probes.scheduler")
# APScheduler logs two lines per run at INFO ("Running job", "executed successfully"); a probe says
# what matters itself, once, when its verdict changes (runner.py). Its warnings and errors still show.
logging.getLogger("apscheduler").setLevel(logging.WARNING)

MAX_JITTER_SECONDS = 30


def make_scheduler(settings: Settings, store: Store, clock: Clock, prober: Prober) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    spread = random.Random()
    for probe in configured(settings):
        first = {}
        if settings.probing.first_run_spread > 0:
            # Evidence soon after start-up, without every probe firing at the same moment.
            delay = spread.uniform(0, min(settings.probing.first_run_spread, probe.interval))
            first = {"next_run_time": datetime.now(UTC) + timedelta(seconds=delay)}
        scheduler.add_job(
            scheduled_run, IntervalTrigger(seconds=probe.interval, jitter=min(probe.interval / 10, MAX_JITTER_SECONDS)),
            args=[prober, store, probe.key], id=probe.key, name=f"probe {probe.key}",
            max_instances=1, coalesce=True, misfire_grace_time=max(int(probe.interval), 1), **first,
        )
    scheduler.add_job(probes.trim, IntervalTrigger(hours=1), args=[store, settings, clock], id="trim-probe-results",
                      max_instances=1, coalesce=True, misfire_grace_time=int(timedelta(hours=1).total_seconds()))
    return scheduler


async def scheduled_run(prober: Prober, store: Store, key: str) -> None:
    try:
        state = await store.read(storage.probe_state, key)
        if state is not None and state.paused:
            return
        await prober.run(key)
    except asyncio.CancelledError:
        # The service is stopping and the scheduler cancels what runs; nothing to report.
        return
    except Exception:
        # One probe's trouble must not stop the schedule of the others, nor this one's next run.
        log.exception("probe %s could not run", key)
