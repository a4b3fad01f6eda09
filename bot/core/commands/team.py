"""`team` (managers): the team pool, each direct report's balance and burn rate, and the
burst requests waiting on the manager. Read-only."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.context import CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Reply
from bot.core.registry import registry
from budgets.balances import BalanceView, PoolBalance, active_pools, balance_for
from budgets.directory import reports_of
from budgets.requests import awaiting, request_context

USAGE = "team"


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
    )
