"""Team-pool shares (issue #23) on Slack over the real protocol: `/tokens team allocate` with
arguments and as a modal (views.open, then a signed view_submission), the "Allocate a share"
button on `team`, a bystander's click refused without a modal, the member's DM, and refusals
that name their figures, against the fake Slack Web API (slack_fakes.py)."""

from __future__ import annotations

import json

from sqlalchemy import select

from storage.models import TeamPoolShare
from tests.adapters.test_slack_approvals import dm
from tests.unit.core.payload_checks import block_kit_problems


def opened_modal(slack) -> dict:
    view = slack.fake.wait_for("views.open")["view"]
    return view if isinstance(view, dict) else json.loads(view)


def allocations(services) -> list[int | None]:
    with services.db.read() as s:
        return s.scalars(
            select(TeamPoolShare.allocation).where(TeamPoolShare.allocation.is_not(None))
        ).all()


def test_team_allocate_opens_a_modal_whose_submission_sets_the_share(slack, services, org):
    sent = slack.command("team allocate", user="UMIA")
    view = opened_modal(slack)
    assert view["callback_id"] == "team.allocate_submit"
    assert block_kit_problems(view) == []
    assert [b["block_id"] for b in view["blocks"]] == ["email", "amount"]

    submitted = slack.submit(view, {"email": "bob@acme.test", "amount": "1m"}, user="UMIA")
    assert submitted.status == 200
    reply = slack.reply_to(sent)
    slack.drain()
    assert reply["response_type"] == "ephemeral"
    assert block_kit_problems(reply.params) == []
    assert "Bob Builder's share of the Marketing pool for 2026-11 is now 1,000,000" in reply.text
    told = dm(slack, "DBOB", "set your share")
    assert "Mia Manager set your share of the Marketing pool for 2026-11 to 1,000,000" in told.text
    assert allocations(services) == [1_000_000]


def test_the_allocate_button_on_team_opens_the_modal_for_the_manager_only(slack, services, org):
    team = slack.reply_to(slack.command("team", user="UMIA"))
    assert block_kit_problems(team.params) == []

    bystander = slack.click_button(
        team, "Allocate a share", user="UBOB", channel="DBOB", is_ephemeral=True
    )
    assert "Only a manager" in slack.reply_to(bystander).text
    slack.drain()
    assert slack.fake.calls_to("views.open") == []

    slack.click_button(team, "Allocate a share", user="UMIA", channel="DMIA", is_ephemeral=True)
    assert opened_modal(slack)["callback_id"] == "team.allocate_submit"


def test_a_forged_submission_from_a_member_is_refused_and_changes_nothing(slack, services, org):
    slack.command("team allocate", user="UMIA")
    view = opened_modal(slack)
    sent = slack.submit(view, {"email": "ann@acme.test", "amount": "5m"}, user="UBOB")
    assert sent.status == 200
    slack.drain()
    assert allocations(services) == []


def test_an_over_allocation_is_refused_with_the_figures(slack, services, org):
    slack.reply_to(slack.command("team allocate bob@acme.test 4m", user="UMIA"))
    refused = slack.reply_to(slack.command("team allocate ann@acme.test 2m", user="UMIA"))
    assert (
        "2,000,000 tokens for Ann Analyst is more than the Marketing pool has unallocated for "
        "2026-11: 1,000,000 (pool 5,000,000 - allocated to others 4,000,000)" in refused.text
    )
    assert allocations(services) == [4_000_000]


def test_balance_on_slack_shows_the_team_pool_share(slack, services, org):
    slack.reply_to(slack.command("team allocate ann@acme.test 1m", user="UMIA"))
    balance = slack.reply_to(slack.command("balance", user="UANN"))
    assert block_kit_problems(balance.params) == []
    assert "Team pool: your share 1,000,000 of 5,000,000 left" in balance.blocks_text
