"""The quota recommendation buttons: `quota.apply` and `quota.dismiss` (admins), and
`quota.revert` for a tier change the period change applied by itself.

The rules (admins only, once, effective next period, audited) live in `budgets.quotas`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from bot.core.context import ActionContext
from bot.core.messages import Reply
from bot.core.registry import registry
from budgets.policy import Policy
from budgets.quota_changes import ACTION_REVERT, revert_applied
from budgets.quotas import ACTION_APPLY, ACTION_DISMISS, QuotaDecision, decide_recommendation
from storage.models import Person

Decide = Callable[[Session, Policy, int, Person, datetime], QuotaDecision]


def _answer(ctx: ActionContext, decide: Decide, done: str, replace_original: bool) -> Reply:
    if not ctx.value.isdigit():
        # Refused as an unknown id is, after the same admin check: no oracle either way.
        problem = "not_found" if ctx.person.has_role("admin") else "not_admin"
        return Reply(
            "quota_refused", {"problem": problem, "recommendation": None, "decided_by": None}
        )
    with ctx.services.db.unit_of_work() as uow:
        decision = decide(uow.session, ctx.services.policy, int(ctx.value), ctx.person, ctx.now)
        uow.commit()
    context = {
        "recommendation": decision.recommendation,
        "decided_by": decision.decided_by,
        "effective_period": decision.effective_period,
    }
    if decision.problem is not None:
        return Reply("quota_refused", {**context, "problem": decision.problem})
    return Reply(done, context, replace_original=replace_original)


@registry.action(ACTION_APPLY)
def apply_recommendation(ctx: ActionContext) -> Reply:
    # Only the clicked recommendation changed: answer anew, the list keeps its other buttons.
    return _answer(
        ctx,
        lambda s, p, i, a, n: decide_recommendation(s, p, i, a, True, n),
        "quota_decided",
        replace_original=False,
    )


@registry.action(ACTION_DISMISS)
def dismiss_recommendation(ctx: ActionContext) -> Reply:
    return _answer(
        ctx,
        lambda s, p, i, a, n: decide_recommendation(s, p, i, a, False, n),
        "quota_decided",
        replace_original=False,
    )


@registry.action(ACTION_REVERT)
def revert_recommendation(ctx: ActionContext) -> Reply:
    """Revert a tier change tokenbot applied by itself (admins, once, audited)."""
    return _answer(ctx, revert_applied, "quota_reverted", replace_original=True)
