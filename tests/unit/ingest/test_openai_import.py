import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ingest.events import FieldError, UsageEvent
from ingest.formats import ImportRow

ReadSample = Callable[[str, str], list[ImportRow]]


def usage_events(rows: list[ImportRow]) -> list[UsageEvent]:
    assert all(not row.errors for row in rows), [row.errors for row in rows]
    return [row.usage for row in rows if row.usage is not None]


def test_each_usage_result_becomes_one_event_with_openai_fields_mapped(
    read_sample: ReadSample,
) -> None:
    events = usage_events(read_sample("openai", "openai_completions_usage.json"))

    assert [
        (
            event.user,
            event.model,
            event.input_tokens,
            event.output_tokens,
            event.cached_input_tokens,
            event.project,
            event.timestamp,
        )
        for event in events
    ] == [
        (
            "user-abc123",
            "gpt-4o-2024-08-06",
            120000,
            35000,
            40000,
            "proj_marketing",
            datetime(2025, 8, 1, tzinfo=UTC),
        ),
        (
            "openai-key:key_ci",
            "gpt-4o-mini-2024-07-18",
            5000,
            1000,
            0,
            "proj_marketing",
            datetime(2025, 8, 1, tzinfo=UTC),
        ),
        (
            "openai-project:proj_support",
            "unknown",
            800,  # input_tokens already counts the 500 audio tokens
            200,  # output_tokens already counts the 300 audio tokens
            100,
            "proj_support",
            datetime(2025, 8, 1, tzinfo=UTC),
        ),
        ("openai-org", "o3-2025-04-16", 42, 7, 0, None, datetime(2025, 8, 2, tzinfo=UTC)),
    ]
    assert all(event.use_case is None and event.conversation_id is None for event in events)


def test_rows_carry_the_line_their_bucket_starts_on(read_sample: ReadSample) -> None:
    rows = read_sample("openai", "openai_completions_usage.json")

    assert [row.line for row in rows] == [4, 4, 4, 53]


def test_openai_ids_are_content_hashes_stable_across_reads_and_file_layouts(
    read_sample: ReadSample,
) -> None:
    first = usage_events(read_sample("openai", "openai_completions_usage.json"))
    second = usage_events(read_sample("openai", "openai_completions_usage.json"))
    as_json_lines = usage_events(read_sample("openai", "openai_completions_usage.jsonl"))

    ids = [event.id for event in first]
    assert ids == [event.id for event in second] == [event.id for event in as_json_lines]
    assert first == as_json_lines
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"openai:[0-9a-f]{64}", event_id) for event_id in ids)
    # Pinned: changing how ids are derived would count re-imported exports twice.
    assert ids[0] == "openai:7e7472d1ffc9e33a11d14cd70f8d5a4de5c43878c5a5e4d77bdc443a0f671cbf"


def test_a_broken_openai_document_yields_one_error_on_the_line_where_parsing_broke(
    read_sample: ReadSample,
) -> None:
    rows = read_sample("openai", "openai_completions_usage_broken.json")

    assert rows == [
        ImportRow(23, errors=[FieldError(23, "file", "is not valid JSON: expecting ',' delimiter")])
    ]


def test_invalid_openai_results_are_reported_with_openai_field_names_and_lines(
    read_sample: ReadSample,
) -> None:
    rows = read_sample("openai", "openai_completions_usage_invalid.jsonl")

    assert [row.errors for row in rows if row.errors] == [
        [
            FieldError(1, "input_tokens", "must be a non-negative integer"),
            FieldError(1, "output_tokens", "must be a non-negative integer"),
        ],
        [FieldError(1, "input_cached_tokens", "must not exceed input_tokens")],
        [FieldError(1, "input_audio_tokens", "must be a non-negative integer")],
        [FieldError(2, "file", "is not valid JSON: expecting value (column 29)")],
        [FieldError(3, "start_time", "has no UTC offset; add one, e.g. 'Z' or '+00:00'")],
        [FieldError(5, "data", "must hold usage buckets, each with a results list")],
    ]
    [valid] = [row for row in rows if row.usage is not None]
    assert (valid.line, valid.usage.user, valid.usage.model) == (
        4,
        "openai-project:proj_x",
        "unknown",
    )


GROUPED = "openai_completions_usage_grouped.json"
GROUP_BY_DIMENSIONS = (
    "project_id",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
    "api_source",
)


def documented_results(path: Path) -> list[dict]:
    page = json.loads(path.read_text())
    return [result for bucket in page["data"] for result in bucket["results"]]


def test_results_that_differ_only_by_one_group_by_dimension_are_distinct_events(
    read_sample: ReadSample, imports_dir: Path
) -> None:
    results = documented_results(imports_dir / GROUPED)
    events = usage_events(read_sample("openai", GROUPED))

    # The fixture's first result is the base; every other differs from it in one dimension
    # (service_tier twice, api_source, batch, project_id, api_key_id, model).
    base = results[0]
    differing = [
        [name for name in GROUP_BY_DIMENSIONS if result[name] != base[name]]
        for result in results[1:]
    ]
    assert differing == [
        ["service_tier"],
        ["service_tier"],
        ["api_source"],
        ["batch"],
        ["project_id"],
        ["api_key_id"],
        ["model"],
    ]
    assert len(events) == len(results) == len({event.id for event in events})


def test_input_and_output_tokens_are_taken_as_documented_totals_audio_and_cache_included(
    read_sample: ReadSample, imports_dir: Path
) -> None:
    results = documented_results(imports_dir / GROUPED)
    events = usage_events(read_sample("openai", GROUPED))

    assert [(e.input_tokens, e.cached_input_tokens, e.output_tokens) for e in events] == [
        (r["input_tokens"], r["input_cached_tokens"], r["output_tokens"]) for r in results
    ]
    audio = events[-1]
    assert (audio.model, audio.input_tokens, audio.output_tokens) == (
        "gpt-4o-audio-preview-2025-06-03",
        700 + 500 + 100 + 150 + 50,  # text, audio and image; uncached and cached
        300 + 300,  # text and audio
    )
    # The report's totals, summed independently of the reader.
    assert sum(e.input_tokens for e in events) == sum(r["input_tokens"] for r in results)
    assert sum(e.output_tokens for e in events) == sum(r["output_tokens"] for r in results)


def test_results_grouped_by_key_without_a_user_are_the_keys_identity(
    read_sample: ReadSample,
) -> None:
    events = usage_events(read_sample("openai", GROUPED))

    assert {event.user for event in events} == {"openai-key:key_shared", "openai-key:key_other"}
    assert {event.project for event in events} == {"proj_app", "proj_other"}
