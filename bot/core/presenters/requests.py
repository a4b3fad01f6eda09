"""Burst requests as messages: the approval message with its buttons, the requester's updates,
the decided state that replaces an approval message, and the request list's context.

`budgets.requests` returns facts (a `RequestView`, a `Created`, a `DecisionResult` saying which
step closed and whose messages may still show live buttons); this module decides who is told
what. Notices are JSON-safe (`request_context`), so one can wait in the outbox.

The approval message shows the requester's balance and recent efficiency as they are when it
is sent, so `approval_notice` (and the `*_notices` functions that may send one) read them in the
caller's transaction: the balance from `budgets.balances`, the acceptance from
`scoring.efficiency`. That read is why it is here and not in `budgets`, which never imports
`scoring`. Everything else in this module is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.core.messages import Button, Notice, Reply
from budgets.auto_approvals import RuleMiss, UndoResult
from budgets.balances import BalanceView, balance_for
from budgets.policy import Policy
from budgets.request_views import Created, DecisionResult, RequestView
from scoring.efficiency import Efficiency, recent_efficiency
from storage.models import Person

ACTION_APPROVE = "request.approve"
ACTION_DENY = "request.deny"
ACTION_ADJUST = "request.adjust"
ACTION_ADJUST_SUBMIT = "request.adjust_submit"
ACTION_UNDO = "request.undo"
STEP_RULE = "rule"  # the ref of the manager's notice of a rule's approval


def approval_ref(request_id: int, step: str, reminder: bool = False) -> str:
    """Names the approval message of one step, so adapters can find it to update it in place.
    A reminder is a message of its own (a new message notifies; an edited one does not)."""
    return f"request:{request_id}:{step}" + (":reminder" if reminder else "")


def button_value(request_id: int, version: int) -> str:
    return f"{request_id}:{version}"


def parse_button_value(value: str) -> tuple[int, int | None] | None:
    """`42:3` -> (42, 3); `42` -> (42, None); anything else -> None."""
    head, _, tail = value.partition(":")
    if not head.isdigit() or (tail and not tail.isdigit()):
        return None
    return int(head), int(tail) if tail else None


# --- context -------------------------------------------------------------------------------


def to_plain(value: Any) -> Any:
    """JSON-safe: datetimes as ISO strings (templates read them back with `|from_iso`)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def request_context(request: RequestView) -> dict[str, Any]:
    """A request as message context: plain JSON values, so a notice can wait in the outbox."""
    context = to_plain(asdict(request))
    context["last_step"] = context["steps"][-1] if context["steps"] else None
    return context


def balance_context(balance: BalanceView) -> dict[str, Any]:
    return to_plain(
        {
            "period": balance.period.key,
            "period_end": balance.period.end,
            "personal_remaining": balance.personal_remaining,
            "personal_total": balance.personal_total,
            "personal_used": balance.personal_used,
            "used": balance.used,
            "split": asdict(balance.split),
            "overdraft": balance.overdraft,
            "cost_micros": balance.cost_micros,
            "burn_per_day": balance.burn_per_day,
            "own_burn_per_day": balance.own_burn_per_day,
            "days_elapsed": balance.days_elapsed,
            "run_out_at": balance.run_out_at,
            "runs_out_before_period_end": balance.runs_out_before_period_end,
        }
    )


def efficiency_context(efficiency: Efficiency) -> dict[str, Any]:
    return {
        "accepted": efficiency.accepted,
        "total": efficiency.total,
        "weeks": efficiency.weeks,
        "rate": efficiency.rate,
    }


# --- messages ------------------------------------------------------------------------------


def approval_buttons(request: RequestView) -> tuple[Button, ...]:
    value = button_value(request.id, request.version)
    return (
        Button("Approve", ACTION_APPROVE, value, style="primary"),
        Button("Deny", ACTION_DENY, value, style="danger"),
        Button("Approve different amount / comment", ACTION_ADJUST, value),
    )


def misses_context(misses: Sequence[RuleMiss]) -> list[dict[str, Any]]:
    return [{"rule": m.rule, "code": m.code, "facts": to_plain(m.facts)} for m in misses]


def approval_notice(
    session: Session,
    policy: Policy,
    request: RequestView,
    now: datetime,
    reminder: bool = False,
    misses: Sequence[RuleMiss] = (),
) -> Notice:
    """The approver's message for the current step: the request, the requester's balance,
    burn rate and recent efficiency, and the decision buttons."""
    requester = session.get(Person, request.requester_id)
    assert requester is not None and request.approver_id is not None
    efficiency = recent_efficiency(session, policy.periods.zone, requester.id, now)
    reply = Reply(
        "request_approval",
        {
            "request": request_context(request),
            "balance": balance_context(balance_for(session, requester, policy, now)),
            "efficiency": efficiency_context(efficiency),
            "reminder": reminder,
            "misses": misses_context(misses),
            "zone": policy.periods.timezone,
        },
        buttons=approval_buttons(request),
    )
    return Notice(request.approver_id, reply, ref=approval_ref(request.id, request.step, reminder))


