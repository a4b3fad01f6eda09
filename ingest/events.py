"""Validated usage and outcome events: the one gate untrusted usage data passes through.

Gateways posting batches and the file importers in `ingest.formats` both turn raw records into
events with `parse_usage_event` / `parse_outcome_event`. Parsing never raises on bad input: it
returns every problem of the record as `FieldError`s, whose reasons complete the sentence
"<field> ..." ("input_tokens must be a non-negative integer").

Invariants of every returned event:
- `id`, `user` (and `model`, `artifact_id`, `status`) are non-empty strings; other texts have
  at most MAX_TEXT_LENGTH characters;
- event ids (a usage or outcome `id`, and each of an outcome's `usage_ids`) are never refused
  for their length: an id longer than MAX_ID_LENGTH is replaced by `stored_id(id)`, a digest
  that keeps its source prefix. The HTTP API and every importer parse through here, so one
  long id always maps to one stored id, and an outcome still links to its usage;
- optional texts are None when absent, null or blank, never "";
- token counts are ints, 0 <= n <= MAX_TOKENS_PER_EVENT, and cached_input_tokens <= input_tokens;
- `timestamp` is a timezone-aware UTC datetime, not before EARLIEST_TIMESTAMP and at most
  MAX_CLOCK_SKEW after the `now` given to the parser;
- fingerprints are lowercase hex strings; `edit_distance` is within 0..1;
- outcome texts (`draft_text`, `final_text`) are reduced to `edit_distance` and
  `content_fingerprint` and never kept.
Unknown extra fields are ignored. Duplicate ids are not this module's business: the store
deduplicates them.
"""

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from ingest.edit_distance import edit_distance as measure_edit_distance
from ingest.fingerprint import simhash64

MAX_ID_LENGTH = 200
"""Longest event id stored as sent (the id columns' length); longer ids go through `stored_id`."""
MAX_ID_PREFIX_LENGTH = MAX_ID_LENGTH - len(":sha256:") - 64
MAX_TEXT_LENGTH = 500
MAX_TOKENS_PER_EVENT = 100_000_000
"""Any single token count above this is treated as corrupt data, not as usage."""
EARLIEST_TIMESTAMP = datetime(2020, 1, 1, tzinfo=UTC)
MAX_CLOCK_SKEW = timedelta(days=1)
"""How far after `now` a timestamp may lie (clocks of gateways drift; exports run late)."""
MAX_MINUTES_SAVED = 7 * 24 * 60
MAX_FIRST_DRAFT_SECONDS = 7 * 24 * 60 * 60
MAX_USAGE_IDS_PER_OUTCOME = 1_000
MAX_OUTCOME_TEXT_LENGTH = 200_000
"""Longest draft_text / final_text accepted; keeps edit distance and fingerprint cheap."""

OutcomeStatus = Literal["accepted", "rejected", "revised"]
OUTCOME_STATUSES: tuple[OutcomeStatus, ...] = ("accepted", "rejected", "revised")

REQUIRED = "is required"
NON_EMPTY_TEXT = "must be a non-empty string"
TOKEN_COUNT = "must be a non-negative integer"
TOKEN_COUNT_TOO_LARGE = (
    f"must be at most {MAX_TOKENS_PER_EVENT:,} tokens; larger values are treated as corrupt data"
)
TIMESTAMP_FORMAT = (
    "must be an ISO-8601 timestamp with an offset (e.g. 2025-08-01T12:00:00Z) "
    "or integer epoch seconds"
)
TIMESTAMP_WITHOUT_OFFSET = "has no UTC offset; add one, e.g. 'Z' or '+00:00'"
TIMESTAMP_TOO_EARLY = f"must not be before {EARLIEST_TIMESTAMP:%Y-%m-%d}"
TIMESTAMP_IN_FUTURE = "must not be more than 1 day in the future"
FINGERPRINT_FORMAT = "must be a hexadecimal string of 16 to 64 characters"

