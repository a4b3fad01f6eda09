"""Reply -> Adaptive Card (schema 1.5), from `message_templates/teams/`.

Templates hold every sentence; this module only adds what comes from the reply itself (its
buttons become `Action.Submit` actions whose `data` carries the core's `action_id` and `value`,
so a click maps straight back to an `IncomingAction`) and keeps a card inside what Teams takes:
a message of about 28 KB, so a card past `MAX_CARD_CHARS` is replaced by the text rendering.

Pure dictionaries: no botbuilder here, so the rendering test and `tokenbot teams package` need
no SDK, and the SDK types are built in one place (`bot.teams.app`, `bot.teams.delivery`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.core.messages import Button, Form, Reply
from bot.core.rendering import Renderer

log = logging.getLogger(__name__)

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
MAX_CARD_CHARS = 24_000  # Teams refuses messages over ~28 KB, activity envelope included
SUMMARY_CHARS = 1_000  # the notification preview and the text of clients without cards
ACTION_TITLE_CHARS = 75
# Keys of a card action's `data`; form inputs arrive beside them in the same object.
ACTION_ID, VALUE, ORIGIN = "action_id", "value", "origin"
RESERVED_INPUTS = {ACTION_ID, VALUE, ORIGIN, "msteams"}
STYLES = {"primary": "positive", "danger": "destructive"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_action(button: Button) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "Action.Submit",
        "title": _cut(button.label, ACTION_TITLE_CHARS),
        "data": {ACTION_ID: button.action_id, VALUE: button.value},
    }
    if button.style in STYLES:
        action["style"] = STYLES[button.style]
    return action


def _render(renderer: Renderer, reply: Reply, **extra: object) -> dict[str, Any]:
    if renderer.has("teams", reply.template):
        return json.loads(renderer.channel("teams", reply, **extra))
    return fallback_card(renderer, renderer.text(reply))


def fallback_card(renderer: Renderer, text: str) -> dict[str, Any]:
    """Any message without its own Teams template: its text rendering in a card."""
    return json.loads(renderer.channel("teams", Reply("fallback", {"text": text})))


def summary(renderer: Renderer, reply: Reply) -> str:
    """The text rendering, short: the card's `fallbackText` and the activity's `summary`."""
    return _cut(renderer.text(reply), SUMMARY_CHARS)


def to_card(renderer: Renderer, reply: Reply) -> dict[str, Any]:
    """The Adaptive Card for a reply: its template's card plus its buttons as actions."""
    text = summary(renderer, reply)
    card = _render(renderer, reply)
    if reply.buttons:
        card["actions"] = [*card.get("actions", []), *(to_action(b) for b in reply.buttons)]
    card["fallbackText"] = text
    if len(json.dumps(card)) > MAX_CARD_CHARS:
        log.warning("the %s card is too large for Teams; sending its text", reply.template)
        card = fallback_card(renderer, _cut(renderer.text(reply), MAX_CARD_CHARS // 2))
        card["actions"] = [to_action(b) for b in reply.buttons]
        card["fallbackText"] = text
    return card


def to_form_card(renderer: Renderer, reply: Reply, origin: str | None) -> dict[str, Any]:
    """A `Form` as a card with inputs. Its submit button's data carries the form's action id
    and value, and `origin`: the id of the card whose button asked for the form, so the
    answer can replace that card too."""
    form = reply.form
    assert form is not None
    clashing = {f.name for f in form.fields} & RESERVED_INPUTS
    if clashing:
        raise ValueError(f"form fields may not be named {sorted(clashing)} on Teams")
    card = json.loads(
        renderer.channel(
            "teams",
            Reply("form", {"form": form, "metadata": origin or ""}),
            intro=renderer.text(reply) if renderer.has("text", reply.template, "txt") else "",
        )
    )
    card["fallbackText"] = _cut(form.title, SUMMARY_CHARS)
    return card


def form_values(form: Form, data: dict[str, Any]) -> dict[str, str]:
    """The filled inputs of a submitted form card, as the strings a handler expects."""
    return {f.name: "" if data.get(f.name) is None else str(data[f.name]) for f in form.fields}


def action_data(value: Any) -> dict[str, Any] | None:
    """The `data` of one of our card actions (from an Action.Submit message's `value` or an
    Action.Execute invoke), or None when the object is not ours."""
    if isinstance(value, dict) and isinstance(value.get(ACTION_ID), str):
        return value
    return None


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": CARD_CONTENT_TYPE, "content": card}
