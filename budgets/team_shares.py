"""Members' shares of their team's pool per budget period (issues #16 and #23).

A manager (anyone above the member in the directory) or an admin sets a member's allocation for
the current period (`allocate`); members without one share the unallocated rest, each up to the
policy's `[team_pools] member_share_cap`. The limit itself is the pure rule
`budgets.draws.team_pool_left`, which the ledger's debit and authorize both apply.

Facts and projection:
- `TeamAllocation` rows are append-only: every setting, who set it and when (and an audit entry);
  re-setting adds a row that replaces the allocation;
- `TeamPoolShare` is the projection the limit reads (a member's current allocation and what they
  drew from the pool in the period), moved in the same transaction as the allocation or the
  debit, so the limit is one indexed read per call.

Exactly once under races: `allocate` locks the team pool's grant balance rows for the period
(the rows the debit locks too) before it reads the allocations, so two managers allocating at
once queue, and the second sees the first's allocation: the pool is never over-allocated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select
from sqlalchemy.orm import Session

from budgets import audit
from budgets.directory import manages
from budgets.draws import PoolShare, held_for_others, team_pool_left
from budgets.periods import period_for
from budgets.policy import Policy
from storage.database import DriverQuery, is_sqlite, upsert_insert
from storage.models import Grant, GrantBalance, Person, Team, TeamAllocation, TeamPoolShare

# The member's own row and the allocated members' rows: the limit needs nothing else.
_SHARES = DriverQuery(
    "SELECT person_id, allocation, used FROM team_pool_shares "
    "WHERE team_id = :team AND period = :period AND (person_id = :person OR allocation IS NOT NULL)"
)


def shares_of(
    connection: Connection, team_id: int, period: str, person_id: int
) -> dict[int, PoolShare]:
    """The shares `team_pool_left` needs for `person_id` (one indexed read)."""
    rows = _SHARES.rows(connection, {"team": team_id, "period": period, "person": person_id})
    return {pid: PoolShare(allocation, used) for pid, allocation, used in rows}


def shares_for(
    session: Session, keys: Iterable[tuple[int, str]], person_ids: Iterable[int]
) -> dict[tuple[int, str], dict[int, PoolShare]]:
    """`shares_of` for several (team, period) pairs and members at once (the ledger's batch)."""
    wanted = set(keys)
    if not wanted:
        return {}
    table = TeamPoolShare
    rows = session.execute(
        select(table.team_id, table.period, table.person_id, table.allocation, table.used).where(
            table.team_id.in_(sorted({t for t, _ in wanted})),
            table.period.in_(sorted({p for _, p in wanted})),
            or_(table.allocation.is_not(None), table.person_id.in_(sorted(set(person_ids)))),
        )
    ).all()
    found: dict[tuple[int, str], dict[int, PoolShare]] = {key: {} for key in wanted}
    for team_id, period, person_id, allocation, used in rows:
        if (team_id, period) in found:
            found[(team_id, period)][person_id] = PoolShare(allocation, used)
    return found


def add_pool_use(session: Session, used: Mapping[tuple[int, str, int], int]) -> None:
    """Add what members drew from their team pool, keyed (team id, period, person id)."""
    if not used:
        return
    table = TeamPoolShare.__table__
    stmt = upsert_insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["team_id", "period", "person_id"],
        set_={"used": table.c.used + stmt.excluded.used},
    )
    session.execute(
        stmt,
        [
            {"team_id": t, "period": p, "person_id": pid, "allocation": None, "used": amount}
            for (t, p, pid), amount in sorted(used.items())
        ],
    )


# --- allocating ----------------------------------------------------------------------------

NOT_ALLOWED = "not_allowed"
NO_TEAM = "no_team"
NO_POOL = "no_pool"
OVER_POOL = "over_pool"


class AllocationRefused(Exception):
    """An allocation that changed nothing: `code` says why, `facts` hold the figures."""

    def __init__(self, code: str, **facts: Any):
        super().__init__(code)
        self.code = code
        self.facts = facts


@dataclass(frozen=True)
class Allocated:
    """An allocation that was set (the facts a reply and the audit show)."""

    team: str
    period: str
    member_name: str
    member_email: str
    amount: int
    previous: int | None  # the allocation it replaced, if any
    set_by: str
    pool_amount: int
    allocated: int  # every member's allocation together, this one included
    drawn_by_others: int  # drawn by members without an allocation
    at: datetime

    @property
    def unallocated(self) -> int:
        return self.pool_amount - self.allocated - self.drawn_by_others


def may_allocate(session: Session, actor: Person, member: Person) -> bool:
    """An admin, or someone above the member in the directory."""
    return actor.has_role("admin") or manages(session, actor, member)


def _lock_pool(session: Session, team_id: int, period: str) -> int:
    """Lock the team pool's balances for the period (the rows the debit locks); its amount."""
    query = (
        select(Grant.amount)
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(
            Grant.kind == "team_pool",
            Grant.owner_type == "team",
            Grant.owner_id == team_id,
            Grant.period == period,
        )
        .order_by(Grant.id)
    )
    if not is_sqlite(session):  # SQLite serialises write transactions (BEGIN IMMEDIATE)
        query = query.with_for_update(of=GrantBalance)
    return sum(session.scalars(query).all())


