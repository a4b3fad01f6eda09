"""Authorization per command and button, through the real dispatcher on the real database: what a
person may not see or do, and that a refusal tells them nothing they may not know."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage, Reply
from budgets.directory import find_person, import_directory
from budgets.quotas import ACTION_APPLY, ACTION_DISMISS
from budgets.requests import APPROVE, create_request, decide
from storage.models import Grant, QuotaOverride, QuotaRecommendation


def ask(services, email: str, text: str) -> tuple[Reply, str]:  # noqa: ANN001
    reply = Dispatcher(services).handle_message(IncomingMessage("console", email, text))
    return reply, services.renderer.text(reply)


def press(services, email: str, action_id: str, value: str) -> tuple[Reply, str]:  # noqa: ANN001
    reply = Dispatcher(services).handle_action(IncomingAction("console", email, action_id, value))
    return reply, services.renderer.text(reply)


@pytest.mark.parametrize("command", ["balance", "score"])
@pytest.mark.parametrize(
    ("caller", "hidden"),
    [("bob@acme.test", "ann@acme.test"), ("mia@acme.test", "fin@acme.test")],
)
def test_asking_about_a_private_person_answers_as_asking_about_no_one(
    services, org, command, caller, hidden
):
    """Threat: an existence oracle. `balance EMAIL` / `score EMAIL` said "no one with that email"
    for an unknown address and "private" for a colleague, so anyone could learn who works here
    (and a manager who is outside their line). One answer for both."""
    unknown_reply, unknown_text = ask(services, caller, f"{command} nobody@acme.test")
    hidden_reply, hidden_text = ask(services, caller, f"{command} {hidden}")
    assert hidden_reply.template == "not_allowed"
    assert (unknown_reply.template, unknown_text) == (hidden_reply.template, hidden_text)
    assert "nobody" not in unknown_text and hidden.split("@")[0] not in hidden_text


def test_those_who_may_see_anyone_still_hear_that_an_email_is_unknown(services, org):
    """The other side: an admin sees everyone, so saying "no one with that email" tells them
    nothing they could not see; a typo gets a useful answer."""
    _reply, text = ask(services, "ceo@acme.test", "balance nobody@acme.test")
    assert "no one with the email nobody@acme.test" in text


@pytest.mark.parametrize("action", [ACTION_APPLY, ACTION_DISMISS])
def test_a_non_admin_pressing_a_quota_button_learns_nothing_about_recommendations(
    services, org, action
):
    """Threat: an existence oracle on buttons. `quota.apply` with a made-up id said "there is
    no such recommendation" before checking the caller is an admin, so anyone could probe which
    ids exist. A non-admin gets the same refusal for every value."""
    texts = {press(services, "bob@acme.test", action, value)[1] for value in ("1", "999", "x")}
    assert len(texts) == 1
    assert "Only an admin" in texts.pop()


def otto_admin_with_a_raise_recommended(services, org) -> str:  # noqa: ANN001
    """Otto, a second admin on the default tier, and a pending recommendation to raise his own
    tier; the id as the button carries it."""
    extra = "email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id\n"
    extra += "ops@acme.test,Otto Ops,Platform,ceo@acme.test,member;admin,default,UOPS,\n"
    with services.db.unit_of_work() as uow:
        assert import_directory(uow.session, extra, services.policy, services.clock()).ok
        otto = find_person(uow.session, "ops@acme.test")
        recommendation = QuotaRecommendation(
            key=f"2026-10:tier:person:{otto.id}",
            month="2026-10",
            kind="tier",
            subject=f"person:{otto.id}",
            subject_name=otto.name,
            direction="raise",
            tier_from="default",
            tier_to="power-user",
            amount_from=2_000_000,
            amount_to=6_000_000,
            evidence={},
            created_at=services.clock(),
        )
        uow.session.add(recommendation)
        uow.commit()
        return str(recommendation.id)


def test_an_admin_cannot_apply_a_recommendation_that_raises_their_own_tier(services, org):
    """Threat: self-dealing. An admin pressed Apply on the recommendation that raised their own
    tier, granting themselves tokens with no one else looking. Another admin must apply it."""
    value = otto_admin_with_a_raise_recommended(services, org)
    reply, text = press(services, "ops@acme.test", ACTION_APPLY, value)
    assert reply.template == "quota_refused" and "another admin" in text
    with services.db.read() as session:
        assert session.get(QuotaRecommendation, int(value)).status == "pending"
        assert session.scalars(select(QuotaOverride)).all() == []
    reply, text = press(services, "ceo@acme.test", ACTION_APPLY, value)
    assert reply.template == "quota_decided"
    with services.db.read() as session:
        (override,) = session.scalars(select(QuotaOverride)).all()
        assert (override.tier, override.created_by_id) == ("power-user", org["ceo@acme.test"].id)


def test_a_manager_approving_a_reduced_amount_still_sends_it_to_finance(services, org):
    """Threat: splitting around a control. A request above the finance threshold that the
    manager approved at a reduced amount under it was granted at once, so a manager (or a
    requester and manager together) could skip finance by approving "less". The step the
    amount asked for required still runs, with the reduced amount."""
    threshold = services.policy.approvals.finance_threshold
    with services.db.unit_of_work() as uow:
        created = create_request(
            uow.session,
            services.policy,
            org["ann@acme.test"],
            threshold + 50_000,
            "launch",
            now=services.clock(),
        )
        uow.commit()
    request_id = created.request.id

    def decide_as(email: str, amount: int | None = None):  # noqa: ANN202
        with services.db.unit_of_work() as uow:
            result = decide(
                uow.session,
                services.policy,
                request_id,
                org[email],
                APPROVE,
                amount,
                now=services.clock(),
            )
            uow.commit()
        return result

    reduced = threshold - 50_000
    assert decide_as("mia@acme.test", reduced).action == "step_approved"
    with services.db.read() as session:
        assert session.scalars(select(Grant).where(Grant.kind == "burst")).all() == []
    assert decide_as("fin@acme.test").action == "approved"
    with services.db.read() as session:
        granted = session.scalars(select(Grant.amount).where(Grant.kind == "burst")).all()
    assert granted == [reduced]
