"""When syncs run by themselves (seed 002): the nightly window in page time, the month's full-sync day."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from statuspage.core.vocabulary import SyncKind
from statuspage.sync.schedule import (
    Window,
    draw_full_sync_day,
    full_sync_date,
    next_nightly,
    nightly_due,
    nightly_kind,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NIGHT = Window.parse("01:00-06:00")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("now", "last", "due"),
    [
        (local(24, 0, 59), None, None),  # before the window
        (local(24, 1, 0), None, date(2026, 11, 24)),  # the window opens
        (local(24, 5, 59), date(2026, 11, 23), date(2026, 11, 24)),  # late in the window, not run tonight
        (local(24, 3, 0), date(2026, 11, 24), None),  # already run tonight
        (local(24, 6, 0), None, None),  # the window has closed: no nightly sync in office hours
        (datetime(2026, 11, 24, 0, 30, tzinfo=UTC), None, date(2026, 11, 24)),  # 01:30 in Amsterdam
    ],
)
def test_a_nightly_run_is_due_once_per_night_inside_the_window(now, last, due):
    assert nightly_due(now, AMSTERDAM, NIGHT, last) == due


def test_a_window_across_midnight_belongs_to_the_night_it_opened():
    late = Window.parse("23:00-02:00")
    assert late.night_of(local(24, 23, 30)) == date(2026, 11, 24)
    assert late.night_of(local(25, 1, 30)) == date(2026, 11, 24)
    assert late.night_of(local(25, 2, 0)) is None


def test_the_next_nightly_run_is_the_next_opening_in_page_time():
    assert next_nightly(local(23, 10, 30), AMSTERDAM, NIGHT, None) == local(24, 1, 0)
    assert next_nightly(local(24, 2, 0), AMSTERDAM, NIGHT, date(2026, 11, 24)) == local(25, 1, 0)
    assert next_nightly(local(24, 2, 0), AMSTERDAM, NIGHT, None) == local(24, 2, 0), "due now"


def test_the_nightly_run_is_a_full_sync_on_the_months_drawn_day_only():
    assert nightly_kind(date(2026, 11, 17), 17) is SyncKind.FULL
    assert nightly_kind(date(2026, 11, 18), 17) is SyncKind.INCREMENTAL
    assert nightly_kind(date(2026, 12, 17), 17) is SyncKind.FULL


def test_full_sync_days_are_drawn_from_days_every_month_has():
    days = {draw_full_sync_day(random.Random(seed)) for seed in range(500)}
    assert days == set(range(1, 29))


def test_the_next_full_sync_date_rolls_over_to_next_month():
    assert full_sync_date(date(2026, 11, 10), 17) == date(2026, 11, 17)
    assert full_sync_date(date(2026, 11, 17), 17) == date(2026, 11, 17)
    assert full_sync_date(date(2026, 11, 18), 17) == date(2026, 12, 17)
    assert full_sync_date(date(2026, 12, 20), 3) == date(2027, 1, 3)


def test_an_empty_window_never_opens():
    never = Window.parse("00:00-00:00")
    assert nightly_due(local(24, 0, 0), AMSTERDAM, never, None) is None
    assert next_nightly(local(24, 0, 0), AMSTERDAM, never, None) is None
