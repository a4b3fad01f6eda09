"""Sample contexts for the team-pool allocation messages (issue #23), built by the presenters
from domain facts, so the samples cannot drift from what the commands send."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.core.presenters.team_shares import (
    allocated_reply,
    allocations_reply,
    form_reply,
    refused_reply,
)
from budgets.team_shares import (
    Allocated,
    AllocationRefused,
    MemberAllocation,
    TeamAllocations,
)

AT = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
ALLOCATED = Allocated(
    team="Marketing",
    period="2026-11",
    member_name="Bob <Builder> & Co",
    member_email="bob@acme.test",
    amount=1_000_000,
    previous=None,
    set_by="Mia Manager",
    pool_amount=5_000_000,
    allocated=1_500_000,
    drawn_by_others=800_000,
    at=AT,
)
TEAM = TeamAllocations(
    team="Marketing",
    period="2026-11",
    pool_amount=5_000_000,
    pool_remaining=4_100_000,
    members=(
        MemberAllocation("Ann Analyst", "ann@acme.test", 500_000, 120_000, "Mia Manager", AT),
        MemberAllocation("Bob Builder", "bob@acme.test", 1_000_000, 0, "Cleo Chief", AT),
    ),
    member_cap=2_000_000,
    drawn_by_others=300_000,
)


def _refusals() -> list[dict[str, Any]]:
    refusals = [
        AllocationRefused("not_allowed"),
        AllocationRefused("no_team", member="Ann Analyst"),
        AllocationRefused("no_pool", team="Marketing", period="2026-11"),
        AllocationRefused(
            "over_pool",
            team="Marketing",
            period="2026-11",
            member="Ann Analyst",
            amount=3_000_000,
            pool=5_000_000,
            allocated_to_others=1_500_000,
            drawn_by_others=800_000,
            unallocated=2_700_000,
        ),
    ]
    return [refused_reply(r).context for r in refusals]


TEAM_SHARE_SAMPLES: dict[str, Any] = {
    "team_allocate_form": form_reply("2026-11").context,
    "team_allocated": [
        allocated_reply(ALLOCATED, 2, 1).context,
        allocated_reply(replace(ALLOCATED, previous=400_000, drawn_by_others=0), 2, 1).context,
    ],
    "team_share_set": [n.reply.context for n in allocated_reply(ALLOCATED, 2, 1).notices],
    "team_allocation_refused": _refusals(),
    "team_allocations": [
        allocations_reply(
            [TEAM, replace(TEAM, members=(), member_cap=None, drawn_by_others=0)], "UTC"
        ).context,
        allocations_reply([], "UTC").context,
    ],
}
