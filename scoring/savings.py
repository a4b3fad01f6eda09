"""Verified savings: a person claims the minutes an AI artifact saved them; their manager
verifies the claim with a button; only verified minutes count toward scores and recognition.

A claim is an audit entry (`savings.claim` on `outcome:<id>`) naming the minutes; the newest
claim on an artifact is the one that counts. A decision is once only: verifying or declining
is one conditional update of the outcome (`savings_decided_claim`, the claim last decided, must
be older than this claim; verifying also needs `minutes_verified` false and writes the claimed
minutes to `verified_minutes`, never over `minutes_saved`, the figure the tools reported), so
racing clicks, two managers, or both buttons make one decision, one audit entry
(`savings.verify` or `savings.decline`) and one message. The outcome's week is marked for a
rollup rebuild, since a verification changes no event count. Refusals are `SavingsRefused`
values with a code and the facts; the words live in the templates. Callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from budgets import audit
from budgets.policy import Policy
from budgets.windows import week_of
from scoring.config import scoring_settings
from scoring.metrics import ACCEPTED_STATUSES
from scoring.rollups import forget_week
from storage.models import AuditEntry, Outcome, Person

MAX_MINUTES = 7 * 24 * 60  # the most one artifact may claim (as ingestion caps minutes_saved)
CLAIM, VERIFY, DECLINE = "savings.claim", "savings.verify", "savings.decline"


class SavingsRefused(Exception):
    """An expected refusal. `code`: no_artifact, not_accepted, already_verified, no_manager,
    bad_minutes, over_artifact_maximum, over_reported, not_manager, superseded,
    already_declined, unknown_claim."""

    def __init__(self, code: str, **facts: object):
        super().__init__(code)
        self.code = code
        self.facts = facts


@dataclass(frozen=True)
class Claim:
    claim_id: int  # the audit entry
    outcome_id: str
    artifact_id: str
    use_case: str | None
    minutes: int
    person_id: int
    manager_id: int


def verified(outcome: Outcome) -> float | None:
    """The minutes verified on an outcome (rows verified before migration 0016 held them in
    `minutes_saved`)."""
    return (
        outcome.verified_minutes if outcome.verified_minutes is not None else outcome.minutes_saved
    )


def subject(outcome_id: str) -> str:
    return f"outcome:{outcome_id}"


def claim_limit(policy: Policy, reported: float | None) -> tuple[int, str]:
    """The most minutes one claim may ask for, and which rule sets it: `[scoring.savings]`'s
    `max_minutes_per_artifact`, or `max_claim_factor` times the minutes the tools reported on
    the artifact (when they reported any) if that is lower."""
    settings = scoring_settings(policy)
    limit, rule = settings.max_minutes_per_artifact, "over_artifact_maximum"
    if reported is not None:
        # whole minutes, rounded down
        by_factor = int(settings.max_claim_factor * Decimal(str(reported)))
        if by_factor < limit:
            limit, rule = by_factor, "over_reported"
    return limit, rule


def claim_savings(
    session: Session,
    policy: Policy,
    person: Person,
    artifact_id: str,
    minutes: int,
    now: datetime,
) -> Claim:
    """Record a claim on the person's own accepted artifact, for their manager to verify.
    A claim above the policy's bounds (`claim_limit`) is refused with the bound named."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise SavingsRefused("bad_minutes", minutes=minutes, maximum=MAX_MINUTES)
    outcome = session.scalars(
        select(Outcome)
        .where(Outcome.person_id == person.id, Outcome.artifact_id == artifact_id)
        .order_by(Outcome.occurred_at.desc(), Outcome.id.desc())
        .limit(1)
    ).first()
    if outcome is None:
        raise SavingsRefused("no_artifact", artifact_id=artifact_id)
    if outcome.status not in ACCEPTED_STATUSES:
        raise SavingsRefused("not_accepted", artifact_id=artifact_id, status=outcome.status)
    if outcome.minutes_verified:
        raise SavingsRefused("already_verified", artifact_id=artifact_id, minutes=verified(outcome))
    limit, rule = claim_limit(policy, outcome.minutes_saved)
    if minutes > limit:
        settings = scoring_settings(policy)
        raise SavingsRefused(
            rule,
            minutes=minutes,
            limit=limit,
            reported=outcome.minutes_saved,
            factor=float(settings.max_claim_factor),
            maximum=settings.max_minutes_per_artifact,
        )
    if person.manager_id is None:
        raise SavingsRefused("no_manager")
    entry = AuditEntry(
        at=now,
        actor=person.email,
        action=CLAIM,
        subject=subject(outcome.id),
        detail={"minutes": minutes, "artifact_id": artifact_id},
    )
    session.add(entry)
    session.flush()
    return Claim(
        claim_id=entry.id,
        outcome_id=outcome.id,
        artifact_id=artifact_id,
        use_case=outcome.use_case,
        minutes=minutes,
        person_id=person.id,
        manager_id=person.manager_id,
    )


