"""What a command handler is given: who asks, what they typed, and the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from storage.models import Person

if TYPE_CHECKING:
    from bot.bootstrap import Services


@dataclass(frozen=True)
class CommandContext:
    person: Person
    args: str  # the text after the command word
    words: list[str]
    now: datetime
    services: Services
    platform: str
    channel: str | None = None
    message_id: str | None = None  # see IncomingMessage.message_id

    @property
    def policy(self):  # noqa: ANN201 - the Policy, kept short for handlers
        return self.services.policy


@dataclass(frozen=True)
class ActionContext:
    person: Person
    action_id: str
    value: str
    form: dict[str, str]
    now: datetime
    services: Services
    platform: str
