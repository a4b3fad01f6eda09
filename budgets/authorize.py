"""Pre-flight authorization: may this person spend about this many tokens on this use case now?

A gateway (LiteLLM proxy or similar) asks before it forwards a request. The answer applies the
policy in this order: unknown person, prohibited use case, model not allowed for the use case,
the use case's cap for the period, then the balance under the policy's limit mode (hard: refuse
what the applicable grants cannot cover; soft: allow an overdraft up to `soft_overdraft` x the
person's baseline). In the `baseline` phase nothing is refused (measure only), but the decision
still says what would have happened.

Cost: a handful of indexed reads of projections (the person, their active grants with what is
left of them, two per-period totals), so it is O(active grants) and independent of how much
usage history is stored. Nothing is written.

`Decision.reason` is a code; the words people read live in the `authorize_reason` template.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from budgets.ledger import DRAW_ORDER
from budgets.periods import period_for
from budgets.policy import Policy, UseCase
from storage.models import (
    AccountTotal,
    Grant,
    GrantBalance,
    IdentityAlias,
    Person,
    Project,
    UseCaseTotal,
)

# Reason codes. Refusals first; the rest allow.
UNKNOWN_PERSON = "unknown_person"
PROHIBITED = "prohibited"
MODEL_NOT_ALLOWED = "model_not_allowed"
CAPPED = "capped"
HARD_LIMIT = "hard_limit"
SOFT_LIMIT = "soft_limit"
OVERDRAFT = "overdraft"  # allowed, but part of it will be an overdraft (soft limit)
WITHIN_BUDGET = "within_budget"
REFUSALS = frozenset(
    {UNKNOWN_PERSON, PROHIBITED, MODEL_NOT_ALLOWED, CAPPED, HARD_LIMIT, SOFT_LIMIT}
)

_KIND_RANK = {kind: rank for rank, kind in enumerate(DRAW_ORDER)}


@dataclass(frozen=True)
class Decision:
    allow: bool
    remaining: int  # budget tokens left in what this request may draw from (0 when unknown)
    pool: str | None  # the grant kind it would draw from first (baseline, team_pool, ...)
    reason: str  # a reason code (see the constants above)
    enforced: bool = True  # False in the baseline phase: `allow` is always True then
    estimated_budget_tokens: int = 0
    facts: dict[str, Any] = field(default_factory=dict)  # for the reason's wording

    @property
    def would_refuse(self) -> bool:
        """What the policy says, whether or not the phase enforces it."""
        return self.reason in REFUSALS


@dataclass(frozen=True)
class _Who:
    id: int
    team_id: int | None
    tier: str


def _find_person(session: Session, person_or_identity: Person | str) -> _Who | None:
    if isinstance(person_or_identity, Person):
        p = person_or_identity
        return _Who(p.id, p.team_id, p.tier) if p.active else None
    identity = person_or_identity.strip()
    columns = (Person.id, Person.team_id, Person.tier)
    if "@" in identity:
        query = select(*columns).where(Person.email == identity.lower(), Person.active)
    else:
        query = (
            select(*columns)
            .join(IdentityAlias, IdentityAlias.person_id == Person.id)
            .where(IdentityAlias.alias == identity, Person.active)
        )
    row = session.execute(query).first()
    return _Who(*row) if row else None


def authorize(
    session: Session,
    policy: Policy,
    person_or_identity: Person | str,
    model: str,
    estimated_tokens: int,
    use_case: str | None,
    project: str | None,
    now: datetime,
) -> Decision:
    """Decide whether a request of about `estimated_tokens` raw tokens may go ahead."""
    if estimated_tokens < 0:
        raise ValueError("estimated_tokens must be >= 0")
    decision = _decide(
        session, policy, person_or_identity, model, estimated_tokens, use_case, project, now
    )
    if policy.is_enforcing:
        return decision
    return replace(decision, allow=True, enforced=False)


def _decide(
    session: Session,
    policy: Policy,
    person_or_identity: Person | str,
    model: str,
    estimated_tokens: int,
    use_case: str | None,
    project: str | None,
    now: datetime,
) -> Decision:
    estimated = policy.model(model).budget_tokens(estimated_tokens, 0)
    facts: dict[str, Any] = {"model": model, "use_case": use_case, "estimated": estimated}

    def refuse(reason: str, remaining: int = 0, pool: str | None = None, **more: Any) -> Decision:
        return Decision(False, remaining, pool, reason, True, estimated, {**facts, **more})

    who = _find_person(session, person_or_identity)
    if who is None:
        return refuse(UNKNOWN_PERSON, identity=str(person_or_identity))
    spec = _use_case(policy, use_case)
    if spec is not None:
        # The policy's spelling: "Personal" is the prohibited "personal", and a capped use
        # case's total is kept under its policy name.
        use_case = facts["use_case"] = spec.name
    if spec is not None and spec.status == "prohibited":
        return refuse(PROHIBITED, policy_reason=spec.reason)
    if spec is not None and spec.allowed_models and model not in spec.allowed_models:
        return refuse(MODEL_NOT_ALLOWED, allowed_models=list(spec.allowed_models))

    period = period_for(policy.periods, now)
    remaining, pool = _grants_left(session, policy, who, use_case, project, now)
    if spec is not None and spec.status == "capped" and spec.cap is not None:
        used = session.scalar(
            select(UseCaseTotal.used).where(
                UseCaseTotal.person_id == who.id,
                UseCaseTotal.period == period.key,
                UseCaseTotal.use_case == use_case,
            )
        )
        cap_left = max(spec.cap - (used or 0), 0)
        if estimated > cap_left:
            return refuse(
                CAPPED, min(remaining, cap_left), pool, cap=spec.cap, policy_reason=spec.reason
            )
        remaining = min(remaining, cap_left)

    if estimated <= remaining:
        return Decision(True, remaining, pool, WITHIN_BUDGET, True, estimated, facts)
    if policy.limits.mode == "hard":
        return refuse(HARD_LIMIT, remaining, pool)
    baseline = policy.tiers.get(who.tier, policy.tiers["default"]).baseline
    overdrawn = session.scalar(
        select(AccountTotal.overdraft).where(
            AccountTotal.person_id == who.id, AccountTotal.period == period.key
        )
    )
    allowance = max(math.floor(baseline * policy.limits.soft_overdraft) - (overdrawn or 0), 0)
    if estimated > remaining + allowance:
        return refuse(SOFT_LIMIT, remaining, pool, overdraft_left=allowance)
    return Decision(
        True, remaining, pool, OVERDRAFT, True, estimated, {**facts, "overdraft_left": allowance}
    )


def _use_case(policy: Policy, name: str | None) -> UseCase | None:
    """The policy's use case by name, ignoring case and surrounding spaces as a fallback."""
    if not name:
        return None
    found = policy.use_cases.get(name)
    if found is not None:
        return found
    wanted = name.strip().casefold()
    return next((u for key, u in policy.use_cases.items() if key.casefold() == wanted), None)


