"""The probes' rules: hysteresis, which state a failure means, and when a master-data sync is late.

A single blip must not flap the public page: a probe claims a status only after several failed
runs in a row, and gives it up only after several passes in a row. Plain Python: every moment is
passed in, none is read from a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
    still running at opening time. So from `due_by` on, an environment is late while no sync of it has
    finished today: its mirror is yesterday's or older, and a sync is still due (or failed). One that
    finishes after `due_by` ends the lateness: from then on the mirror is fresh and nothing competes with
    the bookings any more (a sync started after the due time, such as a fresh demo's, is never late).
    Before `due_by` nobody is late yet. `last_finished` maps environment keys to when their last sync
    finished (timezone-aware); an environment missing from it never synced.
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
        if now >= due and finished < today_start:
            late.append(environment)
    return SyncFreshness(late, never, max(ages, default=0.0))


@dataclass(frozen=True)
class EndedSync:
    """A sync of every administration and entity of an environment that ended: when, and the administrations
    in which it failed (empty: it ended well)."""

    environment: str
    finished_at: datetime
    failed: frozenset[str]


def finished_syncs(ended: Iterable[EndedSync], unreachable: Mapping[str, set[str]]) -> dict[str, datetime]:
    """Per environment, when its last sync of everything finished: one that ended well, or one whose only failures
    were in administrations its connection user cannot open (`unreachable`, per environment). Such an
    administration cannot be read by any sync; the rights probe reports it, and it must not keep the environment
    from ever counting as synced."""
    last: dict[str, datetime] = {}
    for sync in ended:
        previous = last.get(sync.environment)
        if sync.failed <= unreachable.get(sync.environment, set()) and (previous is None or sync.finished_at > previous):
            last[sync.environment] = sync.finished_at
    return last
