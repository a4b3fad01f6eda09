"""Weeks are ISO weeks on the policy's calendar (local Monday midnight, across DST changes)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from budgets.windows import (
    last_complete_week,
    trailing_weeks,
    week_by_key,
    week_keys_between,
    week_of,
    week_starting,
)

UTC_ZONE = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")


def test_a_week_runs_monday_to_monday_and_is_named_by_its_iso_week():
    week = week_of(UTC_ZONE, datetime(2026, 11, 18, 10, tzinfo=UTC))
    assert week.key == "2026-W47"
    assert week.start == datetime(2026, 11, 16, tzinfo=UTC)
    assert week.end == datetime(2026, 11, 23, tzinfo=UTC)
    assert week.weeks == 1


def test_weeks_start_at_local_midnight_even_when_the_clocks_change():
    week = week_starting(PARIS, date(2026, 10, 21))  # summer time ends on Sunday 25 October
    assert week.key == "2026-W43"
    assert week.start == datetime(2026, 10, 18, 22, tzinfo=UTC)  # Monday 00:00 CEST
    assert week.end == datetime(2026, 10, 25, 23, tzinfo=UTC)  # Monday 00:00 CET
    assert week.days == pytest.approx(7 + 1 / 24)


def test_iso_weeks_across_the_new_year_keep_their_iso_year():
    assert week_starting(UTC_ZONE, date(2026, 12, 31)).key == "2026-W53"
    assert week_starting(UTC_ZONE, date(2027, 1, 4)).key == "2027-W01"
    assert week_by_key(UTC_ZONE, "2026-w53").start == datetime(2026, 12, 28, tzinfo=UTC)


@pytest.mark.parametrize("key", ["2026-47", "2026-W54", "W47", "2026-W4"])
def test_a_malformed_week_key_names_the_expected_form(key):
    with pytest.raises(ValueError, match="ISO week such as 2026-W47"):
        week_by_key(UTC_ZONE, key)


def test_the_last_complete_week_is_the_one_before_the_running_week():
    assert last_complete_week(UTC_ZONE, datetime(2026, 11, 18, tzinfo=UTC)).key == "2026-W46"
    assert last_complete_week(UTC_ZONE, datetime(2026, 11, 16, tzinfo=UTC)).key == "2026-W46"


def test_trailing_weeks_are_the_complete_weeks_before_a_moment_oldest_first():
    weeks = trailing_weeks(UTC_ZONE, datetime(2026, 11, 16, tzinfo=UTC), 3)
    assert [w.key for w in weeks] == ["2026-W44", "2026-W45", "2026-W46"]
    mid_week = trailing_weeks(UTC_ZONE, datetime(2026, 11, 18, 9, tzinfo=UTC), 2)
    assert [w.key for w in mid_week] == ["2026-W45", "2026-W46"]


def test_a_period_touches_every_week_it_overlaps():
    keys = week_keys_between(
        UTC_ZONE, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert keys == ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48", "2026-W49"]
