import io
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.events import FieldError
from ingest.formats import ImportRow, read_file

ReadSample = Callable[[str, str], list[ImportRow]]
NOW = datetime(2025, 10, 1, tzinfo=UTC)
DEV = "claude-code:2025-09-01:dev@example.com:vscode"


def test_each_model_breakdown_entry_becomes_a_coding_usage_event(read_sample: ReadSample) -> None:
    rows = read_sample("claude-code", "claude_code_analytics.json")

    assert all(not row.errors for row in rows)
    assert [
        (
            row.line,
            row.usage.id,
            row.usage.user,
            row.usage.model,
            row.usage.input_tokens,
            row.usage.cached_input_tokens,
            row.usage.output_tokens,
            row.usage.use_case,
            row.usage.timestamp,
        )
        for row in rows
        if row.usage is not None
    ] == [
        (
            3,
            f"{DEV}:claude-sonnet-4-5-20250929",
            "dev@example.com",
            "claude-sonnet-4-5-20250929",
            100000 + 10000 + 5000,
            10000,
            35000,
            "coding",
            datetime(2025, 9, 1, tzinfo=UTC),
        ),
        (
            3,
            f"{DEV}:claude-3-5-haiku-20241022",
            "dev@example.com",
            "claude-3-5-haiku-20241022",
            2000,
            0,
            400,
            "coding",
            datetime(2025, 9, 1, tzinfo=UTC),
        ),
        (
            68,
            "claude-code:2025-09-01:anthropic-key-name:CI review bot:non-interactive:"
            "claude-sonnet-4-5-20250929",
            "anthropic-key-name:CI review bot",
            "claude-sonnet-4-5-20250929",
            800,
            0,
            150,
            "coding",
            datetime(2025, 9, 1, tzinfo=UTC),
        ),
    ]


def test_each_accepted_and_rejected_tool_action_becomes_one_outcome(
    read_sample: ReadSample,
) -> None:
    outcomes = [
        row.outcome
        for row in read_sample("claude-code", "claude_code_analytics.json")
        if row.outcome is not None
    ]

    assert Counter((outcome.user, outcome.status) for outcome in outcomes) == {
        ("dev@example.com", "accepted"): 3 + 1 + 2,
        ("dev@example.com", "rejected"): 1 + 1,
        ("anthropic-key-name:CI review bot", "accepted"): 1,
    }
    dev_outcomes = [outcome for outcome in outcomes if outcome.user == "dev@example.com"]
    assert [outcome.id for outcome in dev_outcomes] == [
        f"{DEV}:edit_tool:accepted:1",
        f"{DEV}:edit_tool:accepted:2",
        f"{DEV}:edit_tool:accepted:3",
        f"{DEV}:edit_tool:rejected:1",
        f"{DEV}:multi_edit_tool:accepted:1",
        f"{DEV}:write_tool:accepted:1",
        f"{DEV}:write_tool:accepted:2",
        f"{DEV}:write_tool:rejected:1",
    ]
    for outcome in dev_outcomes:
        assert outcome.artifact_id == outcome.id
        assert outcome.use_case == "coding"
        assert outcome.timestamp == datetime(2025, 9, 1, tzinfo=UTC)
        assert outcome.usage_ids == (
            f"{DEV}:claude-sonnet-4-5-20250929",
            f"{DEV}:claude-3-5-haiku-20241022",
        )


def test_claude_code_ids_are_stable_across_reads(read_sample: ReadSample) -> None:
    def ids() -> list[str]:
        return [
            (row.usage or row.outcome).id  # type: ignore[union-attr]
            for row in read_sample("claude-code", "claude_code_analytics.json")
        ]

    first = ids()
    assert first == ids()
    assert len(set(first)) == len(first)


