"""Settings values: on/off, alerts as a share, quiet hours as a wall-clock range (crossing
midnight, across a DST change), each refused with the field and what is allowed."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from budgets.setting_values import (
    QuietHours,
    SettingInvalid,
    parse_alerts,
    parse_quiet_hours,
    parse_switch,
)

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("on", True), ("OFF", False), (" yes ", True), ("no", False), (True, True), ("false", False)],
)
def test_a_switch_reads_on_and_off_in_their_usual_spellings(typed: object, expected: bool):
    assert parse_switch("digest", typed) is expected


def test_a_switch_that_is_neither_names_its_field():
    with pytest.raises(SettingInvalid) as caught:
        parse_switch("digest", "weekly")
    assert str(caught.value) == "digest: must be on or off, got 'weekly'"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("on", "on"), ("off", "off"), ("90%", "0.9"), ("0.90", "0.9"), ("1", "1"), ("150%", "1.5")],
)
def test_alerts_are_on_off_or_a_share_kept_as_a_plain_decimal(typed: str, expected: str):
    assert parse_alerts(typed) == expected


@pytest.mark.parametrize("typed", ["0", "-10%", "250%", "lots", "nan", "inf"])
def test_an_alert_share_outside_zero_to_two_is_refused(typed: str):
    with pytest.raises(SettingInvalid) as caught:
        parse_alerts(typed)
    assert caught.value.field == "alerts"
    assert "between 0 and 2 (0.9 or 90%)" in caught.value.reason


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("19:00-08:00", QuietHours(time(19), time(8))),
        (" 7:30 - 9:00 ", QuietHours(time(7, 30), time(9))),
        ("off", None),
        ("", None),
        ("none", None),
    ],
)
def test_quiet_hours_read_a_24_hour_range_or_none(typed: str, expected: QuietHours | None):
    assert parse_quiet_hours(typed) == expected


@pytest.mark.parametrize(
    "typed", ["19-8", "25:00-08:00", "19:00", "19:00-08:00-09:00", "7pm-8am", "19:60-08:00"]
)
def test_a_malformed_quiet_hours_range_is_refused_with_the_form_expected(typed: str):
    with pytest.raises(SettingInvalid) as caught:
        parse_quiet_hours(typed)
    assert caught.value.field == "quiet_hours"
    assert caught.value.reason.startswith("must be a range HH:MM-HH:MM on a 24-hour clock")


def test_a_range_that_starts_where_it_ends_is_refused():
    with pytest.raises(SettingInvalid) as caught:
        parse_quiet_hours("08:00-08:00")
    assert "starts and ends at the same time" in caught.value.reason


def test_quiet_hours_crossing_midnight_end_the_next_morning_on_the_persons_clock():
    quiet = QuietHours(time(19), time(8))
    evening = datetime(2026, 11, 18, 20, 30, tzinfo=UTC)  # 21:30 in Paris
    assert quiet.end_after(evening, PARIS) == datetime(2026, 11, 19, 7, 0, tzinfo=UTC)
    night = datetime(2026, 11, 19, 2, 0, tzinfo=UTC)  # 03:00 in Paris
    assert quiet.end_after(night, PARIS) == datetime(2026, 11, 19, 7, 0, tzinfo=UTC)
    day = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)  # 10:00 in Paris
    assert quiet.end_after(day, PARIS) is None


def test_quiet_hours_within_a_day_end_the_same_day():
    lunch = QuietHours(time(12), time(13))
    assert lunch.end_after(datetime(2026, 11, 18, 11, 15, tzinfo=UTC), PARIS) == datetime(
        2026, 11, 18, 12, 0, tzinfo=UTC
    )
    assert lunch.end_after(datetime(2026, 11, 18, 12, 0, tzinfo=UTC), PARIS) is None


def test_quiet_hours_over_a_dst_change_end_at_the_local_hour_after_it():
    quiet = QuietHours(time(22), time(7))
    # The night clocks go back in Paris (25 Oct 2026): 07:00 local is then 06:00 UTC.
    night = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 23:00 CEST
    assert quiet.end_after(night, PARIS) == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("typed", ["1e30", "1e300", "-1e30", "1e-30%"])
def test_an_alerts_share_far_out_of_range_is_refused_not_a_crash(typed: str):
    with pytest.raises(SettingInvalid) as refused:
        parse_alerts(typed)
    assert refused.value.field == "alerts" and "between 0 and 2" in str(refused.value)
