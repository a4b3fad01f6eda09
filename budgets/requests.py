"""Burst budget requests, the state machine: making one, deciding it, nudging and expiring it.
Routing (who decides each step) is `budgets.request_routing`; the values and the reads that
build them are `budgets.request_views`.

States: pending -> approved | denied | cancelled | expired. A pending request waits on one
step at a time: first the requester's manager (or the project's owner for a project request;
further up the chain when that would be the requester; an admin when nobody is left), then,
when the amount is above the policy's finance threshold, a finance approver chosen when the
request is made. Nobody ever decides their own request, and nobody decides two steps of one.

Exactly one decision per step, whatever the clicks, races or retries: every transition is
`UPDATE burst_requests ... WHERE id=? AND state='pending' AND step=? AND version=?`. The
update that changes a row wins and, in the same transaction, records the decision (unique per
request and step), issues the grant (idempotency key `burst:{id}`) and writes the audit entry.
A loser changes nothing and answers who decided, and when. Callers own the transaction and
commit it; nothing here reads the clock (`now` is handed in).

Refusals are values: `Problem` codes with their facts; the words live in the
`request_refused` template. Results are facts too: which request, what happened, which step
closed and whether a reminder left a second message for it (`ClosedStep`). The bot's
`bot.core.presenters.requests` turns them into the messages for other people, so commands and
the scheduled jobs (`nudges_due`, `expire_stale`) send the very same approval message.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from budgets import audit
from budgets.auto_approvals import Standing, claim_rule
from budgets.grants import GrantSpec, issue_grants
from budgets.periods import period_for
from budgets.policy import Policy
from budgets.request_routing import route
from budgets.request_views import (
    APPROVED,
    CANCELLED,
    DENIED,
    EXPIRED,
    PENDING,
    STEP_FINANCE,
    ClosedStep,
    Created,
    DecisionResult,
    Problem,
    RequestInvalid,
    RequestView,
    amount_to_grant,
    decide_by,
    decisions_of,
    load,
    needs_finance,
    view,
)
from storage.models import BurstRequest, BurstRequestDecision, Person, Project

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

APPROVE, DENY = "approve", "deny"
SYSTEM_ACTOR = "tokenbot"


def subject(request_id: int) -> str:
    return f"request:{request_id}"


# --- making a request ----------------------------------------------------------------------


def end_of_day(policy: Policy, day: date) -> datetime:
    """`--until 2026-11-25` means through that day, in the policy's time zone."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=policy.periods.zone).astimezone(
        UTC
    )


