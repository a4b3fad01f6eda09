import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ingest.events import FieldError
from ingest.formats import ImportRow

ReadSample = Callable[[str, str], list[ImportRow]]


def test_each_messages_usage_result_becomes_one_event_with_cache_tokens_in_the_input(
    read_sample: ReadSample,
) -> None:
    rows = read_sample("anthropic", "anthropic_messages_usage.json")

    assert all(not row.errors for row in rows)
    assert [
        (
            row.line,
            row.usage.user,
            row.usage.model,
            row.usage.input_tokens,
            row.usage.cached_input_tokens,
            row.usage.output_tokens,
            row.usage.project,
            row.usage.timestamp,
        )
        for row in rows
        if row.usage is not None
    ] == [
        (
            3,
            "anthropic-key:apikey_01Rj2N8SVvo6BePZj99NhmiT",
            "claude-sonnet-4-20250514",
            1500 + 1000 + 500 + 200,
            200,
            500,
            "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
            datetime(2025, 8, 1, tzinfo=UTC),
        ),
        (
            3,
            "anthropic-workspace:wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
            "claude-opus-4-1-20250805",
            300,
            0,
            120,
            "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
            datetime(2025, 8, 1, tzinfo=UTC),
        ),
        (3, "anthropic-org", "unknown", 10, 0, 5, None, datetime(2025, 8, 1, tzinfo=UTC)),
    ]


def test_anthropic_ids_are_content_hashes_stable_across_reads(read_sample: ReadSample) -> None:
    first = [row.usage.id for row in read_sample("anthropic", "anthropic_messages_usage.json")]
    second = [row.usage.id for row in read_sample("anthropic", "anthropic_messages_usage.json")]

    assert first == second
    assert len(set(first)) == 3
    assert all(re.fullmatch(r"anthropic:[0-9a-f]{64}", event_id) for event_id in first)
    # Pinned: changing how ids are derived would count re-imported exports twice.
    assert first[0] == "anthropic:c0b8a906c20fcd31ada29604b54b0640429063b43050463adad09b8fe1ad448d"


def test_invalid_anthropic_results_name_the_anthropic_fields(read_sample: ReadSample) -> None:
    rows = read_sample("anthropic", "anthropic_messages_usage_invalid.json")

    assert [row.errors for row in rows] == [
        [
            FieldError(3, "uncached_input_tokens", "must be a non-negative integer"),
            FieldError(
                3, "cache_creation.ephemeral_5m_input_tokens", "must be a non-negative integer"
            ),
            FieldError(3, "output_tokens", "must be a non-negative integer"),
        ],
        [FieldError(26, "starting_at", "has no UTC offset; add one, e.g. 'Z' or '+00:00'")],
    ]


GROUPED = "anthropic_messages_usage_grouped.json"
GROUP_BY_DIMENSIONS = (
    "account_id",
    "service_account_id",
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
)


def report_results(path: Path) -> list[dict]:
    page = json.loads(path.read_text())
    return [result for bucket in page["data"] for result in bucket["results"]]


def test_results_that_differ_in_any_group_by_dimension_are_distinct_events(
    read_sample: ReadSample, imports_dir: Path
) -> None:
    results = report_results(imports_dir / GROUPED)
    rows = read_sample("anthropic", GROUPED)

    base = results[0]
    assert [
        [name for name in GROUP_BY_DIMENSIONS if result[name] != base[name]]
        for result in results[1:]
    ] == [
        ["inference_geo"],
        ["speed"],
        ["context_window"],
        ["service_tier"],
        ["service_tier"],
        ["account_id"],
        ["account_id", "service_account_id"],
        ["account_id", "api_key_id"],
        ["workspace_id"],
        ["model"],
    ]
    assert all(not row.errors for row in rows)
    ids = [row.usage.id for row in rows if row.usage is not None]
    assert len(ids) == len(results) == len(set(ids))


def test_the_account_is_the_person_before_service_account_key_and_workspace(
    read_sample: ReadSample,
) -> None:
    users = [row.usage.user for row in read_sample("anthropic", GROUPED) if row.usage]

    assert users[0] == "anthropic-account:user_01WCz1FkmYMm4gnmykNKUu3Q"
    assert users[6] == "anthropic-account:user_01Ha7PtbCuSv5DYpVVKkTEqq"
    assert users[7] == "anthropic-service-account:svcacct_01NmXkq4HZRDQw2xC8mNSpzL"
    assert users[8] == "anthropic-key:apikey_01Gx5DpUQb8Z2xHk3Cn7WwRt"


def test_imported_totals_equal_the_reports_totals(
    read_sample: ReadSample, imports_dir: Path
) -> None:
    results = report_results(imports_dir / GROUPED)
    events = [row.usage for row in read_sample("anthropic", GROUPED) if row.usage is not None]

    # The report's own totals, summed straight from the documented fields.
    report_input = sum(
        r["uncached_input_tokens"]
        + r["cache_creation"]["ephemeral_1h_input_tokens"]
        + r["cache_creation"]["ephemeral_5m_input_tokens"]
        + r["cache_read_input_tokens"]
        for r in results
    )
    report_cache_reads = sum(r["cache_read_input_tokens"] for r in results)
    report_output = sum(r["output_tokens"] for r in results)
    assert sum(e.input_tokens for e in events) == report_input
    assert sum(e.cached_input_tokens for e in events) == report_cache_reads
    assert sum(e.output_tokens for e in events) == report_output
