"""Pure parsers for the chat grammar: amounts like `50k`, dates, and `--option value` pairs."""

from __future__ import annotations

import re
import shlex
from datetime import date
from decimal import Decimal, InvalidOperation

from bot.core.errors import UsageError

_AMOUNT = re.compile(r"^(?P<number>\d+(?:[.,]\d+)?)\s*(?P<suffix>[kKmMbB]?)$")
_MULTIPLIER = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


def parse_amount(text: str) -> int:
    """`50000`, `50k`, `2.5M`, `1,000,000` -> whole tokens; anything else is a UsageError."""
    cleaned = text.strip().replace("_", "")
    if re.fullmatch(r"\d{1,3}(,\d{3})+", cleaned):
        cleaned = cleaned.replace(",", "")
    match = _AMOUNT.match(cleaned)
    if not match:
        raise UsageError(f"{text!r} is not an amount of tokens; write it like 50000, 50k or 2.5M")
    try:
        number = Decimal(match["number"].replace(",", "."))
    except InvalidOperation:
        raise UsageError(f"{text!r} is not an amount of tokens") from None
    value = number * _MULTIPLIER[match["suffix"].lower()]
    if value != value.to_integral_value():
        raise UsageError(f"{text!r} is not a whole number of tokens")
    if value <= 0:
        raise UsageError("the amount must be more than zero")
    return int(value)


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-15"
        ) from None


def split_words(text: str) -> list[str]:
    """Split like a shell (quotes group words); fall back to whitespace on unbalanced quotes."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def parse_options(
    words: list[str], options: set[str], usage: str
) -> tuple[list[str], dict[str, str]]:
    """Separate `--name value` options from positional words; unknown options are errors."""
    positional: list[str] = []
    found: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            name, _, inline = word[2:].partition("=")
            if name not in options:
                allowed = ", ".join(f"--{o}" for o in sorted(options)) or "none"
                raise UsageError(f"unknown option --{name} (allowed: {allowed})", usage)
            if inline:
                found[name] = inline
            elif i + 1 < len(words):
                found[name] = words[i + 1]
                i += 1
            else:
                raise UsageError(f"--{name} needs a value", usage)
        else:
            positional.append(word)
        i += 1
    return positional, found


_QUOTED_OR_WORD = r"""(?:"[^"]*"|'[^']*'|[^\s"']\S*)"""
_LEADING_OPTION = re.compile(
    rf"--(?P<name>[^\s=]+)(?:=(?P<inline>{_QUOTED_OR_WORD}?)|[ \t]+(?P<value>{_QUOTED_OR_WORD}))?(?=\s|$)"
)


def split_leading_options(text: str, options: set[str], usage: str) -> tuple[dict[str, str], str]:
    """`--name value` options at the start of `text`, and the rest of it verbatim.

    For commands whose last argument is free text: a prompt keeps its quotes, spacing and
    newlines (which `split_words` would not). A lone `--` ends the options, so a text may
    itself start with `--`. Unknown options and options without a value are UsageErrors.
    """
    found: dict[str, str] = {}
    rest = text.lstrip()
    while rest.startswith("--"):
        if rest == "--" or rest[2].isspace():
            return found, rest[2:].lstrip()
        match = _LEADING_OPTION.match(rest)
        name = match["name"] if match else rest[2:].split(None, 1)[0]
        if name not in options:
            allowed = ", ".join(f"--{o}" for o in sorted(options)) or "none"
            raise UsageError(f"unknown option --{name} (allowed: {allowed})", usage)
        value = (match["inline"] or match["value"]) if match else None
        if not value or value in ('""', "''"):
            raise UsageError(f"--{name} needs a value", usage)
        found[name] = value[1:-1] if value[0] in "\"'" else value
        rest = rest[match.end() :].lstrip()
    return found, rest