def test_a_record_with_absurd_tool_action_counts_is_rejected_whole(
    read_sample: ReadSample,
) -> None:
    rows = read_sample("claude-code", "claude_code_analytics_invalid.json")

    assert rows[0] == ImportRow(
        3,
        errors=[
            FieldError(
                3,
                "tool_actions",
                "must add up to at most 10,000 actions per record (got 11,004); "
                "larger counts are treated as corrupt data",
            )
        ],
    )


def test_a_bad_record_reports_all_its_problems_and_good_records_still_import(
    read_sample: ReadSample,
) -> None:
    rows = read_sample("claude-code", "claude_code_analytics_invalid.json")

    assert rows[1] == ImportRow(
        68,
        errors=[
            FieldError(
                68,
                "actor",
                "must be a user_actor with an email_address or an api_actor with an api_key_name",
            ),
            FieldError(68, "model_breakdown[0].tokens.output", "must be a non-negative integer"),
        ],
    )
    assert [(row.line, row.usage is not None, row.outcome is not None) for row in rows[2:]] == [
        (121, True, False),
        (121, False, True),
    ]


def _read_records(records: list[dict[str, object]]) -> list[ImportRow]:
    page = json.dumps({"data": records, "has_more": False, "next_page": None}).encode()
    return list(read_file("claude-code", io.BytesIO(page), NOW))


def _sample_record(imports_dir: Path) -> dict[str, object]:
    page = json.loads((imports_dir / "claude_code_analytics.json").read_text())
    return page["data"][1]


def test_a_date_only_date_as_documented_is_that_utc_day(imports_dir: Path) -> None:
    record = _sample_record(imports_dir)
    as_timestamp = _read_records([record])
    record["date"] = "2025-09-01"

    rows = _read_records([record])

    assert all(not row.errors for row in rows)
    events = [row.usage or row.outcome for row in rows]
    assert {event.timestamp for event in events} == {datetime(2025, 9, 1, tzinfo=UTC)}  # type: ignore[union-attr]
    assert rows == as_timestamp  # the same ids and events as the RFC 3339 form of the day


@pytest.mark.parametrize(
    ("date", "reason"),
    [
        (
            "2025-09-01T00:00:00",
            "has no UTC offset; add one, e.g. 'Z' or '+00:00', or give the day as YYYY-MM-DD",
        ),
        ("2025-13-01", "must be a UTC day as YYYY-MM-DD (e.g. 2025-09-01) or an RFC 3339 time"),
        ("yesterday", "must be a UTC day as YYYY-MM-DD (e.g. 2025-09-01) or an RFC 3339 time"),
        ("2025-10-03", "must not be more than 1 day in the future"),
    ],
)
def test_a_malformed_date_is_reported_once_with_what_is_allowed(
    imports_dir: Path, date: str, reason: str
) -> None:
    record = _sample_record(imports_dir)
    record["date"] = date

    [row] = _read_records([record])

    assert row.errors == [FieldError(1, "date", reason)]


def test_a_missing_date_is_required(imports_dir: Path) -> None:
    record = _sample_record(imports_dir)
    del record["date"]

    [row] = _read_records([record])

    assert row.errors == [FieldError(1, "date", "is required")]


def test_ids_too_long_to_read_are_replaced_by_hashes(imports_dir: Path) -> None:
    record = _sample_record(imports_dir)
    record["actor"] = {"type": "api_actor", "api_key_name": "k" * 250}

    rows = _read_records([record])

    assert all(not row.errors for row in rows)
    ids = [(row.usage or row.outcome).id for row in rows]  # type: ignore[union-attr]
    assert all(re.fullmatch(r"claude-code:[0-9a-f]{64}", event_id) for event_id in ids)
    assert len(set(ids)) == len(ids)


def test_a_negative_tool_action_count_is_an_error(imports_dir: Path) -> None:
    record = _sample_record(imports_dir)
    record["tool_actions"] = {"edit_tool": {"accepted": -1, "rejected": 0}}

    [row] = _read_records([record])

    assert row.errors == [
        FieldError(1, "tool_actions.edit_tool.accepted", "must be a non-negative integer")
    ]
