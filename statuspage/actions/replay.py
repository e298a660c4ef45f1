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


def replay_estimate(backlog: list[tuple[int, int | None]]) -> timedelta:
    """How long a replay takes at the accounting system's limits, from (actions, calls a minute the
    system last reported for that administration, or None) per administration. Administrations go
    side by side, so the slowest decides; a booking is about one call."""
    return max((timedelta(minutes=actions / (limit or ASSUMED_CALLS_PER_MINUTE)) for actions, limit in backlog),
               default=timedelta(0))


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
                 minutely_limit: Callable[[str], int | None]) -> Replay:
    """What switching on would replay in a scope, and how its latest replay is getting on.

    `minutely_limit(administration)` is the calls a minute the accounting system last reported for it.
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
    estimate = replay_estimate([(row.actions, minutely_limit(row.administration)) for row in delayed])
    return Replay(integration, scope not in closed_scopes(db),
                  [AdministrationBacklog(row.environment, row.administration, row.actions, storage.iso(row.oldest))
                   for row in delayed],
                  round(estimate.total_seconds() / 60, 2), shown)
