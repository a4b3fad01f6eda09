"""Proactive delivery: how a `Notice` (a message for someone other than the asker, or for a
channel) reaches a chat platform.

Jobs and commands never hold a Slack client or a Teams TurnContext; they produce notices, and a
`Deliverer` per platform sends them. `deliver_everywhere` tries each configured platform and
reports people no platform could reach, so they can be reported to admins instead of being
skipped silently.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.core.messages import Notice

log = logging.getLogger(__name__)


class Deliverer(Protocol):
    platform: str

    def deliver(self, notice: Notice) -> bool:
        """Send the notice; True when the platform accepted it, False when it cannot reach
        the person or channel (not linked, not installed)."""
        ...


class LogDeliverer:
    """The console/default deliverer: writes notices to the log (single-machine demos)."""

    platform = "log"

    def __init__(self, renderer):  # noqa: ANN001
        self.renderer = renderer
        self.sent: list[tuple[Notice, str]] = []

    def deliver(self, notice: Notice) -> bool:
        text = self.renderer.text(notice.reply)
        self.sent.append((notice, text))
        log.info("notice to %s: %s", notice.to_channel or notice.to_person_id, text)
        return True


def deliver_everywhere(deliverers: list[Deliverer], notice: Notice) -> bool:
    """True if at least one platform delivered the notice."""
    delivered = False
    for deliverer in deliverers:
        try:
            delivered = deliverer.deliver(notice) or delivered
        except Exception:
            log.exception("delivery through %s failed", deliverer.platform)
    return delivered
