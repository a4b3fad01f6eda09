"""The burst request flow end to end through the console adapter and the dispatcher: the
request, the approver's message with its buttons, the click, and the requester's balance."""

from __future__ import annotations

import io
import re

import pytest

from bot.console import ConsoleChat
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage


class Console:
    """One person's console: what they type, what they see."""

    def __init__(self, dispatcher, email):
        self.out = io.StringIO()
        self.typed = io.StringIO()  # what they will type into a form
        self.chat = ConsoleChat(dispatcher, email, self.out, self.typed)

    def will_type(self, *lines: str) -> None:
        self.typed.write("".join(f"{line}\n" for line in lines))
        self.typed.seek(0)

    def seen(self) -> str:
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text


@pytest.fixture
def dispatcher(services):
    return Dispatcher(services)


@pytest.fixture
def consoles(dispatcher, org):
    return {email.split("@")[0]: Console(dispatcher, email) for email in org}


def ask(dispatcher, consoles, who, text):
    """Type a command; deliver its notices to the consoles of the people they are for (what a
    chat adapter does) and return them."""
    reply = dispatcher.handle_message(IncomingMessage("console", f"{who}@acme.test", text))
    consoles[who].chat.show(reply)
    return reply


def deliver(consoles, org, notice):
    email = next(e for e, p in org.items() if p.id == notice.to_person_id)
    consoles[email.split("@")[0]].chat.show(notice.reply)
    return email.split("@")[0]


def burst_lines(balance_text):
    return [line for line in balance_text.splitlines() if line.strip().startswith("Burst")]


def test_approve_in_the_console_credits_the_burst_exactly_once(dispatcher, consoles, org):
    reply = ask(dispatcher, consoles, "ann", "request 50k launch campaign")
    confirmation = consoles["ann"].seen()
    request_id = re.search(r"Request #(\d+) sent", confirmation).group(1)
    assert "Mia Manager (manager) decides first" in confirmation

    (notice,) = reply.notices
    assert deliver(consoles, org, notice) == "mia"
    message = consoles["mia"].seen()
    assert "Ann Analyst asks for 50,000 burst tokens" in message
    assert "Their personal balance in 2026-11: 2,000,000 of 2,000,000 left; 0 used." in message
    assert "Recent efficiency: no outcomes yet" in message
    assert "[1] Approve" in message and "[2] Deny" in message

    consoles["mia"].chat.handle("press 1")
    decided = consoles["mia"].seen()
    assert f"Approved: request #{request_id} from Ann Analyst for 50,000 tokens" in decided
    assert "Mia Manager approved 50,000 tokens on Wed 18 Nov 2026 10:00 UTC" in decided

    consoles["ann"].chat.handle("balance")
    assert burst_lines(consoles["ann"].seen()) == [
        "  Burst                              50,000 of 50,000 left, until Mon 30 Nov 2026"
    ]

    # The same message pressed again (a double click): refused, nothing granted twice.
    deliver(consoles, org, notice)
    consoles["mia"].seen()
    consoles["mia"].chat.handle("press 1")
    assert (
        f"Request #{request_id} was already approved by Mia Manager on Wed 18 Nov 2026 10:00 UTC"
        in consoles["mia"].seen()
    )
    consoles["ann"].chat.handle("balance")
    assert len(burst_lines(consoles["ann"].seen())) == 1

    consoles["ann"].chat.handle("request list")
    assert "approved by Mia Manager on Wed 18 Nov 2026, 50,000 granted" in consoles["ann"].seen()


def test_a_bystander_pressing_the_approval_button_is_told_who_can_decide(dispatcher, consoles, org):
    reply = ask(dispatcher, consoles, "ann", "request 50k launch")
    consoles["bob"].chat.show(reply.notices[0].reply)  # say it was forwarded to Bob
    consoles["bob"].seen()
    consoles["bob"].chat.handle("press 1")
    answer = consoles["bob"].seen()
    assert "You can't decide this request" in answer
    assert "waiting on Mia Manager (manager); only they, or an admin, can decide it" in answer
    consoles["ann"].chat.handle("request list")
    assert "waiting on Mia Manager" in consoles["ann"].seen()


def press(dispatcher, consoles, who, button):
    """Press a button as `who` and show the answer on their console; returns the Reply."""
    reply = dispatcher.handle_action(
        IncomingAction("console", f"{who}@acme.test", button.action_id, button.value)
    )
    consoles[who].chat.show(reply)
    return reply


