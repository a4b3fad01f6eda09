"""Wire LiteLLM proxy to tokenbot: ask before each call, report usage after it.

Put this file next to the proxy's config.yaml and register the handler:

    litellm_settings:
      callbacks: litellm_tokenbot_hook.proxy_handler_instance

Environment:
    TOKENBOT_URL        e.g. http://tokenbot.internal:8080
    TOKENBOT_API_KEY    from `tokenbot apikey create --name litellm-proxy`
    TOKENBOT_FAIL_OPEN  "true" (default) lets calls through when tokenbot is unreachable;
                        "false" refuses them instead.

What it does, with LiteLLM's CustomLogger hooks:
- `async_pre_call_hook` (proxy only, before the model is called) posts the caller, model, an
  estimate of the tokens, the use case and the project to POST /api/v1/authorize; a refusal
  becomes an HTTP 403 for the client with tokenbot's reason ("Ask your manager for a burst
  budget", "The use case ... is prohibited", ...).
- `async_log_success_event` (after a successful call) posts the real token counts to
  POST /api/v1/usage, with LiteLLM's call id as the event id, so a retried post counts once.

Who is the person: the request's `user` field (OpenAI's end-user parameter), else the
LiteLLM key's user id or alias. Use emails, or map other ids with
`tokenbot directory alias add ALIAS EMAIL`; unmapped usage is kept as unattributed.
The use case and project come from the request metadata ({"metadata": {"use_case": "coding",
"project": "relaunch"}}) or from tags "use_case:coding" / "project:relaunch".

Prompts and responses are never sent to tokenbot: only counts and names.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

import httpx
import litellm
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("tokenbot-hook")

DEFAULT_OUTPUT_ESTIMATE = 1_000  # when the request sets no max_tokens


def _tagged(tags: Any, prefix: str) -> str | None:
    for tag in tags or []:
        if isinstance(tag, str) and tag.startswith(prefix):
            return tag[len(prefix) :]
    return None


def _labels(metadata: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(use_case, project) from request metadata or its tags."""
    metadata = metadata or {}
    tags = metadata.get("tags")
    use_case = metadata.get("use_case") or _tagged(tags, "use_case:")
    project = metadata.get("project") or _tagged(tags, "project:")
    return use_case, project


class TokenbotHook(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.url = os.environ.get("TOKENBOT_URL", "http://127.0.0.1:8080").rstrip("/")
        self.fail_open = os.environ.get("TOKENBOT_FAIL_OPEN", "true").lower() != "false"
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(2.0),
            headers={"Authorization": f"Bearer {os.environ.get('TOKENBOT_API_KEY', '')}"},
        )

    # --- before the call ------------------------------------------------------------------

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type):  # noqa: ANN001
        if call_type not in ("completion", "text_completion", "acompletion"):
            return data
        user = (
            data.get("user")
            or getattr(user_api_key_dict, "user_email", None)
            or getattr(user_api_key_dict, "user_id", None)
            or getattr(user_api_key_dict, "key_alias", None)
        )
        use_case, project = _labels(data.get("metadata"))
        request = {
            "user": user or "unknown",
            "model": data.get("model", ""),
            "estimated_tokens": self._estimate(data),
            "use_case": use_case,
            "project": project,
        }
        try:
            response = await self.client.post(f"{self.url}/api/v1/authorize", json=request)
            response.raise_for_status()
            decision = response.json()
        except (httpx.HTTPError, ValueError) as problem:
            log.warning("tokenbot authorize unavailable: %s", problem)
            if self.fail_open:
                return data
            raise HTTPException(
                status_code=503, detail={"error": "budget check unavailable, try again"}
            ) from problem
        if not decision.get("allow", False):
            raise HTTPException(
                status_code=403,
                detail={"error": decision.get("reason", "refused by the token policy")},
            )
        # Keep who and what for the success callback (metadata travels with the call).
        metadata = data.setdefault("metadata", {})
        metadata.setdefault("tokenbot_user", request["user"])
        return data

    @staticmethod
    def _estimate(data: dict) -> int:
        try:
            prompt = litellm.token_counter(
                model=data.get("model", ""), messages=data.get("messages")
            )
        except Exception:  # an unknown model or odd payload: a rough count is good enough
            prompt = len(str(data.get("messages", ""))) // 4
        return int(prompt) + int(data.get("max_tokens") or DEFAULT_OUTPUT_ESTIMATE)

    # --- after the call -------------------------------------------------------------------

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        payload = kwargs.get("standard_logging_object") or {}
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        usage = getattr(response_obj, "usage", None)
        if usage is None:
            return
        prompt_details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(prompt_details, "cached_tokens", None) or 0
        use_case, project = _labels(metadata)
        started = start_time if isinstance(start_time, datetime) else datetime.now(UTC)
        if started.tzinfo is None:
            started = started.astimezone(UTC)
        event = {
            "id": payload.get("id") or kwargs.get("litellm_call_id"),
            "user": metadata.get("tokenbot_user")
            or kwargs.get("user")
            or metadata.get("user_api_key_user_id")
            or "unknown",
            "model": payload.get("model") or kwargs.get("model"),
            "input_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
            "output_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
            "cached_input_tokens": int(cached),
            "use_case": use_case,
            "project": project,
            "template_id": metadata.get("template_id"),
            "conversation_id": metadata.get("conversation_id") or payload.get("trace_id"),
            "timestamp": started.isoformat(),
        }
        try:
            response = await self.client.post(f"{self.url}/api/v1/usage", json={"events": [event]})
            if response.status_code >= 400:
                log.warning("tokenbot refused usage %s: %s", event["id"], response.text)
        except httpx.HTTPError as problem:  # the proxy must not fail because tokenbot is down
            log.warning("tokenbot usage not delivered (%s); event %s", problem, event["id"])


proxy_handler_instance = TokenbotHook()
