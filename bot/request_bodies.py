"""Decoding untrusted JSON bodies (the usage API, Teams activities) into plain values, or a
`MalformedBody` that says what is wrong, in words a client can act on.

Python's `json.loads` accepts things no caller here can store or should spend time on; each
ends as a 400 naming the problem, never a 500:
- integers longer than `MAX_INTEGER_DIGITS` (past 4,300 digits `int()` itself refuses, with a
  ValueError), NaN, Infinity and floats that overflow to infinity;
- nesting deeper than `MAX_DEPTH` (50,000 brackets raise RecursionError inside the parser);
- NUL characters (PostgreSQL text cannot hold them: a DataError on insert) and lone UTF-16
  surrogates such as `"\\ud800"` (not encodable as UTF-8: the driver fails on them), anywhere
  in a key or a string;
- bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
MAX_INTEGER_DIGITS = 30
UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")


class MalformedBody(ValueError):
    """The body is not JSON tokenbot accepts; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise MalformedBody(f"a number has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise MalformedBody(f"the number {text[:40]} is too large")
    return value


def _constant(name: str) -> Any:
    raise MalformedBody(f"{name} is not a JSON number")


def decode_json(body: bytes) -> Any:
    """The decoded value of `body`, or MalformedBody naming the first problem found."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise MalformedBody(f"the body is not UTF-8 (byte {problem.start})") from None
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise MalformedBody(f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as problem:
        raise MalformedBody(f"the body is not valid JSON: {problem}") from None
    check_value(value)
    return value


def check_value(value: Any) -> None:
    """Raise MalformedBody when `value` nests too deeply or holds a string no database can
    store. Iterative, so the check itself cannot run out of stack."""
    pending: list[tuple[Any, int, str]] = [(value, 0, "$")]
    while pending:
        item, depth, where = pending.pop()
        if depth > MAX_DEPTH:
            raise MalformedBody(f"the JSON is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, where)
                pending.append((child, depth + 1, f"{where}.{key[:40]}"))
        elif isinstance(item, list):
            pending.extend((child, depth + 1, f"{where}[{n}]") for n, child in enumerate(item))


def _check_text(text: str, where: str) -> None:
    found = UNSTORABLE_CHARACTER.search(text)
    if found is None:
        return
    character = found.group()
    what = "a NUL character" if character == "\x00" else "a lone UTF-16 surrogate"
    raise MalformedBody(f"{where} holds {what} (\\u{ord(character):04x}), which cannot be stored")
