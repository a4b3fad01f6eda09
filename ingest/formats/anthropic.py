"""Import Anthropic usage: pages of the Admin API `GET /v1/organizations/usage_report/messages`.

A page is {"data": [bucket, ...], "has_more": ..., "next_page": ...}; a bucket is
{"starting_at": RFC 3339, "ending_at": RFC 3339, "results": [result, ...]} and each result carries
uncached_input_tokens, cache_creation {ephemeral_1h_input_tokens, ephemeral_5m_input_tokens},
cache_read_input_tokens, output_tokens, server_tool_use {web_search_requests} and the group-by
dimensions account_id, service_account_id, api_key_id, workspace_id, model, service_tier,
context_window, inference_geo and speed (null when not grouped by). Files hold one page per line
(JSON Lines) or one JSON document (a page, or a list of pages).

Mapping, one UsageEvent per result:
- user: the report's `account_id` is a user account (the query parameter `account_ids` is
  documented as "user account ID(s)"), so it is the person: "anthropic-account:<account_id>";
  else "anthropic-service-account:<service_account_id>", else "anthropic-key:<api_key_id>",
  else "anthropic-workspace:<workspace_id>", else "anthropic-org". The directory maps these
  aliases to people like any other identity;
- input_tokens = uncached_input_tokens + both cache_creation counts + cache_read_input_tokens;
  cached_input_tokens = cache_read_input_tokens; output_tokens = output_tokens. So the sums of
  an import equal the report's;
- project = workspace_id, timestamp = the bucket's starting_at, model = model or "unknown";
- id = "anthropic:" + sha256 of (starting_at, ending_at, api_key_id, workspace_id, model,
  service_tier, context_window), followed by {account_id, service_account_id, inference_geo,
  speed} for those of them that are not null: every group-by dimension is part of the id, so
  results that differ in any one are distinct events, and reports without the later dimensions
  keep the ids they always had. Re-importing the same export yields the same ids.
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

SOURCE = "anthropic"
# Group-by dimensions documented after the first ones: part of the id only when present.
LATER_DIMENSIONS = ("account_id", "service_account_id", "inference_geo", "speed")
_ERROR_FIELDS = {
    "user": "account_id",
    "model": "model",
    "input_tokens": "uncached_input_tokens",
    "output_tokens": "output_tokens",
    "cached_input_tokens": "cache_read_input_tokens",
    "project": "workspace_id",
    "timestamp": "starting_at",
}


def read(stream: BinaryIO, *, now: datetime) -> Iterator[ImportRow]:
    """One ImportRow per usage result in an Anthropic messages usage report export."""
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
    cached_input_tokens = token_sum(result, line, errors, required=["cache_read_input_tokens"])
    uncached_input_tokens = token_sum(
        result,
        line,
        errors,
        required=["uncached_input_tokens"],
        optional=[
            "cache_creation.ephemeral_1h_input_tokens",
            "cache_creation.ephemeral_5m_input_tokens",
        ],
    )
    input_tokens = (
        None
        if cached_input_tokens is None or uncached_input_tokens is None
        else cached_input_tokens + uncached_input_tokens
    )
    output_tokens = token_sum(result, line, errors, required=["output_tokens"])
    account_id = result.get("account_id")
    service_account_id = result.get("service_account_id")
    api_key_id = result.get("api_key_id")
    workspace_id = result.get("workspace_id")
    model = result.get("model")
    if account_id:
        user = f"anthropic-account:{account_id}"
    elif service_account_id:
        user = f"anthropic-service-account:{service_account_id}"
    elif api_key_id:
        user = f"anthropic-key:{api_key_id}"
    elif workspace_id:
        user = f"anthropic-workspace:{workspace_id}"
    else:
        user = "anthropic-org"
    identity = [
        bucket.get("starting_at"),
        bucket.get("ending_at"),
        api_key_id,
        workspace_id,
        model,
        result.get("service_tier"),
        result.get("context_window"),
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
        "project": workspace_id,
        "timestamp": bucket.get("starting_at"),
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
