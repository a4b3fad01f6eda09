"""`team` (managers): the team pool, each direct report's balance and burn rate, and the
burst requests waiting on the manager, each with its Approve, Deny and Adjust buttons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.context import CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Button, Reply
from bot.core.presenters.requests import approval_buttons, request_context
from bot.core.registry import registry
from budgets.balances import BalanceView, PoolBalance, active_pools, balance_for
from budgets.directory import reports_of
from budgets.request_views import RequestView, awaiting

USAGE = "team"
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
    summary="Your team's pool, balances and pending requests (managers)",
    usage=USAGE,
    order=75,
    manager_only=True,
    refusal="`team` is for managers: it shows the people who report to you.",
)
def team(ctx: CommandContext) -> Reply:
    if ctx.words:
        raise UsageError("team takes no arguments", USAGE)
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
        buttons=decision_buttons(pending),
    )
