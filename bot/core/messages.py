"""Neutral message types shared by every chat adapter.

Adapters translate a vendor payload into an `IncomingMessage` or `IncomingAction`, hand it to
the dispatcher, and translate the `Reply` back. Nothing here knows about Slack or Teams.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str
    style: str | None = None  # "primary" | "danger" | None


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str = "text"  # text | multiline | number
    initial: str = ""
    optional: bool = False


@dataclass(frozen=True)
class Form:
    """Ask for input before acting: a Slack modal, a Teams card with inputs, console prompts.

    Submitting it comes back as an `IncomingAction` with `submit_action_id`, `value`, and the
    filled fields in `form`.
    """

    title: str
    fields: tuple[FormField, ...]
    submit_action_id: str
    value: str
    submit_label: str = "Submit"


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (a review's chart). The content travels as base64 text so a
    notice can wait in the outbox as JSON; adapters that can upload files do, the others show
    the message alone."""

    filename: str
    title: str
    content_base64: str
    mime_type: str = "image/png"

    @property
    def content(self) -> bytes:
        return base64.b64decode(self.content_base64)


@dataclass(frozen=True)
class Reply:
    """What a command answers: a template name, its context, and any buttons.

    `private` replies (balances, scores, flags) must be shown only to the asker: adapters send
    them ephemerally or in a direct message, never to a channel.
    """

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    buttons: tuple[Button, ...] = ()
    private: bool = True
    # Set by action handlers: replace the message the button was on instead of answering anew.
    replace_original: bool = False
    # Further messages for other people (e.g. the approver's DM), delivered by the adapter.
    notices: tuple[Notice, ...] = ()
    # Set by a button that needs more input first (e.g. "Approve a different amount").
    form: Form | None = None
    # Files that go with the message (a chart), uploaded where the platform allows it.
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Notice:
    """A message for someone other than the asker (proactive: DM or channel post)."""

    to_person_id: int | None
    reply: Reply
    to_channel: str | None = None
    # A name the sender can use to find this message again (e.g. to update it in place).
    ref: str | None = None
    # The directory team a channel post is for. On Teams every team has its own channels (each
    # a General), so the channel name alone may not say which team's channel is meant.
    to_team: str | None = None
    # The outbox row's exactly-once key: a deliverer remembers each part of the message (text,
    # then each attachment) sent under it, so a retry after a partial failure sends the rest.
    key: str | None = None


@dataclass(frozen=True)
class IncomingMessage:
    platform: str  # console | slack | teams
    user_key: str  # the platform's id for the person (email for the console)
    text: str
    channel: str | None = None
    # The platform's id of this message (Slack trigger id, Teams activity id): a redelivery
    # carries the same id, so a command that makes something can make it once.
    message_id: str | None = None


@dataclass(frozen=True)
class IncomingAction:
    platform: str
    user_key: str
    action_id: str
    value: str
    form: dict[str, str] = field(default_factory=dict)  # modal or card inputs, if any