@dataclass(frozen=True)
class Decision:
    claim: Claim
    verified: bool  # False: declined


def _claim(session: Session, claim_id: int) -> tuple[AuditEntry, Outcome]:
    entry = session.get(AuditEntry, claim_id)
    if entry is None or entry.action != CLAIM:
        raise SavingsRefused("unknown_claim")
    outcome = session.get(Outcome, entry.subject.removeprefix("outcome:"))
    if outcome is None:
        raise SavingsRefused("unknown_claim")
    latest = session.scalar(
        select(AuditEntry.id)
        .where(AuditEntry.subject == entry.subject, AuditEntry.action == CLAIM)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    if latest != entry.id:
        raise SavingsRefused("superseded", artifact_id=entry.detail.get("artifact_id"))
    return entry, outcome


def decide_claim(
    session: Session,
    policy: Policy,
    manager: Person,
    claim_id: int,
    verify: bool,
    now: datetime,
) -> Decision:
    """The claimant's manager verifies (or declines) the newest claim on an artifact."""
    entry, outcome = _claim(session, claim_id)
    claimant = session.get(Person, outcome.person_id) if outcome.person_id else None
    if claimant is None or claimant.manager_id != manager.id:
        raise SavingsRefused("not_manager")
    claim = Claim(
        claim_id=entry.id,
        outcome_id=outcome.id,
        artifact_id=str(entry.detail.get("artifact_id") or outcome.artifact_id),
        use_case=outcome.use_case,
        minutes=int(entry.detail["minutes"]),
        person_id=claimant.id,
        manager_id=manager.id,
    )
    undecided = or_(
        Outcome.savings_decided_claim.is_(None), Outcome.savings_decided_claim < claim.claim_id
    )
    decided = {"savings_decided_claim": claim.claim_id}
    if verify:
        decided |= {"verified_minutes": claim.minutes, "minutes_verified": True}
    result = session.execute(
        update(Outcome)
        .where(Outcome.id == outcome.id, Outcome.minutes_verified.is_(False), undecided)
        .values(**decided)
        .execution_options(synchronize_session=False)
    )
    if not cast(CursorResult[Any], result).rowcount:
        session.refresh(outcome)  # what the click that won wrote
        if outcome.minutes_verified:
            raise SavingsRefused(
                "already_verified", artifact_id=claim.artifact_id, minutes=verified(outcome)
            )
        raise SavingsRefused("already_declined", artifact_id=claim.artifact_id)
    if verify:
        forget_week(session, week_of(policy.periods.zone, outcome.occurred_at).key)
    audit.record(
        session,
        now,
        manager.email,
        VERIFY if verify else DECLINE,
        subject(outcome.id),
        {"minutes": claim.minutes, "claim": claim.claim_id, "person": claimant.email},
    )
    return Decision(claim, verify)
