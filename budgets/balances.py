"""A person's balance: what they can spend now, from where, until when, and how fast it goes.

Reads materialized projections (`GrantBalance`, `AccountTotal`) for the grants active now, and
the person's ledger entries of the current period grouped by grant (what their usage was drawn
from), so its cost does not grow with usage history beyond one period's draws.

Every figure adds up with the ones shown beside it (property-tested through `balance`):
- personal: remaining + used = total, over the person's own grants active now;
- used this period = drawn from own grants (active now or expired earlier in the period)
  + team pool + project budgets + reserved pools + overdraft (`UsageSplit`);
- expiring baseline = what carries over (the rollover cap) + what lapses, as the reminder says.

With the policy, the projects and reserved pools that name the person among their members
(`members`, `teams`) are listed too: the pools only they may draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from budgets.periods import Period, period_for
from budgets.policy import Policy, ReservedPool
from budgets.reminders import rollover_carry
from budgets.team_shares import TeamShareView, team_share
from storage.models import AccountTotal, Grant, GrantBalance, LedgerEntry, Person, Project, Team

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
class UsageSplit:
    """Where a person's usage of a period was drawn from; the parts add up to `total`."""

    own: int = 0  # their own grants that are still active
    own_expired: int = 0  # their own grants that expired earlier in the period
    team_pool: int = 0
    project: int = 0
    reserved: int = 0
    overdraft: int = 0  # what no grant covered

    @property
    def total(self) -> int:
        return (
            self.own
            + self.own_expired
            + self.team_pool
            + self.project
            + self.reserved
            + self.overdraft
        )


@dataclass(frozen=True)
class BaselineExpiry:
    """What the period's baseline (with last period's rollover) still holds when it ends:
    `carry_over` goes into the next period (the rollover cap), the rest lapses. The expiry
    reminder names the same figures."""

    expiring: int
    carry_over: int
    expires_at: datetime

    @property
    def lapsing(self) -> int:
        return self.expiring - self.carry_over


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
    burn_per_day: int  # all usage this period, a day
    run_out_at: datetime | None  # None when nothing is drawn from the person's own grants
    # Where `used` was drawn from (its parts add up to `used`); defaults keep callers that
    # build a view by hand working.
    split: UsageSplit = UsageSplit()
    days_elapsed: float = 0.0  # of the period, the burn rates' denominator
    own_burn_per_day: int = 0  # drawn from the person's own grants, a day: the run-out rate
    baseline_expiry: BaselineExpiry | None = None
    # What the person may still draw of their team's pool (`budgets.team_shares`); None: none.
    team_share: TeamShareView | None = None

    @property
    def used_share(self) -> float:
        return self.used / self.personal_total if self.personal_total else 0.0

    @property
    def personal_used(self) -> int:
        """Drawn from the own grants active now: personal_remaining + this = personal_total."""
        return self.personal_total - self.personal_remaining

    @property
    def period_end(self) -> datetime:
        return self.period.end

    @property
    def runs_out_before_period_end(self) -> bool:
        return self.run_out_at is not None and self.run_out_at < self.period.end


def active_pools(
    session: Session, person: Person, now: datetime, policy: Policy | None = None
) -> list[PoolBalance]:
    """The grants the person can draw on now: their own, their team's pool, the budgets of
    the projects they own or are members of, the reserved pools naming them."""
    return _active_pools(session, person, now, policy)[0]


def _active_pools(
    session: Session, person: Person, now: datetime, policy: Policy | None = None
) -> tuple[list[PoolBalance], set[int]]:
    """active_pools, and the ids of the person's own grants among them."""
    team = person.team.name if person.team is not None else None
    member_of = _member_projects(policy, person.email, team)
    theirs = or_(Project.owner_id == person.id, Project.name.in_(member_of))
    owned_projects = select(Project.id).where(theirs)
    owners = [
        and_(Grant.owner_type == "person", Grant.owner_id == person.id),
        and_(Grant.owner_type == "project", Grant.owner_id.in_(owned_projects)),
    ]
    pools_of = _member_pools(policy, person.email, team)
    if pools_of:
        owners.append(
            and_(Grant.kind == "reserved", Grant.use_case.in_({p.use_case for p in pools_of}))
        )
    if person.team_id is not None:
        owners.append(and_(Grant.owner_type == "team", Grant.owner_id == person.team_id))
    rows = session.execute(
        select(Grant, GrantBalance.remaining, GrantBalance.expired)
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(Grant.effective_at <= now, Grant.expires_at > now, or_(*owners))
        .order_by(Grant.expires_at, Grant.id)
    ).all()
    # Keyed like Grant.owner_id (nullable, though always set on team and project grants).
    team_names: dict[int | None, str] = (
        dict(session.execute(select(Team.id, Team.name)).all()) if person.team_id else {}
    )
    project_names: dict[int | None, str] = dict(
        session.execute(select(Project.id, Project.name).where(theirs)).all()
    )
    pools = []
    for grant, remaining, taken_back in rows:
        pool = (
            policy.reserved_pool_of_grant(grant.idempotency_key)
            if policy is not None and grant.kind == "reserved"
            else None
        )
        if grant.kind == "reserved" and pool not in pools_of:
            continue  # another pool of the use case: open to everyone, or not theirs
        label = POOL_LABELS.get(grant.kind, grant.kind)
        if grant.kind == "baseline":
            label = f"Baseline ({grant.token_class})" + (
                " rollover" if grant.source.startswith("rollover") else ""
            )
        elif grant.kind == "team_pool":
            label = f"Team pool ({team_names.get(grant.owner_id, 'team')})"
        elif grant.kind == "project":
            label = f"Project {project_names.get(grant.owner_id, grant.owner_id)}"
        elif grant.kind == "reserved" and pool is not None:
            label = f"Reserved ({pool.name})"
        pools.append(
            PoolBalance(
                label=label,
                kind=grant.kind,
                token_class=grant.token_class,
                remaining=remaining,
                # What an active grant could give: less what was taken back before its end
                # (an Undo, a quota revert, a launch pool's lapse), so remaining + drawn =
                # amount still holds on every line.
                amount=grant.amount - taken_back,
                expires_at=grant.expires_at,
                shared=grant.owner_type != "person",
            )
        )
    own = {grant.id for grant, _, _ in rows if grant.owner_type == "person"}
    return pools, own


