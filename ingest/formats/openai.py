"""Import OpenAI organization usage: pages of `GET /v1/organization/usage/completions`.

A page is {"object": "page", "data": [bucket, ...], "has_more": ..., "next_page": ...}; a bucket
is {"object": "bucket", "start_time": <epoch s>, "end_time": <epoch s>, "results": [result, ...]}
and each result ("organization.usage.completions.result") carries the counts input_tokens,
output_tokens, input_cached_tokens, the breakdowns (input_uncached_tokens, input_text_tokens,
input_audio_tokens, input_image_tokens, input_cached_{text,audio,image}_tokens,
input_cache_write_tokens, output_{text,audio,image}_tokens), num_model_requests, and the
group-by dimensions project_id, user_id, api_key_id, model, batch, service_tier and api_source
(null when not grouped by). Files hold one page per line (JSON Lines) or one JSON document (a
page, or a list of pages).

Token counts, as the API reference documents them: input_tokens is every input token "including
cached and cache-write tokens ... text, audio, and image tokens"; input_cached_tokens the cached
ones "across text, audio, and image inputs"; output_tokens every output token "across text,
audio, and image outputs". The breakdowns are parts of those totals, never added to them (they
are checked as counts when present, so corrupt values are reported).

Mapping, one UsageEvent per result:
- user: user_id, else "openai-key:<api_key_id>", else "openai-project:<project_id>", else
  "openai-org" (the directory maps these aliases to people);
- input_tokens = input_tokens, cached_input_tokens = input_cached_tokens (0 when absent),
  output_tokens = output_tokens;
- project = project_id, timestamp = the bucket's start_time, model = model or "unknown";
- id = "openai:" + sha256 of (start_time, end_time, project_id, user_id, api_key_id, model,
  batch), followed by {service_tier, api_source} for those of them that are not null: every
  group-by dimension is part of the id, so results that differ in any one are distinct events,
  and exports without the later dimensions keep the ids they always had. Re-importing the same
  export yields the same ids. Exports of the same period with a different bucket width or
  group_by are different aggregates and are not recognised as overlaps.
"""

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import BinaryIO

from ingest.events import FieldError
from ingest.formats.json_records import JsonProblem, iter_json_records
from ingest.formats.rows import (
    ImportRow,
    content_id,
    error_row,
    missing,
    token_sum,
    usage_row,
)

SOURCE = "openai"
# Group-by dimensions documented after the first ones: part of the id only when present.
LATER_DIMENSIONS = ("service_tier", "api_source")
BREAKDOWN_FIELDS = (
    "input_uncached_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "input_cached_text_tokens",
    "input_cached_audio_tokens",
    "input_cached_image_tokens",
    "input_cache_write_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "output_image_tokens",
)
_ERROR_FIELDS = {
    "user": "user_id",
    "model": "model",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cached_input_tokens": "input_cached_tokens",
    "project": "project_id",
    "timestamp": "start_time",
}


def read(stream: BinaryIO, *, now: datetime) -> Iterator[ImportRow]:
    """One ImportRow per usage result in an OpenAI completions usage export."""
    for record in iter_json_records(stream):
        if isinstance(record, JsonProblem):
            yield error_row(record.line, "file", record.reason)
        else:
            yield from _rows_from_bucket(record.value, record.line, now)


def _rows_from_bucket(bucket: object, line: int, now: datetime) -> Iterator[ImportRow]:
    if not isinstance(bucket, Mapping) or not isinstance(bucket.get("results"), list):
        yield error_row(line, "data", "must hold usage buckets, each with a results list")
        return
    for result in bucket["results"]:
        if not isinstance(result, Mapping):
            yield error_row(line, "results", "must hold usage result objects")
        else:
            yield _row_from_result(bucket, result, line, now)


def _row_from_result(
    bucket: Mapping[str, object], result: Mapping[str, object], line: int, now: datetime
) -> ImportRow:
    errors: list[FieldError] = []
    input_tokens = token_sum(result, line, errors, required=["input_tokens"])
    output_tokens = token_sum(result, line, errors, required=["output_tokens"])
    cached_input_tokens = token_sum(
        result, line, errors, required=[], optional=["input_cached_tokens"]
    )
    for part in BREAKDOWN_FIELDS:  # parts of the totals above: checked, never added
        token_sum(result, line, errors, required=[], optional=[part])
    project_id = result.get("project_id")
    user_id = result.get("user_id")
    api_key_id = result.get("api_key_id")
    model = result.get("model")
    if user_id:
        user = user_id
    elif api_key_id:
        user = f"openai-key:{api_key_id}"
    elif project_id:
        user = f"openai-project:{project_id}"
    else:
        user = "openai-org"
    identity = [
        bucket.get("start_time"),
        bucket.get("end_time"),
        project_id,
        user_id,
        api_key_id,
        model,
        result.get("batch"),
    ]
    later_dimensions = {
        name: result[name] for name in LATER_DIMENSIONS if result.get(name) is not None
    }
    if later_dimensions:
        identity.append(later_dimensions)
    raw = {
        "id": content_id(SOURCE, identity),
        "user": user,
        "model": "unknown" if model is None else model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "project": project_id,
        "timestamp": bucket.get("start_time"),
    }
    return usage_row(
        line,
        raw,
        now=now,
        source_fields=_ERROR_FIELDS,
        known_errors=errors,
        unchecked_fields=missing(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
        ),
    )
