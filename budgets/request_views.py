"""Burst requests as plain data: the states and steps, the values every caller sees
(`RequestView`, `Problem`, `DecisionResult`, ...) and the reads that build them.

A `RequestView` is everything a message about a request shows; `DecisionResult` is what a
decide, cancel or expiry did, as facts (`bot.core.presenters.requests` words them). The rules a
view shows and the state machine (`budgets.requests`) applies live here once: what approving
now grants (`amount_to_grant`), whether finance is next (`needs_finance`), when a pending step
expires (`decide_by`). Reads only; nothing here writes or reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from budgets.auto_approvals import RuleMiss
from budgets.policy import Policy
from storage.models import BurstRequest, BurstRequestDecision, Person, Project

PENDING, APPROVED, DENIED, CANCELLED, EXPIRED = (
    "pending",
    "approved",
    "denied",
    "cancelled",
    "expired",
)
STEP_MANAGER, STEP_OWNER, STEP_ADMIN, STEP_FINANCE = "manager", "owner", "admin", "finance"


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why something was refused: a code for the template and the facts it needs."""

    code: str
    facts: dict[str, Any] = field(default_factory=dict)


class RequestInvalid(ValueError):
    """A request that cannot be made; carries every problem so they are fixed in one go."""

    def __init__(self, problems: Sequence[Problem]):
        super().__init__(", ".join(p.code for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class StepView:
    step: str
    decision: str
    actor_name: str
    actor_email: str
    as_admin: bool
    amount: int | None
    comment: str | None
    decided_at: datetime


@dataclass(frozen=True)
class RequestView:
    """Everything a message about a request shows, as plain data."""

    id: int
    version: int
    state: str
    step: str
    amount: int
    amount_to_grant: int  # what approving now grants: the last approved step's amount, if any
    granted_amount: int | None
    reason: str
    project: str | None
    until: datetime | None
    created_at: datetime
    step_started_at: datetime
    decide_by: datetime  # when a pending step expires
    requester_id: int
    requester_name: str
    requester_email: str
    approver_id: int | None
    approver_name: str | None
    approver_email: str | None
    finance_approver_name: str | None
    finance_step_pending: bool  # approving this step moves it on to finance
    decided_by_name: str | None
    decided_at: datetime | None
    comment: str | None
    steps: tuple[StepView, ...]
    use_case: str | None = None
    auto_rule: str | None = None  # the `[[approvals.auto]]` rule that approved it
    undo_until: datetime | None = None
    undone_at: datetime | None = None
    undone_by_name: str | None = None
    revoked_amount: int | None = None

    @property
    def is_pending(self) -> bool:
        return self.state == PENDING

    @property
    def last_step(self) -> StepView | None:
        return self.steps[-1] if self.steps else None


@dataclass(frozen=True)
class Created:
    request: RequestView
    misses: tuple[RuleMiss, ...] = ()  # why each auto-approval rule did not approve it
    repeated: bool = False  # a retried submission: the request an earlier delivery made

    @property
    def auto_approved(self) -> bool:
        return self.request.auto_rule is not None and not self.repeated


@dataclass(frozen=True)
class ClosedStep:
    """The step a call closed (or moved on from): its approver, and whether a reminder was sent
    (then two messages of theirs show live buttons)."""

    step: str
    approver_id: int | None
    reminded: bool


@dataclass(frozen=True)
class DecisionResult:
    """What a decide/cancel/expiry call did. `changed` is True only for the call that won."""

    action: str  # approved | step_approved | denied | cancelled | expired | refused
    request: RequestView | None
    problem: Problem | None = None
    actor_name: str | None = None
    as_admin: bool = False
    at: datetime | None = None
    closed: ClosedStep | None = None  # set on the call that won
    expiry: DecisionResult | None = None  # a refusal that expired the overdue request

    @property
    def changed(self) -> bool:
        return self.problem is None


# --- reading -------------------------------------------------------------------------------


def _people(session: Session, ids: Iterable[int | None]) -> dict[int, Person]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(wanted)))}