def allocate(
    session: Session,
    policy: Policy,
    actor: Person,
    member: Person | None,
    amount: int,
    now: datetime,
) -> Allocated:
    """Set `member`'s share of their team's pool for the current period to `amount`.

    Raises AllocationRefused (nothing changed) when the actor may not, the member is in no
    team, the team has no pool this period, or `amount` is more than the pool has unallocated:
    its amount less the others' allocations (or what they drew, if more) and less what members
    without an allocation drew from it (the member's own allocation and draws count as
    unallocated: re-setting replaces it, and their draws count in the new one). The caller
    commits.
    """
    if amount < 0:
        raise ValueError(f"amount must be >= 0, got {amount}")
    if member is None or not member.active or not may_allocate(session, actor, member):
        # The same answer whether or not the person exists: no directory oracle.
        raise AllocationRefused(NOT_ALLOWED)
    if member.team_id is None:
        raise AllocationRefused(NO_TEAM, member=member.name)
    team_name = session.scalar(select(Team.name).where(Team.id == member.team_id)) or ""
    period = period_for(policy.periods, now).key
    pool = _lock_pool(session, member.team_id, period)
    if pool == 0:
        raise AllocationRefused(NO_POOL, team=team_name, period=period)
    others = [
        PoolShare(allocation, used)
        for person_id, allocation, used in session.execute(
            select(TeamPoolShare.person_id, TeamPoolShare.allocation, TeamPoolShare.used).where(
                TeamPoolShare.team_id == member.team_id,
                TeamPoolShare.period == period,
                TeamPoolShare.person_id != member.id,
            )
        )
    ]
    previous = session.scalar(
        select(TeamPoolShare.allocation).where(
            TeamPoolShare.team_id == member.team_id,
            TeamPoolShare.period == period,
            TeamPoolShare.person_id == member.id,
        )
    )
    # What the others hold: an allocation (or what its member drew, if more), and what members
    # sharing the rest already drew from it. The member's own draws count in their allocation.
    to_others = sum(max(s.allocation, s.used) for s in others if s.allocation is not None)
    drawn_by_others = sum(s.used for s in others if s.allocation is None)
    unallocated = pool - to_others - drawn_by_others
    if amount > unallocated:
        raise AllocationRefused(
            OVER_POOL,
            team=team_name,
            period=period,
            member=member.name,
            amount=amount,
            pool=pool,
            allocated_to_others=to_others,
            drawn_by_others=drawn_by_others,
            unallocated=max(unallocated, 0),
        )
    session.add(
        TeamAllocation(
            team_id=member.team_id,
            period=period,
            person_id=member.id,
            amount=amount,
            set_by_id=actor.id,
            created_at=now,
        )
    )
    table = TeamPoolShare.__table__
    stmt = upsert_insert(session, table)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["team_id", "period", "person_id"],
            set_={"allocation": stmt.excluded.allocation},
        ),
        {
            "team_id": member.team_id,
            "period": period,
            "person_id": member.id,
            "allocation": amount,
            "used": 0,
        },
    )
    audit.record(
        session,
        now,
        actor.email,
        "team.allocate",
        f"team_allocation:{member.team_id}:{period}:{member.id}",
        {"member": member.email, "amount": amount, "previous": previous, "pool": pool},
    )
    session.flush()
    return Allocated(
        team=team_name,
        period=period,
        member_name=member.name,
        member_email=member.email,
        amount=amount,
        previous=previous,
        set_by=actor.name,
        pool_amount=pool,
        allocated=to_others + amount,
        drawn_by_others=drawn_by_others,
        at=now,
    )


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberAllocation:
    name: str
    email: str
    allocation: int
    used: int  # drawn from the pool this period
    set_by: str
    set_at: datetime

    @property
    def left(self) -> int:
        return max(self.allocation - self.used, 0)


@dataclass(frozen=True)
class TeamAllocations:
    team: str
    period: str
    pool_amount: int
    pool_remaining: int
    members: tuple[MemberAllocation, ...]
    member_cap: int | None  # the policy's cap on a member without an allocation
    drawn_by_others: int = 0  # drawn by members without an allocation

    @property
    def allocated(self) -> int:
        return sum(m.allocation for m in self.members)

    @property
    def unallocated(self) -> int:
        """What the members without an allocation may still share (what `allocate` takes)."""
        return max(self.pool_amount - self.allocated - self.drawn_by_others, 0)


