"""The prompt library over the real wire protocols: on Slack a signed `/tokens templates
propose` opens a modal (views.open) whose submission proposes, the owner's DM carries Approve /
Send back buttons, and `templates use` opens a modal of the variables whose answer is
ephemeral; on Teams the same steps go through form cards and Action.Submit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from budgets.policy import Policy, load_policy
from tests.adapters.teams_fakes import personal_conversation
from tests.adapters.test_slack_approvals import buttons, dm
from tests.unit.core.payload_checks import adaptive_card_problems, block_kit_problems

TEXT = "Write an SEO brief for {{ topic }}.\n{% if notes %}Notes: {{ notes }}{% endif %}"
FIELDS = {
    "template_id": "seo-brief-v4",
    "name": "SEO brief v4",
    "use_case": "seo-brief",
    "description": "Briefs from a topic",
    "text": TEXT,
}


@pytest.fixture
def policy() -> Policy:
    base = load_policy()
    use_cases = dict(base.use_cases)
    use_cases["seo-brief"] = replace(use_cases["seo-brief"], owner="mia@acme.test")
    return replace(base, use_cases=use_cases)


def opened_view(slack, count=1):
    return slack.fake.wait_for("views.open", count=count)["view"]


def test_on_slack_propose_approve_and_use_each_through_modals_and_buttons(slack, org):
    sent = slack.command("templates propose", user="UANN")
    view = opened_view(slack)
    assert view["callback_id"] == "templates.propose"
    assert block_kit_problems(view) == []
    assert [b["block_id"] for b in view["blocks"]] == list(FIELDS)
    slack.submit(view, FIELDS, user="UANN")
    confirmation = slack.reply_to(sent)
    assert confirmation["response_type"] == "ephemeral"
    assert "Proposed SEO brief v4 [seo-brief-v4] for seo-brief." in confirmation.text

    review = dm(slack, "DMIA", "proposes the prompt template SEO brief v4")
    assert block_kit_problems(review.params) == []
    assert "Write an SEO brief for {{ topic }}." in review.text  # the text, shown as text
    click = slack.click_button(review, "Approve", user="UMIA", channel="DMIA", is_ephemeral=False)
    answer = slack.reply_to(click)
    assert answer["replace_original"] is True
    assert "Approved: SEO brief v4 [seo-brief-v4] version 1, by Mia Manager" in answer.text
    told = dm(slack, "DANN", "Mia Manager approved your prompt template SEO brief v4")
    assert buttons(told) == [("Use it", "templates.use", "seo-brief-v4")]

    used = slack.command("templates use seo-brief-v4", user="UBOB")
    form = opened_view(slack, count=2)
    assert form["callback_id"] == "templates.use_submit"
    assert block_kit_problems(form) == []
    assert [b["block_id"] for b in form["blocks"]] == ["var_topic", "var_notes"]
    slack.submit(form, {"var_topic": "trail shoes", "var_notes": "short"}, user="UBOB")
    filled = slack.reply_to(used)
    assert filled["response_type"] == "ephemeral"
    assert "Write an SEO brief for trail shoes." in filled.text and "Notes: short" in filled.text
    assert "Estimate with gpt-4o:" in filled.text


def test_on_slack_send_back_asks_for_a_comment_in_a_modal(slack, org):
    sent = slack.command("templates propose", user="UANN")
    slack.submit(opened_view(slack), FIELDS, user="UANN")
    slack.reply_to(sent)
    review = dm(slack, "DMIA", "proposes the prompt template")
    click = slack.click_button(
        review, "Send back with a comment", user="UMIA", channel="DMIA", is_ephemeral=False
    )
    modal = opened_view(slack, count=2)
    assert modal["callback_id"] == "templates.send_back_submit"
    slack.submit(modal, {"comment": "Add a word limit"}, user="UMIA")
    answer = slack.reply_to(click)
    assert "Sent back: SEO brief v4" in answer.text and "Add a word limit" in answer.text
    dm(slack, "DANN", "sent your prompt template SEO brief v4 [seo-brief-v4] version 1 back: Add")


def test_on_slack_a_sandbox_escape_is_refused_and_stores_nothing(slack, services, org):
    sent = slack.command("templates propose", user="UANN")
    slack.submit(
        opened_view(slack), {**FIELDS, "text": "{{ topic.__class__.__mro__ }}"}, user="UANN"
    )
    answer = slack.reply_to(sent)
    assert "Nothing was stored: the template reads an attribute" in answer.text
    assert slack.fake.calls_to("chat.postMessage") == []


ANN, MIA, BOB = "29:ann", "29:mia", "29:bob"


def test_on_teams_propose_approve_and_use_each_through_form_cards(teams, org):
    teams.say(MIA, "hi")  # Mia has a 1:1 chat with tokenbot
    teams.say(ANN, "templates propose")
    form = teams.fake.last_message(personal_conversation(ANN))
    assert adaptive_card_problems(form.card) == []
    inputs = [b["id"] for b in form.card["body"] if b["type"].startswith("Input.")]
    assert inputs == list(FIELDS)
    teams.press(form, "Propose", ANN, **FIELDS)
    assert "Proposed SEO brief v4" in teams.fake.last_message(personal_conversation(ANN)).card_text

    review = teams.fake.last_message(personal_conversation(MIA))
    assert "proposes the prompt template SEO brief v4" in review.card_text
    assert adaptive_card_problems(review.card) == []
    teams.press(review, "Approve", MIA)
    (updated,) = [
        c for c in teams.fake.calls_of("update") if c.activity_id == review.response["id"]
    ]
    assert "Approved: SEO brief v4 [seo-brief-v4] version 1, by Mia Manager" in updated.card_text

    teams.say(BOB, "templates use seo-brief-v4")
    fill = teams.fake.last_message(personal_conversation(BOB))
    assert [b["id"] for b in fill.card["body"] if b["type"].startswith("Input.")] == [
        "var_topic",
        "var_notes",
    ]
    teams.press(fill, "Fill in", BOB, var_topic="trail shoes", var_notes="")
    filled = teams.fake.last_message(personal_conversation(BOB))
    assert "Write an SEO brief for trail shoes." in filled.card_text
    assert "Notes:" not in filled.card_text
