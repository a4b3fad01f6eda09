"""The quota recommendation buttons: `quota.apply` and `quota.dismiss` (admins).

The rules (admins only, once, effective next period, audited) live in `budgets.quotas`.
"""

from __future__ import annotations

from bot.core.context import ActionContext
from bot.core.messages import Reply
from bot.core.registry import registry
from budgets.quotas import ACTION_APPLY, ACTION_DISMISS, decide_recommendation


def _decide(ctx: ActionContext, apply: bool) -> Reply:
    if not ctx.value.isdigit():
        # Refused as an unknown id is, after the same admin check: no oracle either way.
        problem = "not_found" if ctx.person.has_role("admin") else "not_admin"
        return Reply(
            "quota_refused", {"problem": problem, "recommendation": None, "decided_by": None}
        )
    with ctx.services.db.unit_of_work() as uow:
        decision = decide_recommendation(
            uow.session, ctx.services.policy, int(ctx.value), ctx.person, apply, ctx.now
        )
        uow.commit()
    context = {
        "recommendation": decision.recommendation,
        "decided_by": decision.decided_by,
        "effective_period": decision.effective_period,
    }
    if decision.problem is not None:
        return Reply("quota_refused", {**context, "problem": decision.problem})
    # Only the clicked recommendation changed: answer anew, the list keeps its other buttons.
    return Reply("quota_decided", context)


@registry.action(ACTION_APPLY)
def apply_recommendation(ctx: ActionContext) -> Reply:
    return _decide(ctx, apply=True)


@registry.action(ACTION_DISMISS)
def dismiss_recommendation(ctx: ActionContext) -> Reply:
    return _decide(ctx, apply=False)
