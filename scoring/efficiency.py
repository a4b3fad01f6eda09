"""A person's recent efficiency as an approver of their burst request sees it: how much of
their AI output was accepted over the last complete weeks, in scoring's own figures (the
`scoring.metrics` totals `score` is built from: revised work counts as accepted).

Closed weeks are read from the rollups the weekly spotlight job stores, so this is a few small
queries (weeks without one are summed from the events). The running week is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from budgets.windows import trailing_weeks
from scoring.metrics import grouped_totals
from scoring.rollups import window_sums

EFFICIENCY_WEEKS = 4  # complete weeks of outcomes an approver sees the acceptance of


@dataclass(frozen=True)
class Efficiency:
    """Recent acceptance of the requester's AI output (None when nothing was recorded)."""

    accepted: int
    total: int
    weeks: int

    @property
    def rate(self) -> float | None:
        return self.accepted / self.total if self.total else None


def recent_efficiency(
    session: Session, zone: ZoneInfo, person_id: int, now: datetime
) -> Efficiency:
    """The person's acceptance over the EFFICIENCY_WEEKS complete weeks before `now`."""
    weeks = trailing_weeks(zone, now, EFFICIENCY_WEEKS)
    rows = window_sums(session, weeks, now)
    totals = grouped_totals(session, rows, ("person_id",), [person_id]).get((person_id,))
    return Efficiency(
        accepted=totals.accepted if totals else 0,
        total=totals.artifacts if totals else 0,
        weeks=EFFICIENCY_WEEKS,
    )
