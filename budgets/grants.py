"""Grants: what the policy and approvals give, issued once each.

A grant is a fact (`Grant`, with a `grant` `LedgerEntry`); its `GrantBalance` is the projection
that usage (`budgets.usage_ledger`) and roll-over (`budgets.rollover`) move in the same
transaction. Invariants:
- a grant is issued once per `GrantSpec.key`, whatever the repetition of calls
  (`ensure_period_grants` is safe to call any time);
- a new grant starts with remaining = amount, used = expired = 0, so
  amount = remaining + used + expired holds from its first row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from budgets.draws import DRAW_ORDER
from budgets.periods import Period, period_for
from budgets.policy import Policy, ReservedPool
from storage.database import is_sqlite, upsert_insert
from storage.models import Grant, GrantBalance, LedgerEntry, Person, Project, Team

GRANT_KINDS = DRAW_ORDER


@dataclass(frozen=True)
class GrantSpec:
    """What to grant; `key` makes issuing it idempotent."""

    key: str
    kind: str
    token_class: str
    owner_type: str
    owner_id: int | None
    amount: int
    period: str
    effective_at: datetime
    expires_at: datetime
    source: str
    use_case: str | None = None
    priority: int = 0


def issue_grants(session: Session, specs: Sequence[GrantSpec], now: datetime) -> list[int]:
    """Insert grants whose key is new; returns the ids of those actually issued."""
    if not specs:
        return []
    unique = list({s.key: s for s in specs}.values())
    rows = [
        {
            "idempotency_key": s.key,
            "kind": s.kind,
            "token_class": s.token_class,
            "owner_type": s.owner_type,
            "owner_id": s.owner_id,
            "use_case": s.use_case,
            "amount": s.amount,
            "period": s.period,
            "effective_at": s.effective_at,
            "expires_at": s.expires_at,
            "priority": s.priority,
            "source": s.source,
            "created_at": now,
        }
        for s in unique
    ]
    stmt = (
        upsert_insert(session, Grant.__table__)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Grant.__table__.c.id, Grant.__table__.c.idempotency_key)
    )
    issued = {key: grant_id for grant_id, key in session.execute(stmt, rows).all()}
    if not issued:
        return []
    by_key = {s.key: s for s in unique}
    session.execute(
        GrantBalance.__table__.insert(),
        [
            {"grant_id": gid, "remaining": by_key[k].amount, "used": 0, "expired": 0}
            for k, gid in issued.items()
        ],
    )
    session.execute(
        LedgerEntry.__table__.insert(),
        [
            {
                "entry_type": "grant",
                "grant_id": gid,
                "person_id": by_key[k].owner_id if by_key[k].owner_type == "person" else None,
                "period": by_key[k].period,
                "amount": by_key[k].amount,
                "reference": k,
                "created_at": now,
            }
            for k, gid in issued.items()
        ],
    )
    return list(issued.values())


def ensure_projects(session: Session, policy: Policy) -> dict[str, int]:
    """Make the policy's projects exist (owner by email); returns name -> id."""
    existing = {p.name: p for p in session.scalars(select(Project))}
    owners = dict(session.execute(select(Person.email, Person.id)).all())
    for spec in policy.projects.values():
        project = existing.get(spec.name)
        if project is None:
            project = Project(name=spec.name)
            session.add(project)
            existing[spec.name] = project
        project.owner_id = owners.get(spec.owner.lower())
        project.budget = spec.budget
        project.status = spec.status
    session.flush()
    return {name: p.id for name, p in existing.items()}