def requester_notice(request: RequestView, event: str, zone: str) -> Notice:
    return Notice(
        request.requester_id,
        Reply(
            "request_update", {"request": request_context(request), "event": event, "zone": zone}
        ),
    )


def decided_reply(result: DecisionResult, zone: str, replace_original: bool = True) -> Reply:
    """The approval message in its decided state (who decided what, and when): the answer to
    the click (replacing the message clicked) or, as a notice, an update found by its ref."""
    return Reply(
        "request_decided",
        {
            "request": request_context(result.request) if result.request else None,
            "action": result.action,
            "actor_name": result.actor_name,
            "as_admin": result.as_admin,
            "at": to_plain(result.at),
            "zone": zone,
        },
        replace_original=replace_original,
    )


def approver_updates(result: DecisionResult, zone: str) -> tuple[Notice, ...]:
    """Replace the approver's message(s) for the closed step (the reminder too, if one was
    sent) with the decided state: needed when something other than their click on it closed
    the step."""
    closed = result.closed
    if closed is None or closed.approver_id is None or result.request is None:
        return ()
    reply = decided_reply(result, zone, replace_original=False)
    reminders = (False, True) if closed.reminded else (False,)
    return tuple(
        Notice(closed.approver_id, reply, ref=approval_ref(result.request.id, closed.step, r))
        for r in reminders
    )


# --- who is told what ----------------------------------------------------------------------


def auto_approved_reply(request: RequestView, zone: str, now: datetime) -> Reply:
    """The manager's message about a rule's approval, with Undo while its window is open."""
    undoable = (
        request.undone_at is None and request.undo_until is not None and now <= request.undo_until
    )
    return Reply(
        "request_auto_approved",
        {"request": request_context(request), "undoable": undoable, "zone": zone},
        buttons=(Button("Undo", ACTION_UNDO, str(request.id), style="danger"),) if undoable else (),
    )


def auto_approved_notice(request: RequestView, zone: str, now: datetime) -> Notice:
    assert request.approver_id is not None
    return Notice(
        request.approver_id,
        auto_approved_reply(request, zone, now),
        ref=approval_ref(request.id, STEP_RULE),
    )


def created_notices(
    session: Session, policy: Policy, created: Created, now: datetime
) -> tuple[Notice, ...]:
    """A new request: the first approver's message (with why no rule approved it), or, when a
    rule approved it, the manager's notice with Undo. A repeated submission tells nobody."""
    if created.repeated:
        return ()
    if created.auto_approved:
        return (auto_approved_notice(created.request, policy.periods.timezone, now),)
    return (approval_notice(session, policy, created.request, now, misses=created.misses),)


def undo_context(result: UndoResult, request: RequestView | None, zone: str) -> dict[str, Any]:
    return {
        "problem": result.problem,
        "result": to_plain(asdict(result)),
        "request": request_context(request) if request else None,
        "zone": zone,
    }


def undo_notices(result: UndoResult, request: RequestView | None, zone: str) -> tuple[Notice, ...]:
    """The requester hears that their rule-approved tokens were taken back (and how many)."""
    if not result.changed or request is None:
        return ()
    return (
        Notice(request.requester_id, Reply("request_undone", undo_context(result, request, zone))),
    )


def decision_notices(
    session: Session, policy: Policy, result: DecisionResult, now: datetime
) -> tuple[Notice, ...]:
    """What a decide, cancel or expiry tells other people. The requester hears of every
    decision and expiry (not of their own cancel); the next approver gets the approval message
    when finance is next; the approver's message is updated in place when their own click on
    it did not close the step (an admin decided, the requester cancelled, it expired) or when a
    reminder left a second message with live buttons. A refusal tells nobody, except a click
    that found the request overdue: that expired it, and the expiry is told."""
    if result.expiry is not None:
        return decision_notices(session, policy, result.expiry, now)
    if result.request is None or result.closed is None:
        return ()
    zone = policy.periods.timezone
    if result.action == "cancelled":
        return approver_updates(result, zone)
    if result.action == "expired":
        return (requester_notice(result.request, "expired", zone), *approver_updates(result, zone))
    notices = [requester_notice(result.request, result.action, zone)]
    if result.action == "step_approved":
        notices.append(approval_notice(session, policy, result.request, now))
    if result.as_admin or result.closed.reminded:
        notices.extend(approver_updates(result, zone))
    return tuple(notices)


def expiry_notices(
    session: Session, policy: Policy, expired: Iterable[DecisionResult], now: datetime
) -> list[Notice]:
    """`expire_stale`'s expiries: each requester is told, each approver's message updated."""
    return [n for result in expired for n in decision_notices(session, policy, result, now)]


def reminder_notices(
    session: Session, policy: Policy, reminded: Sequence[RequestView], now: datetime
) -> list[Notice]:
    """`nudges_due`'s reminders: the approval message again, buttons included, as a new
    message (its own ref), so the approver is notified."""
    return [approval_notice(session, policy, request, now, reminder=True) for request in reminded]
