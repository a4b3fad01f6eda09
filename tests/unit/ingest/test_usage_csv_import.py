import io
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from ingest.events import FieldError, UsageEvent
from ingest.formats import ImportRow, read_file

ReadSample = Callable[[str, str], list[ImportRow]]
NOW = datetime(2025, 10, 1, tzinfo=UTC)
HEADER = "id,user,model,input_tokens,output_tokens,timestamp\n"


def read_csv(content: bytes | str) -> list[ImportRow]:
    data = content.encode() if isinstance(content, str) else content
    return list(read_file("csv", io.BytesIO(data), NOW))


def test_usage_csv_rows_map_column_by_column(read_sample: ReadSample) -> None:
    rows = read_sample("csv", "usage.csv")

    assert [row.line for row in rows] == [2, 3, 4]
    assert [row.usage for row in rows] == [
        UsageEvent(
            id="gw-0001",
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
        ),
        UsageEvent(
            id="gw-0002",
            user="bob@example.com",
            model="claude-sonnet-4-20250514",
            input_tokens=400,
            output_tokens=60,
            cached_input_tokens=0,
            use_case=None,
            project=None,
            template_id=None,
            conversation_id=None,
            timestamp=datetime(2025, 8, 1, 13, 30, tzinfo=UTC),
            prompt_fingerprint=None,
        ),
        UsageEvent(
            id="gw-0003",
            user="carol",
            model="text-embedding-3-small",
            input_tokens=64,
            output_tokens=0,
            cached_input_tokens=0,
            use_case="search",
            project=None,
            template_id=None,
            conversation_id=None,
            timestamp=datetime(2025, 8, 2, 8, 15, 30, tzinfo=UTC),
            prompt_fingerprint=None,
        ),
    ]


def test_invalid_csv_rows_report_every_problem_on_their_line(read_sample: ReadSample) -> None:
    rows = read_sample("csv", "usage_invalid.csv")

    assert [row.errors for row in rows] == [
        [FieldError(2, "input_tokens", "must be a non-negative integer")],
        [
            FieldError(3, "user", "is required"),
            FieldError(3, "input_tokens", "must be a non-negative integer"),
            FieldError(3, "output_tokens", "must be a non-negative integer"),
        ],
        [
            FieldError(4, "cached_input_tokens", "must not exceed input_tokens"),
            FieldError(4, "timestamp", "has no UTC offset; add one, e.g. 'Z' or '+00:00'"),
        ],
        [
            FieldError(
                5,
                "input_tokens",
                "must be at most 100,000,000 tokens; larger values are treated as corrupt data",
            ),
            FieldError(5, "timestamp", "must not be before 2020-01-01"),
        ],
        [FieldError(6, "timestamp", "must not be more than 1 day in the future")],
        [],
    ]
    assert rows[-1].usage is not None and rows[-1].usage.id == "gw-0106"


def test_a_header_without_required_columns_is_one_error_on_line_1_naming_them(
    read_sample: ReadSample,
) -> None:
    assert read_sample("csv", "usage_missing_columns.csv") == [
        ImportRow(
            1,
            errors=[
                FieldError(
                    1, "header", "is missing required columns: model, input_tokens, output_tokens"
                )
            ],
        )
    ]


def test_a_row_that_is_not_valid_csv_stops_the_import_on_its_line(read_sample: ReadSample) -> None:
    rows = read_sample("csv", "usage_broken.csv")

    assert rows[0].usage is not None and rows[0].usage.id == "gw-0301"
    assert rows[1:] == [
        ImportRow(3, errors=[FieldError(3, "file", "is not valid CSV: ',' expected after '\"'")])
    ]


@pytest.mark.parametrize("cell", ["1.5", "-1", "1e3", "+5", "12 000", "0x10"])
def test_token_cells_must_be_digits_only(cell: str) -> None:
    [row] = read_csv(HEADER + f"gw-1,alice,gpt-4o,{cell},1,2025-08-01T12:00:00Z\n")

    assert row.errors == [FieldError(2, "input_tokens", "must be a non-negative integer")]


def test_empty_cells_are_absent_and_surrounding_spaces_are_ignored() -> None:
    [row] = read_csv(
        "id, user ,model,input_tokens,output_tokens,timestamp,use_case\n"
        " gw-1 , alice ,gpt-4o, 10 ,5,2025-08-01T12:00:00Z,  \n"
    )

    assert row.usage is not None
    assert (row.usage.id, row.usage.user, row.usage.input_tokens, row.usage.use_case) == (
        "gw-1",
        "alice",
        10,
        None,
    )


def test_quoted_cells_spanning_lines_keep_line_numbers_of_later_rows_right() -> None:
    rows = read_csv(
        HEADER + "\n"
        'gw-1,"alice\nsmith",gpt-4o,1,1,2025-08-01T12:00:00Z\n'
        "gw-2,bob,gpt-4o,x,1,2025-08-01T12:00:00Z\n"
    )

    assert rows[0].line == 3 and rows[0].usage is not None
    assert rows[1].errors == [FieldError(5, "input_tokens", "must be a non-negative integer")]


def test_a_row_that_is_not_utf8_is_reported_and_later_rows_still_import() -> None:
    rows = read_csv(
        HEADER.encode()
        + b"gw-1,caf\xe9,gpt-4o,1,1,2025-08-01T12:00:00Z\n"
        + b"gw-2,bob,gpt-4o,1,1,2025-08-01T12:00:00Z\n"
    )

    assert rows[0] == ImportRow(2, errors=[FieldError(2, "file", "is not valid UTF-8 text")])
    assert rows[1].usage is not None and rows[1].usage.id == "gw-2"


def test_an_empty_csv_has_no_rows_and_a_byte_order_mark_is_ignored() -> None:
    assert read_csv(b"") == []
    [row] = read_csv(b"\xef\xbb\xbf" + HEADER.encode() + b"gw-1,a,m,1,1,1754049600\n")
    assert row.usage is not None and row.usage.timestamp == datetime(2025, 8, 1, 12, tzinfo=UTC)


def test_reading_leaves_the_caller_s_stream_open() -> None:
    stream = io.BytesIO((HEADER + "gw-1,a,m,1,1,1754049600\n").encode())

    list(read_file("csv", stream, NOW))

    assert not stream.closed