def load(session: Session, request_id: int) -> BurstRequest | None:
    """The committed row as it is now (not a copy cached earlier in this session)."""
    return session.execute(
        select(BurstRequest)
        .where(BurstRequest.id == request_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def decisions_of(
    session: Session, request_ids: Sequence[int]
) -> dict[int, list[BurstRequestDecision]]:
    out: dict[int, list[BurstRequestDecision]] = {i: [] for i in request_ids}
    if not request_ids:
        return out
    for d in session.scalars(
        select(BurstRequestDecision)
        .where(BurstRequestDecision.request_id.in_(list(request_ids)))
        .order_by(BurstRequestDecision.decided_at, BurstRequestDecision.id)
        .execution_options(populate_existing=True)
    ):
        out[d.request_id].append(d)
    return out


def amount_to_grant(request: BurstRequest, decisions: Sequence[BurstRequestDecision]) -> int:
    approved = [d.amount for d in decisions if d.decision == "approved" and d.amount is not None]
    return approved[-1] if approved else request.amount


def needs_finance(policy: Policy, request: BurstRequest) -> bool:
    """The amount asked decides, not a reduced one an earlier step approved: approving "less"
    must not skip the finance step the request required (README, Security)."""
    return (
        request.step != STEP_FINANCE
        and request.finance_approver_id is not None
        and request.amount > policy.approvals.finance_threshold
    )


def decide_by(policy: Policy, request: BurstRequest) -> datetime:
    started = request.step_started_at or request.created_at
    deadline = started + timedelta(hours=policy.approvals.expire_after_hours)
    return min(deadline, request.until) if request.until else deadline


def views(session: Session, policy: Policy, requests: Sequence[BurstRequest]) -> list[RequestView]:
    decisions = decisions_of(session, [r.id for r in requests])
    ids: list[int | None] = []
    project_ids = set()
    for r in requests:
        ids += [r.requester_id, r.approver_id, r.finance_approver_id, r.decided_by_id]
        ids.append(r.undone_by_id)
        ids += [d.actor_id for d in decisions[r.id]]
        if r.project_id:
            project_ids.add(r.project_id)
    people = _people(session, ids)
    projects = dict(
        session.execute(select(Project.id, Project.name).where(Project.id.in_(project_ids))).all()
    )

    def name(pid: int | None) -> str | None:
        return people[pid].name if pid in people else None

    views = []
    for r in requests:
        steps = tuple(
            StepView(
                step=d.step,
                decision=d.decision,
                actor_name=people[d.actor_id].name,
                actor_email=people[d.actor_id].email,
                as_admin=d.as_admin,
                amount=d.amount,
                comment=d.comment,
                decided_at=d.decided_at,
            )
            for d in decisions[r.id]
        )
        to_grant = amount_to_grant(r, decisions[r.id])
        requester = people[r.requester_id]
        views.append(
            RequestView(
                id=r.id,
                version=r.version,
                state=r.state,
                step=r.step,
                amount=r.amount,
                amount_to_grant=to_grant,
                granted_amount=r.granted_amount,
                reason=r.reason,
                project=projects.get(r.project_id) if r.project_id else None,
                until=r.until,
                created_at=r.created_at,
                step_started_at=r.step_started_at or r.created_at,
                decide_by=decide_by(policy, r),
                requester_id=r.requester_id,
                requester_name=requester.name,
                requester_email=requester.email,
                approver_id=r.approver_id,
                approver_name=name(r.approver_id),
                approver_email=people[r.approver_id].email if r.approver_id in people else None,
                finance_approver_name=name(r.finance_approver_id),
                finance_step_pending=needs_finance(policy, r),
                decided_by_name=name(r.decided_by_id),
                decided_at=r.decided_at,
                comment=r.comment,
                steps=steps,
                use_case=r.use_case,
                auto_rule=r.auto_rule,
                undo_until=r.undo_until,
                undone_at=r.undone_at,
                undone_by_name=name(r.undone_by_id),
                revoked_amount=r.revoked_amount,
            )
        )
    return views


def view(session: Session, policy: Policy, request: BurstRequest) -> RequestView:
    return views(session, policy, [request])[0]


def get_view(session: Session, policy: Policy, request_id: int) -> RequestView | None:
    request = load(session, request_id)
    return view(session, policy, request) if request else None


def requests_of(
    session: Session, policy: Policy, requester: Person, limit: int = 20
) -> list[RequestView]:
    """The person's own requests, newest first."""
    rows = session.scalars(
        select(BurstRequest)
        .where(BurstRequest.requester_id == requester.id)
        .order_by(BurstRequest.created_at.desc(), BurstRequest.id.desc())
        .limit(limit)
    ).all()
    return views(session, policy, rows)


def awaiting(session: Session, policy: Policy, approver: Person) -> list[RequestView]:
    """Pending requests whose current step is this person's to decide, oldest first."""
    rows = session.scalars(
        select(BurstRequest)
        .where(BurstRequest.state == PENDING, BurstRequest.approver_id == approver.id)
        .order_by(BurstRequest.created_at, BurstRequest.id)
    ).all()
    return views(session, policy, rows)