_FINGERPRINT = re.compile(r"[0-9a-fA-F]{16,64}")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """Tokens one person spent on one model: one request, or one provider's aggregate bucket."""

    id: str
    user: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    use_case: str | None
    project: str | None
    template_id: str | None
    conversation_id: str | None
    timestamp: datetime
    prompt_fingerprint: str | None


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    """What became of one AI-made artifact: accepted as is, revised, or rejected."""

    id: str
    user: str
    artifact_id: str
    use_case: str | None
    status: OutcomeStatus
    usage_ids: tuple[str, ...]
    conversation_id: str | None
    edit_distance: float | None
    minutes_saved: int | None
    first_draft_seconds: int | None
    template_id: str | None
    timestamp: datetime
    content_fingerprint: str | None


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of one record.

    `index` is the record's position in its batch, or the line it starts on in an imported file.
    `reason` completes the sentence "<field> ...".
    """

    index: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.index}: {self.field} {self.reason}"


class InvalidValue(ValueError):
    """A single value is unacceptable; `reason` completes the sentence "<field> ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stored_id(event_id: str) -> str:
    """The id an event is stored under: `event_id` itself when it has at most MAX_ID_LENGTH
    characters; otherwise "<source>:sha256:<hex>", where <source> is the text before the first
    ':' and <hex> the SHA-256 of the UTF-8 text after it (e.g. "litellm:resp_bGl0...", a
    LiteLLM Responses API call id of ~470 characters, is stored as "litellm:sha256:9f2c...").
    An id without a ':', or whose prefix is empty or longer than MAX_ID_PREFIX_LENGTH, becomes
    "sha256:<hex of the whole id>". Deterministic on every machine; at most MAX_ID_LENGTH long.
    """
    if len(event_id) <= MAX_ID_LENGTH:
        return event_id
    source, separator, rest = event_id.partition(":")
    if separator and 0 < len(source) <= MAX_ID_PREFIX_LENGTH:
        return f"{source}:sha256:{hashlib.sha256(rest.encode()).hexdigest()}"
    return f"sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"


def parse_token_count(value: object) -> int:
    """A token count from a JSON value: a non-negative integral number up to MAX_TOKENS_PER_EVENT.

    Integral floats such as 12.0 are accepted (JSON does not distinguish them); bools, strings,
    fractions, NaN and infinities are not.
    """
    count = _whole_number(value, TOKEN_COUNT)
    if count > MAX_TOKENS_PER_EVENT:
        raise InvalidValue(TOKEN_COUNT_TOO_LARGE)
    return count


def parse_timestamp(value: object, *, now: datetime) -> datetime:
    """An aware UTC datetime from an ISO-8601 string with offset, integer epoch seconds, or an
    aware datetime; rejects naive times and times before 2020 or over a day after `now`."""
    latest = _aware(now) + MAX_CLOCK_SKEW
    if isinstance(value, bool):
        raise InvalidValue(TIMESTAMP_FORMAT)
    if isinstance(value, int):
        if value < EARLIEST_TIMESTAMP.timestamp():
            raise InvalidValue(TIMESTAMP_TOO_EARLY)
        if value > latest.timestamp():
            hint = "; epoch values are seconds, not milliseconds" if value > 10**11 else ""
            raise InvalidValue(TIMESTAMP_IN_FUTURE + hint)
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidValue(TIMESTAMP_FORMAT) from None
    else:
        raise InvalidValue(TIMESTAMP_FORMAT)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidValue(TIMESTAMP_WITHOUT_OFFSET)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise InvalidValue(TIMESTAMP_IN_FUTURE) from None
    if moment < EARLIEST_TIMESTAMP:
        raise InvalidValue(TIMESTAMP_TOO_EARLY)
    if moment > latest:
        raise InvalidValue(TIMESTAMP_IN_FUTURE)
    return moment


def parse_usage_event(raw: object, index: int, *, now: datetime) -> UsageEvent | list[FieldError]:
    """A UsageEvent from one raw record, or every problem the record has.

    Fields: id (required; stored as `stored_id(id)`), user, model (required); input_tokens,
    output_tokens (required counts);
    cached_input_tokens (count, default 0); timestamp (required); use_case, project, template_id,
    conversation_id (optional texts); prompt_fingerprint (optional hex). `now` defaults to the
    current time and bounds how far in the future timestamps may lie.
    """
    if not isinstance(raw, Mapping):
        return [FieldError(index, "record", "must be a JSON object")]
    moment = _aware(now)
    return quick_usage_event(raw, moment + MAX_CLOCK_SKEW) or careful_usage_event(
        raw, index, moment
    )


