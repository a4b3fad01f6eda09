"""Stream the records out of a JSON export, with the line each record starts on.

Accepted shapes, all read with the standard library's C JSON scanner and no extra dependency:
- JSON Lines: one JSON value per line. Chosen when the file's first non-blank line is a complete
  JSON value by itself (and shorter than READ_CHUNK_BYTES). A broken line yields a problem for
  that line and reading goes on. A file whose first line is longer is read as a stream of
  documents (below), which reads JSON Lines just as well but stops at a broken line.
- A single JSON document, of any size and layout (pretty-printed or not), or several documents
  one after another. A broken document yields one problem on the line where parsing broke and
  reading stops there, since nothing after it can be trusted.

Each JSON value is unwrapped into records the same way in both modes:
- an API page (an object with a "data" list, e.g. {"object": "page", "data": [...], "has_more":
  ...}) gives the elements of "data"; the page's other members are dropped;
- a list gives its elements, each unwrapped as a page or taken as a record;
- anything else is one record (readers reject records that are not what they expect).

Memory stays flat whatever the file size: JSON Lines are read a line at a time, and a document is
read in chunks, decoding one element of a top-level "data" list or of a top-level list at a time.
The bound is the largest single value read whole: a line (MAX_LINE_BYTES), an element
(MAX_ELEMENT_CHARACTERS), or a page inside a top-level list. Records inside a page that itself
sits in a top-level list all carry the page's line.
"""

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_LINE_BYTES = 32 * 1024 * 1024
MAX_ELEMENT_CHARACTERS = 64 * 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024

_UTF8_BOM = codecs.BOM_UTF8
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()
# A value that JSONDecoder failed on this close to the end of the buffered text may simply be
# cut off by the chunk boundary (e.g. "tru", "\u00", "1e"); read more before calling it broken.
_TRUNCATION_WINDOW = 8
_TOO_DEEP = "nests values too deeply to read"


@dataclass(frozen=True, slots=True)
class JsonRecord:
    line: int
    value: object


@dataclass(frozen=True, slots=True)
class JsonProblem:
    """The file could not be read as JSON at `line`; `reason` completes "file ..."."""

    line: int
    reason: str


