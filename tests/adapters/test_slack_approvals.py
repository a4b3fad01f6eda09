"""Burst request approvals over the real Slack protocol: a signed `/tokens request`, the
approval DM reaching the fake Web API with its buttons, signed block_actions clicks back, and
what each click leaves in the database. Nothing is mocked (see slack_fakes.py)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select, update

from bot.core.presenters.requests import reminder_notices
from bot.outbox import MAX_ATTEMPTS, deliver_pending
from bot.slack import slack_deliverer
from budgets.ledger import verify
from budgets.requests import nudges_due
from storage.models import AuditEntry, Grant, GrantBalance, OutboxMessage, Person
from tests.adapters.slack_fakes import WAIT_SECONDS
from tests.unit.core.payload_checks import block_kit_problems

APPROVE = "Approve"
ADJUST = "Approve different amount / comment"


def buttons(call):
    return [
        (e["text"]["text"], e["action_id"], e["value"])
        for block in call.blocks
        if block["type"] == "actions"
        for e in block["elements"]
    ]


def dm(slack, channel, containing, count=1):
    """The `count`-th chat.postMessage to a DM channel whose text contains `containing`."""
    return slack.fake.wait_for(
        "chat.postMessage",
        where=lambda c: c.get("channel") == channel and containing in c.text,
        count=count,
    )


def ask(slack, text, user="UANN"):
    sent = slack.command(text, user=user)
    assert sent.status == 200
    confirmation = slack.reply_to(sent)
    slack.drain()
    return confirmation


def press(slack, message, label, user, channel):
    """A signed click on a button of a DM tokenbot sent; returns what reached response_url."""
    sent = slack.click_button(message, label, user=user, channel=channel, is_ephemeral=False)
    assert sent.status == 200
    answer = slack.reply_to(sent)
    slack.drain()
    return answer


def burst_grants(services):
    with services.db.read() as session:
        assert verify(session) == []
        return session.execute(
            select(Grant.owner_id, Grant.amount, GrantBalance.remaining)
            .join(GrantBalance, GrantBalance.grant_id == Grant.id)
            .where(Grant.kind == "burst")
        ).all()


def approvals_audited(services):
    with services.db.read() as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "request.approved")
        )


def test_a_slash_command_request_reaches_the_manager_as_a_dm_with_buttons(slack, org):
    confirmation = ask(slack, "request 50k launch campaign")
    assert confirmation["response_type"] == "ephemeral"
    assert "Request #1 sent: 50,000 tokens" in confirmation.text

    message = dm(slack, "DMIA", "Burst request #1")
    assert block_kit_problems(message.params) == []
    assert "Ann Analyst" in message.text and "launch campaign" in message.text
    assert "Recent efficiency" in message.text
    assert buttons(message) == [
        (APPROVE, "request.approve", "1:0"),
        ("Deny", "request.deny", "1:0"),
        (ADJUST, "request.adjust", "1:0"),
    ]
    # The request is private to the requester and the approver: nothing went to a channel.
    assert [c["channel"] for c in slack.fake.calls_to("chat.postMessage")] == ["DMIA"]


def test_the_managers_click_credits_the_grant_once_and_replaces_the_message(slack, services, org):
    ask(slack, "request 50k launch")
    message = dm(slack, "DMIA", "Burst request #1")

    answer = press(slack, message, APPROVE, "UMIA", "DMIA")
    assert answer["replace_original"] is True
    assert "Approved: request #1 from Ann Analyst" in answer.text
    assert "Mia Manager approved 50,000 tokens on Wed 18 Nov 2026 10:00 UTC" in answer.text
    assert buttons(answer) == []  # the decided message has no buttons left
    assert block_kit_problems(answer.params) == []
    assert "50,000 burst tokens are in your balance" in dm(slack, "DANN", "approved").text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 50_000, 50_000)]

    # A second click on the same message (a double click, or Slack redelivering it).
    again = press(slack, message, APPROVE, "UMIA", "DMIA")
    assert "already approved by Mia Manager on Wed 18 Nov 2026 10:00 UTC" in again.text
    assert again["replace_original"] is False
    assert burst_grants(services) == [(org["ann@acme.test"].id, 50_000, 50_000)]
    assert approvals_audited(services) == 1

    balance = slack.reply_to(slack.command("balance", user="UANN"))
    assert "50,000 of 50,000 left" in balance.text


def test_a_bystanders_click_is_refused_privately_and_changes_nothing(slack, services, org):
    ask(slack, "request 50k launch")
    message = dm(slack, "DMIA", "Burst request #1")
    answer = press(slack, message, APPROVE, "UBOB", "DBOB")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "You can't decide this request" in answer.text
    assert "waiting on Mia Manager (manager)" in answer.text
    assert burst_grants(services) == []
    assert (
        "waiting on Mia Manager" in slack.reply_to(slack.command("request list", user="UANN")).text
    )


def test_approving_your_own_request_is_refused(slack, services, org):
    ask(slack, "request 50k launch")
    message = dm(slack, "DMIA", "Burst request #1")
    answer = press(slack, message, APPROVE, "UANN", "DANN")
    assert "You can't decide your own request #1" in answer.text
    assert burst_grants(services) == []


def test_a_click_on_an_expired_request_is_refused_and_the_requester_told(
    slack, services, org, clock
):
    ask(slack, "request 50k launch")
    message = dm(slack, "DMIA", "Burst request #1")
    clock.advance(hours=services.policy.approvals.expire_after_hours)
    answer = press(slack, message, APPROVE, "UMIA", "DMIA")
    assert "Request #1 expired" in answer.text
    assert "expired" in dm(slack, "DANN", "expired").text
    assert burst_grants(services) == []


def test_the_two_step_finance_path_grants_once_after_both_approvals(slack, services, org):
    confirmation = ask(slack, "request 300k launch")
    assert "then Finn Finance (finance)" in confirmation.text
    manager_message = dm(slack, "DMIA", "Burst request #1")

    step = press(slack, manager_message, APPROVE, "UMIA", "DMIA")
    assert "it now waits on Finn Finance (finance)" in step.text
    assert burst_grants(services) == []
    finance_message = dm(slack, "DFIN", "Burst request #1")
    assert "Already approved at the manager step by Mia Manager" in finance_message.text
    assert buttons(finance_message)[0] == (APPROVE, "request.approve", "1:1")
    assert "it now goes to Finn Finance" in dm(slack, "DANN", "Finn Finance").text

    # The manager's old button is stale now; the finance approver's is the live one.
    stale = press(slack, manager_message, APPROVE, "UFIN", "DFIN")
    assert "This message is out of date" in stale.text
    assert burst_grants(services) == []

    final = press(slack, finance_message, APPROVE, "UFIN", "DFIN")
    assert "Finn Finance approved 300,000 tokens" in final.text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 300_000, 300_000)]
    assert approvals_audited(services) == 1


def test_two_simultaneous_signed_clicks_give_one_grant(slack, services, org):
    ask(slack, "request 50k launch")
    message = dm(slack, "DMIA", "Burst request #1")
    clickers = [("UMIA", "DMIA"), ("UCEO", "DCEO")] * 3
    barrier = threading.Barrier(len(clickers))
    sent = [None] * len(clickers)

    def click(index, user, channel):
        barrier.wait(timeout=WAIT_SECONDS)
        sent[index] = slack.click_button(
            message, APPROVE, user=user, channel=channel, is_ephemeral=False
        )

    threads = [
        threading.Thread(target=click, args=(i, user, channel))
        for i, (user, channel) in enumerate(clickers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS * 2)
    assert all(s is not None and s.status == 200 for s in sent)
    answers = [slack.reply_to(s) for s in sent]
    slack.drain()

    assert sum("Approved: request #1" in a.text for a in answers) == 1
    assert sum("was already approved by" in a.text for a in answers) == len(clickers) - 1
    assert burst_grants(services) == [(org["ann@acme.test"].id, 50_000, 50_000)]
    assert approvals_audited(services) == 1
    told = [c for c in slack.fake.calls_to("chat.postMessage") if c["channel"] == "DANN"]
    assert len(told) == 1 and "50,000 burst tokens are in your balance" in told[0].text


def test_a_different_amount_and_a_comment_go_through_a_modal(slack, services, org):
    ask(slack, "request 80k launch")
    message = dm(slack, "DMIA", "Burst request #1")
    click = slack.click_button(message, ADJUST, user="UMIA", channel="DMIA", is_ephemeral=False)
    opened = slack.fake.wait_for("views.open")
    view = opened["view"]
    assert view["callback_id"] == "request.adjust_submit"
    assert block_kit_problems(view) == []
    assert (
        slack.submit(view, {"amount": "30k", "comment": "start small"}, user="UMIA").status == 200
    )
    answer = slack.reply_to(click)  # the approval message the button was on
    slack.drain()
    assert answer["replace_original"] is True
    assert "Mia Manager approved 30,000 tokens" in answer.text and "start small" in answer.text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 30_000, 30_000)]


def test_a_bystander_pressing_the_adjust_button_gets_no_modal(slack, services, org):
    ask(slack, "request 80k launch")
    message = dm(slack, "DMIA", "Burst request #1")
    sent = slack.click_button(message, ADJUST, user="UBOB", channel="DBOB", is_ephemeral=False)
    assert "You can't decide this request" in slack.reply_to(sent).text
    slack.drain()
    assert slack.fake.calls_to("views.open") == []


def test_an_admin_decision_updates_the_managers_message_in_place(slack, services, org):
    ask(slack, "request 50k launch")
    message = dm(slack, "DMIA", "Burst request #1")
    answer = press(slack, message, APPROVE, "UCEO", "DCEO")
    assert "Cleo Chief (as admin) approved 50,000 tokens" in answer.text
    updated = slack.fake.wait_for("chat.update")
    assert (updated["channel"], updated["ts"]) == (
        message.response["channel"],
        message.response["ts"],
    )
    assert "(as admin)" in updated.text
    assert buttons(updated) == []
    assert burst_grants(services) == [(org["ann@acme.test"].id, 50_000, 50_000)]


def test_cancelling_from_slack_updates_the_approval_message_and_stops_clicks(slack, services, org):
    ask(slack, "request 50k launch")
    message = dm(slack, "DMIA", "Burst request #1")
    cancelled = slack.reply_to(slack.command("request cancel 1", user="UANN"))
    slack.drain()
    assert "Request #1 cancelled" in cancelled.text
    updated = slack.fake.wait_for("chat.update")
    assert updated["ts"] == message.response["ts"]
    assert "withdrawn by Ann Analyst" in updated.text
    answer = press(slack, message, APPROVE, "UMIA", "DMIA")
    assert "was cancelled by Ann Analyst" in answer.text
    assert burst_grants(services) == []


def test_a_reminder_is_a_new_dm_and_deciding_on_it_closes_the_first_message_too(
    slack, services, org, clock
):
    ask(slack, "request 50k launch")
    first = dm(slack, "DMIA", "Burst request #1")
    clock.advance(hours=services.policy.approvals.nudge_after_hours)
    with services.db.unit_of_work() as uow:
        reminded = nudges_due(uow.session, services.policy, clock())
        reminders = reminder_notices(uow.session, services.policy, reminded, clock())
        uow.commit()
    deliverer = slack_deliverer(services)
    assert [deliverer.deliver(n) for n in reminders] == [True]
    reminder = dm(slack, "DMIA", "Reminder: Burst request #1")
    assert reminder.response["ts"] != first.response["ts"]  # posted anew, so Slack notifies

    answer = press(slack, reminder, APPROVE, "UMIA", "DMIA")
    assert "Approved: request #1" in answer.text
    updated = slack.fake.wait_for("chat.update", where=lambda c: c["ts"] == first.response["ts"])
    assert buttons(updated) == [] and "Approved" in updated.text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 50_000, 50_000)]


def test_home_refreshes_coalesce_while_one_is_in_flight_and_the_last_shows_everything(slack, org):
    """Each request refreshes the requester's and the manager's App Home. While a refresh is
    in flight, further changes mark the home stale instead of queueing a refresh each: one
    more publish follows, built after the last change (a manager whose team files a burst of
    requests is not sent a whole dashboard per request)."""

    def publishes(user):
        return [c for c in slack.fake.calls_to("views.publish") if c.get("user_id") == user]

    slack.fake.hold("views.publish")
    for n, user in enumerate(["UANN", "UBOB", "UANN", "UBOB"]):
        sent = slack.command(f"request 10k burst item {n}", user=user)
        assert sent.status == 200
        slack.reply_to(sent)  # answered while the first refreshes are still held
    # Every command's work is done but the held refreshes (each asked for its refreshes).
    surface = slack.surface
    deadline = time.monotonic() + WAIT_SECONDS
    while len(surface.lazy.tasks) > len(surface.home_refreshes):
        assert time.monotonic() < deadline, "the commands' work did not finish"
        time.sleep(0.01)
    slack.fake.release("views.publish")
    slack.drain()

    manager = publishes("UMIA")
    # The first refresh (held) and one more for the three requests that came meanwhile.
    assert len(manager) == 2
    waiting = manager[-1].blocks_text.split("Awaiting your decision")[1]
    assert all(f"burst item {n}" in waiting for n in range(4))
    assert len(publishes("UANN")) <= 2 and len(publishes("UBOB")) <= 2


def test_an_approval_for_an_approver_slack_cannot_reach_yet_waits_and_the_requester_and_admins_hear(
    slack, services, org
):
    """Mia is not linked to Slack yet: her approval DM used to be dropped ("reached no
    platform"). It waits in the outbox until she can be reached, Ann and the admins are told,
    and it reaches Mia once she is linked."""
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person)
            .where(Person.email == "mia@acme.test")
            .values(slack_user_id=None, teams_user_id=None)
        )
        uow.commit()
    ask(slack, "request 50k launch campaign")
    told_ann = dm(slack, "DANN", "Mia Manager")
    told_admin = dm(slack, "DCEO", "Mia Manager")
    for told in (told_ann, told_admin):
        assert "can't reach" in told.text and "#1" in told.text
    assert block_kit_problems(told_admin.params) == []
    assert buttons(told_ann) == []
    assert [label for label, _action, _value in buttons(told_admin)][:2] == [APPROVE, "Deny"]
    with services.db.read() as session:
        waiting = session.scalars(select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None)))
        assert [row.template for row in waiting] == ["request_approval"]

    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person).where(Person.email == "mia@acme.test").values(slack_user_id="UMIA")
        )
        uow.commit()
    services.clock.advance(minutes=5)
    assert deliver_pending(services, [slack_deliverer(services)]).delivered == 1
    approval = dm(slack, "DMIA", "Ann Analyst")
    assert APPROVE in [label for label, _action, _value in buttons(approval)]


def test_a_manager_decides_a_pending_request_from_team_and_from_the_app_home(slack, services, org):
    """An approval DM that never arrived (or scrolled away) is not the only way to decide:
    `team` lists pending requests with their buttons, and so does the App Home."""
    ask(slack, "request 50k launch campaign")
    ask(slack, "request 20k second try")
    team = slack.reply_to(slack.command("team", user="UMIA"))
    labels = [label for label, _action, _value in buttons(team)]
    assert labels == [
        *("Approve #1", "Deny #1", "Adjust #1", "Approve #2", "Deny #2", "Adjust #2"),
        "Allocate a share",  # a member's share of the team pool (issue 23)
    ]
    assert block_kit_problems(team.params) == []

    home = slack.fake.wait_for("views.publish", where=lambda c: c.get("user_id") == "UMIA")
    home_buttons = [
        (e["text"]["text"], e["action_id"])
        for block in home.blocks
        if block["type"] == "actions"
        for e in block["elements"]
    ]
    assert ("Approve #1", "request.approve:1") in home_buttons
    assert len(home.blocks) <= 100

    slack.click_button(team, "Approve #1", user="UMIA", channel="DMIA", is_ephemeral=True)
    slack.drain()
    assert [g.amount for g in burst_grants(services)] == [50_000]


def test_a_waiting_approval_reaches_the_approver_when_they_first_talk_to_tokenbot_however_late(
    slack, services, org
):
    """Mia is in Slack but not yet linked; her approval waits past every retry of the outbox.
    When she first talks to tokenbot (linked by her email), what waits for her is due again."""
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person)
            .where(Person.email == "mia@acme.test")
            .values(slack_user_id=None, teams_user_id=None)
        )
        uow.commit()
    ask(slack, "request 50k launch campaign")
    deliverer = slack_deliverer(services)
    for _attempt in range(MAX_ATTEMPTS + 1):
        services.clock.advance(hours=7)
        assert deliver_pending(services, [deliverer]).delivered == 0

    slack.fake.add_user("U0MIA", "mia@acme.test", "Mia Manager")
    slack.reply_to(slack.command("help", user="U0MIA"))
    slack.drain()
    assert deliver_pending(services, [deliverer]).delivered == 1
    approval = dm(slack, "D0MIA", "Ann Analyst")
    assert APPROVE in [label for label, _action, _value in buttons(approval)]
