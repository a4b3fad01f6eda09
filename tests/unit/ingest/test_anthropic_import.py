import re
from collections.abc import Callable
from datetime import UTC, datetime

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
