"""`request AMOUNT REASON [--project P] [--until DATE]`, `request cancel ID`, `request list`,
and the approval buttons (`request.approve`, `request.deny`, `request.adjust`, and the
`request.adjust_submit` form).

Handlers parse, open one unit of work, call `budgets.requests`, have
`bot.core.presenters.requests` build the messages for other people in that same transaction,
commit, and turn the result into a Reply: the decision rules and the exactly-once guarantee
live in the domain. A
decision replaces the approval message in place (`replace_original`) with who decided and
when; refusals answer only the clicker (private) and change nothing.
"""

from __future__ import annotations

from bot.core.context import ActionContext, CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Form, FormField, Notice, Reply
from bot.core.parsing import parse_amount, parse_date, parse_options
from bot.core.presenters.requests import (
    ACTION_ADJUST,
    ACTION_ADJUST_SUBMIT,
    ACTION_APPROVE,
    ACTION_DENY,
    ACTION_UNDO,
    auto_approved_reply,
    created_notices,
    decided_reply,
    decision_notices,
    misses_context,
    parse_button_value,
    request_context,
    to_plain,
    undo_context,
    undo_notices,
)
from bot.core.registry import registry
from budgets.auto_approvals import UndoResult, check_can_undo, undo
from budgets.periods import period_for
from budgets.request_views import (
    DecisionResult,
    Problem,
    RequestInvalid,
    RequestView,
    get_view,
    requests_of,
)
from budgets.requests import APPROVE, DENY, cancel, check_can_decide, create_request, decide
from scoring.standing import requester_standing

USAGE = (
    "request AMOUNT REASON [--project P] [--until YYYY-MM-DD] [--use-case U]"
    " | request cancel ID | request list | request undo ID"
)


def refused_reply(
    problems: tuple[Problem, ...], request: RequestView | None, zone: str, **extra: object
) -> Reply:
    return Reply(
        "request_refused",
        {
            "problems": [{"code": p.code, "facts": to_plain(p.facts)} for p in problems],
            "request": request_context(request) if request else None,
            "zone": zone,
        },
        **extra,  # type: ignore[arg-type]
    )


def result_reply(result: DecisionResult, zone: str, notices: tuple[Notice, ...] = ()) -> Reply:
    """A decision replaces the approval message; a refusal answers the clicker alone."""
    if result.problem is not None:
        return refused_reply((result.problem,), result.request, zone, notices=notices)
    reply = decided_reply(result, zone)
    return Reply(
        reply.template,
        reply.context,
        replace_original=True,
        notices=notices,
    )


@registry.command(
    "request",
    summary="Ask for a burst budget (your manager approves)",
    usage=USAGE,
    order=30,
)
def request(ctx: CommandContext) -> Reply:
    if not ctx.words:
        raise UsageError("say how many tokens you need and why, e.g. `request 50k launch`", USAGE)
    first = ctx.words[0].lower()
    if first == "list" and len(ctx.words) == 1:
        return _list(ctx)
    if first == "cancel":
        return _cancel(ctx)
    if first == "undo":
        return _show_undo(ctx)
    positional, options = parse_options(ctx.words, {"project", "until", "use-case"}, USAGE)
    amount = parse_amount(positional[0]) if positional else 0
    until = parse_date(options["until"]) if "until" in options else None
    use_case = options.get("use-case")
    zone = ctx.policy.periods.timezone
    with ctx.services.db.unit_of_work() as uow:
        known = ctx.policy.use_case_named(use_case) if use_case else None
        standing = (
            requester_standing(
                uow.session,
                ctx.policy,
                ctx.person.id,
                known.name if known else None,
                ctx.now,
            )
            if ctx.policy.auto_approvals and (use_case is None or known is not None)
            else None
        )
        try:
            created = create_request(
                uow.session,
                ctx.policy,
                ctx.person,
                amount,
                " ".join(positional[1:]),
                project=options.get("project"),
                until=until,
                now=ctx.now,
                use_case=use_case,
                # Scoped to the person: a message id is never a way to reach another's request.
                submission_key=(
                    f"{ctx.platform}:{ctx.person.id}:{ctx.message_id}" if ctx.message_id else None
                ),
                standing=standing,
            )
        except RequestInvalid as exc:
            return refused_reply(exc.problems, None, zone)
        notices = created_notices(uow.session, ctx.policy, created, ctx.now)
        uow.commit()
    return Reply(
        "request_created",
        {
            "request": request_context(created.request),
            "finance_threshold": ctx.policy.approvals.finance_threshold,
            "period_end": period_for(ctx.policy.periods, ctx.now).end.isoformat(),
            "auto_approved": created.request.auto_rule is not None,
            "repeated": created.repeated,
            "misses": misses_context(created.misses),
            "zone": zone,
        },
        notices=notices,
    )


def _request_id(ctx: CommandContext, verb: str) -> int:
    if len(ctx.words) != 2 or not ctx.words[1].lstrip("#").isdigit():
        raise UsageError(f"say which request to {verb}, e.g. `request {verb} 12`", USAGE)
    return int(ctx.words[1].lstrip("#"))


