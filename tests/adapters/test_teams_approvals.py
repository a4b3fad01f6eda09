"""Burst request approvals on Teams, over the real protocol: the approval card delivered to the
manager's 1:1 chat through the fake Bot Connector, Action.Submit clicks (and Action.Execute
invokes) posted back to /api/messages, and what each click leaves in the database. The same
request data serves Slack and Teams: a Slack user's request is approved in Teams."""

from __future__ import annotations

from sqlalchemy import update

from bot.core.presenters.requests import created_notices
from budgets.requests import create_request
from storage.models import Person
from tests.adapters.teams_fakes import CARD, personal_conversation
from tests.adapters.test_slack_approvals import approvals_audited, ask, burst_grants, dm
from tests.unit.core.payload_checks import adaptive_card_problems

ANN, MIA, BOB = "29:ann", "29:mia", "29:bob"
MIA_CHAT = personal_conversation(MIA)


def request_for_approval(teams, services, org, amount=50_000, reason="launch campaign"):
    """Ann asks (through the domain); the approval card reaches Mia's 1:1 chat on Teams."""
    teams.say(MIA, "hi")  # Mia has a 1:1 chat with tokenbot
    teams.fake.clear()
    with services.db.unit_of_work() as uow:
        ann = uow.session.get(Person, org["ann@acme.test"].id)
        created = create_request(
            uow.session, services.policy, ann, amount, reason, now=services.clock()
        )
        (notice,) = created_notices(uow.session, services.policy, created, services.clock())
        uow.commit()
    assert teams.deliverer.deliver(notice) is True
    return teams.fake.last_message(MIA_CHAT)


def updates_of(teams, card_message):
    return [
        c for c in teams.fake.calls_of("update") if c.activity_id == card_message.response["id"]
    ]


def test_the_manager_gets_an_approval_card_with_the_request_and_buttons(teams, services, org):
    card = request_for_approval(teams, services, org)
    assert card.kind == "send" and card.conversation_id == MIA_CHAT
    assert adaptive_card_problems(card.body["attachments"][0]) == []
    assert card.body["attachments"][0]["contentType"] == CARD
    assert "Burst request #1 from Ann Analyst" in card.card_text
    assert "50,000 tokens" in card.card_text and "launch campaign" in card.card_text
    assert "Ann Analyst asks for 50,000 burst tokens" in card.summary
    actions = [(a["type"], a["title"], a["data"]) for a in card.card["actions"]]
    assert actions == [
        ("Action.Submit", "Approve", {"action_id": "request.approve", "value": "1:0"}),
        ("Action.Submit", "Deny", {"action_id": "request.deny", "value": "1:0"}),
        (
            "Action.Submit",
            "Approve different amount / comment",
            {"action_id": "request.adjust", "value": "1:0"},
        ),
    ]
    assert [a.get("style") for a in card.card["actions"]] == ["positive", "destructive", None]


def test_approving_updates_the_card_in_place_and_grants_once(teams, services, org):
    card = request_for_approval(teams, services, org)
    assert teams.press(card, "Approve", MIA).status == 201
    (updated,) = updates_of(teams, card)
    assert updated.conversation_id == MIA_CHAT
    assert "Approved: burst request #1" in updated.card_text
    assert "Mia Manager approved 50,000 tokens" in updated.card_text
    assert "actions" not in updated.card  # no buttons left to press
    assert burst_grants(services) == [(org["ann@acme.test"].id, 50_000, 50_000)]
    assert approvals_audited(services) == 1


def test_a_double_click_grants_once_and_says_who_approved_and_when(teams, services, org):
    card = request_for_approval(teams, services, org)
    teams.press(card, "Approve", MIA)
    teams.fake.clear()
    teams.press(card, "Approve", MIA)
    second = teams.fake.last_message(MIA_CHAT)
    assert "already approved by Mia Manager on Wed 18 Nov 2026 10:00" in second.card_text
    assert teams.fake.calls_of("update") == []  # the decided card stays as it is
    assert len(burst_grants(services)) == 1
    assert approvals_audited(services) == 1


def test_a_bystanders_click_is_refused_and_changes_nothing(teams, services, org):
    card = request_for_approval(teams, services, org)
    bystander = teams.press(card, "Approve", BOB)
    assert bystander.status == 201
    refusal = teams.fake.last_message()
    assert "You can't decide this request" in refusal.card_text
    assert "waiting on Mia Manager" in refusal.card_text
    assert teams.fake.calls_of("update") == []
    assert burst_grants(services) == []
    teams.press(card, "Approve", MIA)  # the manager still can
    assert len(burst_grants(services)) == 1