def careful_usage_event(
    raw: Mapping[str, Any], index: int, now: datetime
) -> UsageEvent | list[FieldError]:
    """`parse_usage_event` without its fast path: every rule checked field by field, every
    problem collected."""
    fields = _FieldReader(raw, index, now)
    event_id = fields.required_id("id")
    user = fields.required_text("user")
    model = fields.required_text("model")
    input_tokens = fields.required("input_tokens", parse_token_count)
    output_tokens = fields.required("output_tokens", parse_token_count)
    cached_input_tokens = fields.optional("cached_input_tokens", parse_token_count)
    if (
        input_tokens is not None
        and cached_input_tokens is not None
        and cached_input_tokens > input_tokens
    ):
        fields.fail("cached_input_tokens", "must not exceed input_tokens")
    use_case = fields.optional_text("use_case")
    project = fields.optional_text("project")
    template_id = fields.optional_text("template_id")
    conversation_id = fields.optional_text("conversation_id")
    timestamp = fields.timestamp("timestamp")
    prompt_fingerprint = fields.optional("prompt_fingerprint", _parse_fingerprint)
    if fields.errors:
        return fields.errors
    assert event_id and user and model and timestamp
    assert input_tokens is not None and output_tokens is not None
    return UsageEvent(
        id=event_id,
        user=user,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens or 0,
        use_case=use_case,
        project=project,
        template_id=template_id,
        conversation_id=conversation_id,
        timestamp=timestamp,
        prompt_fingerprint=prompt_fingerprint,
    )


def quick_usage_event(raw: Mapping[str, Any], latest: datetime) -> UsageEvent | None:
    """The event `parse_usage_event` would return for `raw`, when every field is in its common,
    plainly valid form; None otherwise, and the caller takes `careful_usage_event` (which then
    finds the event or every problem). The fast path of imports and the usage API: an order of
    magnitude cheaper, because it checks each value once without building error state.
    `latest` is `now + MAX_CLOCK_SKEW` (the newest timestamp accepted)."""
    get = raw.get
    event_id, user, model = get("id"), get("user"), get("model")
    if (
        type(event_id) is not str
        or type(user) is not str
        or type(model) is not str
        or not event_id
        or not 0 < len(user) <= MAX_TEXT_LENGTH
        or not 0 < len(model) <= MAX_TEXT_LENGTH
        or event_id.isspace()
        or user.isspace()
        or model.isspace()
    ):
        return None
    input_tokens, output_tokens = get("input_tokens"), get("output_tokens")
    cached = get("cached_input_tokens")
    if (
        type(input_tokens) is not int
        or type(output_tokens) is not int
        or not 0 <= input_tokens <= MAX_TOKENS_PER_EVENT
        or not 0 <= output_tokens <= MAX_TOKENS_PER_EVENT
    ):
        return None
    if cached is None:
        cached = 0
    elif type(cached) is not int or not 0 <= cached <= input_tokens:
        return None
    texts = []
    for name in ("use_case", "project", "template_id", "conversation_id"):
        value = get(name)
        if value is not None and (
            type(value) is not str or not value or len(value) > MAX_TEXT_LENGTH or value.isspace()
        ):
            return None
        texts.append(value)
    if get("prompt_fingerprint") is not None:
        return None
    stamp = get("timestamp")
    if type(stamp) is not str:
        return None
    try:
        moment = datetime.fromisoformat(stamp.strip())
        if moment.tzinfo is None or moment.utcoffset() is None:
            return None
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if not EARLIEST_TIMESTAMP <= moment <= latest:
        return None
    if len(event_id) > MAX_ID_LENGTH:
        event_id = stored_id(event_id)
    use_case, project, template_id, conversation_id = texts
    return UsageEvent(
        event_id,
        user,
        model,
        input_tokens,
        output_tokens,
        cached,
        use_case,
        project,
        template_id,
        conversation_id,
        moment,
        None,
    )


