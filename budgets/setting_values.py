"""The values of personal notice settings, parsed and checked by pure functions.

`parse_switch`, `parse_alerts` and `parse_quiet_hours` raise `SettingInvalid` naming the field
and what is allowed; the policy's `[settings.defaults]` (`budgets.policy`) and a person's own
choice (`budgets.settings`) are checked by these same rules. `QuietHours` is a daily span on
the wall clock, such as 19:00-08:00 (crossing midnight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

FIELDS = ("reminders", "alerts", "digest", "quiet_hours")
ON = ("on", "yes", "true")
OFF = ("off", "no", "false")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class SettingInvalid(ValueError):
    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class QuietHours:
    """A daily span on the wall clock, such as 19:00-08:00 (crossing midnight) or 12:00-13:00."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def end_after(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """When the quiet span holding `now` ends (UTC), or None when `now` is not in one."""
        local = now.astimezone(zone)
        if not self.contains(local.time().replace(tzinfo=None)):
            return None
        day = local.date()
        if local.time().replace(tzinfo=None) >= self.end and self.start > self.end:
            day += timedelta(days=1)  # 19:00-08:00 at 21:00: tomorrow's 08:00
        ends = datetime.combine(day, self.end, tzinfo=zone)
        # A wall-clock time that a DST change skips or repeats still maps to one instant.
        return ends.astimezone(UTC)


def parse_switch(field: str, value: object) -> bool:
    """on/off (yes/no, true/false), or a TOML boolean."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ON:
        return True
    if text in OFF:
        return False
    raise SettingInvalid(field, f"must be on or off, got {str(value)!r}")


def parse_alerts(value: object) -> str:
    """`on`, `off`, or a share of the budget from which alerts come (0.9, 90%): normalised
    to "on", "off" or the share as a plain decimal ("0.9")."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value).strip().lower()
    if text in ON:
        return "on"
    if text in OFF:
        return "off"
    try:
        share = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        share = Decimal(-1)
    # The range first: quantizing a huge number (1e30) raises instead of being refused.
    if share.is_finite() and 0 < share <= 2:
        share = share.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)  # stored as text
    if not share.is_finite() or not 0 < share <= 2:
        raise SettingInvalid(
            "alerts",
            f"must be on, off, or a share of your budget between 0 and 2 (0.9 or 90%), "
            f"got {str(value)!r}",
        )
    return format(share.normalize(), "f")


def parse_quiet_hours(value: object) -> QuietHours | None:
    """`HH:MM-HH:MM` (19:00-08:00 crosses midnight), or off / none / empty for none."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "off", "none", "no"):
        return None
    parts = [p.strip() for p in text.replace("\u2013", "-").split("-")]
    clocks = [_CLOCK.match(p) for p in parts] if len(parts) == 2 else []
    if len(clocks) != 2 or not all(clocks):
        raise SettingInvalid(
            "quiet_hours",
            f"must be a range HH:MM-HH:MM on a 24-hour clock such as 19:00-08:00, or off; "
            f"got {str(value)!r}",
        )
    start, end = (time(int(m.group(1)), int(m.group(2))) for m in clocks if m)
    if start == end:
        raise SettingInvalid(
            "quiet_hours", f"starts and ends at the same time ({str(value)!r}); use off for none"
        )
    return QuietHours(start, end)


def alert_share(alerts: str) -> Decimal | None:
    """The share from which someone hears alerts: None for every threshold (on)."""
    return None if alerts in ("on", "off") else Decimal(alerts)


@dataclass(frozen=True)
class SettingsDefaults:
    """`[settings.defaults]` in the policy: what holds for whoever has not chosen."""

    reminders: bool = True
    alerts: str = "on"
    digest: bool = True
    quiet_hours: QuietHours | None = None
