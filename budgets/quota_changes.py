"""Dynamic quotas (`[quotas] auto_apply`, the optimize phase): at the period change the
`expire` job applies each person's tier recommendation itself, within bounds (one tier step per
period, never below what they used), before the next period's allotments are issued; an admin
reverts such a change once. Apart from `budgets.quotas` (recommendations and the admins'
Apply / Dismiss), which `budgets.grants` reads for the overrides: this module issues and lapses
grants, so it sits above both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from budgets import audit
from budgets.grants import GrantSpec, issue_grants, lapse
from budgets.periods import Period, next_period, period_for
from budgets.policy import Policy
from budgets.quotas import (
    APPLIED,
    PENDING,
    TIER,
    QuotaDecision,
    Recommendations,
    quota_overrides,
    recommend_quotas,
    recommendation_context,
    store_recommendations,
    subject,
    tier_ladder,
)
from storage.models import Grant, Person, QuotaOverride, QuotaRecommendation

AUTO_ACTOR = "tokenbot"
REVERTED = "reverted"
ACTION_REVERT = "quota.revert"


@dataclass(frozen=True)
class AutoApplied:
    """A tier change the period change applied by itself; who is to be told and what."""

    recommendation_id: int
    person_id: int
    name: str
    manager_id: int | None
    direction: str
    tier_from: str
    tier_to: str
    amount_from: int
    amount_to: int
    effective_period: str
    evidence: dict[str, Any]


def _within_bounds(policy: Policy, ladder: list[str], rec: QuotaRecommendation) -> bool:
    """One tier step, and never below what the person used in any period judged."""
    if rec.tier_from not in ladder or rec.tier_to not in ladder:
        return False
    if abs(ladder.index(rec.tier_to) - ladder.index(rec.tier_from)) != 1:
        return False
    used = [int(u) for u in (rec.evidence or {}).get("used", [])]
    return policy.tiers[rec.tier_to].baseline >= max(used, default=0)


def auto_apply_quotas(
    session: Session, policy: Policy, closing: Period, rules: Recommendations, now: datetime
) -> list[AutoApplied]:
    """At the change from `closing` to the next period: recommend tiers from the periods up to
    `closing` and apply, within bounds, each person's one-step change from the next period on.
    Once per period whatever the runs: recommendations are stored once per key, each applied by
    a conditional update on its status, and a person with an override for that period already
    is left alone (at most one step per period). Audited in the same transaction. Call it
    before the next period's allotments are issued (the `expire` job does)."""
    if policy.phase != "optimize" or not policy.quotas.auto_apply:
        return []
    following = next_period(policy.periods, closing)
    proposals = [
        p
        for p in recommend_quotas(session, policy, closing.start, closing.end, rules)
        if p.kind == TIER
    ]
    pending = [
        r for r in store_recommendations(session, closing.key, proposals, now) if r.kind == TIER
    ]
    ladder = tier_ladder(policy)
    current = quota_overrides(session, closing)
    applied: list[AutoApplied] = []
    table = QuotaRecommendation.__table__
    for rec in pending:
        person_id = int(rec.subject.partition(":")[2])
        person = session.get(Person, person_id)
        if person is None or not person.active or not _within_bounds(policy, ladder, rec):
            continue
        if current.tiers.get(person_id, person.tier) != rec.tier_from:
            continue  # the tier changed since it was recommended
        stepped = session.scalar(
            select(func.count())
            .select_from(QuotaOverride)
            .where(
                QuotaOverride.kind == TIER,
                QuotaOverride.subject == rec.subject,
                QuotaOverride.effective_at == following.start,
            )
        )
        if stepped:
            continue
        changed = session.execute(
            update(table)
            .where(table.c.id == rec.id, table.c.status == PENDING)
            .values(status=APPLIED, decided_at=now)
        )
        if cast(CursorResult[Any], changed).rowcount != 1:
            continue
        session.add(
            QuotaOverride(
                kind=TIER,
                subject=rec.subject,
                tier=rec.tier_to,
                effective_at=following.start,
                recommendation_id=rec.id,
                created_at=now,
            )
        )
        audit.record(
            session,
            now,
            AUTO_ACTOR,
            "quota.auto_applied",
            subject(rec.id),
            {
                "kind": TIER,
                "subject": rec.subject,
                "from": rec.tier_from,
                "to": rec.tier_to,
                "effective_period": following.key,
                "evidence": dict(rec.evidence or {}),
            },
        )
        assert rec.tier_from is not None and rec.tier_to is not None
        applied.append(
            AutoApplied(
                recommendation_id=rec.id,
                person_id=person_id,
                name=person.name,
                manager_id=person.manager_id,
                direction=rec.direction,
                tier_from=rec.tier_from,
                tier_to=rec.tier_to,
                amount_from=rec.amount_from,
                amount_to=rec.amount_to,
                effective_period=following.key,
                evidence=dict(rec.evidence or {}),
            )
        )
    session.flush()
    return applied