def create_request(
    session: Session,
    policy: Policy,
    requester: Person,
    amount: int,
    reason: str,
    project: str | None = None,
    until: date | None = None,
    *,
    now: datetime,
    use_case: str | None = None,
    submission_key: str | None = None,
    standing: Standing | None = None,
) -> Created:
    """Validate and store a request and route it; returns it (its first approver is to be told).
    Raises RequestInvalid with every problem when it cannot be made.

    `submission_key` names the chat message that submitted it: the same key again (a retried
    or redelivered submission) returns the request it made, `repeated`, and changes nothing.
    `standing` (the requester's acceptance and flags, from scoring) lets the policy's
    `[[approvals.auto]]` rules approve it at once: the first rule that admits it and has a free
    slot this period approves it, issues the grant and opens its Undo window; otherwise it goes
    to people, with every rule's miss in `Created.misses`."""
    if submission_key is not None:
        earlier = _submitted(session, policy, submission_key)
        if earlier is not None:
            return earlier
    problems: list[Problem] = []
    limit = policy.approvals.max_request
    if amount <= 0:
        problems.append(Problem("amount_not_positive"))
    elif amount > limit:
        problems.append(Problem("amount_over_max", {"amount": amount, "max": limit}))
    reason = (reason or "").strip()
    if not reason:
        problems.append(Problem("reason_missing"))
    project_row = None
    if project is not None:
        project_row = session.scalar(
            select(Project).where(func.lower(Project.name) == project.strip().lower())
        )
        if project_row is None:
            known = session.scalars(
                select(Project.name).where(Project.status == "open").order_by(Project.name)
            ).all()
            problems.append(Problem("project_unknown", {"project": project, "known": list(known)}))
        elif project_row.status != "open":
            problems.append(Problem("project_closed", {"project": project_row.name}))
    until_at = None
    if until is not None:
        until_at = end_of_day(policy, until)
        period = period_for(policy.periods, now)
        if until_at <= now:
            problems.append(Problem("until_past", {"until": until_at}))
        elif until_at > period.end:
            problems.append(
                Problem("until_after_period", {"until": until_at, "period_end": period.end})
            )
    use_case_row = policy.use_case_named(use_case) if use_case is not None else None
    if use_case is not None and use_case_row is None:
        problems.append(
            Problem("use_case_unknown", {"use_case": use_case, "known": sorted(policy.use_cases)})
        )
    if problems:
        raise RequestInvalid(problems)
    routed = route(session, policy, requester, amount, project_row)
    if isinstance(routed, Problem):
        raise RequestInvalid([routed])

    request = BurstRequest(
        requester_id=requester.id,
        amount=amount,
        reason=reason,
        project_id=project_row.id if project_row else None,
        until=until_at,
        state=PENDING,
        step=routed.step,
        approver_id=routed.approver.id,
        finance_approver_id=routed.finance_approver.id if routed.finance_approver else None,
        version=0,
        created_at=now,
        step_started_at=now,
        message_refs={},
        submission_key=submission_key,
        use_case=use_case_row.name if use_case_row else None,
    )
    try:
        with session.begin_nested():
            session.add(request)
            session.flush()
    except IntegrityError:
        # The same submission, made concurrently, won the unique key: answer with its request.
        if submission_key is None:
            raise
        earlier = _submitted(session, policy, submission_key)
        if earlier is None:
            raise
        return earlier
    audit.record(
        session,
        now,
        requester.email,
        "request.created",
        subject(request.id),
        {
            "amount": amount,
            "reason": reason,
            "project": project_row.name if project_row else None,
            "until": until_at.isoformat() if until_at else None,
            "step": routed.step,
            "approver": routed.approver.email,
            "finance_approver": routed.finance_approver.email if routed.finance_approver else None,
            "use_case": request.use_case,
        },
    )
    if standing is None or not policy.auto_approvals or routed.finance_approver is not None:
        return Created(view(session, policy, request))
    claimed, misses = claim_rule(
        session,
        policy,
        request,
        requester.tier,
        project_row.name if project_row else None,
        standing,
        now,
    )
    if claimed is None:
        return Created(view(session, policy, request), misses=misses)
    session.refresh(request)
    if not _transition(
        session,
        request,
        state=APPROVED,
        granted_amount=amount,
        decided_at=now,
        undo_until=claimed.undo_until,
    ):
        raise RuntimeError(f"request {request.id} changed while its rule approved it")
    fresh = load(session, request.id)
    assert fresh is not None
    grant_id = _grant(session, policy, fresh, amount, now)
    audit.record(
        session,
        now,
        f"rule:{claimed.rule.name}",
        "request.approved",
        subject(request.id),
        {
            "rule": claimed.rule.name,
            "amount": amount,
            "grant_id": grant_id,
            "period": claimed.period,
            "slot": claimed.slot,
            "max_per_period": claimed.rule.max_per_period,
            "undo_until": claimed.undo_until.isoformat(),
            "acceptance": standing.rate,
            "baseline": standing.baseline,
            "use_case": standing.use_case,
        },
    )
    return Created(view(session, policy, fresh), misses=misses)


