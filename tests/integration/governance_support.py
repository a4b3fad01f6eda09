"""Helpers for the governance tests: usage and outcomes through the real services, and chat
through the real dispatcher (console platform)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from itertools import count

from bot.bootstrap import Services
from bot.core.dispatch import Dispatcher
from bot.core.messages import Button, IncomingAction, IncomingMessage, Reply
from budgets.ledger import record_usage
from ingest.events import OutcomeEvent, UsageEvent
from ingest.store import record_outcomes

WEEK = date(2026, 11, 9)  # the Monday of 2026-W46; the conftest clock is Wed 18 November
WEEK_KEY = "2026-W46"
_ids = count(1)


def at(day: int = 0, hour: int = 10, minute: int = 0) -> datetime:
    """A moment in 2026-W46 (day 0 is Monday)."""
    return datetime(2026, 11, 9 + day, hour, minute, tzinfo=UTC)


def unrelated_fingerprint(n: int) -> str:
    """The fingerprint of some text unrelated to any other (about half the bits differ)."""
    return hashlib.blake2b(str(n).encode(), digest_size=8).hexdigest()


def call(
    user: str,
    when: datetime,
    *,
    tokens: int = 2_000,
    prompt: str | None = None,
    conversation: str | None = None,
    use_case: str = "seo-brief",
) -> UsageEvent:
    n = next(_ids)
    return UsageEvent(
        id=f"gov-u-{n}",
        user=user,
        model="gpt-4o",
        input_tokens=tokens,
        output_tokens=tokens // 4,
        cached_input_tokens=0,
        use_case=use_case,
        project=None,
        template_id=None,
        conversation_id=conversation,
        timestamp=when,
        prompt_fingerprint=prompt or unrelated_fingerprint(n),
    )


def result(
    user: str,
    when: datetime,
    *,
    status: str = "accepted",
    conversation: str | None = None,
    fingerprint: str | None = None,
    use_case: str = "seo-brief",
    edit_distance: float | None = None,
) -> OutcomeEvent:
    n = next(_ids)
    return OutcomeEvent(
        id=f"gov-o-{n}",
        user=user,
        artifact_id=f"artifact-{n}",
        use_case=use_case,
        status=status,  # type: ignore[arg-type]
        usage_ids=(),
        conversation_id=conversation,
        edit_distance=edit_distance,
        minutes_saved=None,
        first_draft_seconds=None,
        template_id=None,
        timestamp=when,
        content_fingerprint=fingerprint,
    )


def record(
    services: Services,
    usage: list[UsageEvent] | None = None,
    outcomes: list[OutcomeEvent] | None = None,
) -> None:
    with services.db.unit_of_work() as uow:
        if usage:
            record_usage(uow.session, list(usage), services.policy, services.clock())
        if outcomes:
            record_outcomes(uow.session, list(outcomes), services.clock())
        uow.commit()


def prompt_spam(services: Services, user: str, repeats: int = 20, others: int = 10) -> None:
    """`repeats` sends of one prompt and `others` different prompts, in 2026-W46."""
    spam = [call(user, at(1, 9, i), prompt="00000000deadbeef") for i in range(repeats)]
    varied = [call(user, at(2, 9, i)) for i in range(others)]
    record(services, spam + varied)


def say(services: Services, email: str, text: str, channel: str | None = None) -> Reply:
    return Dispatcher(services).handle_message(IncomingMessage("console", email, text, channel))


def press(services: Services, email: str, button: Button) -> Reply:
    return Dispatcher(services).handle_action(
        IncomingAction("console", email, button.action_id, button.value)
    )


def text_of(services: Services, reply: Reply) -> str:
    return services.renderer.text(reply)


def button(reply: Reply, label: str) -> Button:
    found = [b for b in reply.buttons if b.label == label]
    assert found, f"no {label!r} button in {[b.label for b in reply.buttons]}"
    return found[0]


class Recorder:
    """A Deliverer that keeps what it is given (a stand-in chat platform)."""

    platform = "recorder"

    def __init__(self) -> None:
        self.sent: list = []

    def deliver(self, notice) -> bool:  # noqa: ANN001
        self.sent.append(notice)
        return True
