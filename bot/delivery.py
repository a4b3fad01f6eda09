"""Proactive delivery: how a `Notice` (a message for someone other than the asker, or for a
channel) reaches a chat platform.

Jobs and commands never hold a Slack client or a Teams TurnContext; they produce notices, and a
`Deliverer` per platform sends them. `deliver_everywhere` tries each configured platform and
reports people no platform could reach, so they can be reported to admins instead of being
skipped silently; `deliver_first` stops at the first platform that reaches the recipient (a
person on Slack and Teams gets one approval message, not two). `platform_deliverers` lists the
platforms configured for this process, from the factories the entry point handed to
`bootstrap` (`bot.platforms`), so this module, the outbox and the jobs name no adapter.

Deliverers remember how to reach people, channels and sent messages in `conversation_refs`
(`remember_reference` / `recall_reference`), one row per platform and key.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.messages import Notice
from storage.database import upsert_insert
from storage.models import ConversationRef

if TYPE_CHECKING:
    from bot.bootstrap import Services

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


def refuses_private_post(notice: Notice) -> bool:
    """A private reply (balances, scores, flags) is never posted to a channel: True, and
    logged, when the notice would do that."""
    if notice.to_channel and notice.reply.private:
        log.error(
            "refused to post a private %s to channel %s", notice.reply.template, notice.to_channel
        )
        return True
    return False


def deliver_first(deliverers: list[Deliverer], notice: Notice) -> bool:
    """Try the platforms in order until one delivers; True if one did."""
    for deliverer in deliverers:
        try:
            if deliverer.deliver(notice):
                return True
        except Exception:
            log.exception("delivery through %s failed", deliverer.platform)
    return False


def platform_deliverers(services: Services) -> list[Deliverer]:
    """The chat platforms configured for this process (of `services.platforms`: Slack, Teams),
    possibly none."""
    found: list[Deliverer] = []
    for make in services.platforms:
        deliverer = make(services)
        if deliverer is not None:
            found.append(deliverer)
    return found


def recall_reference(services: Services, platform: str, key: str) -> dict[str, Any] | None:
    with services.db.read() as session:
        row = session.get(ConversationRef, (platform, key))
        return dict(row.reference) if row is not None else None


def remember_reference(
    services: Services, platform: str, key: str, reference: dict[str, Any]
) -> None:
    """Insert or replace the reference under (platform, key)."""
    now = services.clock()
    with services.db.unit_of_work() as uow:
        insert = upsert_insert(uow.session, ConversationRef).values(
            platform=platform, key=key, reference=reference, updated_at=now
        )
        uow.session.execute(
            insert.on_conflict_do_update(
                index_elements=["platform", "key"],
                set_={"reference": reference, "updated_at": now},
            )
        )
        uow.commit()
