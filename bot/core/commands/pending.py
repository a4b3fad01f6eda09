"""Commands whose feature has not landed yet: they answer honestly that it is not available.

When a feature lands, its command gets its own module and its name leaves this list.
"""

from __future__ import annotations

from bot.core.context import CommandContext
from bot.core.messages import Reply
from bot.core.registry import registry

NOT_YET: dict[str, tuple[str, str, int]] = {}


def _not_available(name: str, summary: str):  # noqa: ANN202
    def handler(ctx: CommandContext) -> Reply:
        return Reply("not_available", {"command": name, "summary": summary})

    return handler


for _name, (_summary, _usage, _order) in NOT_YET.items():
    registry.command(_name, summary=_summary, usage=_usage, order=_order)(
        _not_available(_name, _summary)
    )
