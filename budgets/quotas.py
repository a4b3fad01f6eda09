"""Quota recommendations from real usage, and the overrides an admin applies from them.

Monthly (in the `optimize` phase), `recommend_quotas` looks at the last `periods` budget
periods up to the month reviewed and proposes, each with its evidence:
- a person's tier one step up when they used at least `ceiling_share` of their baseline
  allotment in every one of those periods with good acceptance: at least `min_acceptance` of
  their artifacts accepted and at least their use cases' baseline (the median person's
  acceptance in each use case over the same periods, weighted by their artifacts there), so
  the org's lowest acceptance is never "good"; one step down when they used at most
  `lapse_share` every time (it lapsed unused), and never below what they used: the lower
  tier's baseline must cover the most they used in any of those periods;
- a team pool or a reserved pool raised or lowered by `pool_step` of its amount on the same
  ceiling and lapse rules.
A recommendation is stored once per month and subject (its `key`), pending until an admin
applies or dismisses it, exactly once (a conditional update on its status), audited in the same
transaction. Applying writes a `QuotaOverride` effective from the start of the next budget
period; `quota_overrides(session, period)` is what `budgets.grants.period_grant_specs` consults
when it issues a period's allotments, so nothing changes in the running period.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, case, func, select, update
from sqlalchemy.orm import Session

from budgets import audit
from budgets.periods import Period, next_period, period_for, previous_period
from budgets.policy import Policy
from storage.database import upsert_insert
from storage.models import (
    AccountTotal,
    Grant,
    GrantBalance,
    Outcome,
    Person,
    QuotaOverride,
    QuotaRecommendation,
    Team,
)

TIER, TEAM_POOL, RESERVED_POOL = "tier", "team_pool", "reserved_pool"
PENDING, APPLIED, DISMISSED = "pending", "applied", "dismissed"
ACTION_APPLY = "quota.apply"
ACTION_DISMISS = "quota.dismiss"
MIN_ARTIFACTS = 5  # artifacts before acceptance is trusted for a raise
ACCEPTED = ("accepted", "revised")


# --- overrides -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Overrides:
    """What applied recommendations changed for one period, by subject."""

    tiers: dict[int, str] = field(default_factory=dict)  # person id -> tier
    team_pools: dict[int, int] = field(default_factory=dict)  # team id -> amount
    reserved_pools: dict[str, int] = field(default_factory=dict)  # pool name -> amount


def quota_overrides(session: Session, period: Period) -> Overrides:
    """The latest override of each subject that is effective by the period's start."""
    latest = (
        select(
            QuotaOverride.kind,
            QuotaOverride.subject,
            func.max(QuotaOverride.id).label("id"),
        )
        .where(QuotaOverride.effective_at <= period.start)
        .group_by(QuotaOverride.kind, QuotaOverride.subject)
        .subquery()
    )
    overrides = Overrides()
    for row in session.scalars(select(QuotaOverride).join(latest, QuotaOverride.id == latest.c.id)):
        name = row.subject.partition(":")[2]
        if row.kind == TIER and row.tier:
            overrides.tiers[int(name)] = row.tier
        elif row.kind == TEAM_POOL and row.amount is not None:
            overrides.team_pools[int(name)] = row.amount
        elif row.kind == RESERVED_POOL and row.amount is not None:
            overrides.reserved_pools[name] = row.amount
    return overrides


# --- recommending --------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    kind: str
    subject: str  # person:12 | team:3 | reserved:<pool name>
    subject_name: str
    direction: str  # raise | lower
    tier_from: str | None
    tier_to: str | None
    amount_from: int
    amount_to: int
    evidence: dict[str, Any]

    @property
    def key_part(self) -> str:
        return f"{self.kind}:{self.subject}"


def _periods(policy: Policy, month_start: datetime, count: int) -> list[Period]:
    """The `count` budget periods up to the one holding the month's start, oldest first."""
    periods = [period_for(policy.periods, month_start)]
    while len(periods) < count:
        periods.insert(0, previous_period(policy.periods, periods[0]))
    return periods


def tier_ladder(policy: Policy) -> list[str]:
    return [t.name for t in sorted(policy.tiers.values(), key=lambda t: (t.baseline, t.name))]


