"""ImportRow, what every format reader yields, and how readers build rows from provider records.

Invariants:
- a row carries exactly one of: a UsageEvent, an OutcomeEvent, or a non-empty list of errors;
- error indexes are the line the record starts on in the source file, and error fields name the
  provider's own field (e.g. "start_time", "prompt_tokens") wherever one exists;
- ids derived from record contents (`content_id`, `readable_id`) are deterministic, so importing
  the same export twice yields the same ids and the store counts nothing twice.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ingest.events import (
    MAX_ID_LENGTH,
    FieldError,
    InvalidValue,
    OutcomeEvent,
    UsageEvent,
    parse_outcome_event,
    parse_token_count,
    parse_usage_event,
)

# Reasons may name another field ("must not exceed input_tokens"); rename those too.
_FIELD_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One event read from an import file, or why the record on `line` could not be read."""

    line: int
    usage: UsageEvent | None = None
    outcome: OutcomeEvent | None = None
    errors: list[FieldError] = field(default_factory=list)


def error_row(line: int, field_name: str, reason: str) -> ImportRow:
    return ImportRow(line, errors=[FieldError(line, field_name, reason)])


def usage_row(
    line: int,
    raw: Mapping[str, object],
    *,
    now: datetime,
    source_fields: Mapping[str, str] | None = None,
    known_errors: Sequence[FieldError] = (),
    unchecked_fields: Iterable[str] = (),
) -> ImportRow:
    """Parse `raw` (UsageEvent field names) into a row.

    `source_fields` renames fields in errors to the provider's names; `known_errors` are problems
    the reader already found in provider fields; errors on `unchecked_fields` (derived from those
    bad provider fields) are dropped so each problem is reported once.
    """
    parsed = parse_usage_event(raw, line, now=now)
    if isinstance(parsed, UsageEvent) and not known_errors:
        return ImportRow(line, usage=parsed)
    parse_errors = [] if isinstance(parsed, UsageEvent) else parsed
    return ImportRow(
        line, errors=_merge_errors(known_errors, parse_errors, source_fields, unchecked_fields)
    )


def outcome_row(
    line: int,
    raw: Mapping[str, object],
    *,
    now: datetime,
    source_fields: Mapping[str, str] | None = None,
) -> ImportRow:
    """Parse `raw` (OutcomeEvent field names) into a row; like `usage_row`."""
    parsed = parse_outcome_event(raw, line, now=now)
    if isinstance(parsed, OutcomeEvent):
        return ImportRow(line, outcome=parsed)
    return ImportRow(line, errors=_merge_errors((), parsed, source_fields, ()))


def token_sum(
    record: Mapping[str, object],
    line: int,
    errors: list[FieldError],
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    prefix: str = "",
) -> int | None:
    """The sum of a provider record's token fields, or None if any of them is bad.

    Field names may be dotted paths into nested objects ("cache_creation.ephemeral_5m_input_tokens").
    Absent or null optional fields count as 0. Problems are appended to `errors`, named
    `prefix + path`.
    """
    total = 0
    valid = True
    for path, is_required in [(path, True) for path in required] + [
        (path, False) for path in optional
    ]:
        value = nested_value(record, path)
        if value is None:
            if is_required:
                errors.append(FieldError(line, prefix + path, "is required"))
                valid = False
            continue
        try:
            total += parse_token_count(value)
        except InvalidValue as invalid:
            errors.append(FieldError(line, prefix + path, invalid.reason))
            valid = False
    return total if valid else None


def missing(**derived_values: object) -> set[str]:
    """Names of the derived values that could not be computed (None): pass as unchecked_fields."""
    return {name for name, value in derived_values.items() if value is None}


def nested_value(record: Mapping[str, object], path: str) -> object:
    """The value at a dotted path, or None where any step is missing or not an object."""
    value: object = record
    for key in path.split("."):
        if not isinstance(value, dict | Mapping):  # dict first: the common, fast case
            return None
        value = value.get(key)
    return value


def content_id(source: str, parts: Sequence[object]) -> str:
    """`source` + ":" + the sha256 of the JSON-encoded parts: stable across reads and machines."""
    encoded = json.dumps(list(parts), separators=(",", ":"), sort_keys=True, default=str)
    return f"{source}:{hashlib.sha256(encoded.encode()).hexdigest()}"


def readable_id(source: str, parts: Sequence[str]) -> str:
    """`source:part1:part2...` when that fits MAX_ID_LENGTH, else `content_id(source, parts)`."""
    joined = ":".join([source, *parts])
    return joined if len(joined) <= MAX_ID_LENGTH else content_id(source, parts)


def _merge_errors(
    known_errors: Sequence[FieldError],
    parse_errors: Sequence[FieldError],
    source_fields: Mapping[str, str] | None,
    unchecked_fields: Iterable[str],
) -> list[FieldError]:
    skipped = set(unchecked_fields)
    renames = source_fields or {}
    merged = list(known_errors)
    for error in parse_errors:
        if error.field not in skipped:
            reason = _FIELD_NAME.sub(lambda name: renames.get(name[0], name[0]), error.reason)
            merged.append(FieldError(error.index, renames.get(error.field, error.field), reason))
    return merged
