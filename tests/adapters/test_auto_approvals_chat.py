"""Auto-approval rules over the real chat protocols (issue 23): a request a rule admits is
answered "approved by the rule" and the manager gets a notice with an Undo button (a Slack
block action, a Teams Adaptive Card action) that takes back the unused part once; a click by
anyone else changes nothing. A redelivered Teams activity makes one request."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from budgets.policy import Policy
from storage.models import AuditEntry, BurstRequest
from tests.adapters.teams_fakes import message, personal_conversation
from tests.adapters.test_slack_approvals import ask, burst_grants, buttons, dm, press
from tests.integration.test_auto_approvals import RULES, with_rules
from tests.unit.core.payload_checks import adaptive_card_problems, block_kit_problems

ANN, MIA, BOB = "29:ann", "29:mia", "29:bob"


@pytest.fixture
def policy() -> Policy:
    return with_rules(RULES)


def undo_audits(services):
    with services.db.read() as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "request.auto_undone")
        )


def test_slack_a_rule_approves_at_once_and_the_managers_undo_revokes_once(slack, services, org):
    confirmation = ask(slack, "request 30k launch copy")
    assert "Request #1 approved at once by the rule small" in confirmation.text
    assert "Mia Manager (manager) has been told and may undo it until" in confirmation.text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 30_000, 30_000)]

    notice = dm(slack, "DMIA", "Approved by the rule small")
    assert block_kit_problems(notice.params) == []
    assert buttons(notice) == [("Undo", "request.undo", "1")]

    refused = press(slack, notice, "Undo", "UBOB", "DMIA")
    assert "There is no rule-approved request #1 you can undo" in refused.text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 30_000, 30_000)]

    undone = press(slack, notice, "Undo", "UMIA", "DMIA")
    assert undone["replace_original"] is True
    assert "Undone: request #1 from Ann Analyst" in undone.text
    assert buttons(undone) == []
    assert "was undone by Mia Manager" in dm(slack, "DANN", "was undone").text
    assert burst_grants(services) == [(org["ann@acme.test"].id, 30_000, 0)]

    again = press(slack, notice, "Undo", "UMIA", "DMIA")
    assert "was already undone by Mia Manager" in again.text
    assert undo_audits(services) == 1


def test_slack_a_request_no_rule_takes_shows_the_manager_the_misses(slack, org):
    ask(slack, "request 120k launch copy")
    message = dm(slack, "DMIA", "Burst request #1")
    assert block_kit_problems(message.params) == []
    assert "No auto-approval rule took it" in message.text
    assert "small: 120,000 tokens is above its 50,000" in message.text
    assert [b[0] for b in buttons(message)][:2] == ["Approve", "Deny"]


def test_teams_undo_is_an_adaptive_card_action_that_updates_the_card_once(teams, services, org):
    teams.say(MIA, "hi")  # Mia has a 1:1 chat with tokenbot
    teams.fake.clear()
    teams.say(ANN, "request 30k launch copy")
    told = teams.fake.last_message(personal_conversation(ANN))
    assert "approved at once by the rule small" in told.card_text
    card = teams.fake.last_message(personal_conversation(MIA))
    assert adaptive_card_problems(card.body["attachments"][0]) == []
    assert "Approved by the rule small" in card.card_text
    assert [(a["title"], a["data"]) for a in card.card["actions"]] == [
        ("Undo", {"action_id": "request.undo", "value": "1"})
    ]

    teams.press(card, "Undo", BOB)
    assert "There is no rule-approved request #1 you can undo" in (
        teams.fake.last_message().card_text
    )
    assert burst_grants(services) == [(org["ann@acme.test"].id, 30_000, 30_000)]

    teams.fake.clear()
    teams.press(card, "Undo", MIA)
    (updated,) = [c for c in teams.fake.calls_of("update") if c.activity_id == card.response["id"]]
    assert "Undone: request #1" in updated.card_text
    assert "actions" not in updated.card
    assert burst_grants(services) == [(org["ann@acme.test"].id, 30_000, 0)]
    teams.press(card, "Undo", MIA)
    assert "already undone" in teams.fake.last_message().card_text
    assert undo_audits(services) == 1


def test_teams_a_redelivered_request_activity_makes_one_request(teams, services, org):
    activity = message(teams.fake.service_url, ANN, "request 30k launch copy")
    assert teams.post(activity).status in (200, 201)
    assert teams.post(activity).status in (200, 201)  # the Bot Connector retries it
    assert "You already sent this request" in teams.fake.last_message().card_text
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(BurstRequest)) == 1
    assert burst_grants(services) == [(org["ann@acme.test"].id, 30_000, 30_000)]