def visible_team_ids(session: Session, actor: Person) -> list[int]:
    """The teams whose allocations `actor` may see: every team for an admin; for a manager,
    their own team and the teams of the people they manage."""
    if actor.has_role("admin"):
        return list(session.scalars(select(Team.id).order_by(Team.name)))
    ids = {actor.team_id} if actor.team_id is not None else set()
    frontier = [actor.id]
    seen = set(frontier)
    while frontier:  # down the reporting line, level by level
        rows = session.execute(
            select(Person.id, Person.team_id).where(Person.manager_id.in_(frontier))
        ).all()
        frontier = [pid for pid, _ in rows if pid not in seen]
        seen.update(frontier)
        ids.update(team_id for _, team_id in rows if team_id is not None)
    return sorted(ids)


def team_allocations(
    session: Session, policy: Policy, team_ids: Iterable[int], now: datetime
) -> list[TeamAllocations]:
    """Each team's pool and members' allocations for the current period (teams with a pool)."""
    period = period_for(policy.periods, now).key
    ids = sorted(set(team_ids))
    if not ids:
        return []
    pools: dict[int, list[int]] = {}
    for owner_id, amount, remaining in session.execute(
        select(Grant.owner_id, Grant.amount, GrantBalance.remaining)
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(
            Grant.kind == "team_pool",
            Grant.owner_type == "team",
            Grant.owner_id.in_(ids),
            Grant.period == period,
        )
    ):
        if owner_id is None:  # always set on a team's grant
            continue
        pool = pools.setdefault(owner_id, [0, 0])
        pool[0] += amount
        pool[1] += remaining
    names = dict(session.execute(select(Team.id, Team.name).where(Team.id.in_(ids))).all())
    latest: dict[tuple[int, int], tuple[int | None, datetime]] = {}
    for team_id, person_id, set_by_id, at in session.execute(
        select(
            TeamAllocation.team_id,
            TeamAllocation.person_id,
            TeamAllocation.set_by_id,
            TeamAllocation.created_at,
        )
        .where(TeamAllocation.team_id.in_(ids), TeamAllocation.period == period)
        .order_by(TeamAllocation.id)
    ):
        latest[(team_id, person_id)] = (set_by_id, at)
    people = {
        p.id: p
        for p in session.scalars(
            select(Person).where(
                Person.id.in_(
                    {pid for _, pid in latest} | {by for by, _ in latest.values() if by is not None}
                )
            )
        )
    }
    members: dict[int, list[MemberAllocation]] = {team_id: [] for team_id in ids}
    drawn_by_others: dict[int, int] = dict.fromkeys(ids, 0)
    for team_id, person_id, allocation, used in session.execute(
        select(
            TeamPoolShare.team_id,
            TeamPoolShare.person_id,
            TeamPoolShare.allocation,
            TeamPoolShare.used,
        ).where(TeamPoolShare.team_id.in_(ids), TeamPoolShare.period == period)
    ):
        if allocation is None:
            drawn_by_others[team_id] += used
            continue
        set_by_id, at = latest[(team_id, person_id)]
        person = people[person_id]
        setter = people.get(set_by_id) if set_by_id is not None else None
        members[team_id].append(
            MemberAllocation(
                person.name, person.email, allocation, used, setter.name if setter else "", at
            )
        )
    return [
        TeamAllocations(
            team=names[team_id],
            period=period,
            pool_amount=pools[team_id][0],
            pool_remaining=pools[team_id][1],
            members=tuple(sorted(members[team_id], key=lambda m: m.name)),
            member_cap=policy.team_pools.member_cap(pools[team_id][0]),
            drawn_by_others=drawn_by_others[team_id],
        )
        for team_id in ids
        if team_id in pools
    ]


@dataclass(frozen=True)
class TeamShareView:
    """`balance`'s team pool line: what the person may still draw of the pool, and the figures
    it comes from (`budgets.draws.team_pool_left`)."""

    team: str
    pool_remaining: int
    pool_amount: int
    allocation: int | None
    used: int  # what the person drew from the pool this period
    held_for_others: int  # others' allocations not drawn yet
    member_cap: int | None
    left: int


def team_share(
    session: Session, person: Person, policy: Policy, now: datetime
) -> TeamShareView | None:
    """The person's share of their team's pool now; None when they have no team pool."""
    if person.team_id is None:
        return None
    period = period_for(policy.periods, now).key
    pool_amount, pool_remaining = session.execute(
        select(
            func.coalesce(func.sum(Grant.amount), 0),
            func.coalesce(func.sum(GrantBalance.remaining), 0),
        )
        .join_from(Grant, GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(
            Grant.kind == "team_pool",
            Grant.owner_type == "team",
            Grant.owner_id == person.team_id,
            Grant.effective_at <= now,
            Grant.expires_at > now,
        )
    ).one()
    if not pool_amount:
        return None
    shares = shares_of(session.connection(), person.team_id, period, person.id)
    mine = shares.get(person.id, PoolShare(None, 0))
    cap = policy.team_pools.member_cap(pool_amount)
    return TeamShareView(
        team=person.team.name if person.team else "",
        pool_remaining=pool_remaining,
        pool_amount=pool_amount,
        allocation=mine.allocation,
        used=mine.used,
        held_for_others=held_for_others(shares, person.id),
        member_cap=cap,
        left=team_pool_left(person.id, pool_remaining, shares, cap),
    )