def iter_json_records(stream: BinaryIO) -> Iterator[JsonRecord | JsonProblem]:
    """Records of a JSON Lines file or JSON document, and problems where the JSON is broken."""
    line_number = 0
    at_line_start = True
    while True:
        piece = stream.readline(READ_CHUNK_BYTES)
        if not piece:
            return
        if at_line_start:
            line_number += 1
        if line_number == 1 and at_line_start:
            piece = piece.removeprefix(_UTF8_BOM)
        at_line_start = piece.endswith(b"\n")
        if piece.strip():
            break
    # A first line that is one complete JSON value means JSON Lines. Anything else (a document
    # spread over lines, or a first line longer than a chunk) is read as a stream of documents,
    # which also reads JSON Lines right, only without going on after a broken line.
    if at_line_start:
        try:
            value = json.loads(piece.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            pass
        else:
            yield from _unwrap(value, line_number)
            yield from _iter_json_lines(stream, line_number + 1)
            return
    yield from _iter_document(stream, piece, first_line=line_number)


def _iter_json_lines(stream: BinaryIO, line_number: int) -> Iterator[JsonRecord | JsonProblem]:
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield JsonProblem(
                line_number, f"has a line longer than {MAX_LINE_BYTES:,} bytes; split it up"
            )
        elif line.strip():
            try:
                value = json.loads(line.rstrip(b"\r\n").decode("utf-8"))
            except UnicodeDecodeError:
                yield JsonProblem(line_number, "is not valid UTF-8 text")
            except json.JSONDecodeError as error:
                yield JsonProblem(line_number, f"{_describe(error)} (column {error.colno})")
            except RecursionError:
                yield JsonProblem(line_number, _TOO_DEEP)
            else:
                yield from _unwrap(value, line_number)
        line_number += 1


def _unwrap(value: object, line: int, *, inside_list: bool = False) -> Iterator[JsonRecord]:
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        for item in value["data"]:
            yield JsonRecord(line, item)
    elif isinstance(value, list) and not inside_list:
        for element in value:
            yield from _unwrap(element, line, inside_list=True)
    else:
        yield JsonRecord(line, value)


def _describe(error: json.JSONDecodeError) -> str:
    message = re.sub(r"\s+(starting )?at$", "", error.msg)
    return f"is not valid JSON: {message[:1].lower()}{message[1:]}"


class _BrokenJson(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _iter_document(
    stream: BinaryIO, prefix: bytes, *, first_line: int
) -> Iterator[JsonRecord | JsonProblem]:
    try:
        scanner = _DocumentScanner(stream, prefix, first_line)
        while scanner.skip_whitespace():
            opener = scanner.peek()
            if opener == "{":
                yield from _walk_top_object(scanner)
            elif opener == "[":
                yield from _walk_top_list(scanner)
            else:
                line = scanner.line
                yield JsonRecord(line, scanner.decode_value())
    except _BrokenJson as broken:
        yield JsonProblem(broken.line, broken.reason)


def _walk_top_object(scanner: "_DocumentScanner") -> Iterator[JsonRecord]:
    """Stream a top-level object member by member, and its "data" list element by element."""
    start_line = scanner.line
    scanner.consume("{")
    members: dict[str, object] = {}
    is_page = False
    if scanner.next_char_after_whitespace() == "}":
        scanner.consume("}")
    else:
        while True:
            scanner.skip_whitespace_or_fail("an object member")
            key_line = scanner.line
            key = scanner.decode_value() if scanner.peek() == '"' else None
            if not isinstance(key, str):
                raise _BrokenJson(key_line, "is not valid JSON: expected a member name in quotes")
            scanner.expect(":")
            scanner.skip_whitespace_or_fail("a value")
            if key == "data" and scanner.peek() == "[":
                is_page = True
                for line, element in _walk_list_elements(scanner):
                    yield JsonRecord(line, element)
            else:
                members[key] = scanner.decode_value()
            if scanner.expect(",", "}") == "}":
                break
    if not is_page:
        yield JsonRecord(start_line, members)


def _walk_top_list(scanner: "_DocumentScanner") -> Iterator[JsonRecord]:
    for line, element in _walk_list_elements(scanner):
        yield from _unwrap(element, line, inside_list=True)


def _walk_list_elements(scanner: "_DocumentScanner") -> Iterator[tuple[int, object]]:
    scanner.consume("[")
    if scanner.next_char_after_whitespace() == "]":
        scanner.consume("]")
        return
    while True:
        scanner.skip_whitespace_or_fail("a list element")
        line = scanner.line
        yield line, scanner.decode_value()
        if scanner.expect(",", "]") == "]":
            return


class _DocumentScanner:
    """A window of decoded text over the stream, with the line number of the read position."""

    def __init__(self, stream: BinaryIO, prefix: bytes, first_line: int) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._position = 0
        self._at_end = False
        self.line = first_line
        self._append(prefix)

    def skip_whitespace(self) -> bool:
        """Move past whitespace; False at the end of the file."""
        while True:
            whitespace = _WHITESPACE.match(self._text, self._position)
            assert whitespace is not None  # the pattern also matches the empty string
            end = whitespace.end()
            self.line += self._text.count("\n", self._position, end)
            self._position = end
            if end < len(self._text):
                return True
            if self._at_end:
                return False
            self._read_more(0)

    def skip_whitespace_or_fail(self, expected: str) -> None:
        if not self.skip_whitespace():
            raise _BrokenJson(self.line, f"is not valid JSON: ends where {expected} was expected")

    def next_char_after_whitespace(self) -> str:
        return self.peek() if self.skip_whitespace() else ""

    def peek(self) -> str:
        return self._text[self._position]

    def consume(self, char: str) -> None:
        assert self._text[self._position] == char
        self._position += 1

    def expect(self, *chars: str) -> str:
        """Consume the next non-whitespace character, which must be one of `chars`."""
        expected = " or ".join(f"'{char}'" for char in chars)
        self.skip_whitespace_or_fail(expected)
        char = self.peek()
        if char not in chars:
            raise _BrokenJson(self.line, f"is not valid JSON: expected {expected}")
        self._position += 1
        return char

    def decode_value(self) -> object:
        """Decode the JSON value starting at the read position, reading more text as needed."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self._text, self._position)
            except RecursionError:
                raise _BrokenJson(self.line, _TOO_DEEP) from None
            except json.JSONDecodeError as error:
                if not self._at_end and self._may_be_cut_off(error):
                    self._read_more_of_value()
                    continue
                line = self.line + self._text.count("\n", self._position, error.pos)
                raise _BrokenJson(line, _describe(error)) from None
            if end == len(self._text) and not self._at_end:
                # A number at the end of the window may go on in the next chunk.
                self._read_more_of_value()
                continue
            self.line += self._text.count("\n", self._position, end)
            self._position = end
            return value

    def _may_be_cut_off(self, error: json.JSONDecodeError) -> bool:
        return error.msg.startswith("Unterminated string") or (
            error.pos >= len(self._text) - _TRUNCATION_WINDOW
        )

    def _read_more_of_value(self) -> None:
        pending = len(self._text) - self._position
        if pending > MAX_ELEMENT_CHARACTERS:
            raise _BrokenJson(
                self.line,
                f"has a single JSON value longer than {MAX_ELEMENT_CHARACTERS:,} characters; "
                "export smaller pages",
            )
        self._read_more(pending)

    def _read_more(self, at_least: int) -> None:
        data = self._stream.read(max(READ_CHUNK_BYTES, at_least))
        if not data:
            self._at_end = True
        self._append(data)

    def _append(self, data: bytes) -> None:
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            line = self.line + self._text.count("\n", self._position)
            raise _BrokenJson(line, "is not valid UTF-8 text") from None
        self._text = self._text[self._position :] + text
        self._position = 0
