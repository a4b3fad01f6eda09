import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.events import (
    MAX_ID_LENGTH,
    MAX_TOKENS_PER_EVENT,
    FieldError,
    UsageEvent,
    parse_usage_batch,
    parse_usage_event,
    stored_id,
)

NOW = datetime(2025, 10, 1, tzinfo=UTC)


def usage(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "id": "gw-1",
        "user": "alice@example.com",
        "model": "gpt-4o",
        "input_tokens": 1200,
        "output_tokens": 300,
        "timestamp": "2025-08-01T12:00:00Z",
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not ...}


def errors_of(raw: object, index: int = 0) -> list[tuple[str, str]]:
    parsed = parse_usage_event(raw, index, now=NOW)
    assert isinstance(parsed, list), f"expected errors, got {parsed}"
    return [(error.field, error.reason) for error in parsed]


def test_a_complete_event_keeps_every_field_and_ignores_unknown_ones() -> None:
    parsed = parse_usage_event(
        usage(
            cached_input_tokens=1024,
            use_case="seo-brief",
            project="website-relaunch",
            template_id="tpl-seo-v2",
            conversation_id="conv-1",
            prompt_fingerprint="A1B2C3D4E5F60718",
            spend=0.12,
        ),
        0,
        now=NOW,
    )

    assert parsed == UsageEvent(
        id="gw-1",
        user="alice@example.com",
        model="gpt-4o",
        input_tokens=1200,
        output_tokens=300,
        cached_input_tokens=1024,
        use_case="seo-brief",
        project="website-relaunch",
        template_id="tpl-seo-v2",
        conversation_id="conv-1",
        timestamp=datetime(2025, 8, 1, 12, tzinfo=UTC),
        prompt_fingerprint="a1b2c3d4e5f60718",
    )


def test_absent_null_or_blank_optional_fields_become_none_and_cached_tokens_default_to_zero() -> (
    None
):
    parsed = parse_usage_event(usage(use_case=None, project="  ", template_id=""), 0, now=NOW)

    assert isinstance(parsed, UsageEvent)
    assert parsed.cached_input_tokens == 0
    assert (parsed.use_case, parsed.project, parsed.template_id, parsed.conversation_id) == (
        None,
        None,
        None,
        None,
    )
    assert parsed.prompt_fingerprint is None


@pytest.mark.parametrize(
    "field", ["id", "user", "model", "input_tokens", "output_tokens", "timestamp"]
)
def test_a_missing_required_field_is_reported_as_required(field: str) -> None:
    assert errors_of(usage(**{field: ...})) == [(field, "is required")]


@pytest.mark.parametrize("field", ["id", "user", "model"])
@pytest.mark.parametrize("value", ["", "   ", 42, ["a"]])
def test_id_user_and_model_must_be_non_empty_strings(field: str, value: object) -> None:
    assert errors_of(usage(**{field: value})) == [(field, "must be a non-empty string")]


def test_an_id_up_to_200_characters_is_kept_as_sent() -> None:
    assert parse_usage_event(usage(id="x" * 200), 0, now=NOW).id == "x" * 200  # type: ignore[union-attr]


def test_a_longer_id_is_kept_as_its_source_prefix_and_the_sha256_of_the_rest() -> None:
    request_id = "resp_" + "bGl0ZWxsbTpjdXN0b21fbGxtX3Byb3ZpZGVyOm9wZW5haQ" * 10
    long_id = f"litellm:{request_id}"

    parsed = parse_usage_event(usage(id=long_id), 0, now=NOW)

    digest = hashlib.sha256(request_id.encode()).hexdigest()
    assert isinstance(parsed, UsageEvent)
    assert parsed.id == stored_id(long_id) == f"litellm:sha256:{digest}"
    assert len(parsed.id) <= MAX_ID_LENGTH


def test_a_long_id_without_a_short_source_prefix_is_hashed_whole() -> None:
    for long_id in ("x" * 201, "y" * 150 + ":" + "z" * 100):
        digest = hashlib.sha256(long_id.encode()).hexdigest()
        assert stored_id(long_id) == f"sha256:{digest}"


def test_ids_that_fit_are_stored_as_sent_whatever_they_look_like() -> None:
    for short in ("gw-1", "litellm:sha256:abc", "x" * MAX_ID_LENGTH):
        assert stored_id(short) == short