def test_the_two_step_path_in_the_console_reaches_finance_and_grants_once(
    dispatcher, consoles, org
):
    reply = ask(dispatcher, consoles, "ann", "request 300k launch --until 2026-11-25")
    assert "then Finn Finance (finance)" in consoles["ann"].seen()
    approve = reply.notices[0].reply.buttons[0]

    step = press(dispatcher, consoles, "mia", approve)
    assert "it now waits on Finn Finance (finance)" in consoles["mia"].seen()
    to_ann, to_finance = step.notices
    assert deliver(consoles, org, to_ann) == "ann"
    assert "it now goes to Finn Finance (finance)" in consoles["ann"].seen()
    assert deliver(consoles, org, to_finance) == "fin"
    finance_message = consoles["fin"].seen()
    assert "Already approved at the manager step by Mia Manager" in finance_message

    press(dispatcher, consoles, "mia", approve)  # Mia clicks her old message again
    assert "You already decided the manager step" in consoles["mia"].seen()

    consoles["fin"].chat.handle("press 1")
    assert "Finn Finance approved 300,000 tokens" in consoles["fin"].seen()
    consoles["ann"].chat.handle("balance")
    assert burst_lines(consoles["ann"].seen()) == [
        "  Burst                              300,000 of 300,000 left, until Wed 25 Nov 2026"
    ]


def test_the_adjust_button_asks_for_an_amount_and_a_comment_then_approves_that(
    dispatcher, consoles, org
):
    reply = ask(dispatcher, consoles, "ann", "request 80k launch")
    deliver(consoles, org, reply.notices[0])
    consoles["mia"].seen()
    consoles["mia"].will_type("30k", "start with this")
    consoles["mia"].chat.handle("press 3")
    answer = consoles["mia"].seen()
    assert "Amount (tokens) [80000]:" in answer
    assert "Mia Manager approved 30,000 tokens" in answer
    assert 'Comment: "start with this"' in answer
    consoles["ann"].chat.handle("balance")
    assert burst_lines(consoles["ann"].seen()) == [
        "  Burst                              30,000 of 30,000 left, until Mon 30 Nov 2026"
    ]


def test_the_adjust_form_is_refused_to_bystanders_and_checks_the_amount(dispatcher, consoles, org):
    reply = ask(dispatcher, consoles, "ann", "request 80k launch")
    adjust = reply.notices[0].reply.buttons[2]
    bystander = dispatcher.handle_action(
        IncomingAction("console", "bob@acme.test", adjust.action_id, adjust.value)
    )
    assert bystander.form is None and bystander.template == "request_refused"
    asked = dispatcher.handle_action(
        IncomingAction("console", "mia@acme.test", adjust.action_id, adjust.value)
    )
    for typed, template in (
        ({"amount": "lots"}, "usage_error"),
        ({"amount": "90k"}, "request_refused"),
    ):
        answer = dispatcher.handle_action(
            IncomingAction(
                "console", "mia@acme.test", asked.form.submit_action_id, asked.form.value, typed
            )
        )
        assert answer.template == template
    consoles["ann"].chat.handle("request list")
    assert "waiting on Mia Manager" in consoles["ann"].seen()


def test_request_cancel_updates_the_approvers_message_and_stops_decisions(
    dispatcher, consoles, org
):
    reply = ask(dispatcher, consoles, "ann", "request 50k launch")
    consoles["ann"].seen()
    cancelled = ask(dispatcher, consoles, "ann", "request cancel 1")
    assert "Request #1 cancelled" in consoles["ann"].seen()
    (update,) = cancelled.notices
    assert deliver(consoles, org, update) == "mia"
    assert "was withdrawn by Ann Analyst" in consoles["mia"].seen()

    deliver(consoles, org, reply.notices[0])
    consoles["mia"].seen()
    consoles["mia"].chat.handle("press 1")
    assert "was cancelled by Ann Analyst" in consoles["mia"].seen()

    ask(dispatcher, consoles, "bob", "request cancel 1")
    assert "There is no request #1 of yours" in consoles["bob"].seen()


def test_bad_requests_are_answered_with_what_to_fix(dispatcher, consoles, org):
    ask(dispatcher, consoles, "ann", "request 2M big --project nope")
    answer = consoles["ann"].seen()
    assert "more than one request may ask for (1,000,000)" in answer
    assert "There is no project called nope" in answer
    ask(dispatcher, consoles, "ann", "request fifty launch")
    assert "is not an amount of tokens" in consoles["ann"].seen()
    ask(dispatcher, consoles, "ann", "request")
    assert "usage: request AMOUNT REASON" in consoles["ann"].seen()


def test_team_shows_the_pool_each_reports_balance_and_requests_awaiting_the_manager(
    dispatcher, consoles, org
):
    ask(dispatcher, consoles, "ann", "request 50k launch")
    ask(dispatcher, consoles, "mia", "team")
    team = consoles["mia"].seen()
    assert "Team pool (Marketing): 5,000,000 of 5,000,000 left" in team
    assert "Ann Analyst" in team and "Bob Builder" in team
    assert '#1 Ann Analyst: 50,000 tokens, "launch" (manager step' in team

    ask(dispatcher, consoles, "ann", "team")
    assert "`team` is for managers" in consoles["ann"].seen()
