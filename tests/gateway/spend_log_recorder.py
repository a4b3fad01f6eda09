"""A LiteLLM callback for the gateway tests, loaded by the proxy next to the tokenbot hook: it
writes the LiteLLM_SpendLogs row LiteLLM would store for each finished call (LiteLLM's own
get_logging_payload, the function its database writer calls), one JSON object per line, to
$TOKENBOT_TEST_SPEND_LOG. The proxy under test has no database of its own, so this is how the
tests learn each call's spend-log request_id, and get a spend-log export to import.

Prompts and responses are left out of the file (as they are of a default spend log). What the
model was called with (a chat call's `messages`) goes, keyed by the call's `litellm_call_id`, to
$TOKENBOT_TEST_PROMPT_LOG instead, so a test sees the prompt the hook pre-filled."""

from __future__ import annotations

import json
import os
from datetime import datetime

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy.spend_tracking.spend_tracking_utils import get_logging_payload

LEFT_OUT = ("messages", "response", "proxy_server_request")


class SpendLogRecorder(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.path = os.environ["TOKENBOT_TEST_SPEND_LOG"]
        self.prompts = os.environ["TOKENBOT_TEST_PROMPT_LOG"]

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        row = dict(get_logging_payload(kwargs, response_obj, start_time, end_time))
        for name in LEFT_OUT:
            row.pop(name, None)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row, default=_text) + "\n")
        sent = {
            "litellm_call_id": kwargs.get("litellm_call_id"),
            "messages": kwargs.get("messages"),
        }
        with open(self.prompts, "a", encoding="utf-8") as out:
            out.write(json.dumps(sent, default=_text) + "\n")


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


recorder = SpendLogRecorder()
