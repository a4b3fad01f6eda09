"""`claim MINUTES ARTIFACT_ID`: claim the minutes an accepted AI artifact saved you; your
manager verifies it with a button (`savings.verify:approve|decline`). Only verified minutes
count toward scores and the verified-savings recognition."""

from __future__ import annotations

from bot.core.context import ActionContext, CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Button, Notice, Reply
from bot.core.registry import registry
from scoring.savings import Claim, SavingsRefused, claim_savings, decide_claim
from storage.models import Person

USAGE = "claim MINUTES ARTIFACT_ID"
ACTION = "savings.verify"


def _refused(exc: SavingsRefused) -> Reply:
    return Reply("savings_refused", {"code": exc.code, "facts": exc.facts})


def _claim_context(claim: Claim, person: Person, manager: Person) -> dict[str, object]:
    return {
        "person": person.name,
        "manager": manager.name,
        "artifact_id": claim.artifact_id,
        "use_case": claim.use_case,
        "minutes": claim.minutes,
    }


@registry.command(
    "claim",
    summary="Claim minutes an accepted AI artifact saved you (your manager verifies)",
    usage=USAGE,
    order=45,
)
def claim(ctx: CommandContext) -> Reply:
    if len(ctx.words) != 2 or not ctx.words[0].isdigit():
        raise UsageError("give the minutes saved (a whole number) and the artifact id", USAGE)
    minutes, artifact_id = int(ctx.words[0]), ctx.words[1]
    with ctx.services.db.unit_of_work() as uow:
        try:
            made = claim_savings(uow.session, ctx.policy, ctx.person, artifact_id, minutes, ctx.now)
        except SavingsRefused as exc:
            return _refused(exc)
        manager = uow.session.get(Person, made.manager_id)
        assert manager is not None
        uow.commit()
    context = _claim_context(made, ctx.person, manager)
    value = str(made.claim_id)
    ask = Reply(
        "savings_verify",
        context,
        buttons=(
            Button(f"Verify {minutes} min", f"{ACTION}:approve", value, style="primary"),
            Button("Decline", f"{ACTION}:decline", value, style="danger"),
        ),
    )
    return Reply(
        "savings_claimed",
        context,
        notices=(Notice(manager.id, ask, ref=f"savings-claim:{made.claim_id}"),),
    )


@registry.action(ACTION)
def decide(ctx: ActionContext) -> Reply:
    verify = ctx.action_id.endswith(":approve")
    if not ctx.value.isdigit():
        return _refused(SavingsRefused("unknown_claim"))
    with ctx.services.db.unit_of_work() as uow:
        try:
            decision = decide_claim(
                uow.session, ctx.services.policy, ctx.person, int(ctx.value), verify, ctx.now
            )
        except SavingsRefused as exc:
            return _refused(exc)
        claimant = uow.session.get(Person, decision.claim.person_id)
        assert claimant is not None
        uow.commit()
    context = {**_claim_context(decision.claim, claimant, ctx.person), "verified": verify}
    return Reply(
        "savings_decided",
        {**context, "audience": "manager"},
        replace_original=True,
        notices=(
            Notice(claimant.id, Reply("savings_decided", {**context, "audience": "claimant"})),
        ),
    )
