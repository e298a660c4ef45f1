"""The 90-day bar: local days of the page's zone, worst state per day, outages weighted."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from statuspage.core.vocabulary import ComponentStatus as C
from statuspage.page.uptime import StatusChange, daily_history

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def at(text: str) -> datetime:
    """A moment written in Amsterdam's local time."""
    return datetime.fromisoformat(text).replace(tzinfo=AMSTERDAM)


def test_days_before_the_component_existed_have_no_data() -> None:
    history = daily_history([StatusChange(at("2026-11-20 12:00"), C.OPERATIONAL)], at("2026-11-23 12:00"), AMSTERDAM)
    assert len(history.days) == 90
    assert history.days[-1].day == date(2026, 11, 23)
    assert all(day.worst is None for day in history.days[:-4])
    assert [day.worst for day in history.days[-4:]] == [C.OPERATIONAL] * 4
    assert history.uptime == 1.0


def test_a_major_outage_counts_fully_and_a_partial_one_at_three_tenths() -> None:
    changes = [
        StatusChange(at("2026-11-01 00:00"), C.OPERATIONAL),
        StatusChange(at("2026-11-22 10:00"), C.MAJOR_OUTAGE),
        StatusChange(at("2026-11-22 12:00"), C.PARTIAL_OUTAGE),
        StatusChange(at("2026-11-22 22:00"), C.DEGRADED_PERFORMANCE),
        StatusChange(at("2026-11-23 00:00"), C.OPERATIONAL),
    ]
    history = daily_history(changes, at("2026-11-24 00:00"), AMSTERDAM, days=3)
    day = history.days[0]
    assert day.day == date(2026, 11, 22)
    assert day.worst is C.MAJOR_OUTAGE
    assert day.down_seconds == pytest.approx(2 * 3600 + 0.3 * 10 * 3600)
    assert day.uptime == pytest.approx(1 - (2 + 3) / 24)
    assert history.days[1].worst is C.OPERATIONAL and history.days[1].uptime == 1.0


def test_degraded_performance_and_maintenance_are_not_downtime() -> None:
    changes = [
        StatusChange(at("2026-11-22 00:00"), C.DEGRADED_PERFORMANCE),
        StatusChange(at("2026-11-22 12:00"), C.UNDER_MAINTENANCE),
    ]
    day = daily_history(changes, at("2026-11-23 00:00"), AMSTERDAM, days=2).days[0]
    assert day.day == date(2026, 11, 22)
    assert day.worst is C.DEGRADED_PERFORMANCE
    assert day.uptime == 1.0


def test_the_day_clocks_go_back_lasts_25_hours() -> None:
    # 25 October 2026: at 03:00 CEST clocks go back to 02:00 CET.
    changes = [StatusChange(at("2026-10-20 00:00"), C.MAJOR_OUTAGE)]
    day = daily_history(changes, at("2026-10-26 00:00"), AMSTERDAM, days=2).days[0]
    assert day.day == date(2026, 10, 25)
    assert day.observed_seconds == 25 * 3600
    assert day.down_seconds == 25 * 3600


def test_the_day_clocks_go_forward_lasts_23_hours() -> None:
    # 29 March 2026: at 02:00 CET clocks jump to 03:00 CEST.
    changes = [StatusChange(at("2026-03-28 00:00"), C.OPERATIONAL), StatusChange(at("2026-03-29 12:00"), C.MAJOR_OUTAGE)]
    day = daily_history(changes, at("2026-03-30 00:00"), AMSTERDAM, days=2).days[0]
    assert day.day == date(2026, 3, 29)
    assert day.observed_seconds == 23 * 3600
    assert day.down_seconds == 12 * 3600  # 12:00 to midnight
    assert day.uptime == pytest.approx(11 / 23)


def test_an_outage_just_before_utc_midnight_belongs_to_the_next_local_day() -> None:
    changes = [
        StatusChange(datetime(2026, 11, 20, 0, 0, tzinfo=UTC), C.OPERATIONAL),
        StatusChange(datetime(2026, 11, 21, 23, 30, tzinfo=UTC), C.MAJOR_OUTAGE),  # 00:30 on the 22nd locally
        StatusChange(datetime(2026, 11, 21, 23, 45, tzinfo=UTC), C.OPERATIONAL),
    ]
    days = daily_history(changes, at("2026-11-23 00:00"), AMSTERDAM, days=3).days[:2]
    assert [(day.day, day.worst) for day in days] == [
        (date(2026, 11, 21), C.OPERATIONAL),
        (date(2026, 11, 22), C.MAJOR_OUTAGE),
    ]
    assert days[1].down_seconds == 15 * 60


def test_time_after_now_is_not_counted() -> None:
    changes = [StatusChange(at("2026-11-23 00:00"), C.MAJOR_OUTAGE)]
    today = daily_history(changes, at("2026-11-23 06:00"), AMSTERDAM, days=1).days[0]
    assert today.observed_seconds == 6 * 3600
    assert today.uptime == 0.0


def test_the_overall_percentage_weighs_days_by_observed_time() -> None:
    changes = [
        StatusChange(at("2026-11-21 00:00"), C.OPERATIONAL),
        StatusChange(at("2026-11-22 00:00"), C.MAJOR_OUTAGE),
        StatusChange(at("2026-11-22 06:00"), C.OPERATIONAL),
    ]
    history = daily_history(changes, at("2026-11-23 00:00"), AMSTERDAM, days=3)
    assert history.uptime == pytest.approx(1 - 6 / 48)
