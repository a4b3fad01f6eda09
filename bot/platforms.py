"""The chat platforms this build has, as deliverer factories: what an entry point hands to
`bootstrap(platforms=...)` so the jobs, the outbox and each surface can reach people on every
configured platform (`bot.delivery.platform_deliverers`) without naming an adapter themselves.

This module sits above the adapters (it imports them); the composition root below them is
handed the list. A build without an adapter package simply lists fewer platforms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PlatformFactory = Callable[[Any], Any]  # Services -> a Deliverer, or None when not configured


def chat_platforms() -> tuple[PlatformFactory, ...]:
    """Slack, then Teams (the order `deliver_first` tries them in)."""
    found: list[PlatformFactory] = []
    try:
        from bot.slack import slack_deliverer
    except ModuleNotFoundError as exc:  # a build without the Slack adapter
        if exc.name != "bot.slack":
            raise
    else:
        found.append(slack_deliverer)
    try:
        from bot.teams import teams_deliverer
    except ModuleNotFoundError as exc:  # a build without the Teams adapter
        if exc.name != "bot.teams":
            raise
    else:
        found.append(teams_deliverer)
    return tuple(found)
