"""Team-pool shares (issue #23) on Teams over the real protocol: `team allocate` answers with an
Adaptive Card form whose Action.Submit (posted back to /api/messages) sets the share, the
"Allocate a share" button on `team`, a bystander's press refused, the member's message, and the
`balance` card's share line, through the fake Bot Connector (teams_fakes.py)."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import TeamPoolShare
from tests.adapters.teams_fakes import personal_conversation
from tests.unit.core.payload_checks import adaptive_card_problems

ANN, MIA, BOB = "29:ann", "29:mia", "29:bob"
MIA_CHAT = personal_conversation(MIA)


def allocations(services) -> list[int | None]:
    with services.db.read() as s:
        return s.scalars(
            select(TeamPoolShare.allocation).where(TeamPoolShare.allocation.is_not(None))
        ).all()


def test_team_allocate_answers_with_a_form_card_whose_submission_sets_the_share(
    teams, services, org
):
    teams.say(BOB, "hi")  # Bob has a 1:1 chat: the notice of his share reaches him there
    teams.say(MIA, "team allocate")
    form = teams.fake.last_message(MIA_CHAT)
    assert adaptive_card_problems(form.card) == []
    inputs = {b["id"]: b for b in form.card["body"] if b["type"].startswith("Input.")}
    assert list(inputs) == ["email", "amount"]
    assert all(i["isRequired"] for i in inputs.values())
    assert form.button("Allocate")["data"]["action_id"] == "team.allocate_submit"

    teams.press(form, "Allocate", MIA, email="bob@acme.test", amount="750k")
    answered = [
        c
        for c in teams.fake.calls
        if c.conversation_id == MIA_CHAT and "Bob Builder's share" in c.card_text
    ]
    assert answered and "is now 750,000 tokens" in answered[-1].card_text
    told = teams.fake.last_message(personal_conversation(BOB))
    assert "Mia Manager set your share of the Marketing pool for 2026-11 to 750,000" in (
        told.card_text
    )
    assert allocations(services) == [750_000]


def test_the_allocate_button_on_the_team_card_is_for_managers_only(teams, services, org):
    teams.say(MIA, "team")
    card = teams.fake.last_message(MIA_CHAT)
    assert adaptive_card_problems(card.card) == []
    teams.press(card, "Allocate a share", BOB)  # Bob presses it where he sees it
    refused = teams.fake.last_message(MIA_CHAT)
    assert refused.body["recipient"]["id"] == BOB
    assert "Only a manager" in refused.card_text
    assert not [b for b in refused.card["body"] if b["type"].startswith("Input.")]

    teams.press(card, "Allocate a share", MIA)
    form = teams.fake.last_message(MIA_CHAT)
    assert form.button("Allocate")["data"]["action_id"] == "team.allocate_submit"
    assert allocations(services) == []


def test_an_over_allocation_is_refused_on_teams_with_the_figures(teams, services, org):
    teams.say(MIA, "team allocate ann@acme.test 5m")
    teams.say(MIA, "team allocate bob@acme.test 1")
    refused = teams.fake.last_message(MIA_CHAT)
    assert (
        "1 tokens for Bob Builder is more than the Marketing pool has unallocated for 2026-11: "
        "0 (pool 5,000,000 - allocated to others 5,000,000)" in refused.card_text
    )
    assert allocations(services) == [5_000_000]


def test_the_balance_card_shows_the_team_pool_share(teams, services, org):
    teams.say(MIA, "team allocate ann@acme.test 2m")
    teams.say(ANN, "balance")
    card = teams.fake.last_message(personal_conversation(ANN))
    assert adaptive_card_problems(card.card) == []
    assert "Team pool: your share 2,000,000 of 5,000,000 left" in card.card_text