def _show_undo(ctx: CommandContext) -> Reply:
    """`request undo ID`: the manager's notice of a rule's approval again, with its Undo
    choice (where the chat has no message to click on, as in the console)."""
    request_id = _request_id(ctx, "undo")
    zone = ctx.policy.periods.timezone
    with ctx.services.db.read() as session:
        refusal = check_can_undo(session, request_id, ctx.person, ctx.now)
        current = get_view(session, ctx.policy, request_id)
    if refusal is not None:
        shown = current if refusal.problem != "not_found" else None
        return Reply("request_undo_refused", undo_context(refusal, shown, zone))
    assert current is not None
    return auto_approved_reply(current, zone, ctx.now)


def _list(ctx: CommandContext) -> Reply:
    with ctx.services.db.read() as session:
        mine = requests_of(session, ctx.policy, ctx.person)
    return Reply(
        "request_list",
        {"requests": [request_context(r) for r in mine], "zone": ctx.policy.periods.timezone},
    )


def _cancel(ctx: CommandContext) -> Reply:
    request_id = _request_id(ctx, "cancel")
    zone = ctx.policy.periods.timezone
    with ctx.services.db.unit_of_work() as uow:
        result = cancel(uow.session, ctx.policy, request_id, ctx.person, now=ctx.now)
        notices = decision_notices(uow.session, ctx.policy, result, ctx.now)
        uow.commit()
    if result.problem is not None:
        return refused_reply((result.problem,), result.request, zone)
    return Reply(
        "request_update",
        {"request": request_context(result.request), "event": "cancelled", "zone": zone},
        notices=notices,
    )


# --- buttons -------------------------------------------------------------------------------


def _zone(ctx: ActionContext) -> str:
    return ctx.services.policy.periods.timezone


def _target(ctx: ActionContext) -> tuple[int, int | None] | Reply:
    parsed = parse_button_value(ctx.value)
    if parsed is None:
        return refused_reply((Problem("not_found", {"id": ctx.value}),), None, _zone(ctx))
    return parsed


def _decide(
    ctx: ActionContext, decision: str, amount: int | None = None, comment: str | None = None
) -> Reply:
    target = _target(ctx)
    if isinstance(target, Reply):
        return target
    request_id, version = target
    with ctx.services.db.unit_of_work() as uow:
        result = decide(
            uow.session,
            ctx.services.policy,
            request_id,
            ctx.person,
            decision,
            amount,
            comment,
            now=ctx.now,
            expected_version=version,
        )
        notices = decision_notices(uow.session, ctx.services.policy, result, ctx.now)
        # A refusal changed nothing, except a click that found the request overdue: that
        # expired it, and the expiry must stick.
        uow.commit()
    return result_reply(result, _zone(ctx), notices)


@registry.action(ACTION_APPROVE)
def approve(ctx: ActionContext) -> Reply:
    return _decide(ctx, APPROVE)


@registry.action(ACTION_DENY)
def deny(ctx: ActionContext) -> Reply:
    return _decide(ctx, DENY)


@registry.action(ACTION_ADJUST)
def adjust(ctx: ActionContext) -> Reply:
    """Ask for the amount and a comment first; refuse at once if the clicker can't decide."""
    target = _target(ctx)
    if isinstance(target, Reply):
        return target
    request_id, version = target
    with ctx.services.db.read() as session:
        refusal = check_can_decide(session, ctx.services.policy, request_id, ctx.person, version)
        current = get_view(session, ctx.services.policy, request_id)
    if refusal is not None:
        return result_reply(refusal, _zone(ctx))
    assert current is not None
    form = Form(
        title=f"Approve request #{current.id}",
        fields=(
            FormField("amount", "Amount (tokens)", "text", initial=str(current.amount_to_grant)),
            FormField("comment", "Comment", "multiline", optional=True),
        ),
        submit_action_id=ACTION_ADJUST_SUBMIT,
        value=ctx.value,
        submit_label="Approve",
    )
    return Reply(
        "request_adjust",
        {"request": request_context(current), "zone": _zone(ctx)},
        form=form,
    )


@registry.action(ACTION_ADJUST_SUBMIT)
def adjust_submit(ctx: ActionContext) -> Reply:
    raw_amount = (ctx.form.get("amount") or "").strip()
    amount = parse_amount(raw_amount) if raw_amount else None
    return _decide(ctx, APPROVE, amount, ctx.form.get("comment"))


@registry.action(ACTION_UNDO)
def undo_auto_approval(ctx: ActionContext) -> Reply:
    """Undo a rule's approval: its manager or an admin, within its window, once."""
    zone = _zone(ctx)
    if not ctx.value.isdigit():
        return Reply("request_undo_refused", undo_context(UndoResult(0, "not_found"), None, zone))
    with ctx.services.db.unit_of_work() as uow:
        result = undo(uow.session, int(ctx.value), ctx.person, now=ctx.now)
        current = get_view(uow.session, ctx.services.policy, result.request_id)
        notices = undo_notices(result, current, zone)
        uow.commit()
    if result.problem is not None:
        shown = current if result.problem != "not_found" else None
        return Reply("request_undo_refused", undo_context(result, shown, zone))
    return Reply(
        "request_undone_by_you",
        undo_context(result, current, zone),
        replace_original=True,
        notices=notices,
    )
