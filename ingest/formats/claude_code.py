"""Import Claude Code analytics: pages of the Admin API `GET /v1/organizations/usage_report/claude_code`.

A page is {"data": [record, ...], "has_more": ..., "next_page": ...}; a record is one actor's day:
{"date": "YYYY-MM-DD" (the UTC day, as documented; an RFC 3339 time is accepted too), "actor": {"type": "user_actor", "email_address": ...} or {"type": "api_actor",
"api_key_name": ...}, "organization_id", "customer_type", "terminal_type", "core_metrics": {...},
"tool_actions": {"edit_tool": {"accepted": n, "rejected": n}, "multi_edit_tool": ..., "write_tool":
..., "notebook_edit_tool": ...}, "model_breakdown": [{"model", "tokens": {"input", "output",
"cache_read", "cache_creation"}, "estimated_cost": {...}}]}. Files hold one page per line (JSON
Lines) or one JSON document (a page, or a list of pages).

Mapping, all with use_case "coding" and the start of the record's UTC day as timestamp:
- user: the actor's email_address, or "anthropic-key-name:<api_key_name>";
- one UsageEvent per model_breakdown entry: input_tokens = input + cache_read + cache_creation,
  cached_input_tokens = cache_read, output_tokens = output;
  id "claude-code:<day>:<actor>[:<terminal_type>]:<model>";
- one OutcomeEvent per accepted and per rejected tool action (each action is its own artifact,
  linked to the record's usage ids): id and artifact_id
  "claude-code:<day>:<actor>[:<terminal_type>]:<tool>:<accepted|rejected>:<n>", n from 1.
  Ids longer than 200 characters are replaced by a sha256-based id. Being positional, these ids
  stay stable when the same day is re-imported with counts that only grew.
- core_metrics and estimated_cost are not imported.

A record is imported whole or not at all: any problem (including more than
MAX_TOOL_ACTIONS_PER_RECORD tool actions, which is taken as corrupt data) yields one row with all
of the record's errors and no events.
"""

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import BinaryIO

from ingest.events import (
    TIMESTAMP_FORMAT,
    TIMESTAMP_WITHOUT_OFFSET,
    FieldError,
    InvalidValue,
    parse_timestamp,
)
from ingest.formats.json_records import JsonProblem, iter_json_records
from ingest.formats.rows import (
    ImportRow,
    error_row,
    missing,
    outcome_row,
    readable_id,
    token_sum,
    usage_row,
)

SOURCE = "claude-code"
USE_CASE = "coding"
MAX_TOOL_ACTIONS_PER_RECORD = 10_000
TOOL_ACTION_STATUSES = ("accepted", "rejected")
DATE_FORMAT = "must be a UTC day as YYYY-MM-DD (e.g. 2025-09-01) or an RFC 3339 time"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def read(stream: BinaryIO, *, now: datetime) -> Iterator[ImportRow]:
    """Usage and outcome rows for every record of a Claude Code analytics export."""
    for record in iter_json_records(stream):
        if isinstance(record, JsonProblem):
            yield error_row(record.line, "file", record.reason)
        else:
            yield from _rows_from_record(record.value, record.line, now)


def _rows_from_record(record: object, line: int, now: datetime) -> Iterator[ImportRow]:
    if not isinstance(record, Mapping):
        yield error_row(line, "data", "must hold Claude Code analytics records (JSON objects)")
        return
    errors: list[FieldError] = []
    moment = _date(record, line, now, errors)
    day = None if moment is None else f"{moment:%Y-%m-%d}"
    user = _actor(record, line, errors)
    terminal_type = record.get("terminal_type")
    if terminal_type is not None and not isinstance(terminal_type, str):
        errors.append(FieldError(line, "terminal_type", "must be a string"))
        terminal_type = None
    tool_action_counts = _tool_action_counts(record, line, errors)
    model_breakdown = record.get("model_breakdown")
    if model_breakdown is None:
        model_breakdown = []
    elif not isinstance(model_breakdown, list):
        errors.append(FieldError(line, "model_breakdown", "must be a list"))
        model_breakdown = []
    # Usage rows are built even for a record already known to be bad, to report all its problems.
    user = user or "unknown-actor"
    record_key = [day or "unknown-day", user, *([terminal_type] if terminal_type else [])]
    rows = [
        _usage_row(entry, position, moment, record_key, user, line, now)
        for position, entry in enumerate(model_breakdown)
    ]
    errors.extend(error for row in rows for error in row.errors)
    if errors:
        yield ImportRow(line, errors=list(dict.fromkeys(errors)))
        return

    usage_ids = [row.usage.id for row in rows if row.usage is not None]
    for tool, status, count in tool_action_counts:
        for number in range(1, count + 1):
            outcome_id = readable_id(SOURCE, [*record_key, tool, status, str(number)])
            raw = {
                "id": outcome_id,
                "user": user,
                "artifact_id": outcome_id,
                "use_case": USE_CASE,
                "status": status,
                "usage_ids": usage_ids,
                "timestamp": moment,
            }
            rows.append(outcome_row(line, raw, now=now))

    record_errors = [error for row in rows for error in row.errors]
    if record_errors:
        yield ImportRow(line, errors=record_errors)
    else:
        yield from rows