@pytest.mark.parametrize("field", ["input_tokens", "output_tokens", "cached_input_tokens"])
@pytest.mark.parametrize(
    "value", [True, False, 1.5, "10", -1, float("nan"), float("inf"), [1], {"n": 1}]
)
def test_token_counts_must_be_non_negative_integers(field: str, value: object) -> None:
    assert errors_of(usage(**{field: value})) == [(field, "must be a non-negative integer")]


def test_integral_json_numbers_count_as_integers() -> None:
    parsed = parse_usage_event(usage(input_tokens=12.0, output_tokens=0), 0, now=NOW)

    assert isinstance(parsed, UsageEvent)
    assert parsed.input_tokens == 12 and type(parsed.input_tokens) is int


@pytest.mark.parametrize("field", ["input_tokens", "output_tokens", "cached_input_tokens"])
def test_more_than_100_million_tokens_in_one_field_is_rejected_as_absurd(field: str) -> None:
    at_limit = usage(**{"input_tokens": MAX_TOKENS_PER_EVENT, field: MAX_TOKENS_PER_EVENT})
    assert isinstance(parse_usage_event(at_limit, 0, now=NOW), UsageEvent)

    over = usage(**{"input_tokens": MAX_TOKENS_PER_EVENT, field: MAX_TOKENS_PER_EVENT + 1})
    [(error_field, reason)] = errors_of(over)
    assert error_field == field
    assert reason.startswith("must be at most 100,000,000 tokens")


def test_cached_tokens_may_not_exceed_input_tokens() -> None:
    assert isinstance(
        parse_usage_event(usage(input_tokens=100, cached_input_tokens=100), 0, now=NOW), UsageEvent
    )
    assert errors_of(usage(input_tokens=100, cached_input_tokens=101)) == [
        ("cached_input_tokens", "must not exceed input_tokens")
    ]


def test_naive_timestamp_is_rejected_with_a_hint_to_add_an_offset() -> None:
    [(field, reason)] = errors_of(usage(timestamp="2025-08-01T12:00:00"))

    assert field == "timestamp"
    assert "add one" in reason and "'Z'" in reason


@pytest.mark.parametrize("value", ["2025-08-01", "2025-08-01 12:00"])
def test_date_only_and_space_separated_times_without_offset_are_naive_too(value: str) -> None:
    assert errors_of(usage(timestamp=value)) == [
        ("timestamp", "has no UTC offset; add one, e.g. 'Z' or '+00:00'")
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-08-01T12:00:00Z", datetime(2025, 8, 1, 12, tzinfo=UTC)),
        ("2025-08-01T14:00:00+02:00", datetime(2025, 8, 1, 12, tzinfo=UTC)),
        ("2025-08-01T12:00:00.250-00:30", datetime(2025, 8, 1, 12, 30, 0, 250000, tzinfo=UTC)),
        (1754049600, datetime(2025, 8, 1, 12, tzinfo=UTC)),
    ],
)
def test_timestamps_with_offset_or_epoch_seconds_are_converted_to_utc(
    value: object, expected: datetime
) -> None:
    parsed = parse_usage_event(usage(timestamp=value), 0, now=NOW)

    assert isinstance(parsed, UsageEvent)
    assert parsed.timestamp == expected
    assert parsed.timestamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", True, 1754049600.5, {}])
def test_unreadable_timestamps_say_which_formats_are_allowed(value: object) -> None:
    [(field, reason)] = errors_of(usage(timestamp=value))

    assert field == "timestamp"
    assert reason == (
        "must be an ISO-8601 timestamp with an offset (e.g. 2025-08-01T12:00:00Z) "
        "or integer epoch seconds"
    )


@pytest.mark.parametrize("value", ["2019-12-31T23:59:59Z", 1577836799, -1, 0])
def test_timestamps_before_2020_are_rejected(value: object) -> None:
    assert errors_of(usage(timestamp=value)) == [("timestamp", "must not be before 2020-01-01")]


def test_timestamps_more_than_a_day_after_now_are_rejected() -> None:
    a_day_ahead = (NOW + timedelta(days=1)).isoformat()
    just_over = (NOW + timedelta(days=1, seconds=1)).isoformat()

    assert isinstance(parse_usage_event(usage(timestamp=a_day_ahead), 0, now=NOW), UsageEvent)
    assert errors_of(usage(timestamp=just_over)) == [
        ("timestamp", "must not be more than 1 day in the future")
    ]