def _member_projects(policy: Policy | None, email: str, team: str | None) -> list[str]:
    """Projects whose policy entry names this person (by email or team)."""
    if policy is None or not policy.has_members:
        return []
    return [
        name
        for name, project in policy.projects.items()
        if not project.members.is_open and project.members.admits(email, team)
    ]


def _member_pools(policy: Policy | None, email: str, team: str | None) -> list[ReservedPool]:
    """Reserved pools (launch pools among them) whose policy entry names this person."""
    if policy is None or not policy.has_members:
        return []
    return [
        pool
        for pool in policy.reserved_pools
        if not pool.members.is_open and pool.members.admits(email, team)
    ]


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


# A person's debits and overdrafts of a period by grant: usage_split's one query, built once
# (as _PERSONAL_REMAINING) and served by ix_ledger_entries_person_period.
_USAGE_SPLIT = (
    select(
        LedgerEntry.entry_type,
        LedgerEntry.grant_id,
        Grant.owner_type,
        func.sum(LedgerEntry.amount),
    )
    .outerjoin(Grant, Grant.id == LedgerEntry.grant_id)
    .where(
        LedgerEntry.person_id == bindparam("person_id"),
        LedgerEntry.period == bindparam("period"),
        LedgerEntry.entry_type.in_(("debit", "overdraft")),
    )
    .group_by(LedgerEntry.entry_type, LedgerEntry.grant_id, Grant.owner_type)
)


def usage_split(
    session: Session, person: Person, period: Period, active_own_grants: set[int]
) -> UsageSplit:
    """Where the person's usage of `period` was drawn from, from the ledger (debits and
    overdrafts, repricing's corrections included), grouped by the kind of grant."""
    params = {"person_id": person.id, "period": period.key}
    rows = session.connection().execute(_USAGE_SPLIT, params).all()
    parts = dict.fromkeys(
        ("own", "own_expired", "team_pool", "project", "reserved", "overdraft"), 0
    )
    for entry_type, grant_id, owner_type, amount in rows:
        if entry_type == "overdraft":
            part = "overdraft"
        elif owner_type == "person":
            part = "own" if grant_id in active_own_grants else "own_expired"
        elif owner_type == "team":
            part = "team_pool"
        elif owner_type == "project":
            part = "project"
        else:  # org-owned: the reserved pools of use cases
            part = "reserved"
        parts[part] += int(amount or 0)
    return UsageSplit(**parts)


def baseline_expiry(
    policy: Policy, tier: str, pools: list[PoolBalance], period: Period
) -> BaselineExpiry | None:
    """What of the person's baseline lapses at the period's end and what carries over: the
    same rule as the expiry reminder and `ledger.expire` (`reminders.rollover_carry`)."""
    expiring = sum(
        p.remaining
        for p in pools
        if p.kind == "baseline" and not p.shared and p.expires_at >= period.end
    )
    if expiring <= 0:
        return None
    return BaselineExpiry(expiring, rollover_carry(policy, tier, expiring), period.end)


def balance_for(session: Session, person: Person, policy: Policy, now: datetime) -> BalanceView:
    period = period_for(policy.periods, now)
    pools, own_ids = _active_pools(session, person, now, policy)
    totals = session.get(AccountTotal, (person.id, period.key))
    used = totals.used if totals else 0
    personal = [p for p in pools if not p.shared]
    personal_remaining = sum(p.remaining for p in personal)
    burn = burn_per_day(used, period, now)
    split = usage_split(session, person, period, own_ids)
    # The personal balance runs out at the pace it is drawn on (team, project and reserved
    # pools, and the overdraft, are not drawn from it).
    own_burn = burn_per_day(split.own + split.own_expired, period, now)
    # A trickle against a large balance would put the date past year 9999 (OverflowError):
    # a century out already says "not at this rate".
    run_out = (
        now + timedelta(days=min(personal_remaining / own_burn, MAX_RUN_OUT_DAYS))
        if own_burn > 0
        else None
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
        split=split,
        days_elapsed=max(period.days_elapsed(now), 1.0),
        own_burn_per_day=own_burn,
        baseline_expiry=baseline_expiry(policy, person.tier, pools, period),
        team_share=team_share(session, person, policy, now),
    )
