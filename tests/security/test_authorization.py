"""Authorization per command and button, through the real dispatcher on the real database: what a
person may not see or do, and that a refusal tells them nothing they may not know."""

from __future__ import annotations

import pytest

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage, Reply
from budgets.quotas import ACTION_APPLY, ACTION_DISMISS


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
