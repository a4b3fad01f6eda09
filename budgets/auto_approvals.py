"""Auto-approval rules (`[[approvals.auto]]`): which rule a burst request meets, and the Undo
of a rule's approval.

`match_rules` is one pure function over the request and the requester's standing (their
acceptance against the use case's baseline and their open flags, which `scoring.standing`
reads and hands in: budgets never imports scoring). It says which rule admits the request and,
for every rule that does not, why (`RuleMiss`), so the approver of a request no rule took sees
which rule it missed and why.

Exactly once, whatever the races: a rule admits at most `max_per_period` requests per person per
budget period because each takes a numbered slot, (requester, rule, period, slot) unique in the
table; two concurrent requests never take the same slot, and a request that finds every slot
taken goes to people. The Undo is a conditional update on `undone_at IS NULL`: one click wins,
revokes the grant's unused part (an `expire` ledger entry) and writes the audit entry in the
same transaction; the others change nothing and say who undid it, and when. Nothing here reads
the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from budgets import audit
from budgets.grants import lapse
from budgets.periods import period_for
from budgets.policy import AutoApprovalRule, Policy
from storage.models import BurstRequest, Grant, Person

APPROVED = "approved"


@dataclass(frozen=True)
class Standing:
    """What the rules judge about a requester, as of the request (handed in by the caller).

    `rate` is their acceptance in the use case over the last 4 complete weeks (None without
    artifacts there), `baseline` the use case's median over the same weeks; `open_flags` counts
    their flags not cleared (pending, disputed or upheld)."""

    use_case: str | None
    artifacts: int = 0
    accepted: int = 0
    baseline: float | None = None
    open_flags: int = 0
    weeks: int = 4

    @property
    def rate(self) -> float | None:
        return self.accepted / self.artifacts if self.artifacts else None

    @property
    def against_baseline(self) -> Decimal | None:
        """Their acceptance as a share of the baseline (1 = at the baseline); None when either
        is unknown."""
        if self.rate is None or not self.baseline:
            return None
        return (
            Decimal(self.accepted) / Decimal(self.artifacts) / Decimal(str(self.baseline))
        ).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class RuleMiss:
    """Why one rule did not approve a request: a code for the template and its facts."""

    rule: str
    code: str  # amount_over use_case project tier flagged no_history acceptance_low period_full
    facts: dict[str, Any] = field(default_factory=dict)


def rule_misses(
    rule: AutoApprovalRule,
    tier: str,
    amount: int,
    project: str | None,
    standing: Standing,
) -> list[RuleMiss]:
    """Every reason `rule` does not admit the request (empty: it does, slots permitting)."""
    misses: list[RuleMiss] = []

    def miss(code: str, **facts: Any) -> None:
        misses.append(RuleMiss(rule.name, code, facts))

    if amount > rule.max_amount:
        miss("amount_over", amount=amount, max=rule.max_amount)
    if rule.use_cases and standing.use_case not in rule.use_cases:
        miss("use_case", use_case=standing.use_case, allowed=list(rule.use_cases))
    if rule.projects and (
        project is None or project.casefold() not in {p.casefold() for p in rule.projects}
    ):
        miss("project", project=project, allowed=list(rule.projects))
    if rule.tiers and tier not in rule.tiers:
        miss("tier", tier=tier, allowed=list(rule.tiers))
    if standing.open_flags:
        miss("flagged", open_flags=standing.open_flags)
    if rule.min_acceptance > 0:
        ratio = standing.against_baseline
        facts = {
            "use_case": standing.use_case,
            "rate": standing.rate,
            "accepted": standing.accepted,
            "artifacts": standing.artifacts,
            "baseline": standing.baseline,
            "weeks": standing.weeks,
            "min": float(rule.min_acceptance),
        }
        if ratio is None:
            miss("no_history", **facts)
        elif ratio < rule.min_acceptance:
            miss("acceptance_low", ratio=float(ratio), **facts)
    return misses


@dataclass(frozen=True)
class Claimed:
    """The rule that approved a request and the slot it took."""

    rule: AutoApprovalRule
    period: str
    slot: int
    undo_until: datetime


def claim_rule(
    session: Session,
    policy: Policy,
    request: BurstRequest,
    tier: str,
    project: str | None,
    standing: Standing,
    now: datetime,
) -> tuple[Claimed | None, tuple[RuleMiss, ...]]:
    """The first rule (in policy order) that admits the request and still has a free slot this
    period, with the slot claimed on the request's row; and why each rule before it did not."""
    misses: list[RuleMiss] = []
    period = period_for(policy.periods, now).key
    for rule in policy.auto_approvals:
        found = rule_misses(rule, tier, request.amount, project, standing)
        if found:
            misses.extend(found)
            continue
        slot = _take_slot(session, request, rule, period)
        if slot is None:
            misses.append(RuleMiss(rule.name, "period_full", {"max": rule.max_per_period}))
            continue
        return Claimed(rule, period, slot, now + timedelta(hours=rule.undo_hours)), tuple(misses)
    return None, tuple(misses)


def _taken_slots(session: Session, requester_id: int, rule: str, period: str) -> set[int]:
    return {
        int(s)
        for s in session.scalars(
            select(BurstRequest.auto_slot).where(
                BurstRequest.requester_id == requester_id,
                BurstRequest.auto_rule == rule,
                BurstRequest.auto_period == period,
            )
        )
        if s is not None
    }


