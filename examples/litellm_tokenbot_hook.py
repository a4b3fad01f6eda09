"""Wire the LiteLLM proxy to tokenbot: ask before each call, report its usage after it.

Put this file next to the proxy's config.yaml and register the handler:

    litellm_settings:
      callbacks: litellm_tokenbot_hook.proxy_handler_instance

Environment:
    TOKENBOT_URL          e.g. http://tokenbot.internal:8080 (default http://127.0.0.1:8080)
    TOKENBOT_API_KEY      from `tokenbot apikey create --name litellm-proxy`
    TOKENBOT_FAIL_OPEN    "true" (default) lets calls through while tokenbot cannot be reached
                          (or answers 5xx); "false" refuses them with a 503 instead. A 401/403
                          from tokenbot (wrong or revoked key) refuses every call either way.
    TOKENBOT_SPOOL_DIR    where undelivered usage waits (default: `tokenbot-spool/` next to this
                          file); it holds one SQLite file, spool.sqlite3.
    TOKENBOT_TIMEOUT_SECONDS    per request to tokenbot (default 2)
    TOKENBOT_RETRY_MAX_SECONDS  longest wait between delivery attempts without Retry-After
                                (default 60)

Which calls (LiteLLM's call_type, as the proxy passes it to async_pre_call_hook and to the
success callback; sync and async names alike):
- authorized before the call and metered after it: chat completions (`completion`,
  `acompletion`), text completions (`text_completion`, `atext_completion`), the Responses API
  (`responses`, `aresponses`), Anthropic `/v1/messages` (`anthropic_messages`,
  `aanthropic_messages`) and embeddings (`embedding`, `aembedding`), streaming or not;
- authorized with an estimate of 0 tokens, not metered (tokenbot counts tokens): image
  generation and edits, transcription, speech, rerank and moderation, so that a prohibited use
  case, a model outside the use case's allowed models or an unknown person is refused there too;
- anything else (files, batches, assistants, realtime, pass-through routes) is left alone.

Before the call (`async_pre_call_hook`), POST /api/v1/authorize with:
- user: the request's person: `user` or `safety_identifier` (chat, text completion, Responses
  API, embeddings) or Anthropic `metadata.user_id` (/v1/messages; a Claude Code id's
  `_session_<id>` suffix is dropped, as it names the session, not the person), else LiteLLM's
  end user, else the virtual key's user email, user id or alias, else `litellm-key:<key hash>`;
- model: the model group, i.e. the name the client asked the proxy for;
- estimated_tokens: the prompt (LiteLLM's token counter) plus the most output the request
  allows: `max_completion_tokens` or `max_tokens` (chat, times `n`), `max_tokens` (text
  completion, /v1/messages), `max_output_tokens` (Responses API), 0 for embeddings, else 1,000;
- use_case, project (and template_id for usage): our own metadata keys, looked up in LiteLLM's
  metadata, then the request's `requester_metadata`, `spend_logs_metadata` and `metadata`, then
  "key:value" tags (`use_case:coding`, `project:relaunch`; request tags, `x-litellm-tags` and
  the virtual key's tags), like the spend-logs importer.
A refusal becomes a 403 for the client with tokenbot's reason.

Prompt templates (`prefill_template`, before authorizing, so the estimate counts the filled
prompt): a request whose metadata holds `template_variables` (an object of names and values, or
that object as a JSON string, since OpenAI's `metadata` takes strings) and a `template_id` gets
the template filled in by POST /api/v1/templates/render (approved templates only). The filled
text is added as the request's last user turn, after what the client sent (its system prompt
and conversation stay): a user message after `messages` (chat, /v1/messages), a user item after
`input` (Responses API), after the prompt and a blank line (text completion). The call is then
labelled with the template, so its usage credits the template's author. `template_variables`
is removed from every metadata scope first: LiteLLM neither forwards the values to the provider
nor writes them into its spend logs. tokenbot's refusal refuses the call with tokenbot's status
and reason: 404 unknown template, 410 retired, 409 waiting for approval, 422 a missing, unknown
or non-text variable; a request with variables but no template_id, or of another call type, is a
400. Without tokenbot the prompt cannot be filled: 503, whatever TOKENBOT_FAIL_OPEN says. A
`template_id` without `template_variables` only labels the call, as before.

After the call (`async_log_success_event`), the usage is written to the spool and a delivery
thread posts it to POST /api/v1/usage in batches:
- id: "litellm:" + the request_id LiteLLM writes into LiteLLM_SpendLogs for the same call
  (litellm/proxy/spend_tracking/spend_tracking_utils.py, get_logging_payload ->
  get_spend_logs_id: the response's `id`, else the standard logging payload's `id`, else
  `litellm_call_id`), which is what `tokenbot import --format litellm` derives, so importing
  the spend logs after an outage fills gaps and counts nothing twice. Responses API ids run to
  ~470 characters; they are sent as they are (tokenbot stores ids over 200 characters hashed);
- model: the model group (StandardLoggingPayload.model_group), never the provider's model;
- tokens: the StandardLoggingPayload's prompt and completion tokens (LiteLLM normalises every
  call type to these), cached input from its usage object;
- conversation_id: our own `conversation_id` metadata, else LiteLLM's session id
  (`litellm_session_id` in the body, `x-litellm-session-id` and the other session headers it
  reads, `metadata.session_id`), never the per-call trace id; none when the proxy generated a
  session id per request (`missing_session_id: generate`).
- Proxy cache hits are not posted: they cost nothing and draw no budget.

Delivery: an event is committed to the spool (SQLite in WAL mode) before anything is sent, so
usage survives tokenbot being down or restarting and the proxy crashing. The thread sends the
oldest events first, deletes them once tokenbot answered 2xx (a repeated id is counted once by
tokenbot, so a batch sent twice is harmless), and after a failure waits for the Retry-After
tokenbot sent (503 while its database is down) or else backs off exponentially (1 s, 2 s, 4 s,
... up to TOKENBOT_RETRY_MAX_SECONDS). A 401/403 is logged as an error and the events stay in
the spool until the key is fixed. Events tokenbot rejects as invalid (400) are moved to the
spool's `rejected` table with tokenbot's reason and logged as errors: nothing is dropped silently.

Logging goes through LiteLLM's proxy logger (as "LiteLLM Proxy.tokenbot"), so the proxy's log
level, format and JSON setting apply. Prompts and responses are never sent to tokenbot: only
counts and names.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import litellm
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger
from pydantic import BaseModel

# A child of LiteLLM's proxy logger: the proxy's log format, level and JSON setting apply.
log = logging.getLogger("LiteLLM Proxy").getChild("tokenbot")

# call_type -> which request fields hold the prompt and the output limit
METERED_CALL_TYPES = {
    "completion": "chat",
    "acompletion": "chat",
    "text_completion": "text",
    "atext_completion": "text",
    "responses": "responses",
    "aresponses": "responses",
    "anthropic_messages": "messages",
    "aanthropic_messages": "messages",
    "embedding": "embeddings",
    "aembedding": "embeddings",
}
UNMETERED_CALL_TYPES = frozenset(
    {
        "image_generation",
        "aimage_generation",
        "image_edit",
        "aimage_edit",
        "transcription",
        "atranscription",
        "speech",
        "aspeech",
        "rerank",
        "arerank",
        "moderation",
        "amoderation",
    }
)
OWN_METADATA_KEYS = ("use_case", "project", "template_id", "conversation_id")
DEFAULT_OUTPUT_ESTIMATE = 1_000  # when the request sets no output limit
MAX_ESTIMATE = 100_000_000  # tokenbot's largest token count per call
MAX_CONVERSATION_ID = 200  # tokenbot's column; longer session ids are hashed
BATCH_SIZE = 100
IDLE_POLL_SECONDS = 5.0  # other proxy workers may spool into the same file
MAX_RETRY_AFTER_SECONDS = 3_600
TEMPLATE_VARIABLES_KEY = "template_variables"
FILLABLE_KINDS = frozenset({"chat", "text", "responses", "messages"})
STASH_KEY = "tokenbot"  # what the pre-call hook leaves in LiteLLM's metadata for the success hook
SESSION_GENERATED_KEY = "litellm_session_id_generated"  # litellm.constants


# --- the facts of a request ---------------------------------------------------------------


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def litellm_metadata(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """LiteLLM's own metadata of a request: `litellm_metadata` on the routes where `metadata`
    is the provider's parameter (/v1/messages, /v1/responses, batches, files), else `metadata`."""
    own = data.get("litellm_metadata")
    return own if isinstance(own, Mapping) else _mapping(data.get("metadata"))


