"""The time windows scores and reports are computed over: ISO weeks and budget periods (beside
`budgets.periods`, which they are cut from; scoring, the reports and the dashboard read them).

A week runs Monday 00:00 to the next Monday 00:00 in the policy's time zone, and is named by
its ISO week (`2026-W47`, the same key governance flags carry). A period window is the budget
period (`2026-11`), cut at `now` while the period is still running. Every datetime is aware UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from budgets.periods import period_for
from budgets.policy import Policy

_WEEK_KEY = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Window:
    key: str  # 2026-W47 (a week) or 2026-11 (a budget period)
    kind: str  # week | period
    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @property
    def weeks(self) -> float:
        return self.days / 7


def week_key(monday: date) -> str:
    year, number, _ = monday.isocalendar()
    return f"{year}-W{number:02d}"


def week_starting(zone: ZoneInfo, day: date) -> Window:
    """The week holding `day` (any day of it; usually its Monday)."""
    monday = day - timedelta(days=day.weekday())
    start = datetime.combine(monday, time(), zone).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), time(), zone).astimezone(UTC)
    return Window(week_key(monday), "week", start, end)


def week_of(zone: ZoneInfo, moment: datetime) -> Window:
    return week_starting(zone, moment.astimezone(zone).date())


def week_by_key(zone: ZoneInfo, key: str) -> Window:
    """Parse `2026-W47`; raises ValueError naming the expected form."""
    match = _WEEK_KEY.match(key.strip().upper())
    try:
        if not match:
            raise ValueError
        return week_starting(zone, date.fromisocalendar(int(match[1]), int(match[2]), 1))
    except ValueError:
        raise ValueError(f"week {key!r} is not an ISO week such as 2026-W47") from None


def last_complete_week(zone: ZoneInfo, now: datetime) -> Window:
    """The week the spotlight covers: the latest one that has ended by `now`."""
    return previous_week(zone, week_of(zone, now))


def previous_week(zone: ZoneInfo, week: Window) -> Window:
    return week_of(zone, week.start - timedelta(seconds=1))


def trailing_weeks(zone: ZoneInfo, before: datetime, count: int) -> list[Window]:
    """The `count` complete weeks that end at or before `before`, oldest first."""
    weeks = [previous_week(zone, week_of(zone, before))]
    while len(weeks) < count:
        weeks.append(previous_week(zone, weeks[-1]))
    return list(reversed(weeks))


def period_so_far(policy: Policy, now: datetime) -> Window:
    period = period_for(policy.periods, now)
    return Window(period.key, "period", period.start, min(now, period.end))


def week_keys_between(zone: ZoneInfo, start: datetime, end: datetime) -> list[str]:
    """ISO keys of every week that overlaps [start, end)."""
    keys = []
    week = week_of(zone, start)
    while week.start < end:
        keys.append(week.key)
        week = week_of(zone, week.end)
    return keys
