"""Import LiteLLM proxy spend logs (the LiteLLM_SpendLogs table, e.g. a `/spend/logs` export).

Accepted files: JSON (a list of log records, {"data": [...]} pages, or one record per line) or
CSV with a header row of the table's columns: request_id, call_type, api_key, spend,
total_tokens, prompt_tokens, completion_tokens, startTime, endTime, model, model_group, user,
end_user, team_id, metadata, request_tags, cache_hit, session_id, ... The format is told apart by
the file's first non-blank character ('{' or '[' means JSON). In CSV, metadata and request_tags
are JSON texts.

What LiteLLM writes into a row (litellm/proxy/spend_tracking/spend_tracking_utils.py,
get_logging_payload): `end_user` is the end user of the request (the `user` field a client sends);
`user` is the virtual key's owner (metadata user_api_key_user_id); `model_group` is the model name
the client asked the proxy for, `model` the provider's model it was routed to; `metadata` keeps
only the keys of SpendLogsMetadata (user_api_key, user_api_key_alias, user_api_key_team_id,
user_api_key_org_id, user_api_key_user_id, user_api_key_team_alias, spend_logs_metadata,
usage_object, additional_usage_values, status, ...): a request's own metadata survives only
under `spend_logs_metadata`, its tags as the `request_tags` column.

Mapping, one UsageEvent per log record:
- id = "litellm:<request_id>" (LiteLLM's call id; ids longer than the column, such as Responses
  API ids of ~470 characters, are stored as `ingest.events.stored_id` says);
- user: end_user, else user (the key's owner), else metadata.user_api_key_user_id, else
  "litellm-key:<api_key>" (the hashed virtual key; the directory maps aliases to people); an
  Anthropic `/v1/messages` end user as Claude Code sends it
  ("user_<hash>_account_<uuid>_session_<uuid>") loses its `_session_...` part, which names the
  conversation, not the person (the LiteLLM hook does the same, so both book one identity);
- a proxy cache hit (cache_hit true) is not usage: LiteLLM logs it under an id made from the
  time (`<id>_cache_hit<seconds>`), with the tokens of the call it replayed and spend 0; no
  provider was called, the hook does not debit it, and the importer skips it;
- model: model_group, else model, else "unknown";
- input_tokens = prompt_tokens, output_tokens = completion_tokens, cached_input_tokens =
  metadata.usage_object.prompt_tokens_details.cached_tokens, else the same under
  metadata.additional_usage_values (0 when absent);
- use_case, project, template_id, conversation_id, prompt_fingerprint: our own keys in
  metadata.spend_logs_metadata (sent as the request's metadata {"spend_logs_metadata": {...}}),
  else "key:value" tags in request_tags (e.g. "use_case:seo-brief");
- conversation_id falls back to session_id. LiteLLM writes the client's session there, but a
  per-call trace id when the client sent none, unless the proxy sets
  `general_settings: missing_session_id: omit` (recommended with tokenbot: then calls without
  a session are not conversations of their own);
- timestamp = startTime. LiteLLM writes naive UTC times ("2024-05-01 12:00:00.123"), so for this
  format only a timestamp without offset is taken as UTC.
"""

import io
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import BinaryIO

from ingest.formats.csv_records import CsvHeader, CsvProblem, iter_csv_records
from ingest.formats.json_records import JsonProblem, iter_json_records
from ingest.formats.rows import ImportRow, error_row, nested_value, usage_row

SOURCE = "litellm"
REQUIRED_CSV_COLUMNS = ("request_id", "prompt_tokens", "completion_tokens", "startTime")
OWN_METADATA_KEYS = ("use_case", "project", "template_id", "conversation_id", "prompt_fingerprint")
_CACHED_TOKENS_PATHS = (
    "usage_object.prompt_tokens_details.cached_tokens",
    "additional_usage_values.prompt_tokens_details.cached_tokens",
)
_ERROR_FIELDS = {
    "id": "request_id",
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "timestamp": "startTime",
}
_DIGITS = re.compile(r"[0-9]+")


def read(stream: BinaryIO, *, now: datetime) -> Iterator[ImportRow]:
    """One ImportRow per spend log record of a LiteLLM JSON or CSV export."""
    first_byte, replayed = _peek_first_significant_byte(stream)
    if first_byte in (b"{", b"["):
        yield from _read_json(replayed, now)
    else:
        yield from _read_csv(replayed, now)


def _read_json(stream: BinaryIO, now: datetime) -> Iterator[ImportRow]:
    for record in iter_json_records(stream):
        if isinstance(record, JsonProblem):
            yield error_row(record.line, "file", record.reason)
        elif not isinstance(record.value, Mapping):
            yield error_row(record.line, "record", "must be a spend log object")
        else:
            row = _row_from_log(record.value, record.line, now)
            if row is not None:
                yield row


