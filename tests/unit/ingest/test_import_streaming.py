"""Readers stream: reading a 20-50 MB export keeps Python's peak memory far below the file size.

Measured here: under 1 MB for JSON Lines and CSV, under 5 MB for a single JSON document (one
read chunk and its decoded text).
"""

import csv
import io
import json
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from ingest.formats import read_file

NOW_ISO = "2025-10-01T00:00:00+00:00"
# The csv module is the slowest reader (C, but char by char), so its file is smaller.
FILE_BYTES = {"jsonl": 50 * 1024 * 1024, "json": 50 * 1024 * 1024, "csv": 20 * 1024 * 1024}
PEAK_LIMIT_BYTES = 10 * 1024 * 1024
# LiteLLM can store prompts and responses in its spend logs: big records, few tokens to count.
PROMPT = "Summarise the attached quarterly report for the leadership team. " * 300


def spend_log(number: int) -> dict[str, object]:
    return {
        "request_id": f"chatcmpl-{number:08d}",
        "call_type": "acompletion",
        "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "spend": 0.001,
        "total_tokens": 1500,
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "startTime": "2025-08-01T12:00:00.123000",
        "model": "gpt-4o",
        "user": "alice@example.com",
        "metadata": {"tags": ["use_case:seo-brief"]},
        "request_tags": ["use_case:seo-brief"],
        "messages": [{"role": "user", "content": PROMPT}],
        "response": {"choices": [{"message": {"content": PROMPT}}]},
    }


def record_count(layout: str) -> int:
    return FILE_BYTES[layout] // len(json.dumps(spend_log(0)))


@pytest.fixture(scope="module")
def big_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big-exports")
    template = spend_log(0)
    columns = list(template)
    header_and_row = io.StringIO()
    csv.writer(header_and_row).writerows(
        [
            columns,
            [
                json.dumps(value) if isinstance(value, dict | list) else value
                for value in template.values()
            ],
        ]
    )
    csv_header, csv_row = header_and_row.getvalue().splitlines(keepends=True)
    json_record = json.dumps(template)
    placeholder = str(template["request_id"])

    def numbered(text: str, number: int) -> str:
        return text.replace(placeholder, f"chatcmpl-{number:08d}", 1)

    paths = {layout: folder / f"spend_logs.{layout}" for layout in ("jsonl", "json", "csv")}
    with (
        paths["jsonl"].open("w") as jsonl,
        paths["json"].open("w") as document,
        paths["csv"].open("w", newline="") as table,
    ):
        document.write("[\n")
        table.write(csv_header)
        for number in range(record_count("json")):
            jsonl.write(numbered(json_record, number) + "\n")
            document.write(("  " if number == 0 else ",\n  ") + numbered(json_record, number))
        for number in range(record_count("csv")):
            table.write(numbered(csv_row, number))
        document.write("\n]\n")
    return paths


@pytest.mark.parametrize("layout", ["jsonl", "json", "csv"])
def test_reading_a_large_export_keeps_peak_memory_small(
    big_exports: dict[str, Path], layout: str
) -> None:
    path = big_exports[layout]
    assert path.stat().st_size >= FILE_BYTES[layout] * 0.9
    now = datetime.fromisoformat(NOW_ISO)

    started = time.perf_counter()
    tracemalloc.start()
    try:
        rows = 0
        errors = 0
        with path.open("rb") as stream:
            for row in read_file("litellm", stream, now):
                rows += 1
                errors += len(row.errors)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    assert (rows, errors) == (record_count(layout), 0)
    assert peak < PEAK_LIMIT_BYTES, f"peak {peak / 1e6:.1f} MB"
    # A loose bound (each layout takes 1-3 s here): it catches quadratic slips, not slow machines.
    assert elapsed < 15, f"took {elapsed:.1f} s"