@dataclass(frozen=True)
class Acceptance:
    """A person's artifacts and accepted (or revised) ones over the periods judged, and what
    their use cases' baselines would have them accept (`expected`)."""

    artifacts: int
    accepted: int
    expected: float

    @property
    def rate(self) -> float | None:
        return self.accepted / self.artifacts if self.artifacts else None

    @property
    def baseline(self) -> float | None:
        return self.expected / self.artifacts if self.artifacts else None

    def is_good(self, floor: float) -> bool:
        """At least `floor` accepted and at least the baseline of the use cases worked in."""
        rate = self.rate
        # Compared in counts, so a person exactly at the baseline is at it (no float residue).
        return rate is not None and rate >= floor and self.accepted >= self.expected - 1e-9


def _acceptance(session: Session, start: datetime, end: datetime) -> dict[int, Acceptance]:
    """Person -> their acceptance in [start, end) against their use cases' baselines (the
    median person's acceptance rate in each use case over the same span)."""
    o = Outcome.__table__
    rows = session.execute(
        select(
            o.c.person_id,
            o.c.use_case,
            func.count(),
            func.sum(case((o.c.status.in_(ACCEPTED), 1), else_=0)),
        )
        .where(o.c.occurred_at >= start, o.c.occurred_at < end, o.c.person_id.is_not(None))
        .group_by(o.c.person_id, o.c.use_case)
    ).all()
    rates: dict[str | None, list[float]] = defaultdict(list)
    for _pid, use_case, total, ok in rows:
        rates[use_case].append(int(ok or 0) / int(total))
    baselines = {use_case: statistics.median(values) for use_case, values in rates.items()}
    found: dict[int, Acceptance] = {}
    for pid, use_case, total, ok in rows:
        was = found.get(pid, Acceptance(0, 0, 0.0))
        found[pid] = Acceptance(
            was.artifacts + int(total),
            was.accepted + int(ok or 0),
            was.expected + int(total) * baselines[use_case],
        )
    return found


def _pool_usage(
    session: Session, kind: str, periods: list[Period]
) -> dict[Any, list[tuple[int, int]]]:
    """Owner (team id, or reserved pool use case) -> (used, amount) per period, oldest first."""
    keys = [p.key for p in periods]
    found: dict[Any, dict[str, tuple[int, int]]] = defaultdict(dict)
    for owner, use_case, period, used, amount in session.execute(
        select(
            Grant.owner_id,
            Grant.use_case,
            Grant.period,
            func.sum(GrantBalance.used),
            func.sum(Grant.amount),
        )
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(Grant.kind == kind, Grant.period.in_(keys), Grant.source == "policy")
        .group_by(Grant.owner_id, Grant.use_case, Grant.period)
    ):
        found[owner if kind == "team_pool" else use_case][period] = (int(used), int(amount))
    return {
        owner: [by_period[k] for k in keys]
        for owner, by_period in found.items()
        if all(k in by_period for k in keys)
    }


@dataclass(frozen=True)
class Recommendations:
    """The rules of a recommendation. The policy states them under
    `[governance.recommendations]`, which `scoring.governance` parses and hands in."""

    periods: int = 2  # budget periods in a row a pattern must hold
    ceiling_share: float = 0.95  # "hits the ceiling": used at least this share of the allotment
    lapse_share: float = 0.3  # "lapses unused": used at most this share
    min_acceptance: float = 0.6  # good acceptance, for a raise
    pool_step: float = 0.25  # pools move by this share of their amount