def _read_csv(stream: BinaryIO, now: datetime) -> Iterator[ImportRow]:
    for record in iter_csv_records(stream):
        if isinstance(record, CsvProblem):
            yield error_row(record.line, "file", record.reason)
        elif isinstance(record, CsvHeader):
            absent = [name for name in REQUIRED_CSV_COLUMNS if name not in record.columns]
            if absent:
                yield error_row(
                    record.line, "header", "is missing required columns: " + ", ".join(absent)
                )
                return
        else:
            cells: dict[str, object] = dict(record.cells)
            for column in ("prompt_tokens", "completion_tokens"):
                cell = cells.get(column)
                if isinstance(cell, str) and _DIGITS.fullmatch(cell):
                    cells[column] = int(cell)
            row = _row_from_log(cells, record.line, now)
            if row is not None:
                yield row


def _is_cache_hit(log: Mapping[str, object]) -> bool:
    flag = log.get("cache_hit")
    return flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")


def _row_from_log(log: Mapping[str, object], line: int, now: datetime) -> ImportRow | None:
    if _is_cache_hit(log):
        return None
    metadata = _json_value(log.get("metadata"))
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        return error_row(line, "metadata", "must be a JSON object")
    own = _own_values(
        _json_value(metadata.get("spend_logs_metadata")), _tags(log.get("request_tags"))
    )

    request_id = log.get("request_id")
    cached_path, cached_tokens = next(
        (
            (path, value)
            for path in _CACHED_TOKENS_PATHS
            if (value := nested_value(metadata, path)) is not None
        ),
        (_CACHED_TOKENS_PATHS[0], None),
    )
    raw = {
        "id": f"{SOURCE}:{request_id}"
        if isinstance(request_id, str) and request_id
        else request_id,
        "user": _user(log, metadata),
        "model": _first_text(log.get("model_group"), log.get("model")) or "unknown",
        "input_tokens": log.get("prompt_tokens"),
        "output_tokens": log.get("completion_tokens"),
        "cached_input_tokens": 0 if cached_tokens is None else cached_tokens,
        "use_case": own.get("use_case"),
        "project": own.get("project"),
        "template_id": own.get("template_id"),
        "conversation_id": own.get("conversation_id") or _first_text(log.get("session_id")),
        "timestamp": _utc_if_naive(log.get("startTime")),
        "prompt_fingerprint": own.get("prompt_fingerprint"),
    }
    source_fields = {**_ERROR_FIELDS, "cached_input_tokens": f"metadata.{cached_path}"}
    return usage_row(line, raw, now=now, source_fields=source_fields)


def _user(log: Mapping[str, object], metadata: Mapping[str, object]) -> str | None:
    end_user = _first_text(log.get("end_user"))
    if end_user and "_session_" in end_user:
        end_user = end_user[: end_user.rfind("_session_")] or None
    user = end_user or _first_text(log.get("user"), metadata.get("user_api_key_user_id"))
    if user:
        return user
    api_key = _first_text(log.get("api_key"))
    return f"litellm-key:{api_key}" if api_key else None


def _own_values(spend_logs_metadata: object, tags: list[str]) -> dict[str, object]:
    """Our own keys from spend_logs_metadata, then from key:value tags."""
    own: dict[str, object] = {}
    if isinstance(spend_logs_metadata, Mapping):
        for key in OWN_METADATA_KEYS:
            value = spend_logs_metadata.get(key)
            if value is not None and value != "":
                own[key] = value
    for tag in tags:
        key, separator, value = tag.partition(":")
        if separator and key in OWN_METADATA_KEYS and key not in own and value.strip():
            own[key] = value.strip()
    return own


def _tags(value: object) -> list[str]:
    tags = _json_value(value)
    if isinstance(tags, list):
        return [tag for tag in tags if isinstance(tag, str)]
    return []


def _json_value(value: object) -> object:
    """Decode values that CSV exports (and some JSON exports) hold as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _first_text(*values: object) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value
    return None


def _utc_if_naive(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _peek_first_significant_byte(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first byte that is not whitespace or a BOM, and a stream that still starts at byte 0."""
    head = b""
    while chunk := stream.read(4096):
        head += chunk
        significant = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        if significant:
            return significant[:1], io.BufferedReader(_ReplayedStream(head, stream))
    return b"", io.BufferedReader(_ReplayedStream(head, stream))


class _ReplayedStream(io.RawIOBase):
    """Reads `head` again, then the rest of `stream`; closing it leaves `stream` open."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