def _take_slot(
    session: Session, request: BurstRequest, rule: AutoApprovalRule, period: str
) -> int | None:
    """Claim the lowest free slot of the rule for the requester this period. The unique
    constraint decides between concurrent claims: the loser's savepoint rolls back and it
    tries the next slot (on PostgreSQL it waits for the winner to commit first)."""
    taken = _taken_slots(session, request.requester_id, rule.name, period)
    for slot in range(1, rule.max_per_period + 1):
        if slot in taken:
            continue
        try:
            with session.begin_nested():
                session.execute(
                    update(BurstRequest)
                    .where(BurstRequest.id == request.id, BurstRequest.auto_slot.is_(None))
                    .values(auto_rule=rule.name, auto_period=period, auto_slot=slot)
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:
            continue
        return slot
    return None


# --- Undo ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UndoResult:
    """What an Undo click did: `problem` is None for the one click that undid the approval."""

    request_id: int
    problem: str | None = None  # not_found not_allowed already_undone window_passed
    rule: str | None = None
    requester_id: int | None = None
    granted: int = 0
    used: int = 0
    revoked: int = 0
    undone_by: str | None = None
    undone_at: datetime | None = None
    undo_until: datetime | None = None

    @property
    def changed(self) -> bool:
        return self.problem is None


def may_undo(request: BurstRequest, actor: Person) -> bool:
    """The approver the request was routed to (the manager) or an admin; never the requester."""
    if actor.id == request.requester_id:
        return False
    return actor.id == request.approver_id or actor.has_role("admin")


def _refusal(
    session: Session, request: BurstRequest | None, request_id: int, actor: Person, now: datetime
) -> UndoResult | None:
    """Why `actor` may not undo the request now, or None when they may. Someone who may not
    undo it hears "not found" whatever it is: ids are not a way to probe."""
    if request is None or request.auto_rule is None or request.state != APPROVED:
        return UndoResult(request_id, "not_found")
    if not may_undo(request, actor):
        return UndoResult(request_id, "not_found")
    if request.undone_at is not None:
        return _already_undone(session, request)
    assert request.undo_until is not None
    if now > request.undo_until:
        return UndoResult(
            request_id, "window_passed", rule=request.auto_rule, undo_until=request.undo_until
        )
    return None


def _load(session: Session, request_id: int) -> BurstRequest | None:
    return session.execute(
        select(BurstRequest)
        .where(BurstRequest.id == request_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def check_can_undo(
    session: Session, request_id: int, actor: Person, now: datetime
) -> UndoResult | None:
    """Before showing the Undo choice: the refusal `undo` would give now. Changes nothing."""
    return _refusal(session, _load(session, request_id), request_id, actor, now)


def undo(session: Session, request_id: int, actor: Person, *, now: datetime) -> UndoResult:
    """Undo a rule's approval within its window: once, whatever the clicks. Revokes what is
    left of the grant (used tokens stay used) and records who undid it."""
    request = _load(session, request_id)
    refusal = _refusal(session, request, request_id, actor, now)
    if refusal is not None:
        return refusal
    assert request is not None
    changed = session.execute(
        update(BurstRequest)
        .where(BurstRequest.id == request.id, BurstRequest.undone_at.is_(None))
        .values(undone_at=now, undone_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", changed).rowcount != 1:
        session.expire(request)
        return _already_undone(session, request)
    granted, used, revoked = _revoke_grant(session, request, now)
    session.execute(
        update(BurstRequest)
        .where(BurstRequest.id == request.id)
        .values(revoked_amount=revoked)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        now,
        actor.email,
        "request.auto_undone",
        f"request:{request.id}",
        {
            "rule": request.auto_rule,
            "granted": granted,
            "used": used,
            "revoked": revoked,
            "as_admin": actor.id != request.approver_id,
        },
    )
    return UndoResult(
        request.id,
        rule=request.auto_rule,
        requester_id=request.requester_id,
        granted=granted,
        used=used,
        revoked=revoked,
        undone_by=actor.name,
        undone_at=now,
        undo_until=request.undo_until,
    )


def _already_undone(session: Session, request: BurstRequest) -> UndoResult:
    fresh = _load(session, request.id)
    assert fresh is not None
    by = session.get(Person, fresh.undone_by_id) if fresh.undone_by_id else None
    return UndoResult(
        fresh.id,
        "already_undone",
        rule=fresh.auto_rule,
        requester_id=fresh.requester_id,
        revoked=fresh.revoked_amount or 0,
        undone_by=by.name if by else None,
        undone_at=fresh.undone_at,
        undo_until=fresh.undo_until,
    )


def _revoke_grant(session: Session, request: BurstRequest, now: datetime) -> tuple[int, int, int]:
    """Lapse what is left of the request's burst grant now: (granted, used, revoked)."""
    grant_id = session.scalar(
        select(Grant.id).where(Grant.idempotency_key == f"burst:{request.id}")
    )
    if grant_id is None:
        return 0, 0, 0
    done = lapse(session, grant_id, request.requester_id, f"undo:request:{request.id}", now)
    return done.amount, done.used, done.lapsed
