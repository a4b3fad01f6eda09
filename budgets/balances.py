"""A person's balance: what they can spend now, from where, until when, and how fast it goes.

Reads only materialized projections (`GrantBalance`, `AccountTotal`) for the grants active
now, so its cost does not grow with usage history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from budgets.periods import Period, period_for
from budgets.policy import Policy
from budgets.team_shares import TeamShareView, team_share
from storage.models import AccountTotal, Grant, GrantBalance, Person, Project, Team

MAX_RUN_OUT_DAYS = 36_500

POOL_LABELS = {
    "baseline": "Baseline",
    "burst": "Burst",
    "manual": "Manual grant",
    "team_pool": "Team pool",
    "project": "Project",
    "reserved": "Reserved",
}


@dataclass(frozen=True)
class PoolBalance:
    label: str
    kind: str
    token_class: str
    remaining: int
    amount: int
    expires_at: datetime
    shared: bool  # a team or project pool others draw from too


@dataclass(frozen=True)
class BalanceView:
    email: str
    name: str
    period: Period
    pools: list[PoolBalance]
    personal_remaining: int
    personal_total: int
    used: int
    overdraft: int
    cost_micros: int
    burn_per_day: int
    run_out_at: datetime | None  # None when nothing is being spent
    # What the person may still draw of their team's pool (`budgets.team_shares`); None: none.
    team_share: TeamShareView | None = None

    @property
    def used_share(self) -> float:
        return self.used / self.personal_total if self.personal_total else 0.0


def active_pools(session: Session, person: Person, now: datetime) -> list[PoolBalance]:
    owned_projects = select(Project.id).where(Project.owner_id == person.id)
    owners = [
        and_(Grant.owner_type == "person", Grant.owner_id == person.id),
        and_(Grant.owner_type == "project", Grant.owner_id.in_(owned_projects)),
    ]
    if person.team_id is not None:
        owners.append(and_(Grant.owner_type == "team", Grant.owner_id == person.team_id))
    rows = session.execute(
        select(Grant, GrantBalance.remaining)
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(Grant.effective_at <= now, Grant.expires_at > now, or_(*owners))
        .order_by(Grant.expires_at, Grant.id)
    ).all()
    # Keyed like Grant.owner_id (nullable, though always set on team and project grants).
    team_names: dict[int | None, str] = (
        dict(session.execute(select(Team.id, Team.name)).all()) if person.team_id else {}
    )
    project_names: dict[int | None, str] = dict(
        session.execute(select(Project.id, Project.name).where(Project.owner_id == person.id)).all()
    )
    pools = []
    for grant, remaining in rows:
        label = POOL_LABELS.get(grant.kind, grant.kind)
        if grant.kind == "baseline":
            label = f"Baseline ({grant.token_class})" + (
                " rollover" if grant.source.startswith("rollover") else ""
            )
        elif grant.kind == "team_pool":
            label = f"Team pool ({team_names.get(grant.owner_id, 'team')})"
        elif grant.kind == "project":
            label = f"Project {project_names.get(grant.owner_id, grant.owner_id)}"
        pools.append(
            PoolBalance(
                label=label,
                kind=grant.kind,
                token_class=grant.token_class,
                remaining=remaining,
                amount=grant.amount,
                expires_at=grant.expires_at,
                shared=grant.owner_type != "person",
            )
        )
    return pools


# The person's own grants active at `now`: balance_for's `personal_remaining`, in one query.
_PERSONAL_REMAINING = (
    select(func.coalesce(func.sum(GrantBalance.remaining), 0))
    .join(Grant, Grant.id == GrantBalance.grant_id)
    .where(
        Grant.owner_type == "person",
        Grant.owner_id == bindparam("person_id"),
        Grant.effective_at <= bindparam("now"),
        Grant.expires_at > bindparam("now"),
    )
)


def personal_remaining(session: Session, person: Person, now: datetime) -> int:
    """What the person has left of their own grants (not team or project pools) at `now`.

    Equals `balance_for(...).personal_remaining`, for callers that need only this figure: one
    aggregate, built once, instead of the pools, names and totals of the whole view.
    """
    params = {"person_id": person.id, "now": now}
    return int(session.connection().execute(_PERSONAL_REMAINING, params).scalar_one())


def burn_per_day(used: int, period: Period, now: datetime) -> int:
    """Budget tokens a day so far this period (at least one day counted): the burn rate
    `balance` shows and the dashboard's forecast extends to the period's end."""
    return int(used / max(period.days_elapsed(now), 1.0))


def balance_for(session: Session, person: Person, policy: Policy, now: datetime) -> BalanceView:
    period = period_for(policy.periods, now)
    pools = active_pools(session, person, now)
    totals = session.get(AccountTotal, (person.id, period.key))
    used = totals.used if totals else 0
    personal = [p for p in pools if not p.shared]
    personal_remaining = sum(p.remaining for p in personal)
    burn = burn_per_day(used, period, now)
    # A trickle against a large balance would put the date past year 9999 (OverflowError):
    # a century out already says "not at this rate".
    run_out = (
        now + timedelta(days=min(personal_remaining / burn, MAX_RUN_OUT_DAYS)) if burn > 0 else None
    )
    return BalanceView(
        email=person.email,
        name=person.name,
        period=period,
        pools=pools,
        personal_remaining=personal_remaining,
        personal_total=sum(p.amount for p in personal),
        used=used,
        overdraft=totals.overdraft if totals else 0,
        cost_micros=totals.cost_micros if totals else 0,
        burn_per_day=burn,
        run_out_at=run_out,
        team_share=team_share(session, person, policy, now),
    )
