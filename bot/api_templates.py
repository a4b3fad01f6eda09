"""`POST /api/v1/templates/render`: an approved prompt template filled in for a gateway.

`{"template_id": ID, "variables": {NAME: VALUE}}` answers `{"text", "template_id", "version"}`
(the current approved version). Refusals name what is wrong: 400 for a malformed request,
404 for an unknown template, 410 for a retired one, 409 for one still waiting for approval
(or without a text), 422 for a missing or unknown variable, a value that is not text, or a
prompt over the size limits. The filled text is returned, never stored or logged. bot/api.py
authenticates the key and decodes the body exactly as for its other endpoints.
"""

from __future__ import annotations

from typing import Any

from bot.core import prompt_text
from scoring import template_library as library

STATUS = {
    "unknown_template": 404,
    "retired": 410,
    "not_approved": 409,
    "no_text": 409,
}


def render_request(services: Any, payload: Any) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for a decoded request body."""
    if not isinstance(payload, dict):
        return 400, _error(
            "invalid", 'send a JSON object: {"template_id": ..., "variables": {...}}'
        )
    template_id = payload.get("template_id")
    variables = payload.get("variables", {})
    if not isinstance(template_id, str) or not template_id.strip():
        return 400, _error("invalid", "template_id must be a non-empty string", field="template_id")
    if not isinstance(variables, dict):
        return 400, _error(
            "invalid", "variables must be an object of names and values", field="variables"
        )
    with services.db.read() as session:
        try:
            view, version = library.usable_version(session, template_id.strip())
        except library.TemplateRefused as exc:
            return STATUS.get(exc.code, 409), _error(exc.code, exc.message, template_id=template_id)
    try:
        text = prompt_text.render(version.text, variables)
    except prompt_text.PromptTextInvalid as exc:
        return 422, _error(exc.code, exc.message, template_id=template_id, **exc.facts)
    return 200, {"text": text, "template_id": view.template_id, "version": version.version}


def _error(code: str, message: str, **more: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **more}
