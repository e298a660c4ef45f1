"""Replay: what switching a kill switch back on would send, and how the latest replay is getting on.

Plain functions over the database and the rate limits the accounting system reported, so the JSON
API and the console render the same figures. Administrations replay side by side, each as fast as
its own limit allows (DESIGN.md, "The kill switch and the action outbox").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec
from sqlite_utils import Database

from statuspage.actions.switches import closed_scopes, scope_of
from statuspage.core import storage
from statuspage.core.vocabulary import ActionState

# What an accounting system allows per administration when it has not told us yet (Exact Online's
# documented default: 60 calls a minute per division).
ASSUMED_CALLS_PER_MINUTE = 60


class AdministrationBacklog(msgspec.Struct):
    """The delayed actions of one administration: how many, and when the oldest arrived (ISO 8601, UTC)."""

    environment: str
    administration: str
    actions: int
    oldest: str


class ReplayProgress(msgspec.Struct):
    """The latest replay of a scope: counts of actions; `handled_last_minute`, how many reached a final state in
    the last minute (the pace now), and `minutes_to_go` at that pace (None while nothing was handled lately);
    `average_per_minute`, the actions handled a minute over the replay's whole time so far (`duration_seconds`:
    from its start to now, or, once finished, to its last action handled; None while no time has passed).
    Once finished, `finished_at` (ISO 8601 UTC). `share_done` is handled / total (0..1)."""

    id: int
    started_by: str
    started_at: str
    total: int
    done: int
    undone: int
    failed: int
    left: int
    handled_last_minute: int
    minutes_to_go: float | None
    share_done: float = 0.0
    finished_at: str | None = None
    duration_seconds: float | None = None
    average_per_minute: float | None = None
    scope: str | None = None  # whose switch this replay followed: the integration's, or one connection's


class Replay(msgspec.Struct):
    """A scope's switch, its delayed actions per administration, the time a replay would take at the limits
    (minutes), and the latest replay's progress."""

    integration: str
    enabled: bool
    delayed: list[AdministrationBacklog]
    estimated_minutes: float  # at the limits the accounting system reported (60 a minute until it has), side by side
    progress: ReplayProgress | None
    limits_per: str = "minute"  # the window the limits pacing the estimate are stated in: "minute" or "hour"


def replay_estimate(backlog: list[tuple[int, float | None]]) -> timedelta:
    """How long a replay takes at the accounting system's limits, from (actions, calls a minute the
    system's last stated limit allows for that administration (an hourly limit / 60), or None) per
    administration. Administrations go side by side, so the slowest decides; a booking is about one call."""
    return max((timedelta(minutes=actions / (limit or ASSUMED_CALLS_PER_MINUTE)) for actions, limit in backlog),
               default=timedelta(0))


def describe_duration(minutes: float) -> str:
    """An estimate as the console says it, in the unit that reads best, with correct plurals: "less than a
    second", "1 second", "30 seconds", "12 minutes", "2.5 hours"; "nothing to replay" for none."""
    if minutes <= 0:
        return "nothing to replay"
    seconds = minutes * 60
    if seconds < 0.5:
        return "less than a second"
    count: float
    if seconds < 59.5:
        unit, count = "second", round(seconds)
    elif minutes < 59.5:
        unit, count = "minute", round(minutes)
    else:
        hours = round(minutes / 60, 1)
        unit, count = "hour", int(hours) if hours.is_integer() else hours
    return f"{count} {unit}{'' if count == 1 else 's'}"


def progress(replay: storage.ReplayRun, counts: dict[str, int], handled_last_minute: int, now: datetime,
             last_handled: datetime | None = None) -> ReplayProgress:
    """A replay's progress at `now` from its row, its actions counted by state, how many reached a final state in
    the last minute, and when its last action was handled (the end of a finished replay's real work)."""
    left = sum(counts.get(state, 0) for state in (ActionState.QUEUED, ActionState.RUNNING, ActionState.DELAYED))
    total = replay.total
    handled = sum(counts.get(state, 0) for state in (ActionState.DONE, ActionState.UNDONE, ActionState.FAILED))
    started = replay.started_at
    # A finished replay's work ended with its last action handled (a replay of nothing took no time); one
    # under way has taken until now.
    end = now if replay.finished_at is None else (last_handled or started)
    duration = max((end - started).total_seconds(), 0.0)
    return ReplayProgress(
        replay.id, replay.started_by, storage.iso(started), total, counts.get(ActionState.DONE, 0),
        counts.get(ActionState.UNDONE, 0), counts.get(ActionState.FAILED, 0), left, handled_last_minute,
        round(left / handled_last_minute, 1) if handled_last_minute else (0.0 if left == 0 else None),
        share_done=round(handled / total, 3) if total else 1.0,
        finished_at=storage.iso(replay.finished_at),
        duration_seconds=round(duration, 1),
        average_per_minute=round(handled / (duration / 60), 1) if duration > 0 else None,
        scope=replay.scope.key,
    )


def replay_state(db: Database, integration: str, environment: str | None, now: datetime,
                 calls_a_minute: Callable[[str], float | None], limits_per: str = "minute") -> Replay:
    """What switching on would replay in a scope, and how its latest replay is getting on.

    `calls_a_minute(administration)` is the pace the limits the accounting system last stated for it allow
    (None before it stated any); `limits_per`, the window those limits are stated in ("minute", "hour").
    """
    scope = scope_of(integration, environment)
    delayed = storage.delayed_by_administration(db, integration, environment)
    # An integration's view follows its connections' replays too: its backlog above counts theirs.
    replay = storage.latest_replay(db, scope) if environment else storage.latest_replay_of_integration(db, integration)
    shown = None
    if replay is not None:
        shown = progress(replay, storage.replay_counts(db, replay.id),
                         storage.replay_done_since(db, replay.id, now - timedelta(minutes=1)), now,
                         storage.replay_last_handled(db, replay.id))
    estimate = replay_estimate([(row.actions, calls_a_minute(row.administration)) for row in delayed])
    return Replay(integration, scope not in closed_scopes(db),
                  [AdministrationBacklog(row.environment, row.administration, row.actions, storage.iso(row.oldest))
                   for row in delayed],
                  round(estimate.total_seconds() / 60, 2), shown, limits_per)