def parse_outcome_event(
    raw: object, index: int, *, now: datetime
) -> OutcomeEvent | list[FieldError]:
    """An OutcomeEvent from one raw record, or every problem the record has.

    Fields: id, user, artifact_id, status (required; status one of accepted, rejected, revised);
    timestamp (required); usage_ids (list of usage event ids, default empty; each id, like the
    outcome's own, is kept as `stored_id(id)`, so it matches the usage as stored); use_case,
    conversation_id, template_id (optional texts); edit_distance (0..1); minutes_saved and
    first_draft_seconds (whole numbers); content_fingerprint (hex). Instead of edit_distance and
    content_fingerprint a record may carry draft_text and final_text: the distance and the
    simhash of final_text are computed from them and the texts are dropped.
    """
    if not isinstance(raw, Mapping):
        return [FieldError(index, "record", "must be a JSON object")]
    fields = _FieldReader(raw, index, _aware(now))
    event_id = fields.required_id("id")
    user = fields.required_text("user")
    artifact_id = fields.required_text("artifact_id", max_length=MAX_ID_LENGTH)
    use_case = fields.optional_text("use_case")
    status = fields.required("status", _parse_status)
    usage_ids = fields.optional("usage_ids", _parse_usage_ids)
    conversation_id = fields.optional_text("conversation_id")
    edit_distance = fields.optional("edit_distance", _parse_edit_distance)
    minutes_saved = fields.optional(
        "minutes_saved", lambda value: _bounded_whole_number(value, MAX_MINUTES_SAVED, "minutes")
    )
    first_draft_seconds = fields.optional(
        "first_draft_seconds",
        lambda value: _bounded_whole_number(value, MAX_FIRST_DRAFT_SECONDS, "seconds"),
    )
    template_id = fields.optional_text("template_id")
    timestamp = fields.timestamp("timestamp")
    content_fingerprint = fields.optional("content_fingerprint", _parse_fingerprint)

    draft_text = fields.optional("draft_text", _parse_outcome_text)
    final_text = fields.optional("final_text", _parse_outcome_text)
    if fields.present("draft_text") and not fields.present("final_text"):
        fields.fail("final_text", "is required when draft_text is given")
    if fields.present("final_text"):
        if fields.present("content_fingerprint"):
            fields.fail(
                "content_fingerprint", "must not be given together with final_text (it is computed)"
            )
        if fields.present("edit_distance") and fields.present("draft_text"):
            fields.fail(
                "edit_distance",
                "must not be given together with draft_text and final_text (it is computed)",
            )
    if fields.errors:
        return fields.errors
    if final_text is not None:
        content_fingerprint = simhash64(final_text)
        if draft_text is not None:
            edit_distance = measure_edit_distance(draft_text, final_text)

    assert event_id and user and artifact_id and status and timestamp
    return OutcomeEvent(
        id=event_id,
        user=user,
        artifact_id=artifact_id,
        use_case=use_case,
        status=status,
        usage_ids=usage_ids or (),
        conversation_id=conversation_id,
        edit_distance=edit_distance,
        minutes_saved=minutes_saved,
        first_draft_seconds=first_draft_seconds,
        template_id=template_id,
        timestamp=timestamp,
        content_fingerprint=content_fingerprint,
    )


def parse_usage_batch(
    raws: Sequence[object], now: datetime
) -> tuple[list[UsageEvent], list[FieldError]]:
    """Every valid event of a batch and every problem of the invalid ones (index = position).

    Whether one bad event rejects the whole batch is the caller's decision. A batch that is not a
    list gives a single error with index -1 and field "batch".
    """
    return _parse_batch(raws, now, parse_usage_event)


def parse_outcome_batch(
    raws: Sequence[object], now: datetime
) -> tuple[list[OutcomeEvent], list[FieldError]]:
    """Like `parse_usage_batch`, for outcome events."""
    return _parse_batch(raws, now, parse_outcome_event)


def _parse_batch(
    raws: Sequence[object],
    now: datetime,
    parse_one: Callable[..., _T | list[FieldError]],
) -> tuple[list[_T], list[FieldError]]:
    if not isinstance(raws, list | tuple):
        return [], [FieldError(-1, "batch", "must be a list of events")]
    current = _aware(now)
    events: list[_T] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(raws):
        parsed = parse_one(raw, index, now=current)
        if isinstance(parsed, list):
            errors.extend(parsed)
        else:
            events.append(parsed)
    return events, errors


