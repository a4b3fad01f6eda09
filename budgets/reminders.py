"""Expiry reminders: who should hear, a few days before a period ends, that tokens will lapse.

Someone hears only when they have something to lose: personal baseline tokens of the period
left beyond what the rollover cap carries into the next one (exactly what `ledger.expire`
will lapse if nothing is spent). They hear in their own working hours (`Person.timezone` when
the directory knows it, the policy's otherwise): a weekday between 09:00 and 18:00, never at
night. The hourly job asks again every hour, so each person is picked up when their morning
comes; the caller's key (one per person per period) makes it once.

Reads projections only (`GrantBalance`), so the cost does not grow with usage history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_FLOOR
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from budgets.periods import Period, period_for
from budgets.policy import Policy
from storage.models import Grant, GrantBalance, Person

WORKDAY_START = time(9)
WORKDAY_END = time(18)


@dataclass(frozen=True)
class ExpiryReminder:
    person_id: int
    period: str
    expires_at: datetime
    expiring: int  # personal baseline tokens of the period still unspent
    carry_over: int  # the part the rollover cap carries into the next period
    zone: str  # the person's time zone (or the policy's)

    @property
    def lapsing(self) -> int:
        return self.expiring - self.carry_over

    @property
    def key(self) -> str:
        return f"reminder:{self.period}:person:{self.person_id}"


def zone_or(timezone: str | None, fallback: str) -> str:
    """The person's IANA zone when it is known and valid, otherwise `fallback`."""
    if timezone:
        try:
            ZoneInfo(timezone)
            return timezone
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return fallback


def is_working_hours(moment: datetime, zone: str) -> bool:
    local = moment.astimezone(ZoneInfo(zone))
    return local.weekday() < 5 and WORKDAY_START <= local.time() < WORKDAY_END


def reminder_window_start(policy: Policy, period: Period) -> datetime | None:
    """`reminder_days_before` calendar days before the period ends, counted on the policy's
    wall clock (so a DST change inside the window does not shift it); None when disabled."""
    days = policy.periods.reminder_days_before
    if days <= 0:
        return None
    local_end = period.end.astimezone(policy.periods.zone)
    return (local_end - timedelta(days=days)).astimezone(UTC)


def rollover_carry(policy: Policy, tier: str, unused: int) -> int:
    """What `ledger.expire` carries over of `unused` baseline tokens for someone of `tier`."""
    baseline = policy.tiers.get(tier, policy.tiers["default"]).baseline
    cap = int((baseline * policy.periods.rollover_cap).to_integral_value(rounding=ROUND_FLOOR))
    return min(unused, cap)


def reminders_due(session: Session, policy: Policy, now: datetime) -> list[ExpiryReminder]:
    """People to remind now about the current period: inside the reminder window, in their
    working hours, with tokens that would lapse. Who was reminded already is the caller's
    business (the key)."""
    period = period_for(policy.periods, now)
    start = reminder_window_start(policy, period)
    if start is None or now < start:
        return []
    rows = session.execute(
        select(Person.id, Person.tier, Person.timezone, func.sum(GrantBalance.remaining))
        .join(Grant, and_(Grant.owner_type == "person", Grant.owner_id == Person.id))
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(
            Person.active,
            Grant.kind == "baseline",
            Grant.period == period.key,
            GrantBalance.remaining > 0,
        )
        .group_by(Person.id, Person.tier, Person.timezone)
        .order_by(Person.id)
    ).all()
    due = []
    for person_id, tier, timezone, remaining in rows:
        zone = zone_or(timezone, policy.periods.timezone)
        if not is_working_hours(now, zone):
            continue
        expiring = int(remaining)
        reminder = ExpiryReminder(
            person_id=person_id,
            period=period.key,
            expires_at=period.end,
            expiring=expiring,
            carry_over=rollover_carry(policy, tier, expiring),
            zone=zone,
        )
        if reminder.lapsing > 0:
            due.append(reminder)
    return due
