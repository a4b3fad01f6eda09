"""`balance [EMAIL]`: remaining and total per pool, what expires when, burn rate, run-out.

A person sees their own balance; a manager may look at someone in their reporting line,
an admin or finance at anyone. Everyone else is refused (balances are private).
"""

from __future__ import annotations

from bot.core.context import CommandContext
from bot.core.errors import NotAllowed, UsageError
from bot.core.messages import Reply
from bot.core.registry import registry
from budgets.balances import balance_for
from budgets.directory import find_person, manages

USAGE = "balance [EMAIL]"


@registry.command(
    "balance",
    summary="Your token balance per pool, what expires when, burn rate",
    usage=USAGE,
    order=10,
)
def balance(ctx: CommandContext) -> Reply:
    if len(ctx.words) > 1:
        raise UsageError("balance takes at most one email", USAGE)
    with ctx.services.db.read() as session:
        person = ctx.person
        if ctx.words:
            sees_anyone = ctx.person.has_role("admin") or ctx.person.has_role("finance")
            found = find_person(session, ctx.words[0])
            if found is None and sees_anyone:
                raise UsageError(f"no one with the email {ctx.words[0]} is in the directory", USAGE)
            if found is None or not (
                found.id == ctx.person.id or sees_anyone or manages(session, ctx.person, found)
            ):
                # The same answer whether or not the person exists: no directory oracle.
                raise NotAllowed(
                    "Balances are private: you can see your own, and those of people you manage."
                )
            person = found
        view = balance_for(session, person, ctx.policy, ctx.now)
    return Reply(
        "balance", {"view": view, "own": person.id == ctx.person.id, "phase": ctx.policy.phase}
    )