def revert_applied(
    session: Session, policy: Policy, rec_id: int, actor: Person, now: datetime
) -> QuotaDecision:
    """An admin reverts an automatically applied tier change, once: the person's tier is back
    to what it was from the period the change took effect (an override appended after it), and
    a running period's allotment issued at the new tier is brought back in the same
    transaction (`_settle_running_period`). The conditional update on the status makes it
    once, whatever the clicks."""
    if not actor.has_role("admin"):
        return QuotaDecision(None, "not_admin")
    override = session.scalar(
        select(QuotaOverride)
        .where(QuotaOverride.recommendation_id == rec_id, QuotaOverride.kind == TIER)
        .order_by(QuotaOverride.id)
        .limit(1)
    )
    rec = session.execute(
        select(QuotaRecommendation)
        .where(QuotaRecommendation.id == rec_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if rec is None or override is None or rec.decided_by_id is not None:
        return QuotaDecision(None, "not_found")  # only what tokenbot applied by itself
    if rec.status != APPLIED:
        return QuotaDecision(recommendation_context(rec), "already_decided")
    later = session.scalar(
        select(QuotaOverride.id)
        .where(
            QuotaOverride.kind == TIER,
            QuotaOverride.subject == rec.subject,
            QuotaOverride.id > override.id,
        )
        .limit(1)
    )
    if later is not None:
        # A later tier change (the next period's auto-apply, an admin's) governs now: putting
        # the old tier back from this change's start would silently cancel it.
        return QuotaDecision(recommendation_context(rec), "superseded")
    table = QuotaRecommendation.__table__
    changed = session.execute(
        update(table)
        .where(table.c.id == rec.id, table.c.status == APPLIED)
        .values(status=REVERTED, decided_at=now)
    )
    if cast(CursorResult[Any], changed).rowcount != 1:
        return QuotaDecision(recommendation_context(rec), "already_decided")
    session.add(
        QuotaOverride(
            kind=TIER,
            subject=rec.subject,
            tier=rec.tier_from,
            effective_at=override.effective_at,
            recommendation_id=rec.id,
            created_by_id=actor.id,
            created_at=now,
        )
    )
    running = period_for(policy.periods, now)
    settled = _settle_running_period(session, policy, rec, running, now)
    following = (
        running
        if override.effective_at <= now
        else period_for(policy.periods, override.effective_at)
    )
    audit.record(
        session,
        now,
        actor.email,
        "quota.reverted",
        subject(rec.id),
        {
            "subject": rec.subject,
            "from": rec.tier_to,
            "to": rec.tier_from,
            "effective_at": override.effective_at.isoformat(),
            "running_period": running.key,
            "settled": settled,
        },
    )
    session.flush()
    session.refresh(rec)
    return QuotaDecision(
        recommendation_context(rec), effective_period=following.key, decided_by=actor.name
    )


def _settle_running_period(
    session: Session, policy: Policy, rec: QuotaRecommendation, running: Period, now: datetime
) -> dict[str, int]:
    """When the running period's allotment was issued at the reverted tier, bring it back to
    the old one now: a raise's extra lapses (what is left of it; used tokens stay used), a
    lowering's missing part is granted (key `quota-revert:{id}:...`, once). Per token class,
    by the policy's split; {class: +granted or -lapsed}."""
    person_id = int(rec.subject.partition(":")[2])
    was = policy.baseline_split(rec.amount_from)
    became = policy.baseline_split(rec.amount_to)
    settled: dict[str, int] = {}
    for cls, amount in became.items():
        issued = session.execute(
            select(Grant.id, Grant.amount).where(
                Grant.idempotency_key == f"baseline:{running.key}:person:{person_id}:{cls}"
            )
        ).one_or_none()
        if issued is None or issued.amount != amount or was[cls] == amount:
            continue  # not issued yet, or not at the reverted tier: the overrides decide
        if was[cls] < amount:
            done = lapse(
                session,
                issued.id,
                person_id,
                f"quota-revert:{rec.id}",
                now,
                most=amount - was[cls],
            )
            settled[cls] = -done.lapsed
        else:
            issue_grants(
                session,
                [
                    GrantSpec(
                        key=f"quota-revert:{rec.id}:{running.key}:{cls}",
                        kind="baseline",
                        token_class=cls,
                        owner_type="person",
                        owner_id=person_id,
                        amount=was[cls] - amount,
                        period=running.key,
                        effective_at=now,
                        expires_at=running.end,
                        source=f"quota:{rec.id} reverted",
                    )
                ],
                now,
            )
            settled[cls] = was[cls] - amount
    return settled


def admin_ids(session: Session) -> list[int]:
    """The active admins, who may revert an automatic change (told of each)."""
    people = session.scalars(
        select(Person).where(Person.active, Person.roles.contains("admin")).order_by(Person.id)
    )
    return [p.id for p in people if p.has_role("admin")]