def _usage_row(
    entry: object,
    position: int,
    moment: datetime | None,
    record_key: list[str],
    user: str,
    line: int,
    now: datetime,
) -> ImportRow:
    field_prefix = f"model_breakdown[{position}]"
    if not isinstance(entry, Mapping):
        return error_row(line, field_prefix, "must be an object with model and tokens")
    errors: list[FieldError] = []
    token_prefix = f"{field_prefix}.tokens."
    cached_input_tokens = token_sum(
        entry, line, errors, required=[], optional=["tokens.cache_read"], prefix=f"{field_prefix}."
    )
    uncached_input_tokens = token_sum(
        entry,
        line,
        errors,
        required=["tokens.input"],
        optional=["tokens.cache_creation"],
        prefix=f"{field_prefix}.",
    )
    input_tokens = (
        None
        if uncached_input_tokens is None or cached_input_tokens is None
        else uncached_input_tokens + cached_input_tokens
    )
    output_tokens = token_sum(
        entry, line, errors, required=["tokens.output"], prefix=f"{field_prefix}."
    )
    model = entry.get("model")
    raw = {
        "id": readable_id(SOURCE, [*record_key, str(model)]),
        "user": user,
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "use_case": USE_CASE,
        "timestamp": moment,
    }
    return usage_row(
        line,
        raw,
        now=now,
        source_fields={
            "model": f"{field_prefix}.model",
            "input_tokens": f"{token_prefix}input",
            "output_tokens": f"{token_prefix}output",
            "cached_input_tokens": f"{token_prefix}cache_read",
            "timestamp": "date",
        },
        known_errors=errors,
        unchecked_fields=missing(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            timestamp=moment,  # a bad date is reported once, by _date
        ),
    )


def _date(
    record: Mapping[str, object], line: int, now: datetime, errors: list[FieldError]
) -> datetime | None:
    """The start of the record's UTC day: `date` is documented as "YYYY-MM-DD"; an RFC 3339
    time with an offset (what earlier exports held) is read too."""
    value = record.get("date")
    if value is None:
        errors.append(FieldError(line, "date", "is required"))
        return None
    try:
        if isinstance(value, str) and _DAY.fullmatch(value.strip()):
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                raise InvalidValue(DATE_FORMAT) from None
            return parse_timestamp(datetime(day.year, day.month, day.day, tzinfo=UTC), now=now)
        return parse_timestamp(value, now=now)
    except InvalidValue as invalid:
        reason = {
            TIMESTAMP_FORMAT: DATE_FORMAT,
            TIMESTAMP_WITHOUT_OFFSET: f"{TIMESTAMP_WITHOUT_OFFSET}, or give the day as YYYY-MM-DD",
        }.get(invalid.reason, invalid.reason)
        errors.append(FieldError(line, "date", reason))
        return None


def _actor(record: Mapping[str, object], line: int, errors: list[FieldError]) -> str | None:
    actor = record.get("actor")
    if isinstance(actor, Mapping):
        email_address = actor.get("email_address")
        api_key_name = actor.get("api_key_name")
        if (
            actor.get("type") == "user_actor"
            and isinstance(email_address, str)
            and email_address.strip()
        ):
            return email_address
        if (
            actor.get("type") == "api_actor"
            and isinstance(api_key_name, str)
            and api_key_name.strip()
        ):
            return f"anthropic-key-name:{api_key_name}"
    errors.append(
        FieldError(
            line,
            "actor",
            "must be a user_actor with an email_address or an api_actor with an api_key_name",
        )
    )
    return None


def _tool_action_counts(
    record: Mapping[str, object], line: int, errors: list[FieldError]
) -> list[tuple[str, str, int]]:
    """(tool, status, count) for every tool action count of the record."""
    tool_actions = record.get("tool_actions")
    if tool_actions is None:
        return []
    if not isinstance(tool_actions, Mapping):
        errors.append(FieldError(line, "tool_actions", "must be an object of tools"))
        return []
    counts = []
    for tool, actions in tool_actions.items():
        if not isinstance(actions, Mapping):
            errors.append(
                FieldError(
                    line, f"tool_actions.{tool}", "must be an object with accepted and rejected"
                )
            )
            continue
        for status in TOOL_ACTION_STATUSES:
            value = actions.get(status)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors.append(
                    FieldError(
                        line, f"tool_actions.{tool}.{status}", "must be a non-negative integer"
                    )
                )
            else:
                counts.append((str(tool), status, value))
    total = sum(count for _, _, count in counts)
    if total > MAX_TOOL_ACTIONS_PER_RECORD:
        errors.append(
            FieldError(
                line,
                "tool_actions",
                f"must add up to at most {MAX_TOOL_ACTIONS_PER_RECORD:,} actions per record "
                f"(got {total:,}); larger counts are treated as corrupt data",
            )
        )
    return counts