def period_grant_specs(session: Session, policy: Policy, period: Period) -> list[GrantSpec]:
    """Every allotment the policy gives for a period: baselines by tier, team pools,
    project budgets and reserved pools; tiers and pool amounts that an admin changed from a
    quota recommendation (`budgets.quotas`) take the applied value from its period on."""
    from budgets.quotas import quota_overrides

    overrides = quota_overrides(session, period)
    specs: list[GrantSpec] = []

    def spec(
        key: str, kind: str, cls: str, owner_type: str, owner_id: int | None, amount: int, **kw: Any
    ) -> None:
        if amount > 0:
            specs.append(
                GrantSpec(
                    key=f"{kind}:{period.key}:{key}",
                    kind=kind,
                    token_class=cls,
                    owner_type=owner_type,
                    owner_id=owner_id,
                    amount=amount,
                    period=period.key,
                    effective_at=period.start,
                    expires_at=period.end,
                    source="policy",
                    **kw,
                )
            )

    for person_id, tier in session.execute(select(Person.id, Person.tier).where(Person.active)):
        tier = overrides.tiers.get(person_id, tier)
        baseline = policy.tiers.get(tier, policy.tiers["default"]).baseline
        for cls, amount in policy.baseline_split(baseline).items():
            spec(f"person:{person_id}:{cls}", "baseline", cls, "person", person_id, amount)
    for team_id, name in session.execute(select(Team.id, Team.name)):
        spec(
            f"team:{team_id}",
            "team_pool",
            "operational",
            "team",
            team_id,
            overrides.team_pools.get(team_id, policy.team_pools.amount_for(name)),
        )
    project_ids = ensure_projects(session, policy)
    for name, project in policy.projects.items():
        if project.status == "open":
            spec(
                f"project:{project_ids[name]}",
                "project",
                "operational",
                "project",
                project_ids[name],
                project.budget,
            )
    for pool in policy.reserved_pools:
        if pool.is_launch:
            start, end = pool.window(policy.periods.zone)
            if start < period.end and period.start < end:  # the window overlaps the period
                specs.append(launch_grant_spec(policy, pool))
            continue
        spec(
            f"reserved:{pool.name}",
            "reserved",
            policy.token_class_for(pool.use_case),
            "org",
            None,
            overrides.reserved_pools.get(pool.name, pool.amount),
            use_case=pool.use_case,
        )
    return specs


def launch_grant_spec(policy: Policy, pool: ReservedPool) -> GrantSpec:
    """A launch pool's one grant, effective over its window only (`budgets.launches`)."""
    start, end = pool.window(policy.periods.zone)
    return GrantSpec(
        key=pool.grant_key,
        kind="reserved",
        token_class=policy.token_class_for(pool.use_case),
        owner_type="org",
        owner_id=None,
        amount=pool.amount,
        period=period_for(policy.periods, start).key,
        effective_at=start,
        expires_at=end,
        source=f"launch pool {pool.name}"[:200],
        use_case=pool.use_case,
    )


def ensure_period_grants(session: Session, policy: Policy, period: Period, now: datetime) -> int:
    """Issue the period's policy allotments that are not issued yet (safe to call any time)."""
    return len(issue_grants(session, period_grant_specs(session, policy, period), now))


@dataclass(frozen=True)
class Lapsed:
    """What `lapse` did to one grant: its amount, what was used of it, what it lapsed now."""

    amount: int
    used: int
    lapsed: int


def lapse(
    session: Session,
    grant_id: int,
    person_id: int | None,
    reference: str,
    now: datetime,
    most: int | None = None,
) -> Lapsed:
    """Lapse what is left of a grant now (at most `most`): an `expire` ledger entry and the
    balance moved in the same transaction. The balance row is locked first, so a concurrent
    debit lands before or after, never lost; used tokens stay used."""
    query = (
        select(Grant.amount, Grant.period, GrantBalance.remaining, GrantBalance.used)
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(Grant.id == grant_id)
    )
    if not is_sqlite(session):
        query = query.with_for_update(of=GrantBalance)
    row = session.execute(query).one()
    amount = row.remaining if most is None else min(most, row.remaining)
    if amount > 0:
        session.add(
            LedgerEntry(
                entry_type="expire",
                grant_id=grant_id,
                person_id=person_id,
                period=row.period,
                amount=amount,
                reference=reference,
                created_at=now,
            )
        )
        balances = GrantBalance.__table__
        session.execute(
            update(balances)
            .where(balances.c.grant_id == grant_id)
            .values(remaining=balances.c.remaining - amount, expired=balances.c.expired + amount)
        )
    return Lapsed(int(row.amount), int(row.used), int(amount))
