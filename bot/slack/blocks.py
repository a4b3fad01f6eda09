"""Reply -> Block Kit: messages, the App Home view and modals, from `message_templates/slack/`.

Templates hold every sentence; this module only adds structure that comes from the reply
itself (buttons) and enforces Block Kit's limits, so a payload Slack would reject
(`invalid_blocks`) is never sent: at most 50 blocks in a message and 100 in a view, 3000
characters in a section, 25 elements and unique action ids in an actions block.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.core.messages import Button, Form, Reply
from bot.core.rendering import Renderer

log = logging.getLogger(__name__)

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
FALLBACK_TEXT = 3000  # the notification preview; Slack itself would cut at 40,000
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
PRIVATE_METADATA = 3000


def _render(renderer: Renderer, reply: Reply, **extra: object) -> dict[str, Any]:
    if renderer.has("slack", reply.template):
        return json.loads(renderer.channel("slack", reply, **extra))
    # No Slack template yet: the text rendering, escaped, in sections.
    return json.loads(renderer.channel("slack", Reply("fallback", {"text": renderer.text(reply)})))


def button_blocks(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    """Actions blocks for the buttons; action_id and value are the core's, so a click maps
    straight back to an IncomingAction. Slack wants action ids unique within a block, so a
    repeated id starts a new block."""
    blocks: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for button in buttons:
        if len(button.value) > BUTTON_VALUE:
            raise ValueError(f"button value longer than {BUTTON_VALUE}: {button.action_id}")
        if len(current) == ACTIONS_ELEMENTS or any(
            e["action_id"] == button.action_id for e in current
        ):
            blocks.append({"type": "actions", "elements": current})
            current = []
        element: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut(button.label, BUTTON_TEXT)},
            "action_id": button.action_id,
            "value": button.value,
        }
        if button.style in ("primary", "danger"):
            element["style"] = button.style
        current.append(element)
    if current:
        blocks.append({"type": "actions", "elements": current})
    return blocks


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _within(blocks: list[dict[str, Any]], limit: int, what: str) -> list[dict[str, Any]]:
    if len(blocks) > limit:
        log.error("%s has %d blocks, Slack takes %d: the rest is dropped", what, len(blocks), limit)
        return blocks[:limit]
    return blocks


def to_message(renderer: Renderer, reply: Reply) -> dict[str, Any]:
    """`text` (notifications, screen readers) and `blocks` for chat.postMessage, chat.update,
    chat.postEphemeral and response_url alike."""
    rendered = _render(renderer, reply)
    blocks = _within(
        rendered["blocks"] + button_blocks(reply.buttons), MESSAGE_BLOCKS, reply.template
    )
    return {"text": to_slack_text(_cut(renderer.text(reply), FALLBACK_TEXT)), "blocks": blocks}


def to_slack_text(text: str) -> str:
    """Plain text as Slack's `text` field takes it: `&`, `<` and `>` escaped as Slack
    documents, so text a person wrote (a burst reason, a dispute) cannot become a mention
    (`<!channel>`, `<@U...>`) or a disguised link (`<http://evil|click>`) in a notification."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_home_view(renderer: Renderer, reply: Reply) -> dict[str, Any]:
    """The App Home view for views.publish: the `home` template, or any other reply (e.g.
    `unknown_user`) shown as the home tab's content."""
    if reply.template == "home":
        view = _render(renderer, reply)
        view["blocks"] = view["blocks"] + button_blocks(reply.buttons)
    else:
        view = {"type": "home", "blocks": to_message(renderer, reply)["blocks"]}
    view["blocks"] = _within(view["blocks"], VIEW_BLOCKS, reply.template)
    return view


def to_modal(renderer: Renderer, form: Form, metadata: str) -> dict[str, Any]:
    """The modal for views.open; `metadata` comes back in the view_submission payload."""
    if len(metadata) > PRIVATE_METADATA:
        raise ValueError(f"private_metadata longer than {PRIVATE_METADATA} characters")
    view = _render(renderer, Reply("form", {"form": form, "metadata": metadata}))
    view["blocks"] = _within(view["blocks"], VIEW_BLOCKS, "form")
    return view
