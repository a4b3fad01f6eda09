"""Period roll-over: close a finished period once, lapse what is left, carry the capped
rollover and issue the next period's allotments.

Invariants (property-tested):
- `expire(period)` runs once per period (a `PeriodRun` row claims it); a second call changes
  nothing, and a period closed after a later one changes nothing but its claim;
- lapsing moves a grant's remaining to expired with an expire entry, so
  amount = remaining + used + expired still holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from budgets.grants import GrantSpec, issue_grants, period_grant_specs
from budgets.periods import Period, next_period, period_by_key, period_for
from budgets.policy import Policy
from storage.database import is_sqlite, upsert_insert
from storage.models import Grant, GrantBalance, LedgerEntry, PeriodRun, Person


@dataclass
class ExpireResult:
    period: str
    already_done: bool = False
    expired_grants: int = 0
    expired_tokens: int = 0
    rolled_over_tokens: int = 0
    issued_grants: int = 0
    superseded_by: str | None = None  # a later period closed first already lapsed this one


def _closed_periods_after(session: Session, policy: Policy, period: Period) -> list[str]:
    """Keys of closed periods that start after `period`, earliest first."""
    closed = set(session.scalars(select(PeriodRun.period)))
    later = []
    for key in closed:
        try:
            other = period_by_key(policy.periods, key)
        except ValueError:  # closed under another cadence: not comparable
            continue
        if other.start > period.start:
            later.append((other.start, key))
    return [key for _start, key in sorted(later)]


def expire(session: Session, policy: Policy, period: Period, now: datetime) -> ExpireResult:
    """Close a finished period once: lapse what is left, carry the capped rollover, and
    issue the next period's allotments. A second call for the same period changes nothing."""
    if now < period.end:
        raise ValueError(
            f"period {period.key} has not ended yet (it ends {period.end.isoformat()})"
        )
    claimed = session.execute(
        upsert_insert(session, PeriodRun.__table__)
        .on_conflict_do_nothing(index_elements=["period"])
        .returning(PeriodRun.__table__.c.period),
        {"period": period.key, "ran_at": now},
    ).first()
    if claimed is None:
        return ExpireResult(period=period.key, already_done=True)
    later = _closed_periods_after(session, policy, period)
    if later:
        # A later period was closed first and lapsed what this one had left; issuing the
        # following period's allotments now would put tokens into a closed period that never
        # lapse. Mark it closed (so schedulers stop retrying) and change nothing else.
        return ExpireResult(period=period.key, already_done=True, superseded_by=later[0])

    query = (
        select(
            Grant.id,
            Grant.kind,
            Grant.owner_type,
            Grant.owner_id,
            Grant.period,
            GrantBalance.remaining,
        )
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(GrantBalance.remaining > 0, Grant.expires_at <= period.end)
        .order_by(Grant.id)
    )
    if not is_sqlite(session):
        query = query.with_for_update(of=GrantBalance)
    lapsing = session.execute(query).all()
    result = ExpireResult(period=period.key, expired_grants=len(lapsing))
    if lapsing:
        lapse_grants(session, lapsing, f"expire:{period.key}", now)
        result.expired_tokens = sum(g.remaining for g in lapsing)

    following = next_period(policy.periods, period)
    specs = period_grant_specs(session, policy, following)
    if policy.periods.rollover_cap > 0:
        tiers = dict(session.execute(select(Person.id, Person.tier)).all())
        carry: dict[int, int] = defaultdict(int)
        for g in lapsing:
            if g.kind == "baseline" and g.owner_type == "person" and g.period == period.key:
                carry[g.owner_id] += g.remaining
        for person_id, unused in sorted(carry.items()):
            baseline = policy.tiers.get(
                tiers.get(person_id, "default"), policy.tiers["default"]
            ).baseline
            cap = int(
                (baseline * policy.periods.rollover_cap).to_integral_value(rounding=ROUND_FLOOR)
            )
            amount = min(unused, cap)
            if amount > 0:
                result.rolled_over_tokens += amount
                specs.append(
                    GrantSpec(
                        key=f"rollover:{following.key}:person:{person_id}",
                        kind="baseline",
                        token_class="operational",
                        owner_type="person",
                        owner_id=person_id,
                        amount=amount,
                        period=following.key,
                        effective_at=following.start,
                        expires_at=following.end,
                        source=f"rollover from {period.key}",
                    )
                )
    result.issued_grants = len(issue_grants(session, specs, now))
    return result


def lapse_grants(session: Session, lapsing: Sequence[Any], reference: str, now: datetime) -> None:
    """Move what each grant row has left (`id`, `owner_type`, `owner_id`, `period`, and
    `remaining` as read under the caller's lock) to expired, with an expire entry each."""
    session.execute(
        LedgerEntry.__table__.insert(),
        [
            {
                "entry_type": "expire",
                "grant_id": g.id,
                "person_id": g.owner_id if g.owner_type == "person" else None,
                "period": g.period,
                "amount": g.remaining,
                "reference": reference,
                "created_at": now,
            }
            for g in lapsing
        ],
    )
    balances = GrantBalance.__table__
    session.execute(
        update(balances)
        .where(balances.c.grant_id == bindparam("gid"))
        .values(remaining=0, expired=balances.c.expired + bindparam("amount")),
        [{"gid": g.id, "amount": g.remaining} for g in lapsing],
    )


def period_of(policy: Policy, moment: datetime) -> Period:
    return period_for(policy.periods, moment)
