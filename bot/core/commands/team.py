"""`team` (managers): the team pool, each direct report's balance and burn rate, and the
burst requests waiting on the manager, each with its Approve, Deny and Adjust buttons.

`team allocate EMAIL AMOUNT` (or the form: `team allocate` alone, or the "Allocate a share"
button) sets a member's share of their team's pool for the period, and `team allocations`
lists them (issue #23). Who may allocate and the exactly-once rule live in
`budgets.team_shares`; every command, click and submission is checked there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.context import ActionContext, CommandContext
from bot.core.errors import NotAllowed, UsageError
from bot.core.messages import Button, Reply
from bot.core.parsing import parse_amount
from bot.core.presenters.requests import approval_buttons, request_context
from bot.core.presenters.team_shares import (
    ACTION_ALLOCATE,
    ACTION_ALLOCATE_SUBMIT,
    allocated_reply,
    allocations_reply,
    form_reply,
    refused_reply,
)
from bot.core.registry import registry
from budgets.balances import BalanceView, PoolBalance, active_pools, balance_for
from budgets.directory import find_person, reports_of
from budgets.periods import period_for
from budgets.request_views import RequestView, awaiting
from budgets.team_shares import AllocationRefused, allocate, team_allocations, visible_team_ids

USAGE = "team | team allocate EMAIL AMOUNT | team allocations"
ALLOCATE_USAGE = "team allocate EMAIL AMOUNT"
ALLOCATE_BUTTON = Button("Allocate a share", ACTION_ALLOCATE, "", "primary")
MAX_DECISION_BUTTONS = 10  # requests with buttons in one message (one actions block each)


def decision_buttons(pending: Sequence[RequestView]) -> tuple[Button, ...]:
    """Approve, Deny and Adjust for each pending request, labelled with its number: the same
    actions (and version check) as the approval message, for when that message never arrived
    or scrolled away. `team` and the App Home show them."""
    # Action ids carry the request number (`request.approve:7`, routed like `request.approve`):
    # Slack wants each action id once per message.
    labels = {"Approve": "Approve", "Deny": "Deny"}
    return tuple(
        replace(
            button,
            label=f"{labels.get(button.label, 'Adjust')} #{request.id}",
            action_id=f"{button.action_id}:{request.id}",
        )
        for request in pending[:MAX_DECISION_BUTTONS]
        for button in approval_buttons(request)
    )


@dataclass(frozen=True)
class TeamMember:
    name: str
    email: str
    balance: BalanceView


@registry.command(
    "team",
    summary="Your team's pool, balances, pending requests and pool shares (managers)",
    usage=USAGE,
    order=75,
    manager_only=True,
    refusal="`team` is for managers: it shows the people who report to you.",
)
def team(ctx: CommandContext) -> Reply:
    if ctx.words:
        first = ctx.words[0].lower()
        if first == "allocate":
            return _allocate_command(ctx)
        if first == "allocations" and len(ctx.words) == 1:
            return _allocations(ctx)
        raise UsageError("team takes `allocate EMAIL AMOUNT`, `allocations` or nothing", USAGE)
    with ctx.services.db.read() as session:
        reports = reports_of(session, ctx.person)
        members = [
            TeamMember(p.name, p.email, balance_for(session, p, ctx.policy, ctx.now))
            for p in reports
            if p.active
        ]
        # The pools of the manager's team and of every team a report is in, once each.
        pools: dict[str, PoolBalance] = {}
        for person in [ctx.person, *reports]:
            for pool in active_pools(session, person, ctx.now):
                if pool.kind == "team_pool":
                    pools.setdefault(pool.label, pool)
        pending = awaiting(session, ctx.policy, ctx.person)
    return Reply(
        "team",
        {
            "manager_name": ctx.person.name,
            "pools": list(pools.values()),
            "members": members,
            "pending": [request_context(r) for r in pending],
            "zone": ctx.policy.periods.timezone,
        },
        buttons=(*decision_buttons(pending), ALLOCATE_BUTTON),
    )


# --- allocations (issue #23) ----------------------------------------------------------------


def _allocate_command(ctx: CommandContext) -> Reply:
    if len(ctx.words) == 1:
        return form_reply(period_for(ctx.policy.periods, ctx.now).key)
    if len(ctx.words) != 3:
        raise UsageError(
            "say whose share and how many tokens, e.g. `team allocate ann@acme.test 200k`",
            ALLOCATE_USAGE,
        )
    return _allocate(ctx, ctx.words[1], ctx.words[2])


def _parse_share(text: str) -> int:
    """An amount as `request` takes it, or 0: a member who draws nothing from the pool."""
    return 0 if text.strip() == "0" else parse_amount(text)


def _allocate(ctx: CommandContext | ActionContext, email: str, raw_amount: str) -> Reply:
    email = email.strip()
    if not email:
        raise UsageError("say whose share to set: the member's email", ALLOCATE_USAGE)
    if not raw_amount.strip():
        raise UsageError("say how many tokens the share is, e.g. 200k", ALLOCATE_USAGE)
    amount = _parse_share(raw_amount)
    actor, services = ctx.person, ctx.services
    with services.db.unit_of_work() as uow:
        member = find_person(uow.session, email)
        if member is None and actor.has_role("admin"):
            raise UsageError(f"no one with the email {email} is in the directory", ALLOCATE_USAGE)
        try:
            allocated = allocate(uow.session, services.policy, actor, member, amount, ctx.now)
        except AllocationRefused as refused:
            return refused_reply(refused)
        assert member is not None  # allocate refuses a missing member
        reply = allocated_reply(allocated, member.id, actor.id)
        uow.commit()
    return reply


def _allocations(ctx: CommandContext) -> Reply:
    with ctx.services.db.read() as session:
        teams = team_allocations(
            session, ctx.policy, visible_team_ids(session, ctx.person), ctx.now
        )
    return allocations_reply(teams, ctx.policy.periods.timezone)


def _require_manager(ctx: ActionContext) -> None:
    """A click or a submission is checked as the command is: managers and admins only (and
    `allocate` then checks that the member is below the manager)."""
    if not (ctx.person.has_role("manager") or ctx.person.has_role("admin")):
        raise NotAllowed(
            "Only a manager (for people below them) or an admin can allocate team pool shares."
        )


@registry.action(ACTION_ALLOCATE)
def allocate_button(ctx: ActionContext) -> Reply:
    _require_manager(ctx)
    return form_reply(period_for(ctx.services.policy.periods, ctx.now).key)


@registry.action(ACTION_ALLOCATE_SUBMIT)
def allocate_submit(ctx: ActionContext) -> Reply:
    _require_manager(ctx)
    return _allocate(ctx, ctx.form.get("email") or "", ctx.form.get("amount") or "")
