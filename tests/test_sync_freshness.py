"""When a nightly master-data sync counts as late (seed 000): the rule on its own, as a table."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from statuspage.probes.rules import sync_freshness

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DUE = time(7, 0)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("finished", "now", "late"),
    [
        (local(30, 3), local(30, 8), False),  # finished at night, judged after opening: fine
        (local(30, 7), local(30, 8), False),  # finished at the due time exactly: in time
        (local(30, 7, 1), local(30, 8), True),  # finished after the due time: late all day
        (local(29, 3), local(30, 8), True),  # last night's sync never finished: yesterday's is stale
        (local(29, 3), local(30, 6, 59), False),  # before the due time nobody is late yet
        (local(30, 0, 0), local(30, 7, 0), False),  # just after midnight local counts as today
        (local(29, 23, 59), local(30, 7, 0), True),  # just before midnight local is yesterday's
    ],
)
def test_a_sync_is_late_unless_it_finished_today_before_the_due_time(finished, now, late):
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
    now = datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    in_time = sync_freshness({"a": datetime(2026, 3, 29, 4, 59, tzinfo=UTC)}, ["a"], now, AMSTERDAM, DUE)
    too_late = sync_freshness({"a": datetime(2026, 3, 29, 5, 1, tzinfo=UTC)}, ["a"],
                              datetime(2026, 3, 29, 6, 0, tzinfo=UTC), AMSTERDAM, DUE)
    assert (in_time.late, too_late.late) == ([], ["a"])
