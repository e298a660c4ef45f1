"""The probes' rules: hysteresis, which state a failure means, and when a master-data sync is late.

A single blip must not flap the public page: a probe claims a status only after several failed
runs in a row, and gives it up only after several passes in a row. Plain Python: every moment is
passed in, none is read from a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from statuspage.core.vocabulary import ComponentStatus
from statuspage.page.uptime import day_bounds


@dataclass(frozen=True)
class Standing:
    failures: int = 0  # failed runs in a row
    successes: int = 0  # passed runs in a row
    verdict: ComponentStatus | None = None  # what the probe claims for its component; None: nothing


def advance(
    standing: Standing, passed: bool, *, claim: ComponentStatus, failure_threshold: int, success_threshold: int
) -> Standing:
    """The standing after one more run."""
    if passed:
        successes = standing.successes + 1
        verdict = None if standing.verdict is not None and successes >= success_threshold else standing.verdict
        return Standing(0, successes, verdict)
    failures = standing.failures + 1
    verdict = claim if failures >= failure_threshold else standing.verdict
    return Standing(failures, 0, verdict)


def claim_for(failed_placeholders: Sequence[set[str]], errored: bool, failing_status: ComponentStatus) -> ComponentStatus:
    """Which state a failed run claims: slow but working is degraded performance; anything else,
    including no answer at all, is the probe's failing status."""
    if errored or not failed_placeholders:
        return failing_status
    only_slow = all(needed == {"RESPONSE_TIME"} for needed in failed_placeholders)
    if only_slow:
        return min(failing_status, ComponentStatus.DEGRADED_PERFORMANCE, key=lambda status: status.severity)
    return failing_status


@dataclass(frozen=True)
class SyncFreshness:
    """Which environments' master-data sync is late today, which never synced, and the age of the
    oldest last sync among the others (seconds)."""

    late: list[str]
    never: list[str]
    oldest_age: float


def sync_freshness(
    last_finished: Mapping[str, datetime], environments: Sequence[str], now: datetime, zone: ZoneInfo, due_by: time
) -> SyncFreshness:
    """Judge each environment's last finished sync against today's `due_by` (local time in `zone`).

    Seed 000: invoices sat in "factuuracties vertraagd" in the morning because the nightly sync was
    still running at opening time. So from `due_by` on, a sync counts only if it finished today
    before `due_by`; before `due_by` nobody is late yet. `last_finished` maps environment keys to
    when their last sync finished (timezone-aware); an environment missing from it never synced.
    """
    local = now.astimezone(zone)
    today_start = day_bounds(local.date(), zone)[0]
    due = datetime.combine(local.date(), due_by, tzinfo=zone)
    late, never, ages = [], [], []
    for environment in environments:
        finished = last_finished.get(environment)
        if finished is None:
            never.append(environment)
            continue
        ages.append((now - finished).total_seconds())
        if now >= due and not today_start <= finished <= due:
            late.append(environment)
    return SyncFreshness(late, never, max(ages, default=0.0))