def _grants_left(
    session: Session,
    policy: Policy,
    who: _Who,
    use_case: str | None,
    project: str | None,
    now: datetime,
) -> tuple[int, str | None]:
    """Budget tokens left in every grant the request could draw from, and the first of them
    in the ledger's draw order."""
    owners = [and_(Grant.owner_type == "person", Grant.owner_id == who.id)]
    if who.team_id is not None:
        owners.append(and_(Grant.owner_type == "team", Grant.owner_id == who.team_id))
    if project:
        owners.append(
            and_(
                Grant.owner_type == "project",
                Grant.owner_id.in_(select(Project.id).where(Project.name == project)),
            )
        )
    if use_case:
        owners.append(and_(Grant.owner_type == "org", Grant.use_case == use_case))
    rows = session.execute(
        select(Grant.id, Grant.kind, Grant.token_class, Grant.expires_at, GrantBalance.remaining)
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(
            Grant.effective_at <= now,
            Grant.expires_at > now,
            GrantBalance.remaining > 0,
            or_(*owners),
        )
    ).all()
    if not rows:
        return 0, None
    cls = policy.token_class_for(use_case)
    first = min(
        rows, key=lambda g: (_KIND_RANK.get(g.kind, 99), g.token_class != cls, g.expires_at, g.id)
    )
    return sum(g.remaining for g in rows), first.kind
