"""Budget periods: keys, boundaries at local midnight on the reset day (across DST changes),
and parsing keys back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from budgets.periods import next_period, period_by_key, period_for, previous_period
from budgets.policy import Periods


def calendar(cadence: str = "monthly", reset_day: int = 1, timezone: str = "UTC") -> Periods:
    return Periods(
        cadence=cadence,
        reset_day=reset_day,
        timezone=timezone,
        reminder_days_before=3,
        rollover_cap=Decimal("0.1"),
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def test_a_monthly_period_runs_from_the_first_to_the_first_of_the_next_month():
    period = period_for(calendar(), utc(2026, 11, 18, 10))
    assert period.key == "2026-11"
    assert period.start == utc(2026, 11, 1)
    assert period.end == utc(2026, 12, 1)
    assert period.days == 30


def test_the_start_belongs_to_the_period_and_the_end_to_the_next():
    november = period_for(calendar(), utc(2026, 11, 18))
    assert period_for(calendar(), november.start) == november
    assert period_for(calendar(), november.end - timedelta(microseconds=1)) == november
    assert period_for(calendar(), november.end).key == "2026-12"
    assert november.contains(november.start) and not november.contains(november.end)


def test_december_rolls_into_january_of_the_next_year():
    december = period_for(calendar(), utc(2026, 12, 31, 23, 59))
    assert december.end == utc(2027, 1, 1)
    assert next_period(calendar(), december).key == "2027-01"
    assert previous_period(calendar(), next_period(calendar(), december)) == december


@pytest.mark.parametrize(
    ("moment", "key", "start", "end"),
    [
        (utc(2026, 1, 1), "2026-Q1", utc(2026, 1, 1), utc(2026, 4, 1)),
        (utc(2026, 5, 20), "2026-Q2", utc(2026, 4, 1), utc(2026, 7, 1)),
        (utc(2026, 9, 30, 23, 59), "2026-Q3", utc(2026, 7, 1), utc(2026, 10, 1)),
        (utc(2026, 11, 18), "2026-Q4", utc(2026, 10, 1), utc(2027, 1, 1)),
    ],
)
def test_quarterly_periods_start_in_january_april_july_and_october(moment, key, start, end):
    period = period_for(calendar("quarterly"), moment)
    assert (period.key, period.start, period.end) == (key, start, end)


def test_a_reset_day_of_the_15th_puts_the_first_half_of_a_month_in_the_previous_period():
    cal = calendar(reset_day=15)
    before = period_for(cal, utc(2026, 11, 14, 23, 59))
    after = period_for(cal, utc(2026, 11, 15))
    assert (before.key, before.start, before.end) == (
        "2026-10",
        utc(2026, 10, 15),
        utc(2026, 11, 15),
    )
    assert (after.key, after.start, after.end) == ("2026-11", utc(2026, 11, 15), utc(2026, 12, 15))
    assert period_for(cal, utc(2027, 1, 3)).key == "2026-12"


def test_a_quarter_with_a_reset_day_of_the_15th_starts_on_the_15th_of_its_first_month():
    cal = calendar("quarterly", reset_day=15)
    early_january = period_for(cal, utc(2027, 1, 10))
    assert early_january.key == "2026-Q4"
    assert (early_january.start, early_january.end) == (utc(2026, 10, 15), utc(2027, 1, 15))


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York"])
def test_boundaries_stay_at_local_midnight_across_daylight_saving_changes(zone: str):
    cal = calendar(timezone=zone)
    period = period_for(cal, utc(2026, 3, 15))
    year_of_periods = [period]
    for _ in range(12):
        year_of_periods.append(next_period(cal, year_of_periods[-1]))
    for p in year_of_periods:
        for boundary in (p.start, p.end):
            assert boundary.tzinfo == UTC
            at_home = boundary.astimezone(ZoneInfo(zone))
            assert (at_home.day, at_home.hour, at_home.minute) == (1, 0, 0), (p.key, at_home)
    # The UTC offset of local midnight differs between winter and summer.
    offsets = {p.start.astimezone(ZoneInfo(zone)).utcoffset() for p in year_of_periods}
    assert len(offsets) == 2


def test_a_period_spanning_the_spring_change_in_paris_is_one_hour_short_of_31_days():
    march = period_for(calendar(timezone="Europe/Paris"), utc(2026, 3, 15))
    assert march.start == local("Europe/Paris", 2026, 3, 1)
    assert march.end == local("Europe/Paris", 2026, 4, 1)
    assert march.start == utc(2026, 2, 28, 23)  # CET, UTC+1
    assert march.end == utc(2026, 3, 31, 22)  # CEST, UTC+2
    assert march.end - march.start == timedelta(days=31, hours=-1)


def test_a_moment_just_after_local_midnight_in_new_york_is_already_in_the_new_period():
    cal = calendar(timezone="America/New_York")
    # 04:30 UTC on 1 Nov 2026 is 00:30 EDT: November in New York, still October in UTC.
    period = period_for(cal, utc(2026, 11, 1, 4, 30))
    assert period.key == "2026-11"
    assert period_for(cal, utc(2026, 11, 1, 3, 30)).key == "2026-10"
    # The November period ends at local midnight on 1 Dec, in EST (UTC-5), after the change.
    assert period.end == utc(2026, 12, 1, 5)


def test_days_elapsed_counts_from_the_start_and_stops_at_the_end():
    period = period_for(calendar(), utc(2026, 11, 18))
    assert period.days_elapsed(utc(2026, 11, 1)) == 0
    assert period.days_elapsed(utc(2026, 11, 11, 12)) == 10.5
    assert period.days_elapsed(utc(2027, 3, 1)) == 30
    assert period.days_elapsed(utc(2026, 10, 1)) == 0


@pytest.mark.parametrize(
    ("cadence", "reset_day", "key"),
    [("monthly", 1, "2026-11"), ("monthly", 15, "2026-02"), ("quarterly", 1, "2026-Q4")],
)
def test_a_period_key_parses_back_to_the_same_period(cadence: str, reset_day: int, key: str):
    cal = calendar(cadence, reset_day, "Europe/Paris")
    period = period_by_key(cal, key)
    assert period.key == key
    assert period_for(cal, period.start) == period
    assert period_for(cal, period.end - timedelta(seconds=1)) == period


@pytest.mark.parametrize(
    "key", ["2026-13", "2026-00", "2026/11", "november", "2026-Q4", "2026-11-01", ""]
)
def test_a_malformed_monthly_key_names_the_expected_form(key: str):
    with pytest.raises(ValueError, match=r"YYYY-MM, e\.g\. 2026-11"):
        period_by_key(calendar(), key)


@pytest.mark.parametrize("key", ["2026-Q5", "2026-Q0", "2026-11", "2026-q4", "Q4-2026"])
def test_a_malformed_quarterly_key_names_the_expected_form(key: str):
    with pytest.raises(ValueError, match=r"YYYY-Qn, e\.g\. 2026-Q4"):
        period_by_key(calendar("quarterly"), key)


@pytest.mark.parametrize("key", ["0000-01", "99999-01"])
def test_a_key_with_an_impossible_year_names_the_expected_form(key: str):
    with pytest.raises(ValueError, match=r"YYYY-MM"):
        period_by_key(calendar(), key)