def _submitted(session: Session, policy: Policy, submission_key: str) -> Created | None:
    """The request an earlier delivery of the same submission made, if any."""
    earlier = session.execute(
        select(BurstRequest)
        .where(BurstRequest.submission_key == submission_key)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if earlier is None:
        return None
    return Created(view(session, policy, earlier), repeated=True)


# --- deciding ------------------------------------------------------------------------------


def _updated_one(session: Session, *conditions: Any, **values: Any) -> bool:
    """A conditional UPDATE of one request; True when it changed the row (the caller won)."""
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(BurstRequest)
            .where(*conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def _transition(session: Session, request: BurstRequest, **values: Any) -> bool:
    """The one guard of every state change: it applies only to the row as it was read."""
    return _updated_one(
        session,
        BurstRequest.id == request.id,
        BurstRequest.state == PENDING,
        BurstRequest.step == request.step,
        BurstRequest.version == request.version,
        version=BurstRequest.version + 1,
        **values,
    )


def _is_overdue(policy: Policy, request: BurstRequest, now: datetime) -> bool:
    return now >= decide_by(policy, request)


def _refused(
    session: Session, policy: Policy, request: BurstRequest | None, code: str, **facts: Any
) -> DecisionResult:
    return DecisionResult(
        "refused",
        view(session, policy, request) if request is not None else None,
        Problem(code, facts),
    )


def _closed_or_stale(session: Session, policy: Policy, request_id: int) -> DecisionResult:
    """Answer a click that lost (or came late): what happened instead, by whom, when."""
    request = load(session, request_id)
    if request is None:
        return _refused(session, policy, None, "not_found", id=request_id)
    if request.state != PENDING:
        return _refused(session, policy, request, "closed")
    return _refused(session, policy, request, "stale")


def _expire_one(
    session: Session, policy: Policy, request: BurstRequest, now: datetime
) -> DecisionResult | None:
    step, approver_id, nudged = request.step, request.approver_id, request.nudged_at is not None
    if not _transition(session, request, state=EXPIRED, decided_at=now):
        return None
    fresh = load(session, request.id)
    assert fresh is not None
    audit.record(
        session,
        now,
        SYSTEM_ACTOR,
        "request.expired",
        subject(request.id),
        {
            "step": step,
            "approver_id": approver_id,
            "decide_by": decide_by(policy, request).isoformat(),
        },
    )
    return DecisionResult(
        "expired",
        view(session, policy, fresh),
        at=now,
        closed=ClosedStep(step, approver_id, nudged),
    )


def decide(
    session: Session,
    policy: Policy,
    request_id: int,
    actor: Person,
    decision: str,
    amount: int | None = None,
    comment: str | None = None,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> DecisionResult:
    """Approve or deny the current step. Only its approver (or an admin, recorded as such)
    may; never the requester, never someone who decided an earlier step. Exactly one call
    wins per step; the others change nothing and say why."""
    if decision not in (APPROVE, DENY):
        raise ValueError(f"decision must be {APPROVE!r} or {DENY!r}, got {decision!r}")
    request = load(session, request_id)
    if request is None:
        return _refused(session, policy, None, "not_found", id=request_id)
    refusal = _refusal(session, policy, request, actor, expected_version)
    if refusal is not None:
        return refusal
    if _is_overdue(policy, request, now):
        expired = _expire_one(session, policy, request, now)
        if expired is None:
            return _closed_or_stale(session, policy, request_id)
        return DecisionResult("refused", expired.request, Problem("expired_now"), expiry=expired)

    decisions = decisions_of(session, [request.id])[request.id]
    proposed = amount_to_grant(request, decisions)
    if amount is not None and not 0 < amount <= proposed:
        return _refused(session, policy, request, "amount_invalid", amount=amount, max=proposed)
    final_amount = proposed if amount is None else amount
    comment = (comment or "").strip() or None
    as_admin = actor.id != request.approver_id
    step, approver_id, version = request.step, request.approver_id, request.version
    nudged = request.nudged_at is not None

    if decision == DENY:
        won = _transition(
            session, request, state=DENIED, decided_by_id=actor.id, decided_at=now, comment=comment
        )
        action = "denied"
    elif needs_finance(policy, request):
        won = _transition(
            session,
            request,
            step=STEP_FINANCE,
            approver_id=request.finance_approver_id,
            step_started_at=now,
            nudged_at=None,
        )
        action = "step_approved"
    else:
        won = _transition(
            session,
            request,
            state=APPROVED,
            granted_amount=final_amount,
            decided_by_id=actor.id,
            decided_at=now,
            comment=comment,
        )
        action = "approved"
    if not won:
        return _closed_or_stale(session, policy, request_id)

    session.add(
        BurstRequestDecision(
            request_id=request.id,
            step=step,
            decision=DENIED if decision == DENY else APPROVED,
            actor_id=actor.id,
            as_admin=as_admin,
            amount=final_amount if decision == APPROVE else None,
            comment=comment,
            decided_at=now,
        )
    )
    detail: dict[str, Any] = {
        "step": step,
        "version": version,
        "amount": final_amount if decision == APPROVE else None,
        "requested": request.amount,
        "comment": comment,
        "as_admin": as_admin,
    }
    if as_admin:
        detail["approver_id"] = approver_id  # whose step an admin decided instead
    fresh = load(session, request.id)
    assert fresh is not None
    if action == "approved":
        detail["grant_id"] = _grant(session, policy, fresh, final_amount, now)
    if action == "step_approved":
        detail["next_step"] = STEP_FINANCE
        detail["next_approver_id"] = fresh.approver_id
    session.flush()
    audit.record(session, now, actor.email, f"request.{action}", subject(request.id), detail)

    return DecisionResult(
        action,
        view(session, policy, fresh),
        actor_name=actor.name,
        as_admin=as_admin,
        at=now,
        closed=ClosedStep(step, approver_id, nudged),
    )


def _refusal(
    session: Session,
    policy: Policy,
    request: BurstRequest,
    actor: Person,
    expected_version: int | None,
) -> DecisionResult | None:
    """Why `actor` may not decide the request as it stands now, or None when they may."""
    if request.state != PENDING:
        return _refused(session, policy, request, "closed")
    if actor.id == request.requester_id:
        return _refused(session, policy, request, "own_request")
    earlier = session.scalar(
        select(BurstRequestDecision.step).where(
            BurstRequestDecision.request_id == request.id,
            BurstRequestDecision.actor_id == actor.id,
        )
    )
    if earlier is not None:
        return _refused(session, policy, request, "decided_earlier_step", step=earlier)
    if actor.id != request.approver_id and not actor.has_role("admin"):
        return _refused(session, policy, request, "not_approver")
    if expected_version is not None and expected_version != request.version:
        return _refused(session, policy, request, "stale")
    return None


def check_can_decide(
    session: Session,
    policy: Policy,
    request_id: int,
    actor: Person,
    expected_version: int | None = None,
) -> DecisionResult | None:
    """Before showing a form: the refusal `decide` would give now, or None. Changes nothing."""
    request = load(session, request_id)
    if request is None:
        return _refused(session, policy, None, "not_found", id=request_id)
    return _refusal(session, policy, request, actor, expected_version)


def _grant(
    session: Session, policy: Policy, request: BurstRequest, amount: int, now: datetime
) -> int:
    period = period_for(policy.periods, now)
    expires_at = min(request.until, period.end) if request.until else period.end
    issued = issue_grants(
        session,
        [
            GrantSpec(
                key=f"burst:{request.id}",
                kind="burst",
                token_class="operational",
                owner_type="person",
                owner_id=request.requester_id,
                amount=amount,
                period=period.key,
                effective_at=now,
                expires_at=expires_at,
                source=subject(request.id),
            )
        ],
        now,
    )
    if not issued:
        # The state said pending, yet the grant exists: refuse to go on (the caller rolls back).
        raise RuntimeError(f"burst grant for request {request.id} already exists")
    return issued[0]


def cancel(
    session: Session, policy: Policy, request_id: int, actor: Person, *, now: datetime
) -> DecisionResult:
    """The requester withdraws a pending request; the approver's message is updated."""
    request = load(session, request_id)
    if request is None or request.requester_id != actor.id:
        # Someone else's request is reported as not found: ids are not a way to probe.
        return _refused(session, policy, None, "not_found", id=request_id)
    if request.state != PENDING:
        return _refused(session, policy, request, "closed")
    step, approver_id, nudged = request.step, request.approver_id, request.nudged_at is not None
    if not _transition(session, request, state=CANCELLED, decided_by_id=actor.id, decided_at=now):
        return _closed_or_stale(session, policy, request_id)
    audit.record(
        session, now, actor.email, "request.cancelled", subject(request.id), {"step": step}
    )
    fresh = load(session, request.id)
    assert fresh is not None
    return DecisionResult(
        "cancelled",
        view(session, policy, fresh),
        actor_name=actor.name,
        at=now,
        closed=ClosedStep(step, approver_id, nudged),
    )


# --- scheduled: nudges and expiry ----------------------------------------------------------


def expire_stale(session: Session, policy: Policy, now: datetime) -> list[DecisionResult]:
    """Expire pending requests whose step waited past the policy limit (or whose `until`
    passed); returns the expiries (each requester is to be told, each approver's message
    updated). Safe to run concurrently or twice: each expiry is a conditional update."""
    cutoff = now - timedelta(hours=policy.approvals.expire_after_hours)
    rows = session.scalars(
        select(BurstRequest)
        .where(
            BurstRequest.state == PENDING,
            or_(BurstRequest.step_started_at <= cutoff, BurstRequest.until <= now),
        )
        .order_by(BurstRequest.id)
    ).all()
    expiries: list[DecisionResult] = []
    for request in rows:
        expired = _expire_one(session, policy, request, now)
        if expired is not None:
            expiries.append(expired)
    return expiries


def nudges_due(session: Session, policy: Policy, now: datetime) -> list[RequestView]:
    """Claim a reminder for each step pending longer than `nudge_after_hours`: once per step
    (`nudged_at` is claimed by a conditional update, so concurrent runs send one reminder).
    Returns the requests whose approver is to be reminded (the approval message again,
    buttons included); the caller builds the messages in the same transaction and commits."""
    cutoff = now - timedelta(hours=policy.approvals.nudge_after_hours)
    rows = session.scalars(
        select(BurstRequest)
        .where(
            BurstRequest.state == PENDING,
            BurstRequest.nudged_at.is_(None),
            BurstRequest.step_started_at <= cutoff,
        )
        .order_by(BurstRequest.id)
    ).all()
    reminded: list[RequestView] = []
    for request in rows:
        if _is_overdue(policy, request, now):
            continue  # expire_stale's job
        claimed = _updated_one(
            session,
            BurstRequest.id == request.id,
            BurstRequest.state == PENDING,
            BurstRequest.version == request.version,
            BurstRequest.nudged_at.is_(None),
            nudged_at=now,
        )
        if not claimed:
            continue
        audit.record(
            session,
            now,
            SYSTEM_ACTOR,
            "request.nudged",
            subject(request.id),
            {"step": request.step, "approver_id": request.approver_id},
        )
        fresh = load(session, request.id)
        assert fresh is not None
        reminded.append(view(session, policy, fresh))
    return reminded
