"""Budget periods on the policy's calendar.

A period starts at 00:00 local time on the policy's reset day (monthly, or in the first month of
each quarter) and ends where the next begins. Boundaries are computed in the policy's time zone
with zoneinfo, so they stay at local midnight across daylight-saving changes; every returned
datetime is aware UTC. Keys are stable strings: `2026-11` (monthly) or `2026-Q4` (quarterly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from budgets.policy import Periods

_MONTH_KEY = re.compile(r"(?P<year>\d{4})-(?P<number>\d{2})")
_QUARTER_KEY = re.compile(r"(?P<year>\d{4})-Q(?P<number>[1-4])")


@dataclass(frozen=True)
class Period:
    key: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def days_elapsed(self, now: datetime) -> float:
        return max((min(now, self.end) - self.start).total_seconds() / 86400, 0.0)

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def _months_per_period(calendar: Periods) -> int:
    return 3 if calendar.cadence == "quarterly" else 1


def _start_month(calendar: Periods, year: int, month: int) -> tuple[int, int]:
    span = _months_per_period(calendar)
    return year, month - (month - 1) % span


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _local_start(calendar: Periods, year: int, month: int) -> datetime:
    return datetime(year, month, calendar.reset_day, tzinfo=calendar.zone).astimezone(UTC)


def _key(calendar: Periods, year: int, month: int) -> str:
    if calendar.cadence == "quarterly":
        return f"{year}-Q{(month - 1) // 3 + 1}"
    return f"{year}-{month:02d}"


def _period_starting(calendar: Periods, year: int, month: int) -> Period:
    next_year, next_month = _add_months(year, month, _months_per_period(calendar))
    return Period(
        key=_key(calendar, year, month),
        start=_local_start(calendar, year, month),
        end=_local_start(calendar, next_year, next_month),
    )


def period_for(calendar: Periods, moment: datetime) -> Period:
    """The period that contains `moment`."""
    local = moment.astimezone(calendar.zone)
    year, month = _start_month(calendar, local.year, local.month)
    period = _period_starting(calendar, year, month)
    if moment < period.start:
        year, month = _add_months(year, month, -_months_per_period(calendar))
        period = _period_starting(calendar, year, month)
    return period


def next_period(calendar: Periods, period: Period) -> Period:
    return period_for(calendar, period.end)


def previous_period(calendar: Periods, period: Period) -> Period:
    return period_for(calendar, period.start - timedelta(seconds=1))


def period_by_key(calendar: Periods, key: str) -> Period:
    """Parse `2026-11` or `2026-Q4` back into a Period; raises ValueError with the allowed forms."""
    quarterly = calendar.cadence == "quarterly"
    match = (_QUARTER_KEY if quarterly else _MONTH_KEY).fullmatch(key.strip())
    try:
        if match is None:
            raise ValueError
        year, number = int(match["year"]), int(match["number"])
        month = (number - 1) * 3 + 1 if quarterly else number
        if not 1 <= month <= 12:
            raise ValueError
        return _period_starting(calendar, year, month)
    except (ValueError, OverflowError):  # also a year datetime cannot hold, e.g. 0000
        form = "YYYY-Qn, e.g. 2026-Q4" if quarterly else "YYYY-MM, e.g. 2026-11"
        raise ValueError(f"period {key!r} is not of the form {form}") from None
