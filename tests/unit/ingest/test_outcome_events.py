from dataclasses import fields
from datetime import UTC, datetime

import pytest

from ingest.events import (
    MAX_OUTCOME_TEXT_LENGTH,
    FieldError,
    OutcomeEvent,
    parse_outcome_batch,
    parse_outcome_event,
    stored_id,
)
from ingest.fingerprint import hamming, simhash64

NOW = datetime(2025, 10, 1, tzinfo=UTC)
DRAFT = (
    "Our spring campaign introduces the new running shoe line with lighter soles, "
    "recycled uppers and a price that undercuts every competitor in the city."
)
FINAL = (
    "Our spring campaign introduces the new running shoe line with lighter soles, "
    "recycled uppers and a price that beats every competitor in town."
)


def outcome(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "id": "out-1",
        "user": "alice@example.com",
        "artifact_id": "doc-42",
        "status": "accepted",
        "timestamp": "2025-08-01T12:00:00Z",
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not ...}


def parsed_outcome(**overrides: object) -> OutcomeEvent:
    parsed = parse_outcome_event(outcome(**overrides), 0, now=NOW)
    assert isinstance(parsed, OutcomeEvent), parsed
    return parsed


def errors_of(raw: object) -> list[tuple[str, str]]:
    parsed = parse_outcome_event(raw, 0, now=NOW)
    assert isinstance(parsed, list), f"expected errors, got {parsed}"
    return [(error.field, error.reason) for error in parsed]


def test_a_complete_outcome_keeps_every_field() -> None:
    parsed = parsed_outcome(
        use_case="seo-brief",
        status="revised",
        usage_ids=["gw-1", "gw-2"],
        conversation_id="conv-1",
        edit_distance=0.25,
        minutes_saved=30,
        first_draft_seconds=95,
        template_id="tpl-seo-v2",
        content_fingerprint="00FF00FF00FF00FF",
        reviewer="bob",
    )

    assert parsed == OutcomeEvent(
        id="out-1",
        user="alice@example.com",
        artifact_id="doc-42",
        use_case="seo-brief",
        status="revised",
        usage_ids=("gw-1", "gw-2"),
        conversation_id="conv-1",
        edit_distance=0.25,
        minutes_saved=30,
        first_draft_seconds=95,
        template_id="tpl-seo-v2",
        timestamp=datetime(2025, 8, 1, 12, tzinfo=UTC),
        content_fingerprint="00ff00ff00ff00ff",
    )


def test_optional_outcome_fields_default_to_none_and_no_usage_ids() -> None:
    parsed = parsed_outcome()

    assert parsed.usage_ids == ()
    assert parsed.edit_distance is None
    assert parsed.minutes_saved is None
    assert parsed.first_draft_seconds is None
    assert parsed.content_fingerprint is None


@pytest.mark.parametrize("field", ["id", "user", "artifact_id", "status", "timestamp"])
def test_a_missing_required_outcome_field_is_reported_as_required(field: str) -> None:
    assert errors_of(outcome(**{field: ...})) == [(field, "is required")]


@pytest.mark.parametrize("status", ["approved", "Accepted", 1, ["accepted"]])
def test_status_must_be_accepted_rejected_or_revised(status: object) -> None:
    assert errors_of(outcome(status=status)) == [
        ("status", "must be one of accepted, rejected, revised")
    ]


@pytest.mark.parametrize("value", [-0.01, 1.01, True, "0.5", float("nan")])
def test_edit_distance_must_be_a_number_from_0_to_1(value: object) -> None:
    assert errors_of(outcome(edit_distance=value)) == [
        ("edit_distance", "must be a number from 0 to 1")
    ]


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0])
def test_edit_distance_bounds_are_included(value: object) -> None:
    assert parsed_outcome(edit_distance=value).edit_distance == float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-1, 2.5, "30", True, 10_081])
def test_minutes_saved_must_be_a_whole_number_of_minutes_up_to_a_week(value: object) -> None:
    assert errors_of(outcome(minutes_saved=value)) == [
        ("minutes_saved", "must be a whole number of minutes from 0 to 10,080")
    ]