class _FieldReader:
    """Reads fields of one raw record, collecting a FieldError for every bad one."""

    def __init__(self, raw: Mapping[str, Any], index: int, now: datetime) -> None:
        self.raw = raw
        self.index = index
        self.now = now
        self.errors: list[FieldError] = []

    def present(self, field: str) -> bool:
        value = self.raw.get(field)
        return value is not None and not (isinstance(value, str) and not value.strip())

    def fail(self, field: str, reason: str) -> None:
        self.errors.append(FieldError(self.index, field, reason))

    def required(self, field: str, parse: Callable[[object], _T]) -> _T | None:
        if not self.present(field):
            self.fail(field, REQUIRED)
            return None
        return self._parse(field, parse)

    def optional(self, field: str, parse: Callable[[object], _T]) -> _T | None:
        if not self.present(field):
            return None
        return self._parse(field, parse)

    def required_text(self, field: str, *, max_length: int = MAX_TEXT_LENGTH) -> str | None:
        if field in self.raw and self.raw[field] is not None and not self.present(field):
            self.fail(field, NON_EMPTY_TEXT)
            return None
        return self.required(field, lambda value: _parse_text(value, max_length))

    def required_id(self, field: str) -> str | None:
        if field in self.raw and self.raw[field] is not None and not self.present(field):
            self.fail(field, NON_EMPTY_TEXT)
            return None
        return self.required(field, _parse_id)

    def optional_text(self, field: str) -> str | None:
        return self.optional(field, lambda value: _parse_text(value, MAX_TEXT_LENGTH))

    def timestamp(self, field: str) -> datetime | None:
        return self.required(field, lambda value: parse_timestamp(value, now=self.now))

    def _parse(self, field: str, parse: Callable[[object], _T]) -> _T | None:
        try:
            return parse(self.raw[field])
        except InvalidValue as invalid:
            self.fail(field, invalid.reason)
            return None


def _parse_text(value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidValue(NON_EMPTY_TEXT)
    if len(value) > max_length:
        raise InvalidValue(f"must be at most {max_length} characters")
    return value


def _parse_id(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue(NON_EMPTY_TEXT)
    return stored_id(value)


def _whole_number(value: object, reason: str) -> int:
    if isinstance(value, bool):
        raise InvalidValue(reason)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InvalidValue(reason)
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise InvalidValue(reason)
    return value


def _bounded_whole_number(value: object, maximum: int, unit: str) -> int:
    reason = f"must be a whole number of {unit} from 0 to {maximum:,}"
    number = _whole_number(value, reason)
    if number > maximum:
        raise InvalidValue(reason)
    return number


def _parse_status(value: object) -> OutcomeStatus:
    for status in OUTCOME_STATUSES:
        if value == status:
            return status
    raise InvalidValue("must be one of " + ", ".join(OUTCOME_STATUSES))


def _parse_usage_ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidValue("must be a list of usage event ids")
    if len(value) > MAX_USAGE_IDS_PER_OUTCOME:
        raise InvalidValue(f"must hold at most {MAX_USAGE_IDS_PER_OUTCOME:,} ids")
    for position, usage_id in enumerate(value):
        if not isinstance(usage_id, str) or not usage_id.strip():
            raise InvalidValue(f"must hold non-empty strings (entry {position} is not)")
    return tuple(stored_id(usage_id) for usage_id in value)


def _parse_edit_distance(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise InvalidValue("must be a number from 0 to 1")
    return float(value)


def _parse_fingerprint(value: object) -> str:
    if not isinstance(value, str) or not _FINGERPRINT.fullmatch(value):
        raise InvalidValue(FINGERPRINT_FORMAT)
    return value.lower()


def _parse_outcome_text(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue("must be a string")
    if len(value) > MAX_OUTCOME_TEXT_LENGTH:
        raise InvalidValue(f"must be at most {MAX_OUTCOME_TEXT_LENGTH:,} characters")
    return value


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now