def test_the_requester_cannot_approve_their_own_request(teams, services, org):
    card = request_for_approval(teams, services, org)
    teams.press(card, "Approve", ANN)
    assert "You can't decide your own request #1" in teams.fake.last_message().card_text
    assert burst_grants(services) == []


def test_denying_updates_the_card_and_tells_the_requester(teams, services, org):
    card = request_for_approval(teams, services, org)
    teams.press(card, "Deny", MIA)
    (updated,) = updates_of(teams, card)
    assert "Denied: burst request #1" in updated.card_text
    told = teams.fake.last_message(personal_conversation(ANN))
    assert "was denied by Mia Manager" in told.card_text
    assert burst_grants(services) == []


def test_a_different_amount_is_asked_on_a_form_card_and_replaces_both_cards(teams, services, org):
    card = request_for_approval(teams, services, org)
    teams.press(card, "Approve different amount / comment", MIA)
    form = teams.fake.last_message(MIA_CHAT)
    inputs = {b["id"]: b for b in form.card["body"] if b["type"].startswith("Input.")}
    assert inputs["amount"]["value"] == "50000" and inputs["amount"]["isRequired"] is True
    assert inputs["comment"]["isMultiline"] is True
    assert form.button("Approve")["data"]["origin"] == card.response["id"]
    assert adaptive_card_problems(form.card) == []
    teams.press(form, "Approve", MIA, amount=30000, comment="half now")
    replaced = {c.activity_id: c for c in teams.fake.calls_of("update")}
    assert set(replaced) == {card.response["id"], form.response["id"]}
    for updated in replaced.values():
        assert "Mia Manager approved 30,000 tokens" in updated.card_text
        assert 'Comment: "half now"' in updated.card_text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 30_000, 30_000)]


def test_action_execute_returns_the_refreshed_card_in_the_invoke_response(teams, services, org):
    card = request_for_approval(teams, services, org)
    sent = teams.execute(card, "Approve", MIA)
    assert sent.status == 200
    answer = sent.json()
    assert answer["statusCode"] == 200 and answer["type"] == CARD
    assert adaptive_card_problems(answer["value"]) == []
    assert "Approved: burst request #1" in " ".join(
        b.get("text", "") for b in answer["value"]["body"]
    )
    assert len(updates_of(teams, card)) == 1  # and everyone's copy is replaced too
    again = teams.execute(card, "Approve", MIA).json()
    assert again["type"] == "application/vnd.microsoft.activity.message"
    assert "already approved by Mia Manager" in again["value"]
    assert len(burst_grants(services)) == 1


def test_a_card_that_is_not_ours_is_answered_with_501(teams, org):
    from tests.adapters.teams_fakes import execute

    activity = execute(teams.fake.service_url, MIA, {"verb": "x"}, "activity-1")
    assert teams.post(activity).status == 501


def test_a_slack_users_request_is_approved_by_a_teams_only_manager(slack, teams, services, org):
    """The same request data on both platforms: Ann asks with /tokens on Slack, Mia (on Teams
    only) approves the card in Teams, Ann hears back by Slack DM."""
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person).where(Person.email == "mia@acme.test").values(slack_user_id=None)
        )
        uow.session.execute(
            update(Person).where(Person.email == "ann@acme.test").values(teams_user_id=None)
        )
        uow.commit()
    teams.say(MIA, "hi")  # Mia met tokenbot on Teams
    confirmation = ask(slack, "request 50k launch campaign")
    assert "Request #1 sent: 50,000 tokens" in confirmation.text
    card = teams.fake.last_message(MIA_CHAT)
    assert "Burst request #1 from Ann Analyst" in card.card_text
    assert slack.fake.calls_to("chat.postMessage") == []  # nothing for Mia on Slack

    teams.press(card, "Approve", MIA)
    (updated,) = updates_of(teams, card)
    assert "Approved: burst request #1" in updated.card_text
    slack.drain()
    told = dm(slack, "DANN", "was approved by Mia Manager")
    assert "50,000 burst tokens are in your balance" in told.text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 50_000, 50_000)]
