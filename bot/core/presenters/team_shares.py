"""Team-pool allocations (`budgets.team_shares`) as replies: the form, the allocation set (and
the member's notice), a refusal with its figures, and the list of a period's allocations.
Contexts are plain JSON values, so a notice can wait in the outbox."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.core.messages import Form, FormField, Notice, Reply
from bot.core.presenters.requests import to_plain
from budgets.team_shares import Allocated, AllocationRefused, TeamAllocations

ACTION_ALLOCATE = "team.allocate"
ACTION_ALLOCATE_SUBMIT = "team.allocate_submit"


def allocate_form(email: str = "", amount: str = "") -> Form:
    """The member and the amount: a Slack modal, a Teams card with inputs, console prompts."""
    return Form(
        title="Allocate a team share",
        fields=(
            FormField("email", "Member's email", initial=email),
            FormField(
                "amount", "Their share of the team pool this period (tokens)", initial=amount
            ),
        ),
        submit_action_id=ACTION_ALLOCATE_SUBMIT,
        value="",
        submit_label="Allocate",
    )


def form_reply(period: str) -> Reply:
    return Reply("team_allocate_form", {"period": period}, form=allocate_form())


def allocated_context(allocated: Allocated) -> dict[str, Any]:
    return to_plain({**asdict(allocated), "unallocated": allocated.unallocated})


def allocated_reply(allocated: Allocated, member_id: int, actor_id: int) -> Reply:
    """The allocation for the allocator; the member hears of it unless they set it themselves."""
    context = allocated_context(allocated)
    notices = (
        (Notice(member_id, Reply("team_share_set", context)),) if member_id != actor_id else ()
    )
    return Reply("team_allocated", context, notices=notices)


def refused_reply(refused: AllocationRefused) -> Reply:
    return Reply(
        "team_allocation_refused", {"code": refused.code, "facts": to_plain(refused.facts)}
    )


def allocations_reply(teams: list[TeamAllocations], zone: str) -> Reply:
    return Reply(
        "team_allocations",
        {
            "teams": [
                to_plain(
                    {
                        **asdict(team),
                        "allocated": team.allocated,
                        "drawn_by_others": team.drawn_by_others,
                        "unallocated": team.unallocated,
                        "members": [{**asdict(m), "left": m.left} for m in team.members],
                    }
                )
                for team in teams
            ],
            "zone": zone,
        },
    )