def test_epoch_milliseconds_are_rejected_with_a_hint_to_use_seconds() -> None:
    [(field, reason)] = errors_of(usage(timestamp=1754049600000))

    assert field == "timestamp"
    assert reason.startswith("must not be more than 1 day in the future")
    assert "seconds, not milliseconds" in reason


def test_the_future_limit_follows_the_now_handed_in_never_the_clock() -> None:
    """Parsing reads no clock: the caller hands in `now` (here the real one)."""
    current = datetime.now(UTC)
    tomorrow_and_a_bit = current + timedelta(days=1, hours=1)
    at = usage(timestamp=int(NOW.timestamp()))
    late = usage(timestamp=tomorrow_and_a_bit.isoformat())

    assert isinstance(parse_usage_event(at, 0, now=current), UsageEvent)
    assert isinstance(parse_usage_event(late, 0, now=current), list)
    assert isinstance(parse_usage_event(late, 0, now=tomorrow_and_a_bit), UsageEvent)


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_usage_event(usage(), 0, now=datetime(2025, 10, 1))


@pytest.mark.parametrize("value", ["xyz", "a1b2c3", "g" * 16, "a" * 65, 1234567890123456])
def test_prompt_fingerprints_must_be_hex_strings(value: object) -> None:
    assert errors_of(usage(prompt_fingerprint=value)) == [
        ("prompt_fingerprint", "must be a hexadecimal string of 16 to 64 characters")
    ]


@pytest.mark.parametrize("field", ["use_case", "project", "template_id", "conversation_id"])
def test_optional_texts_must_be_strings_of_at_most_500_characters(field: str) -> None:
    assert errors_of(usage(**{field: 7})) == [(field, "must be a non-empty string")]
    assert errors_of(usage(**{field: "x" * 501})) == [(field, "must be at most 500 characters")]


def test_every_problem_of_an_event_is_reported_at_once_with_its_index() -> None:
    parsed = parse_usage_event(
        {"id": "", "input_tokens": -1, "output_tokens": "3", "timestamp": "2025-08-01T12:00:00"},
        7,
        now=NOW,
    )

    assert parsed == [
        FieldError(7, "id", "must be a non-empty string"),
        FieldError(7, "user", "is required"),
        FieldError(7, "model", "is required"),
        FieldError(7, "input_tokens", "must be a non-negative integer"),
        FieldError(7, "output_tokens", "must be a non-negative integer"),
        FieldError(7, "timestamp", "has no UTC offset; add one, e.g. 'Z' or '+00:00'"),
    ]


@pytest.mark.parametrize("raw", [None, "gw-1", 3, ["id", "gw-1"]])
def test_a_record_that_is_not_an_object_is_one_error(raw: object) -> None:
    assert errors_of(raw) == [("record", "must be a JSON object")]


def test_field_errors_read_as_sentences() -> None:
    assert str(FieldError(3, "input_tokens", "must be a non-negative integer")) == (
        "3: input_tokens must be a non-negative integer"
    )


def test_a_batch_returns_every_valid_event_and_every_problem_by_position() -> None:
    batch = [usage(id="a"), usage(id="b", user=...), usage(id="a"), "junk"]

    events, errors = parse_usage_batch(batch, NOW)

    assert [event.id for event in events] == ["a", "a"]  # duplicates are the store's business
    assert errors == [
        FieldError(1, "user", "is required"),
        FieldError(3, "record", "must be a JSON object"),
    ]


def test_a_batch_that_is_not_a_list_is_one_batch_error() -> None:
    assert parse_usage_batch({"id": "a"}, NOW) == (  # type: ignore[arg-type]
        [],
        [FieldError(-1, "batch", "must be a list of events")],
    )


def test_timestamps_in_other_zones_compare_equal_to_their_utc_instant() -> None:
    tokyo = timezone(timedelta(hours=9))
    parsed = parse_usage_event(
        usage(timestamp=datetime(2025, 8, 1, 21, tzinfo=tokyo).isoformat()), 0, now=NOW
    )

    assert isinstance(parsed, UsageEvent)
    assert parsed.timestamp.tzinfo is UTC
    assert parsed.timestamp == datetime(2025, 8, 1, 12, tzinfo=UTC)


def test_a_timestamp_beyond_the_last_representable_instant_is_in_the_future() -> None:
    assert errors_of(usage(timestamp="9999-12-31T23:59:59-01:00")) == [
        ("timestamp", "must not be more than 1 day in the future")
    ]
    assert errors_of(usage(timestamp=10**30))[0][0] == "timestamp"
