"""`policy`: the one-page policy, rendered from the policy file people are held to."""

from __future__ import annotations

from bot.core.context import CommandContext
from bot.core.messages import Reply
from bot.core.registry import registry


@registry.command("policy", summary="The AI usage policy on one page", usage="policy", order=80)
def policy(ctx: CommandContext) -> Reply:
    return Reply("policy", {"policy": ctx.policy}, private=False)
