import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ingest.events import FieldError, UsageEvent, stored_id
from ingest.formats import ImportRow, read_file

ReadSample = Callable[[str, str], list[ImportRow]]
NOW = datetime(2025, 10, 1, tzinfo=UTC)


def usage_events(rows: list[ImportRow]) -> list[UsageEvent]:
    assert all(not row.errors for row in rows), [row.errors for row in rows]
    return [row.usage for row in rows if row.usage is not None]


def test_spend_logs_map_to_usage_events(read_sample: ReadSample) -> None:
    events = usage_events(read_sample("litellm", "litellm_spend_logs.json"))

    assert events[:4] == [
        # The person is end_user (the request's `user`), not `user` (the key's owner); the model
        # is the model group the client asked for; use case, template and project come from
        # metadata.spend_logs_metadata and request_tags, the conversation from session_id.
        UsageEvent(
            id="litellm:chatcmpl-4c5e8a1e-3f2b-4d7a-9a51-0f3c2b1d9e01",
            user="alice@example.com",
            model="gpt-4o",
            input_tokens=1200,
            output_tokens=300,
            cached_input_tokens=1024,
            use_case="seo-brief",
            project="website-relaunch",
            template_id="tpl-seo-v2",
            conversation_id="sess-42",
            timestamp=datetime(2025, 8, 1, 12, 0, 0, 123000, tzinfo=UTC),
            prompt_fingerprint=None,
        ),
        # /v1/messages: the conversation named in spend_logs_metadata wins over session_id.
        UsageEvent(
            id="litellm:msg_01XFDUDYJgAACzvnptvVoYEL",
            user="bob@example.com",
            model="claude-sonnet",
            input_tokens=400,
            output_tokens=60,
            cached_input_tokens=0,
            use_case="support-reply",
            project=None,
            template_id=None,
            conversation_id="conv-7",
            timestamp=datetime(2025, 8, 1, 13, 30, tzinfo=UTC),
            prompt_fingerprint="a1b2c3d4e5f60718",
        ),
        # No end user: the key's owner is the fallback.
        UsageEvent(
            id="litellm:9b3f4c2e-77aa-4d10-8a2e-51c0d9e7f6a3",
            user="carol",
            model="text-embedding-3-small",
            input_tokens=64,
            output_tokens=0,
            cached_input_tokens=0,
            use_case="search",
            project=None,
            template_id=None,
            conversation_id="0b7e2a44-5c1d-4f3e-9a8b-7c6d5e4f3a2b",
            timestamp=datetime(2025, 8, 2, 8, 15, 30, tzinfo=UTC),
            prompt_fingerprint=None,
        ),
        # Neither: the hashed virtual key.
        UsageEvent(
            id="litellm:chatcmpl-5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c",
            user="litellm-key:9a8b7c6d5e4f30211a2b3c4d5e6f70819a8b7c6d5e4f30211a2b3c4d5e6f7081",
            model="gpt-4o-mini",
            input_tokens=20,
            output_tokens=10,
            cached_input_tokens=0,
            use_case=None,
            project=None,
            template_id=None,
            conversation_id="5f2d7e1a-0c3b-4a9e-8d6f-1b2c3d4e5f60",
            timestamp=datetime(2025, 8, 2, 9, tzinfo=UTC),
            prompt_fingerprint=None,
        ),
    ]


def test_a_responses_api_row_with_a_470_character_call_id_is_kept_under_its_stored_id(
    read_sample: ReadSample, imports_dir: Path
) -> None:
    logs = json.loads((imports_dir / "litellm_spend_logs.json").read_text())
    request_id = logs[4]["request_id"]
    assert logs[4]["call_type"] == "aresponses" and len(request_id) > 400

    event = usage_events(read_sample("litellm", "litellm_spend_logs.json"))[4]

    assert event.id == stored_id(f"litellm:{request_id}")
    assert event.id == "litellm:sha256:" + hashlib.sha256(request_id.encode()).hexdigest()
    assert (event.user, event.model, event.input_tokens, event.cached_input_tokens) == (
        "dana@example.com",
        "gpt-4.1",
        3000,
        2048,
    )
    assert (event.use_case, event.project) == ("research", "website-relaunch")


def test_only_metadata_that_litellm_keeps_in_spend_logs_is_read(read_sample: ReadSample) -> None:
    # LiteLLM writes only its SpendLogsMetadata keys into the row's metadata (user_api_key_*,
    # spend_logs_metadata, usage_object, ...); our keys placed anywhere else never reach it.
    content = json.dumps(
        {
            "request_id": "r1",
            "end_user": "alice@example.com",
            "model_group": "gpt-4o",
            "prompt_tokens": 1,
            "completion_tokens": 2,
            "startTime": "2025-08-01T12:00:00",
            "metadata": {
                "use_case": "top-level",
                "requester_metadata": {"project": "requester"},
                "spend_logs_metadata": {"template_id": "tpl-1"},
            },
            "request_tags": ["project:from-tag"],
        }
    ).encode()

    [row] = list(read_file("litellm", io.BytesIO(content), NOW))

    assert row.usage is not None
    assert (row.usage.use_case, row.usage.project, row.usage.template_id) == (
        None,
        "from-tag",
        "tpl-1",
    )


def test_json_records_carry_the_line_they_start_on(read_sample: ReadSample) -> None:
    assert [row.line for row in read_sample("litellm", "litellm_spend_logs.json")] == [
        2,
        88,
        157,
        215,
        271,
    ]


def test_the_csv_export_gives_the_same_events_as_the_json_export(read_sample: ReadSample) -> None:
    from_csv = read_sample("litellm", "litellm_spend_logs.csv")

    assert usage_events(from_csv) == usage_events(read_sample("litellm", "litellm_spend_logs.json"))
    assert [row.line for row in from_csv] == [2, 3, 4, 5, 6]