def recommend_quotas(
    session: Session,
    policy: Policy,
    month_start: datetime,
    month_end: datetime,
    rules: Recommendations,
) -> list[Proposal]:
    """Proposals from the periods up to the reviewed month (see the module docstring)."""
    periods = _periods(policy, month_start, rules.periods)
    keys = [p.key for p in periods]
    ladder = tier_ladder(policy)
    overrides = quota_overrides(session, periods[-1])
    proposals: list[Proposal] = []

    used: dict[int, dict[str, int]] = defaultdict(dict)
    for pid, period, total in session.execute(
        select(AccountTotal.person_id, AccountTotal.period, AccountTotal.used).where(
            AccountTotal.period.in_(keys)
        )
    ):
        used[pid][period] = int(total)
    allotted: dict[int, dict[str, int]] = defaultdict(dict)
    for owner, period, amount in session.execute(
        select(Grant.owner_id, Grant.period, func.sum(Grant.amount))
        .where(Grant.kind == "baseline", Grant.owner_type == "person", Grant.period.in_(keys))
        .group_by(Grant.owner_id, Grant.period)
    ):
        if owner is not None:
            allotted[owner][period] = int(amount)
    acceptance = _acceptance(session, periods[0].start, month_end)
    people = session.execute(
        select(Person.id, Person.name, Person.tier).where(Person.active).order_by(Person.id)
    ).all()
    for pid, name, tier in people:
        tier = overrides.tiers.get(pid, tier)
        if tier not in policy.tiers:
            continue
        shares = []
        for key in keys:
            allotment = allotted[pid].get(key) or policy.tiers[tier].baseline
            shares.append((used[pid].get(key, 0), allotment))
        record = acceptance.get(pid, Acceptance(0, 0, 0.0))
        rate, baseline = record.rate, record.baseline
        evidence = {
            "periods": keys,
            "used": [u for u, _ in shares],
            "allotted": [a for _, a in shares],
            "artifacts": record.artifacts,
            "acceptance": round(rate, 2) if rate is not None else None,
            "baseline_acceptance": round(baseline, 2) if baseline is not None else None,
        }
        step = ladder.index(tier)
        if (
            all(u >= rules.ceiling_share * a for u, a in shares)
            and record.artifacts >= MIN_ARTIFACTS
            and record.is_good(rules.min_acceptance)
            and step + 1 < len(ladder)
        ):
            proposals.append(
                _tier_proposal(pid, name, tier, ladder[step + 1], "raise", evidence, policy)
            )
        elif (
            all(u <= rules.lapse_share * a for u, a in shares)
            and step > 0
            and policy.tiers[ladder[step - 1]].baseline >= max(u for u, _ in shares)
        ):
            # Never below what they used: the lower tier must cover their busiest period.
            proposals.append(
                _tier_proposal(pid, name, tier, ladder[step - 1], "lower", evidence, policy)
            )

    teams = dict(session.execute(select(Team.id, Team.name)).all())
    for team_id, usage in sorted(_pool_usage(session, "team_pool", periods).items()):
        if team_id in teams:
            proposal = _pool_proposal(
                TEAM_POOL, f"team:{team_id}", teams[team_id], keys, usage, rules
            )
            if proposal is not None:
                proposals.append(proposal)
    # Launch pools are one-off windows: quotas recommend only the pools of every period.
    pools = {p.use_case: p.name for p in policy.reserved_pools if not p.is_launch}
    for use_case, usage in sorted(_pool_usage(session, "reserved", periods).items()):
        if use_case in pools:
            proposal = _pool_proposal(
                RESERVED_POOL, f"reserved:{pools[use_case]}", pools[use_case], keys, usage, rules
            )
            if proposal is not None:
                proposals.append(proposal)
    return proposals


def _tier_proposal(
    pid: int,
    name: str,
    tier: str,
    to: str,
    direction: str,
    evidence: dict[str, Any],
    policy: Policy,
) -> Proposal:
    return Proposal(
        kind=TIER,
        subject=f"person:{pid}",
        subject_name=name,
        direction=direction,
        tier_from=tier,
        tier_to=to,
        amount_from=policy.tiers[tier].baseline,
        amount_to=policy.tiers[to].baseline,
        evidence=evidence,
    )


def _pool_proposal(
    kind: str,
    subject: str,
    name: str,
    keys: list[str],
    usage: list[tuple[int, int]],
    rules: Any,
) -> Proposal | None:
    current = usage[-1][1]
    if current <= 0:
        return None
    evidence = {"periods": keys, "used": [u for u, _ in usage], "allotted": [a for _, a in usage]}
    step = max(math.ceil(current * rules.pool_step), 1)
    if all(u >= rules.ceiling_share * a for u, a in usage):
        direction, proposed = "raise", current + step
    elif all(u <= rules.lapse_share * a for u, a in usage):
        direction, proposed = "lower", max(current - step, 0)
    else:
        return None
    return Proposal(kind, subject, name, direction, None, None, current, proposed, evidence)


