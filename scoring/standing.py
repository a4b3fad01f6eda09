"""A requester's standing as the auto-approval rules judge it (`budgets.auto_approvals`): their
acceptance in the request's use case over the last 4 complete weeks, that use case's baseline
(the org's median person-week acceptance over the same weeks, `scoring.baselines`), and how
many of their flags are not cleared.

The use case is the one the request names, else the one the person made most artifacts in
over those weeks (none without history). The same 4 weeks as the approver's "recent
efficiency", so what a rule judged and what an approver sees agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from budgets.auto_approvals import Standing
from budgets.policy import Policy
from budgets.windows import Window, trailing_weeks
from scoring.baselines import use_case_baselines
from scoring.efficiency import EFFICIENCY_WEEKS
from scoring.metrics import grouped_totals
from scoring.plans import OPEN_FLAG_STATUSES
from scoring.rollups import window_sums
from storage.models import Flag


def open_flags(session: Session, person_id: int) -> int:
    """The person's flags not cleared (pending, disputed or upheld), any week."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Flag)
            .where(Flag.person_id == person_id, Flag.status.in_(OPEN_FLAG_STATUSES))
        )
        or 0
    )


def requester_standing(
    session: Session, policy: Policy, person_id: int, use_case: str | None, now: datetime
) -> Standing:
    """What the rules judge about the requester as of `now` (see the module docstring)."""
    zone = policy.periods.zone
    weeks = trailing_weeks(zone, now, EFFICIENCY_WEEKS)
    rows = window_sums(session, weeks, now)
    mine = grouped_totals(session, rows, ("person_id", "use_case"), [person_id])
    by_use_case = {key[1]: totals for key, totals in mine.items() if key[1]}
    if use_case is None and by_use_case:
        use_case = max(sorted(by_use_case), key=lambda uc: by_use_case[uc].artifacts)
    flags = open_flags(session, person_id)
    totals = by_use_case.get(use_case) if use_case else None
    if use_case is None or not any(r.min_acceptance > 0 for r in policy.auto_approvals):
        # No rule compares with a baseline: the org-wide medians need not be read.
        return Standing(
            use_case,
            artifacts=totals.artifacts if totals else 0,
            accepted=totals.accepted if totals else 0,
            open_flags=flags,
            weeks=EFFICIENCY_WEEKS,
        )
    baselines = use_case_baselines(
        session, policy, Window("request", "period", now, now), now, EFFICIENCY_WEEKS
    )
    baseline = baselines.get(use_case)
    return Standing(
        use_case,
        artifacts=totals.artifacts if totals else 0,
        accepted=totals.accepted if totals else 0,
        baseline=baseline.acceptance_rate if baseline else None,
        open_flags=flags,
        weeks=EFFICIENCY_WEEKS,
    )
