import io
import json

import pytest

from ingest.formats import json_records
from ingest.formats.json_records import JsonRecord, iter_json_records

PAGE = {
    "object": "page",
    "data": [{"n": number, "text": 'caf\u00e9 "quoted" \\ ' * number} for number in range(4)],
    "has_more": False,
    "next_page": None,
}


def read(content: bytes) -> list[tuple[str, int, object]]:
    return [
        ("record", item.line, item.value)
        if isinstance(item, JsonRecord)
        else ("problem", item.line, item.reason)
        for item in iter_json_records(io.BytesIO(content))
    ]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 64, 1 << 20])
def test_a_pretty_printed_page_streams_its_data_elements_whatever_the_chunk_size(
    monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    monkeypatch.setattr(json_records, "READ_CHUNK_BYTES", chunk_bytes)

    items = read(json.dumps(PAGE, indent=2).encode())

    assert [value for _, _, value in items] == PAGE["data"]
    assert [line for _, line, _ in items] == [4, 8, 12, 16]


def test_json_lines_give_each_page_s_records_the_line_of_the_page() -> None:
    content = (json.dumps(PAGE) + "\n\n" + json.dumps({"data": [{"n": 9}]}) + "\n").encode()

    assert [(line, value) for _, line, value in read(content)] == [
        (1, PAGE["data"][0]),
        (1, PAGE["data"][1]),
        (1, PAGE["data"][2]),
        (1, PAGE["data"][3]),
        (3, {"n": 9}),
    ]


def test_a_broken_json_line_is_reported_and_the_following_lines_are_still_read() -> None:
    content = b'{"n": 1}\n{"n": \n{"n": 3}\n'

    assert read(content) == [
        ("record", 1, {"n": 1}),
        ("problem", 2, "is not valid JSON: expecting value (column 7)"),
        ("record", 3, {"n": 3}),
    ]


def test_a_top_level_list_of_records_streams_each_record_with_its_line() -> None:
    content = b'[\n  {"n": 1},\n  {"n": 2}\n]\n'

    assert read(content) == [("record", 2, {"n": 1}), ("record", 3, {"n": 2})]


def test_a_top_level_list_of_pages_yields_the_records_of_every_page() -> None:
    content = b'[\n{"data": [{"n": 1}, {"n": 2}]},\n{"data": [{"n": 3}]}\n]'

    assert read(content) == [
        ("record", 2, {"n": 1}),
        ("record", 2, {"n": 2}),
        ("record", 3, {"n": 3}),
    ]


def test_an_object_without_a_data_list_is_itself_a_record() -> None:
    assert read(b'{\n  "request_id": "r1",\n  "data": "x"\n}') == [
        ("record", 1, {"request_id": "r1", "data": "x"})
    ]


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (
            b'{\n "data": [\n  {"n": 1}\n  {"n": 2}\n ]\n}',
            4,
            "is not valid JSON: expected ',' or ']'",
        ),
        (
            b'{\n "data": [\n  {"n": 1},\n',
            4,
            "is not valid JSON: ends where a list element was expected",
        ),
        (b'[\n {"n": 1},\n]', 3, "is not valid JSON: expecting value"),
        (b'{\n "x": "two\nlines"\n}', 2, "is not valid JSON: invalid control character"),
        (b"not json at all", 1, "is not valid JSON: expecting value"),
        (b'{\n "x": "\xff"\n}', 2, "is not valid UTF-8 text"),
    ],
)
def test_a_broken_document_yields_one_problem_on_the_line_where_parsing_broke(
    content: bytes, line: int, reason: str
) -> None:
    items = read(content)

    assert items[-1] == ("problem", line, reason)
    assert [kind for kind, _, _ in items[:-1]] == ["record"] * (len(items) - 1)


def test_an_empty_file_has_no_records_and_a_byte_order_mark_is_ignored() -> None:
    assert read(b"") == []
    assert read(b"\n  \n") == []
    assert read(b'\xef\xbb\xbf{"data": [{"n": 1}]}') == [("record", 1, {"n": 1})]


def test_a_number_split_across_chunks_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_records, "READ_CHUNK_BYTES", 4)

    assert read(b"[\n12345678,\n-1.5e3\n]") == [("record", 2, 12345678), ("record", 3, -1500.0)]


def test_a_json_line_longer_than_the_limit_is_reported_and_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(json_records, "MAX_LINE_BYTES", 32)
    content = b'{"n": 1}\n{"n": 2, "pad": "' + b"x" * 100 + b'"}\n{"n": 3}\n'

    assert read(content) == [
        ("record", 1, {"n": 1}),
        ("problem", 2, "has a line longer than 32 bytes; split it up"),
        ("record", 3, {"n": 3}),
    ]


def test_a_single_value_larger_than_the_limit_stops_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(json_records, "READ_CHUNK_BYTES", 16)
    monkeypatch.setattr(json_records, "MAX_ELEMENT_CHARACTERS", 64)
    content = b'{\n"data": [\n{"n": 1},\n{"pad": "' + b"x" * 500 + b'"}\n]}'

    items = read(content)

    assert items[0] == ("record", 3, {"n": 1})
    assert items[1][0:2] == ("problem", 4)
    assert "longer than 64 characters" in str(items[1][2])


def test_absurdly_deep_nesting_is_a_problem_not_a_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    assert read(b'{"n": 1}\n' + deep + b"\n") == [
        ("record", 1, {"n": 1}),
        ("problem", 2, "nests values too deeply to read"),
    ]
    assert read(deep) == [("problem", 1, "nests values too deeply to read")]


def test_json_lines_with_a_first_line_longer_than_a_chunk_are_still_read_line_by_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(json_records, "READ_CHUNK_BYTES", 8)
    content = b'{"n": 1, "pad": "xxxxxxxxxxxxxxxx"}\n{"n": 2}\n\n{"data": [{"n": 3}]}\n'

    assert read(content) == [
        ("record", 1, {"n": 1, "pad": "xxxxxxxxxxxxxxxx"}),
        ("record", 2, {"n": 2}),
        ("record", 4, {"n": 3}),
    ]


def test_blank_lines_before_a_document_count_in_line_numbers() -> None:
    assert read(b'\n\n{\n "data": [\n  {"n": 1}\n ]\n}\n') == [("record", 5, {"n": 1})]