def test_litellm_ids_are_stable_across_reads(read_sample: ReadSample) -> None:
    first = [row.usage.id for row in read_sample("litellm", "litellm_spend_logs.json")]

    assert first == [row.usage.id for row in read_sample("litellm", "litellm_spend_logs.json")]


def test_invalid_spend_logs_are_reported_per_line_with_litellm_field_names(
    read_sample: ReadSample,
) -> None:
    rows = read_sample("litellm", "litellm_spend_logs_invalid.jsonl")

    assert [row.errors for row in rows[:4]] == [
        [FieldError(1, "request_id", "must be a non-empty string")],
        [
            FieldError(
                2,
                "metadata.usage_object.prompt_tokens_details.cached_tokens",
                "must not exceed prompt_tokens",
            )
        ],
        [FieldError(3, "file", "is not valid JSON: expecting ',' delimiter (column 55)")],
        [
            FieldError(
                4,
                "startTime",
                "must be an ISO-8601 timestamp with an offset (e.g. 2025-08-01T12:00:00Z) "
                "or integer epoch seconds",
            )
        ],
    ]
    assert rows[4].line == 5 and rows[4].usage is not None


def read_csv(content: str) -> list[ImportRow]:
    return list(read_file("litellm", io.BytesIO(content.encode()), NOW))


def test_a_litellm_csv_without_required_columns_is_one_header_error() -> None:
    assert read_csv("request_id,model,spend\nr1,gpt-4o,0.1\n") == [
        ImportRow(
            1,
            errors=[
                FieldError(
                    1,
                    "header",
                    "is missing required columns: prompt_tokens, completion_tokens, startTime",
                )
            ],
        )
    ]


def test_litellm_csv_token_cells_must_be_digits_and_metadata_a_json_object() -> None:
    rows = read_csv(
        "request_id,user,model,prompt_tokens,completion_tokens,startTime,metadata\n"
        "r1,alice,gpt-4o,1.5,-2,2025-08-01 12:00:00,{}\n"
        'r2,alice,gpt-4o,1,2,2025-08-01 12:00:00,"[1, 2]"\n'
    )

    assert [row.errors for row in rows] == [
        [
            FieldError(2, "prompt_tokens", "must be a non-negative integer"),
            FieldError(2, "completion_tokens", "must be a non-negative integer"),
        ],
        [FieldError(3, "metadata", "must be a JSON object")],
    ]


def test_naive_litellm_times_are_taken_as_utc_and_offsets_are_respected() -> None:
    rows = read_csv(
        "request_id,user,model,prompt_tokens,completion_tokens,startTime\n"
        "r1,alice,gpt-4o,1,2,2025-08-01 12:00:00.5\n"
        "r2,alice,gpt-4o,1,2,2025-08-01T14:00:00+02:00\n"
    )

    assert [row.usage.timestamp for row in rows] == [  # type: ignore[union-attr]
        datetime(2025, 8, 1, 12, 0, 0, 500000, tzinfo=UTC),
        datetime(2025, 8, 1, 12, tzinfo=UTC),
    ]


def test_a_log_without_any_user_or_key_is_rejected() -> None:
    [row] = read_csv(
        "request_id,user,end_user,model,prompt_tokens,completion_tokens,startTime\n"
        "r1,,,gpt-4o,1,2,2025-08-01 12:00:00\n"
    )

    assert row.errors == [FieldError(2, "user", "is required")]


def test_a_litellm_file_starting_with_whitespace_is_still_recognised_as_json() -> None:
    content = (
        b'\n  [{"request_id": "r1", "user": "alice", "model": "gpt-4o", "prompt_tokens": 1,'
        b' "completion_tokens": 2, "startTime": "2025-08-01T12:00:00"}]'
    )

    [row] = list(read_file("litellm", io.BytesIO(content), NOW))

    assert row.usage is not None and row.usage.id == "litellm:r1"


def test_a_proxy_cache_hit_is_not_usage_and_is_skipped() -> None:
    """LiteLLM logs a cache hit under `<id>_cache_hit<seconds>` with the replayed call's tokens
    and spend 0: no provider was called, and the hook does not debit it either."""
    rows = read_csv(
        "request_id,end_user,model_group,prompt_tokens,completion_tokens,startTime,cache_hit,spend\n"
        "r1,alice,gpt-4o,10,20,2025-08-01 12:00:00,False,0.0002\n"
        "r1_cache_hit1754049601.5,alice,gpt-4o,10,20,2025-08-01 12:00:01,True,0.0\n"
    )
    assert [row.usage.id for row in rows] == ["litellm:r1"]  # type: ignore[union-attr]

    content = json.dumps(
        [
            {
                "request_id": "r2_cache_hit1754049601.5",
                "end_user": "alice",
                "model_group": "gpt-4o",
                "prompt_tokens": 10,
                "completion_tokens": 20,
                "startTime": "2025-08-01T12:00:00",
                "cache_hit": True,
            }
        ]
    ).encode()
    assert list(read_file("litellm", io.BytesIO(content), NOW)) == []


def test_a_claude_code_end_user_is_the_person_without_its_session_part() -> None:
    """Claude Code sends metadata.user_id "user_<hash>_account_<uuid>_session_<uuid>" on
    /v1/messages; LiteLLM stores it as end_user. The session names the conversation."""
    [row] = read_csv(
        "request_id,end_user,user,model_group,prompt_tokens,completion_tokens,startTime\n"
        "m1,user_ab12_account_3f9c_session_77e1-aa,key-owner,claude-sonnet,5,6,"
        "2025-08-01 12:00:00\n"
    )
    assert row.usage is not None and row.usage.user == "user_ab12_account_3f9c"
