"""When a nightly master-data sync counts as late (seed 000): the rule on its own, as a table."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from statuspage.probes.freshness import EndedSync, finished_syncs, sync_freshness

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DUE = time(7, 0)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("finished", "now", "late"),
    [
        (local(30, 3), local(30, 8), False),  # finished at night, judged after opening: fine
        (local(30, 7), local(30, 8), False),  # finished at the due time exactly: in time
        (local(30, 7, 1), local(30, 8), False),  # finished after the due time: fresh from then on
        (local(29, 3), local(30, 7, 1), True),  # the due time passed with nothing finished today: late until one is
        (local(29, 3), local(30, 8), True),  # last night's sync never finished: yesterday's is stale
        (local(29, 3), local(30, 6, 59), False),  # before the due time nobody is late yet
        (local(30, 0, 0), local(30, 7, 0), False),  # just after midnight local counts as today
        (local(29, 23, 59), local(30, 7, 0), True),  # just before midnight local is yesterday's
    ],
)
def test_after_the_due_time_a_sync_is_late_until_one_finished_today(finished, now, late):
    judged = sync_freshness({"jansen": finished}, ["jansen"], now, AMSTERDAM, DUE)
    assert judged.late == (["jansen"] if late else [])
    assert judged.never == []


def test_an_environment_that_never_synced_is_reported_as_never_and_not_as_late():
    judged = sync_freshness({}, ["jansen", "de-vries"], local(30, 9), AMSTERDAM, DUE)
    assert (judged.late, judged.never, judged.oldest_age) == ([], ["jansen", "de-vries"], 0.0)


def test_the_age_is_that_of_the_oldest_last_sync_in_seconds():
    now = local(30, 9)
    judged = sync_freshness({"a": local(30, 3), "b": local(30, 5)}, ["a", "b"], now, AMSTERDAM, DUE)
    assert judged.oldest_age == 6 * 3600


def test_the_due_time_is_local_time_across_the_spring_forward_night():
    # 29 March 2026: clocks go from 02:00 to 03:00 in Amsterdam; 07:00 local is 05:00 UTC that day.
    yesterday = {"a": datetime(2026, 3, 28, 2, 0, tzinfo=UTC)}
    not_yet = sync_freshness(yesterday, ["a"], datetime(2026, 3, 29, 4, 59, tzinfo=UTC), AMSTERDAM, DUE)
    due = sync_freshness(yesterday, ["a"], datetime(2026, 3, 29, 5, 0, tzinfo=UTC), AMSTERDAM, DUE)
    # 23:30 UTC the day before is 00:30 CET that day: it counts as that day's.
    today = sync_freshness({"a": datetime(2026, 3, 28, 23, 30, tzinfo=UTC)}, ["a"],
                           datetime(2026, 3, 29, 6, 0, tzinfo=UTC), AMSTERDAM, DUE)
    assert (not_yet.late, due.late, today.late) == ([], ["a"], [])


def test_a_sync_that_failed_only_where_the_connection_user_cannot_open_counts_as_finished():
    ended = [EndedSync("jansen", local(30, 3), frozenset()),
             EndedSync("jansen", local(30, 9), frozenset({"203"})),  # Jansen Verhuur: its user cannot open it
             EndedSync("de-vries", local(30, 4), frozenset()),
             EndedSync("de-vries", local(30, 9), frozenset({"101"}))]  # a real failure: the earlier one stands
    assert finished_syncs(ended, {"jansen": {"203"}, "de-vries": set()}) == {"jansen": local(30, 9),
                                                                             "de-vries": local(30, 4)}
    # Whose rights were never checked: a failure counts as one.
    assert finished_syncs([EndedSync("jansen", local(30, 9), frozenset({"203"}))], {}) == {}