def store_recommendations(
    session: Session, month: str, proposals: list[Proposal], now: datetime
) -> list[QuotaRecommendation]:
    """Store the month's proposals once each (keyed by month and subject); returns the
    month's recommendations still pending, oldest first."""
    if proposals:
        table = QuotaRecommendation.__table__
        stmt = upsert_insert(session, table).on_conflict_do_nothing(index_elements=["key"])
        session.execute(
            stmt,
            [
                {
                    "key": f"{month}:{p.key_part}",
                    "month": month,
                    "kind": p.kind,
                    "subject": p.subject,
                    "subject_name": p.subject_name,
                    "direction": p.direction,
                    "tier_from": p.tier_from,
                    "tier_to": p.tier_to,
                    "amount_from": p.amount_from,
                    "amount_to": p.amount_to,
                    "evidence": p.evidence,
                    "status": PENDING,
                    "created_at": now,
                }
                for p in proposals
            ],
        )
    return list(
        session.scalars(
            select(QuotaRecommendation)
            .where(QuotaRecommendation.month == month, QuotaRecommendation.status == PENDING)
            .order_by(QuotaRecommendation.id)
        )
    )


def recommendation_context(rec: QuotaRecommendation) -> dict[str, Any]:
    return {
        "id": rec.id,
        "month": rec.month,
        "kind": rec.kind,
        "subject_name": rec.subject_name,
        "direction": rec.direction,
        "tier_from": rec.tier_from,
        "tier_to": rec.tier_to,
        "amount_from": rec.amount_from,
        "amount_to": rec.amount_to,
        "evidence": dict(rec.evidence),
        "status": rec.status,
    }


# --- deciding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaDecision:
    recommendation: dict[str, Any] | None
    problem: str | None = None  # not_found, not_admin, already_decided, own_raise
    effective_period: str | None = None
    decided_by: str | None = None

    @property
    def changed(self) -> bool:
        return self.problem is None


def subject(rec_id: int) -> str:
    return f"quota:{rec_id}"


def decide_recommendation(
    session: Session, policy: Policy, rec_id: int, actor: Person, apply: bool, now: datetime
) -> QuotaDecision:
    """An admin applies (effective next period) or dismisses a pending recommendation, once.
    A non-admin is refused before the id is looked up: no oracle for which ids exist."""
    if not actor.has_role("admin"):
        return QuotaDecision(None, "not_admin")
    rec = session.execute(
        select(QuotaRecommendation)
        .where(QuotaRecommendation.id == rec_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if rec is None:
        return QuotaDecision(None, "not_found")
    if rec.status != PENDING:
        decider = session.get(Person, rec.decided_by_id) if rec.decided_by_id else None
        return QuotaDecision(
            recommendation_context(rec),
            "already_decided",
            decided_by=decider.name if decider else None,
        )
    if (
        apply
        and rec.kind == TIER
        and rec.direction == "raise"
        and rec.subject == f"person:{actor.id}"
    ):
        # Four eyes: an admin's own raise is applied by another admin (they may dismiss it).
        return QuotaDecision(recommendation_context(rec), "own_raise")
    status = APPLIED if apply else DISMISSED
    table = QuotaRecommendation.__table__
    changed = session.execute(
        update(table)
        .where(table.c.id == rec.id, table.c.status == PENDING)
        .values(status=status, decided_by_id=actor.id, decided_at=now)
    )
    won = cast(CursorResult[Any], changed).rowcount
    if won != 1:
        return QuotaDecision(recommendation_context(rec), "already_decided")
    following = next_period(policy.periods, period_for(policy.periods, now))
    if apply:
        session.add(
            QuotaOverride(
                kind=rec.kind,
                subject=rec.subject,
                tier=rec.tier_to,
                amount=rec.amount_to if rec.kind != TIER else None,
                effective_at=following.start,
                recommendation_id=rec.id,
                created_by_id=actor.id,
                created_at=now,
            )
        )
    audit.record(
        session,
        now,
        actor.email,
        f"quota.{status}",
        subject(rec.id),
        {
            "kind": rec.kind,
            "subject": rec.subject,
            "from": rec.tier_from or rec.amount_from,
            "to": rec.tier_to or rec.amount_to,
            "effective_period": following.key if apply else None,
        },
    )
    session.flush()
    session.refresh(rec)
    return QuotaDecision(
        recommendation_context(rec),
        effective_period=following.key if apply else None,
        decided_by=actor.name,
    )