@pytest.mark.parametrize("value", [-1, 0.5, "95", 7 * 24 * 3600 + 1])
def test_first_draft_seconds_must_be_a_whole_number_of_seconds_up_to_a_week(value: object) -> None:
    assert errors_of(outcome(first_draft_seconds=value)) == [
        ("first_draft_seconds", "must be a whole number of seconds from 0 to 604,800")
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("gw-1", "must be a list of usage event ids"),
        (["gw-1", ""], "must hold non-empty strings (entry 1 is not)"),
        ([3], "must hold non-empty strings (entry 0 is not)"),
        (["x"] * 1001, "must hold at most 1,000 ids"),
    ],
)
def test_usage_ids_must_be_a_list_of_ids(value: object, reason: str) -> None:
    assert errors_of(outcome(usage_ids=value)) == [("usage_ids", reason)]


def test_draft_and_final_text_become_edit_distance_and_fingerprint_and_are_not_kept() -> None:
    parsed = parsed_outcome(draft_text=DRAFT, final_text=FINAL, status="revised")

    assert parsed.edit_distance is not None and 0.0 < parsed.edit_distance < 0.2
    assert parsed.content_fingerprint == simhash64(FINAL)
    assert {field.name for field in fields(OutcomeEvent)}.isdisjoint({"draft_text", "final_text"})
    assert DRAFT not in repr(parsed) and FINAL not in repr(parsed)


def test_identical_draft_and_final_text_have_zero_edit_distance() -> None:
    assert parsed_outcome(draft_text=DRAFT, final_text=DRAFT).edit_distance == 0.0


def test_a_final_text_alone_gives_a_fingerprint_and_keeps_a_reported_edit_distance() -> None:
    parsed = parsed_outcome(final_text=FINAL, edit_distance=0.4)

    assert parsed.content_fingerprint == simhash64(FINAL)
    assert parsed.edit_distance == 0.4


def test_a_draft_text_without_final_text_is_rejected() -> None:
    assert errors_of(outcome(draft_text=DRAFT)) == [
        ("final_text", "is required when draft_text is given")
    ]


def test_computed_fields_may_not_also_be_given() -> None:
    assert errors_of(
        outcome(
            draft_text=DRAFT,
            final_text=FINAL,
            edit_distance=0.1,
            content_fingerprint="00ff00ff00ff00ff",
        )
    ) == [
        ("content_fingerprint", "must not be given together with final_text (it is computed)"),
        (
            "edit_distance",
            "must not be given together with draft_text and final_text (it is computed)",
        ),
    ]


def test_outcome_texts_must_be_strings_of_bounded_length() -> None:
    assert errors_of(outcome(final_text=12)) == [("final_text", "must be a string")]
    assert errors_of(outcome(final_text="x" * (MAX_OUTCOME_TEXT_LENGTH + 1))) == [
        ("final_text", "must be at most 200,000 characters")
    ]


def test_similar_finals_get_close_fingerprints() -> None:
    first = parsed_outcome(final_text=FINAL).content_fingerprint
    second = parsed_outcome(final_text=FINAL + " Order today.").content_fingerprint

    assert first is not None and second is not None
    assert hamming(first, second) <= 12


def test_a_batch_of_outcomes_returns_events_and_problems_by_position() -> None:
    events, errors = parse_outcome_batch([outcome(), outcome(status="maybe")], NOW)

    assert [event.id for event in events] == ["out-1"]
    assert errors == [FieldError(1, "status", "must be one of accepted, rejected, revised")]


def test_long_outcome_and_usage_ids_are_mapped_like_usage_ids_so_links_still_match() -> None:
    long_usage_id = "litellm:" + "r" * 470
    long_outcome_id = "claude-code:" + "o" * 300

    parsed = parsed_outcome(id=long_outcome_id, usage_ids=["gw-1", long_usage_id])

    assert parsed.id == stored_id(long_outcome_id)
    assert parsed.usage_ids == ("gw-1", stored_id(long_usage_id))
    assert len(parsed.usage_ids[1]) <= 200 and parsed.usage_ids[1].startswith("litellm:sha256:")
