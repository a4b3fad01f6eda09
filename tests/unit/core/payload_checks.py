"""Checks of rendered chat payloads against the platforms' documented limits.

Errors are values: each checker returns every problem found (an empty list means valid), so a
failing test names them all. Used by the template rendering test and by adapter tests that
want to check what they send.
"""

from __future__ import annotations

from typing import Any

# https://docs.slack.dev/reference/block-kit/blocks (messages: 50 blocks; modals and Home: 100)
MAX_MESSAGE_BLOCKS = 50
MAX_SURFACE_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BLOCK_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_MODAL_TITLE = 24
ADAPTIVE_CARD_VERSION = "1.5"
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def _text_of(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def block_kit_problems(payload: Any) -> list[str]:
    """Problems of a Slack message (`{"blocks": [...], "text": ...}`), modal or Home view, or a
    bare list of blocks."""
    if isinstance(payload, list):
        payload = {"blocks": payload}
    if not isinstance(payload, dict):
        return [f"payload must be an object with blocks, got {type(payload).__name__}"]
    problems: list[str] = []
    blocks = payload.get("blocks")
    if not isinstance(blocks, list):
        return ["payload has no `blocks` list"]
    surface = payload.get("type")
    limit = MAX_SURFACE_BLOCKS if surface in ("modal", "home") else MAX_MESSAGE_BLOCKS
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks; at most {limit} allowed")
    if surface == "modal":
        for key in ("title", "submit", "close"):
            if len(_text_of(payload.get(key))) > MAX_MODAL_TITLE:
                problems.append(f"modal {key} longer than {MAX_MODAL_TITLE} characters")
        if "title" not in payload:
            problems.append("modal has no title")
    action_ids: list[str] = []
    for index, block in enumerate(blocks):
        where = f"block {index}"
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"{where} has no type")
            continue
        kind = block["type"]
        where = f"block {index} ({kind})"
        if len(str(block.get("block_id", ""))) > MAX_BLOCK_ID:
            problems.append(f"{where}: block_id longer than {MAX_BLOCK_ID} characters")
        if kind == "section":
            text = _text_of(block.get("text"))
            fields = block.get("fields") or []
            if not text and not fields:
                problems.append(f"{where}: needs text or fields")
            if len(text) > MAX_SECTION_TEXT:
                problems.append(
                    f"{where}: text is {len(text)} characters; at most {MAX_SECTION_TEXT}"
                )
            if len(fields) > MAX_SECTION_FIELDS:
                problems.append(f"{where}: {len(fields)} fields; at most {MAX_SECTION_FIELDS}")
            for field in fields:
                if len(_text_of(field)) > MAX_FIELD_TEXT:
                    problems.append(f"{where}: a field is longer than {MAX_FIELD_TEXT} characters")
            if isinstance(block.get("accessory"), dict):
                problems.extend(_element_problems(block["accessory"], where, action_ids))
        elif kind == "header":
            if len(_text_of(block.get("text"))) > MAX_HEADER_TEXT:
                problems.append(f"{where}: text longer than {MAX_HEADER_TEXT} characters")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > MAX_ACTIONS_ELEMENTS:
                problems.append(f"{where}: needs 1 to {MAX_ACTIONS_ELEMENTS} elements")
            for element in elements:
                problems.extend(_element_problems(element, where, action_ids))
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
                problems.append(f"{where}: needs 1 to {MAX_CONTEXT_ELEMENTS} elements")
        elif kind == "input" and isinstance(block.get("element"), dict):
            problems.extend(_element_problems(block["element"], where, action_ids))
    duplicated = sorted({a for a in action_ids if action_ids.count(a) > 1})
    if duplicated:
        problems.append(f"action_id used more than once: {', '.join(duplicated)}")
    return problems


def _element_problems(element: dict[str, Any], where: str, action_ids: list[str]) -> list[str]:
    problems = []
    action_id = element.get("action_id")
    if action_id is not None:
        action_ids.append(action_id)
        if len(action_id) > MAX_ACTION_ID:
            problems.append(f"{where}: action_id longer than {MAX_ACTION_ID} characters")
    if element.get("type") == "button":
        if len(_text_of(element.get("text"))) > MAX_BUTTON_TEXT:
            problems.append(f"{where}: button text longer than {MAX_BUTTON_TEXT} characters")
        if len(str(element.get("value", ""))) > MAX_BUTTON_VALUE:
            problems.append(f"{where}: button value longer than {MAX_BUTTON_VALUE} characters")
    return problems


def adaptive_card_problems(payload: Any) -> list[str]:
    """Problems of an Adaptive Card, bare or wrapped in a Bot Framework attachment."""
    if isinstance(payload, dict) and payload.get("contentType") == ADAPTIVE_CARD_CONTENT_TYPE:
        payload = payload.get("content")
    if not isinstance(payload, dict):
        return [f"card must be an object, got {type(payload).__name__}"]
    problems = []
    if payload.get("type") != "AdaptiveCard":
        problems.append(f"type is {payload.get('type')!r}; must be 'AdaptiveCard'")
    if payload.get("version") != ADAPTIVE_CARD_VERSION:
        problems.append(f"version is {payload.get('version')!r}; must be {ADAPTIVE_CARD_VERSION!r}")
    body = payload.get("body", [])
    if not isinstance(body, list):
        problems.append("body must be a list")
        body = []
    actions = payload.get("actions", [])
    if not isinstance(actions, list):
        problems.append("actions must be a list")
        actions = []
    for where, items in (("body", body), ("actions", actions)):
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not item.get("type"):
                problems.append(f"{where}[{index}] has no type")
    for index, action in enumerate(actions):
        if isinstance(action, dict) and not action.get("title"):
            problems.append(f"actions[{index}] has no title")
    return problems
