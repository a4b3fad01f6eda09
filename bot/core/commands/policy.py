"""`policy`: the one-page policy in force, with its version (number, when, by whom)."""

from __future__ import annotations

from typing import Any

from bot.core.context import CommandContext
from bot.core.messages import Reply
from bot.core.registry import registry
from budgets.policy_store import VersionInfo
from budgets.reminders import zone_or


def version_context(info: VersionInfo | None, source: str) -> dict[str, Any]:
    """The version in force as the page shows it (JSON-safe); version 0 is the file."""
    if info is None or info.version == 0:
        return {"version": 0, "applied_at": None, "applied_by": None, "source": source}
    return {
        "version": info.version,
        "applied_at": info.applied_at.isoformat() if info.applied_at else None,
        "applied_by": info.applied_by,
        "source": info.source,
    }


@registry.command("policy", summary="The AI usage policy on one page", usage="policy", order=80)
def policy(ctx: CommandContext) -> Reply:
    return Reply(
        "policy",
        {
            "policy": ctx.policy,
            "version": version_context(ctx.services.policy_version, ctx.policy.source),
            "zone": zone_or(ctx.person.timezone, ctx.policy.periods.timezone),
        },
        private=False,
    )