def own_labels(scopes: Iterable[Mapping[str, Any]], tags: Iterable[object]) -> dict[str, str]:
    """use_case, project, template_id, conversation_id: the first scope that has a key wins,
    then "key:value" tags."""
    found: dict[str, str] = {}
    for scope in scopes:
        for key in OWN_METADATA_KEYS:
            value = _text(scope.get(key))
            if key not in found and value:
                found[key] = value
    for tag in tags:
        if not isinstance(tag, str):
            continue
        key, separator, value = tag.partition(":")
        if separator and key.strip() in OWN_METADATA_KEYS and value.strip():
            found.setdefault(key.strip(), value.strip())
    return found


def _request_scopes(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Where a request's own metadata keys are looked up, first to last."""
    meta = litellm_metadata(data)
    return [
        meta,
        _mapping(meta.get("requester_metadata")),
        _mapping(meta.get("spend_logs_metadata")),
        _mapping(data.get("metadata")),
    ]


def _request_labels(data: Mapping[str, Any]) -> dict[str, str]:
    meta = litellm_metadata(data)
    tags = [*_list(meta.get("tags")), *_list(data.get("tags"))]
    return own_labels(_request_scopes(data), tags)


def anthropic_person(user_id: object) -> str | None:
    """The person of an Anthropic `metadata.user_id`. Claude Code sends
    "user_<hash>_account_<uuid>_session_<uuid>": the session part names the conversation."""
    person = _text(user_id)
    if person and "_session_" in person:
        person = person[: person.rfind("_session_")] or None
    return person


def request_person(data: Mapping[str, Any], kind: str, key: Any) -> str:
    """Who makes the call: the request's own end-user field, else LiteLLM's end user, else the
    virtual key's owner."""
    if kind == "messages":
        person = anthropic_person(_mapping(data.get("metadata")).get("user_id"))
    else:  # OpenAI's end-user field, or `safety_identifier`, which newer clients send instead
        person = _text(data.get("user")) or _text(data.get("safety_identifier"))
    meta = litellm_metadata(data)
    candidates = (
        person,
        _text(meta.get("user_api_key_end_user_id")),
        _text(getattr(key, "end_user_id", None)),
        _text(getattr(key, "user_email", None)),
        _text(getattr(key, "user_id", None)),
        _text(getattr(key, "key_alias", None)),
    )
    found = next((c for c in candidates if c), None)
    if found:
        return found
    token = _text(getattr(key, "api_key", None)) or _text(getattr(key, "token", None))
    return f"litellm-key:{token}" if token else "unknown"


def session_id(data: Mapping[str, Any]) -> str | None:
    """LiteLLM's session id of a request, unless the proxy generated one for this call alone."""
    meta = litellm_metadata(data)
    if meta.get(SESSION_GENERATED_KEY):
        return None
    return _text(data.get("litellm_session_id")) or _text(meta.get("session_id"))


def conversation(labels: Mapping[str, str], session: str | None) -> str | None:
    found = labels.get("conversation_id") or session
    if found and len(found) > MAX_CONVERSATION_ID:
        return "sha256:" + hashlib.sha256(found.encode()).hexdigest()
    return found


def _strings(value: object) -> Iterable[str]:
    """The text in a prompt structure (content blocks, input items), without inline media."""
    if isinstance(value, str):
        if not value.startswith("data:"):
            yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in ("image_url", "source", "data", "file_data", "type", "role"):
                yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _count_text(model: str, value: object) -> int:
    text = "\n".join(_strings(value))
    if not text:
        return 0
    try:
        return int(litellm.token_counter(model=model, text=text))
    except Exception:  # an odd payload: a rough count is good enough for an estimate
        return len(text) // 4


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def estimate_tokens(data: Mapping[str, Any], kind: str) -> int:
    """Prompt tokens plus the most output the request allows."""
    model = str(data.get("model") or "")
    if kind in ("chat", "messages"):
        try:
            prompt = int(litellm.token_counter(model=model, messages=data.get("messages") or []))
        except Exception:  # content blocks the counter does not know
            prompt = _count_text(model, data.get("messages"))
        prompt += _count_text(model, data.get("system"))
    elif kind == "text":
        prompt = _count_text(model, data.get("prompt"))
    elif kind in ("responses", "embeddings"):
        prompt = _count_text(model, [data.get("instructions"), data.get("input")])
    else:
        return 0
    if kind == "embeddings":
        output = 0
    else:
        limit = {
            "chat": _positive(data.get("max_completion_tokens"))
            or _positive(data.get("max_tokens")),
            "text": _positive(data.get("max_tokens")),
            "responses": _positive(data.get("max_output_tokens")),
            "messages": _positive(data.get("max_tokens")),
        }[kind]
        output = limit or DEFAULT_OUTPUT_ESTIMATE
        if kind in ("chat", "text"):
            output *= _positive(data.get("n")) or 1
    return min(prompt + output, MAX_ESTIMATE)


# --- pre-filling a prompt template -----------------------------------------------------------


def take_template_variables(data: Mapping[str, Any]) -> object | None:
    """The request's `template_variables` (None when it sends none), removed from every metadata
    scope: the values are the client's text, so LiteLLM neither forwards them to the provider
    nor writes them into its spend logs."""
    found = None
    for scope in _request_scopes(data):
        if isinstance(scope, dict) and TEMPLATE_VARIABLES_KEY in scope:
            value = scope.pop(TEMPLATE_VARIABLES_KEY)
            found = value if found is None else found
    return found


def as_variables(value: object) -> Mapping[str, Any] | None:
    """`template_variables` as sent: an object, or that object as a JSON string (OpenAI's
    `metadata` takes string values only)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def with_filled_prompt(data: dict[str, Any], kind: str, text: str) -> None:
    """Add the filled template to the request as its last user turn: after the messages (chat,
    /v1/messages), after the input (Responses API; a string input becomes a first user item),
    after the prompt and a blank line (text completion). What the client sent before it (a
    system prompt, the conversation so far) stays."""
    turn = {"role": "user", "content": text}
    if kind in ("chat", "messages"):
        data["messages"] = [*_list(data.get("messages")), turn]
    elif kind == "responses":
        current = data.get("input")
        if isinstance(current, str):
            items = [{"role": "user", "content": current}] if current.strip() else []
        else:
            items = _list(current)
        data["input"] = [*items, turn] if items else text
    else:  # text completion: a string prompt (checked by the caller)
        prompt = data.get("prompt")
        data["prompt"] = f"{prompt}\n\n{text}" if _text(prompt) else text


def _refused(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail={"error": message})


# --- the facts of a finished call ------------------------------------------------------------


def spend_log_request_id(kwargs: Mapping[str, Any], response_obj: object) -> str | None:
    """The request_id LiteLLM writes into LiteLLM_SpendLogs for this call: get_logging_payload
    (litellm/proxy/spend_tracking/spend_tracking_utils.py) takes get_spend_logs_id, the first
    non-empty string of the response's `id`, the standard logging payload's `id` and
    `litellm_call_id` (its suffixes are for batch and background-poll cost rows, which this hook
    does not meter). Cache hits get a time suffix there; they are not posted."""
    if isinstance(response_obj, Mapping):
        response_id = response_obj.get("id")
    elif isinstance(response_obj, BaseModel):
        response_id = getattr(response_obj, "id", None)
    else:
        response_id = None
    payload = _mapping(kwargs.get("standard_logging_object"))
    for candidate in (response_id, payload.get("id"), kwargs.get("litellm_call_id")):
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _metadata_scopes(kwargs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    params = _mapping(kwargs.get("litellm_params"))
    return [_mapping(params.get("litellm_metadata")), _mapping(params.get("metadata"))]


def _usage_counts(kwargs: Mapping[str, Any], response_obj: object) -> tuple[int, int, int]:
    """(input, output, cached input) tokens."""
    payload = _mapping(kwargs.get("standard_logging_object"))
    if payload:
        prompt = int(payload.get("prompt_tokens") or 0)
        completion = int(payload.get("completion_tokens") or 0)
        usage = _mapping(_mapping(payload.get("metadata")).get("usage_object"))
    else:  # no standard logging payload: read the response's own usage
        raw = getattr(response_obj, "usage", None)
        if raw is None and isinstance(response_obj, Mapping):
            raw = response_obj.get("usage")
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        usage = _mapping(raw)
        prompt = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
        completion = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
    details = _mapping(usage.get("prompt_tokens_details"))
    cached = details.get("cached_tokens") or usage.get("cache_read_input_tokens") or 0
    cached = int(cached) if isinstance(cached, int | float) else 0
    return prompt, completion, max(0, min(cached, prompt))


def _timestamp(start_time: object) -> str:
    started = start_time if isinstance(start_time, datetime) else datetime.now(UTC)
    # LiteLLM passes naive local times; its spend logs read them the same way (astimezone).
    return started.astimezone(UTC).isoformat()


# --- the spool ----------------------------------------------------------------------------------


class Spool:
    """Usage events not yet acknowledged by tokenbot, in one SQLite file (WAL): an event is
    committed here before it is sent and deleted only once tokenbot acknowledged it. Several
    proxy workers may share the file; each thread has its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connection() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "id TEXT NOT NULL UNIQUE, event TEXT NOT NULL, spooled_at REAL NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS rejected (id TEXT PRIMARY KEY, event TEXT NOT NULL, "
                "reason TEXT NOT NULL, rejected_at REAL NOT NULL)"
            )

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
            self._local.db = db
        return db

    def add(self, event: Mapping[str, Any]) -> None:
        self._connection().execute(
            "INSERT OR IGNORE INTO pending (id, event, spooled_at) VALUES (?, ?, ?)",
            (event["id"], json.dumps(event), time.time()),
        )

    def oldest(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        rows = self._connection().execute(
            "SELECT id, event FROM pending ORDER BY seq LIMIT ?", (limit,)
        )
        return [(event_id, json.loads(event)) for event_id, event in rows]

    def delete(self, ids: Iterable[str]) -> None:
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])

    def reject(self, rejected: Mapping[str, str]) -> None:
        """Move events tokenbot refused as invalid (id -> reason) out of the way, kept."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            for event_id, reason in rejected.items():
                db.execute(
                    "INSERT OR REPLACE INTO rejected (id, event, reason, rejected_at) "
                    "SELECT id, event, ?, ? FROM pending WHERE id = ?",
                    (reason, time.time(), event_id),
                )
                db.execute("DELETE FROM pending WHERE id = ?", (event_id,))

    def count(self, table: str = "pending") -> int:
        assert table in ("pending", "rejected")
        return self._connection().execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class Delivery:
    """A daemon thread that sends the spool to tokenbot, oldest first, in batches."""

    def __init__(self, spool: Spool, url: str, api_key: str, timeout: float, max_backoff: float):
        self.spool = spool
        self.url = f"{url}/api/v1/usage"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.failures = 0
        self.wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def ensure_running(self) -> None:
        """Start the thread (again after a fork: threads do not survive one)."""
        if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="tokenbot-usage", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            while True:
                self.wake.clear()  # before reading: an event spooled from now on wakes us
                try:
                    wait = self._deliver_once(client)
                except Exception:  # never let the thread die: the spool keeps the events
                    log.exception("tokenbot usage delivery failed; retrying")
                    self.failures += 1
                    wait = self._backoff_seconds()
                if wait is None:
                    continue
                if self.failures:
                    time.sleep(wait)  # tokenbot is down: new events must not hurry the retry
                else:
                    self.wake.wait(wait)

    def _deliver_once(self, client: httpx.Client) -> float | None:
        """Send one batch; the seconds to wait before the next, or None to go on at once."""
        batch = self.spool.oldest(BATCH_SIZE)
        if not batch:
            return IDLE_POLL_SECONDS
        try:
            response = client.post(self.url, json={"events": [event for _, event in batch]})
        except httpx.HTTPError as problem:
            return self._failed(f"unreachable ({problem!r})", None, len(batch))
        if response.status_code < 300:
            self.spool.delete(event_id for event_id, _ in batch)
            if self.failures:
                log.warning("tokenbot reachable again: spooled usage is being delivered")
            self.failures = 0
            return None
        if response.status_code == 400:
            self._reject(batch, response)
            return None
        if response.status_code in (401, 403):
            log.error(
                "tokenbot refused the gateway's API key (HTTP %s): check TOKENBOT_API_KEY. "
                "%d usage event(s) wait in %s until it is fixed.",
                response.status_code,
                self.spool.count(),
                self.spool.path,
            )
        return self._failed(
            f"HTTP {response.status_code}",
            retry_after_seconds(response.headers.get("Retry-After")),
            len(batch),
        )

    def _failed(self, why: str, retry_after: float | None, pending: int) -> float:
        self.failures += 1
        wait = retry_after if retry_after is not None else self._backoff_seconds()
        log.warning(
            "tokenbot usage not delivered: %s; %d+ event(s) kept in the spool, next try in %.1f s",
            why,
            pending,
            wait,
        )
        return wait

    def _backoff_seconds(self) -> float:
        """1 s, 2 s, 4 s, ... up to max_backoff after as many failures in a row, jittered
        (several proxies must not all come back at the same instant)."""
        ceiling = min(self.max_backoff, 2.0 ** (self.failures - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _reject(self, batch: list[tuple[str, dict[str, Any]]], response: httpx.Response) -> None:
        try:
            problems = response.json().get("errors") or []
        except (ValueError, AttributeError):
            problems = []
        reasons: dict[str, str] = {}
        for problem in problems:
            index = problem.get("index") if isinstance(problem, dict) else None
            if isinstance(index, int) and 0 <= index < len(batch):
                event_id = batch[index][0]
                reason = f"{problem.get('field')}: {problem.get('reason')}"
                reasons[event_id] = (
                    f"{reasons[event_id]}; {reason}" if event_id in reasons else reason
                )
        if not reasons:  # no per-event answer: refuse the whole batch, each kept with the answer
            reasons = {event_id: response.text[:500] for event_id, _ in batch}
        self.spool.reject(reasons)
        for event_id, reason in reasons.items():
            log.error(
                "tokenbot rejected usage event %s as invalid: %s (kept in %s, table rejected)",
                event_id,
                reason,
                self.spool.path,
            )


# --- the LiteLLM callback ---------------------------------------------------------------------


def _setting(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


class TokenbotHook(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.url = _setting("TOKENBOT_URL", "http://127.0.0.1:8080").rstrip("/")
        self.fail_open = _setting("TOKENBOT_FAIL_OPEN", "true").lower() not in ("false", "0", "no")
        timeout = float(_setting("TOKENBOT_TIMEOUT_SECONDS", "2"))
        api_key = os.environ.get("TOKENBOT_API_KEY", "").strip()
        if not api_key:
            log.error(
                "TOKENBOT_API_KEY is not set: tokenbot will refuse every call this proxy makes"
            )
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), headers={"Authorization": f"Bearer {api_key}"}
        )
        spool_dir = Path(
            _setting("TOKENBOT_SPOOL_DIR", str(Path(__file__).resolve().parent / "tokenbot-spool"))
        )
        self.spool = Spool(spool_dir / "spool.sqlite3")
        self.delivery = Delivery(
            self.spool,
            self.url,
            api_key,
            timeout,
            float(_setting("TOKENBOT_RETRY_MAX_SECONDS", "60")),
        )
        # What the pre-call hook leaves in the metadata is sealed, so a client cannot pass
        # its own `tokenbot` metadata off as ours.
        self.seal = secrets.token_hex(16)
        self.delivery.ensure_running()  # events spooled before a restart go out now

    # --- before the call ------------------------------------------------------------------

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type):  # noqa: ANN001
        call_type = str(getattr(call_type, "value", call_type))
        kind = METERED_CALL_TYPES.get(call_type)
        if kind is None and call_type not in UNMETERED_CALL_TYPES:
            return data
        labels = _request_labels(data)
        filled = await self.prefill_template(data, kind, labels.get("template_id"))
        if filled is not None:
            labels["template_id"] = filled
        facts = {
            "seal": self.seal,
            "user": request_person(data, kind or "other", user_api_key_dict),
            "model": _text(data.get("model")) or "unknown",
            "use_case": labels.get("use_case"),
            "project": labels.get("project"),
            "template_id": labels.get("template_id"),
            "conversation_id": conversation(labels, session_id(data)),
        }
        meta = data.get("litellm_metadata")
        if not isinstance(meta, dict):
            meta = data.setdefault("metadata", {})
        meta[STASH_KEY] = facts
        request = {
            "user": facts["user"],
            "model": facts["model"],
            "estimated_tokens": estimate_tokens(data, kind) if kind else 0,
            "use_case": facts["use_case"],
            "project": facts["project"],
        }
        decision = await self._authorize(request)
        if decision is not None and not decision.get("allow", False):
            raise HTTPException(
                status_code=403,
                detail={"error": decision.get("reason") or "refused by the token policy"},
            )
        return data

    async def prefill_template(
        self, data: dict[str, Any], kind: str | None, template_id: str | None
    ) -> str | None:
        """Fill in the template the request names, when it sends `template_variables`: tokenbot
        renders it (POST /api/v1/templates/render, approved templates only) and the text becomes
        the request's last user turn (`with_filled_prompt`). Returns the template's id, which
        the call's usage then carries, or None when the request asks for no filling. A template
        tokenbot refuses (unknown 404, retired 410, waiting for approval 409, a missing, unknown
        or non-text variable 422) refuses the call with tokenbot's status and reason. Without
        tokenbot the prompt cannot be filled, so the call is refused (503) whatever
        TOKENBOT_FAIL_OPEN says."""
        variables = take_template_variables(data)
        if variables is None:
            return None
        if not template_id:
            raise _refused(
                400,
                "template_variables needs a template_id in the metadata: the id of the prompt "
                "template to fill in",
            )
        if kind not in FILLABLE_KINDS or (kind == "text" and _list(data.get("prompt"))):
            raise _refused(
                400,
                f"prompt template {template_id!r}: only chat completions, text completions with "
                "one prompt, the Responses API and /v1/messages are filled in",
            )
        variables = as_variables(variables)
        if variables is None:
            raise _refused(
                400,
                f"prompt template {template_id!r}: template_variables must be an object of "
                "names and values (or that object as a JSON string)",
            )
        body = {"template_id": template_id, "variables": dict(variables)}
        try:
            response = await self.client.post(f"{self.url}/api/v1/templates/render", json=body)
        except httpx.HTTPError as problem:
            log.warning("tokenbot template render unreachable (%r): the call is refused", problem)
            raise _refused(
                503, f"prompt template {template_id!r} cannot be filled in now; try again"
            ) from None
        self._check_key(response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        answer = answer if isinstance(answer, dict) else {}
        if response.status_code == 200 and isinstance(answer.get("text"), str):
            with_filled_prompt(data, kind, answer["text"])
            return _text(answer.get("template_id")) or template_id
        if 400 <= response.status_code < 500:
            reason = _text(answer.get("message")) or f"refused (HTTP {response.status_code})"
            if template_id not in reason:
                reason = f"prompt template {template_id!r}: {reason}"
            raise _refused(response.status_code, reason)
        log.warning(
            "tokenbot template render answered HTTP %s: the call is refused", response.status_code
        )
        raise _refused(503, f"prompt template {template_id!r} cannot be filled in now; try again")

    @staticmethod
    def _check_key(response: httpx.Response) -> None:
        """A 401/403 from tokenbot itself: the gateway's key is wrong; every call is refused."""
        if response.status_code not in (401, 403):
            return
        log.error(
            "tokenbot refused the gateway's API key (HTTP %s): every call is refused until "
            "TOKENBOT_API_KEY holds a valid key (tokenbot apikey create)",
            response.status_code,
        )
        raise _refused(503, "the token budget check is misconfigured; tell the AI platform team")

    async def _authorize(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """tokenbot's decision; None when tokenbot cannot decide and TOKENBOT_FAIL_OPEN allows
        the call. Raises the HTTP error the client gets otherwise."""
        try:
            response = await self.client.post(f"{self.url}/api/v1/authorize", json=request)
        except httpx.HTTPError as problem:
            return self._undecided(f"unreachable ({problem!r})")
        self._check_key(response)
        if response.status_code != 200:
            if response.status_code < 500:
                log.error("tokenbot authorize answered %s: %s", response.status_code, response.text)
            return self._undecided(f"HTTP {response.status_code}")
        try:
            decision = response.json()
        except ValueError:
            return self._undecided("an answer that is not JSON")
        return decision if isinstance(decision, dict) else self._undecided("an odd answer")

    def _undecided(self, why: str) -> None:
        if self.fail_open:
            log.warning(
                "tokenbot authorize unavailable (%s): the call goes through (fail open)", why
            )
            return None
        log.warning("tokenbot authorize unavailable (%s): the call is refused (fail closed)", why)
        raise HTTPException(
            status_code=503, detail={"error": "the token budget check is unavailable; try again"}
        )

    # --- after the call -------------------------------------------------------------------

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        try:
            event = self.usage_event(kwargs, response_obj, start_time)
        except Exception:  # a callback must never break the proxy
            log.exception("tokenbot hook could not read a finished call")
            return
        if event is None:
            return
        try:
            self.spool.add(event)
        except Exception:
            log.exception("tokenbot usage could not be spooled; the event: %s", json.dumps(event))
            return
        self.delivery.ensure_running()
        self.delivery.wake.set()

    def usage_event(
        self, kwargs: Mapping[str, Any], response_obj: object, start_time: object
    ) -> dict[str, Any] | None:
        """The usage event of a finished call, or None when nothing is to be debited."""
        call_type = str(kwargs.get("call_type") or "")
        payload = _mapping(kwargs.get("standard_logging_object"))
        if (
            call_type not in METERED_CALL_TYPES
            or payload.get("cache_hit")
            or kwargs.get("cache_hit")
        ):
            return None
        request_id = spend_log_request_id(kwargs, response_obj)
        input_tokens, output_tokens, cached = _usage_counts(kwargs, response_obj)
        if request_id is None or input_tokens + output_tokens == 0:
            return None
        scopes = _metadata_scopes(kwargs)
        facts = next(
            (
                stash
                for scope in scopes
                if isinstance(stash := scope.get(STASH_KEY), Mapping)
                and stash.get("seal") == self.seal
            ),
            None,
        )
        if facts is None:  # the pre-call hook did not see this call: what the payload says
            facts = self._facts_after_the_call(kwargs, payload, scopes)
        event = {
            "id": f"litellm:{request_id}",
            "user": facts.get("user") or "unknown",
            "model": _text(payload.get("model_group")) or facts.get("model") or "unknown",
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cached_input_tokens": cached,
            "use_case": facts.get("use_case"),
            "project": facts.get("project"),
            "conversation_id": facts.get("conversation_id"),
            "timestamp": _timestamp(start_time),
        }
        if facts.get("template_id"):
            event["template_id"] = facts["template_id"]
        return event

    @staticmethod
    def _facts_after_the_call(
        kwargs: Mapping[str, Any], payload: Mapping[str, Any], scopes: list[Mapping[str, Any]]
    ) -> dict[str, Any]:
        meta = {k: v for scope in reversed(scopes) for k, v in scope.items()}
        labels = own_labels(
            [
                meta,
                _mapping(meta.get("requester_metadata")),
                _mapping(meta.get("spend_logs_metadata")),
            ],
            [*_list(payload.get("request_tags")), *_list(meta.get("tags"))],
        )
        params = _mapping(kwargs.get("litellm_params"))
        session = None
        if not meta.get(SESSION_GENERATED_KEY):
            session = _text(params.get("litellm_session_id")) or _text(meta.get("session_id"))
        user = (
            _text(payload.get("end_user"))
            or _text(meta.get("user_api_key_end_user_id"))
            or _text(meta.get("user_api_key_user_email"))
            or _text(meta.get("user_api_key_user_id"))
            or _text(meta.get("user_api_key_alias"))
        )
        return {
            "user": user,
            "model": _text(meta.get("model_group")) or _text(kwargs.get("model")),
            "use_case": labels.get("use_case"),
            "project": labels.get("project"),
            "template_id": labels.get("template_id"),
            "conversation_id": conversation(labels, session),
        }


proxy_handler_instance = TokenbotHook()
