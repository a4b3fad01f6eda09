"""Pre-flight authorization: may this person spend about this many tokens on this use case now?

A gateway (LiteLLM proxy or similar) asks before it forwards a request. The answer applies the
policy in this order: unknown person, unknown project (one the policy does not name),
prohibited use case, model not allowed for the use case,
the use case's cap for the period, then the balance under the policy's limit mode (hard: refuse
what the applicable grants cannot cover; soft: allow an overdraft up to `soft_overdraft` x the
person's baseline). In the `baseline` phase nothing is refused (measure only), but the decision
still says what would have happened. A project budget or reserved pool whose policy entry names
members counts only for them (`budgets.draws.eligible_grants`, as the ledger draws); anyone else
is answered from their own grants, and `facts["not_member_of"]` names what they are not a
member of.

Cost: a handful of indexed reads of projections (the person, their active grants with what is
left of them, two per-period totals, and their team-pool share when a team pool is among the
grants), so it is O(active grants) and independent of how much
usage history is stored. Nothing is written.

`Decision.reason` is a code; the words people read live in the `authorize_reason` template.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from budgets.draws import Drawer, draw_order, eligible_grants, team_pool_left
from budgets.periods import period_for
from budgets.policy import Policy
from budgets.team_shares import shares_of
from budgets.usage_ledger import identity_key
from storage.database import DriverQuery
from storage.models import Person, UTCDateTime

# Reason codes. Refusals first; the rest allow.
UNKNOWN_PERSON = "unknown_person"
UNKNOWN_PROJECT = "unknown_project"
PROHIBITED = "prohibited"
MODEL_NOT_ALLOWED = "model_not_allowed"
CAPPED = "capped"
HARD_LIMIT = "hard_limit"
SOFT_LIMIT = "soft_limit"
OVERDRAFT = "overdraft"  # allowed, but part of it will be an overdraft (soft limit)
WITHIN_BUDGET = "within_budget"
REFUSALS = frozenset(
    {UNKNOWN_PERSON, UNKNOWN_PROJECT, PROHIBITED, MODEL_NOT_ALLOWED, CAPPED, HARD_LIMIT, SOFT_LIMIT}
)


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
    email: str | None = None
    team: str | None = None


# Plain SQL, built once: this runs on every gateway request, and composing ORM statements per
# call costs more than the indexed reads themselves. Each part of the grants query is a range
# on ix_grants_owner (owner_type, owner_id, expires_at), so it reads active grants only.
_WHO = "SELECT p.id, p.team_id, p.tier, p.email, t.name FROM people p "
_TEAM = "LEFT JOIN teams t ON t.id = p.team_id "
_BY_EMAIL = DriverQuery(_WHO + _TEAM + "WHERE p.email = :identity AND p.active")
_BY_ALIAS = DriverQuery(
    _WHO
    + "JOIN identity_aliases a ON a.person_id = p.id "
    + _TEAM
    + "WHERE a.alias = :identity AND p.active"
)
_ACTIVE = "g.expires_at > :now AND g.effective_at <= :now AND b.remaining > 0"
_GRANT = (
    "SELECT g.id, g.kind, g.token_class, g.expires_at, b.remaining, g.idempotency_key, "
    "g.amount FROM grants g "
    "JOIN grant_balances b ON b.grant_id = g.id WHERE "
)
_GRANTS_LEFT = DriverQuery(
    " UNION ALL ".join(
        _GRANT + condition + " AND " + _ACTIVE
        for condition in (
            "g.owner_type = 'person' AND g.owner_id = :person",
            "g.owner_type = 'team' AND g.owner_id = :team",
            "g.owner_type = 'project' AND g.owner_id = "
            "(SELECT id FROM projects WHERE name = :project)",
            "g.owner_type = 'org' AND g.owner_id IS NULL AND g.use_case = :use_case",
        )
    ),
    now=UTCDateTime(),
)
_USE_CASE_USED = DriverQuery(
    "SELECT used FROM use_case_totals "
    "WHERE person_id = :person AND period = :period AND use_case = :use_case"
)
_OVERDRAWN = DriverQuery(
    "SELECT overdraft FROM account_totals WHERE person_id = :person AND period = :period"
)


def _find_person(connection: Connection, person_or_identity: Person | str) -> _Who | None:
    if isinstance(person_or_identity, Person):
        p = person_or_identity
        team = p.team.name if p.team is not None else None
        return _Who(p.id, p.team_id, p.tier, p.email, team) if p.active else None
    identity = person_or_identity.strip()
    if "@" in identity:
        row = _BY_EMAIL.first(connection, {"identity": identity.lower()})
        if row is not None:
            return _Who(*row)
    row = _BY_ALIAS.first(connection, {"identity": identity_key(identity)})
    return _Who(*row) if row else None


def authorize(
    session: Session | Connection,
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
    session: Session | Connection,
    policy: Policy,
    person_or_identity: Person | str,
    model: str,
    estimated_tokens: int,
    use_case: str | None,
    project: str | None,
    now: datetime,
) -> Decision:
    # The gateway sends the model as its clients name it (a dated id, a model group): the
    # allowed-models rule and the weight apply to the model that name resolves to.
    resolved = policy.resolve_model(model)
    estimated = resolved.price.budget_tokens(estimated_tokens, 0)
    facts: dict[str, Any] = {"model": resolved.name, "use_case": use_case, "estimated": estimated}

    def refuse(reason: str, remaining: int = 0, pool: str | None = None, **more: Any) -> Decision:
        return Decision(False, remaining, pool, reason, True, estimated, {**facts, **more})

    connection = session.connection() if isinstance(session, Session) else session
    who = _find_person(connection, person_or_identity)
    if who is None:
        return refuse(UNKNOWN_PERSON, identity=str(person_or_identity))
    if project is not None:
        known = policy.project_named(project)
        if known is None:
            return refuse(UNKNOWN_PROJECT, project=project, projects=sorted(policy.projects))
        project = facts["project"] = known.name
    spec = policy.use_case_named(use_case)
    if spec is not None:
        # The policy's spelling: "Personal" is the prohibited "personal", and a capped use
        # case's total is kept under its policy name.
        use_case = facts["use_case"] = spec.name
    if spec is not None and spec.status == "prohibited":
        return refuse(PROHIBITED, policy_reason=spec.reason)
    if spec is not None and spec.allowed_models and resolved.name not in spec.allowed_models:
        return refuse(MODEL_NOT_ALLOWED, allowed_models=list(spec.allowed_models))

    period = period_for(policy.periods, now)
    remaining, pool, not_member_of = _grants_left(
        connection, policy, who, use_case, project, now, period.key
    )
    if not_member_of:
        facts["not_member_of"] = list(not_member_of)
    if spec is not None and spec.status == "capped" and spec.cap is not None:
        found = _USE_CASE_USED.first(
            connection, {"person": who.id, "period": period.key, "use_case": use_case}
        )
        used = found[0] if found else 0
        cap_left = max(spec.cap - used, 0)
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
    found = _OVERDRAWN.first(connection, {"person": who.id, "period": period.key})
    overdrawn = found[0] if found else 0
    allowance = max(math.floor(baseline * policy.limits.soft_overdraft) - overdrawn, 0)
    if estimated > remaining + allowance:
        return refuse(SOFT_LIMIT, remaining, pool, overdraft_left=allowance)
    return Decision(
        True, remaining, pool, OVERDRAFT, True, estimated, {**facts, "overdraft_left": allowance}
    )


class _GrantLeft(NamedTuple):
    id: int
    kind: str
    token_class: str
    expires_at: Any
    remaining: int
    idempotency_key: str
    amount: int


def _grants_left(
    connection: Connection,
    policy: Policy,
    who: _Who,
    use_case: str | None,
    project: str | None,
    now: datetime,
    period: str,
) -> tuple[int, str | None, tuple[str, ...]]:
    """Budget tokens left in every grant the request could draw from, the first of them in the
    ledger's draw order, and the pools the person is not a member of; the team pool counts
    only up to the person's share of it (`team_pool_left`, as the ledger draws)."""
    rows = _GRANTS_LEFT.rows(
        connection,
        {
            "person": who.id,
            "team": who.team_id,
            "project": project,
            "use_case": use_case,
            "now": now,
        },
    )
    # Rows are (id, kind, token_class, expires_at, remaining, key, amount), as the driver
    # returns them; expires_at compares within one backend (SQLite returns its sortable text
    # form here).
    grants = [_GrantLeft(*row) for row in rows]
    not_member_of: tuple[str, ...] = ()
    if policy.has_members:
        eligible = eligible_grants(grants, policy, Drawer(who.email, who.team), project)
        grants, not_member_of = eligible.grants, eligible.not_member_of
    pools = [g for g in grants if g.kind == "team_pool"]
    if pools and who.team_id is not None:
        pool_left = sum(g.remaining for g in pools)
        share = team_pool_left(
            who.id,
            pool_left,
            shares_of(connection, who.team_id, period, who.id),
            policy.team_pools.member_cap(sum(g.amount for g in pools)),
        )
        if share < pool_left:  # the person's share of the pool is what they may draw
            grants = [g for g in grants if g.kind != "team_pool"]
            if share > 0:
                grants.append(pools[0]._replace(remaining=share))
    if not grants:
        return 0, None, not_member_of
    first = draw_order(grants, policy.token_class_for(use_case))[0]
    return sum(g.remaining for g in grants), first.kind, not_member_of
