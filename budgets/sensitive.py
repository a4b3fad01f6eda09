"""Detect secrets and personal data in text before it is sent to a model for a cost estimate.

``find_sensitive(text)`` reports how many credentials, keys, tokens, emails, phone numbers and
payment card numbers a text contains, so the bot can warn the user.

Invariants:

* A finding holds only a kind and a count, never the matched text or its position, so findings
  are safe to log, store and show.
* Every pattern is compiled once at import. Each can start only at a fixed prefix or at the start
  of a run of its characters, and uses bounded or possessive repetition, so a scan is linear in
  the length of the text (100 KB, adversarial input included, takes at most tens of milliseconds).
* Detectors run from most to least specific, and each blanks out what it matched before the next
  runs: a key inside a PEM block is not also an API key, and the digits of a card number or an
  API key are not also a phone number. So each span of text is counted at most once.
* Speed without a second definition of what is sensitive: a detector tries its pattern only where
  a match can start (at a literal prefix found with ``str.find`` or a literal-led ``re`` search,
  through one rare character of it, before an "@", at a "+", at a run of four or more digits or
  a few characters before one). ``re`` would try a lookbehind-led pattern at every character;
  these searches run at C speed on a one-byte-per-character ASCII copy of the text (a quarter
  of the memory of text with emoji), about a dozen passes in all, so 100 KB of ordinary text
  takes about a millisecond instead of tens. A shortcut only leaves out positions
  where the pattern cannot match, so the findings equal a plain scan of every pattern over the
  whole text (``_find_sensitive_everywhere``, which the tests compare with).
* The text is copied only when something matched (to blank it out).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import AnyStr, Literal

__all__ = ["SENSITIVE_KINDS", "SensitiveFinding", "SensitiveKind", "find_sensitive"]

SensitiveKind = Literal["api_key", "private_key", "token", "email", "phone", "card_number"]

SENSITIVE_KINDS: tuple[SensitiveKind, ...] = (
    "private_key",
    "api_key",
    "token",
    "email",
    "card_number",
    "phone",
)


@dataclass(frozen=True, slots=True)
class SensitiveFinding:
    """How many items of one kind were found; deliberately carries no matched text."""

    kind: SensitiveKind
    count: int


class _Text:
    """The text as the detectors have left it so far, and the indexes they share over it.

    The indexes are built on first use. When a detector blanks something out, the ASCII copies
    are blanked alike, and the digit runs and pattern hits are found again.
    """

    __slots__ = (
        "_ascii",
        "_ascii_folded",
        "_hits",
        "_long_digit_runs",
        "_only_ascii_digits",
        "value",
    )

    def __init__(self, value: str):
        self.value = value
        self._ascii: bytes | None = None
        self._ascii_folded: bytes | None = None
        self._hits: dict[re.Pattern[bytes], list[int]] = {}
        self._long_digit_runs: list[tuple[int, int]] | None = None
        self._only_ascii_digits: bool | None = None

    def hits(self, pattern: re.Pattern[bytes]) -> list[int]:
        """Where ``pattern`` matches in ``ascii``, overlapping matches included; searched once
        for the detectors that share it."""
        found = self._hits.get(pattern)
        if found is None:
            found = self._hits[pattern] = list(_matches_at(pattern, self.ascii))
        return found

    @property
    def ascii_folded(self) -> bytes:
        """One byte per character, at the same positions: ASCII letters lower-cased, ASCII
        digits "0", other ASCII as is, the rest "?".

        For finding ASCII words in any case, and runs of digits, at C speed (``str.lower`` is
        slower and may change the length).
        """
        if self._ascii_folded is None:
            self._ascii_folded = self.ascii.translate(_FOLD)
        return self._ascii_folded

    @property
    def ascii(self) -> bytes:
        """One byte per character, at the same positions: ASCII as is, the rest "?". ASCII
        literals are searched for here: a quarter of the memory of a text with emoji."""
        if self._ascii is None:
            self._ascii = self.value.encode("ascii", "replace")
        return self._ascii

    @property
    def long_digit_runs(self) -> list[tuple[int, int]]:
        """(start, end) of every maximal run of four or more ``\\d`` characters, in order.

        Every card number and every North American phone number holds one, so they are looked
        for only around these; ordinary text has few, against hundreds of shorter runs.
        """
        if self._long_digit_runs is None:
            if self._has_only_ascii_digits():
                # The first "0000" at or after the end of the last run starts the next run.
                folded = self.ascii_folded
                runs = []
                four = _FOUR_ZEROS.search(folded)
                while four is not None:
                    end = _ZERO_RUN.match(folded, four.start()).end()  # type: ignore[union-attr]
                    runs.append((four.start(), end))
                    four = _FOUR_ZEROS.search(folded, end)
                self._long_digit_runs = runs
            else:
                # `\d\d*`, unlike `\d+`, lets re skip from digit to digit without a full try.
                self._long_digit_runs = [
                    match.span()
                    for match in _DIGIT_RUN.finditer(self.value)
                    if match.end() - match.start() >= 4
                ]
        return self._long_digit_runs

    def _has_only_ascii_digits(self) -> bool:
        """No ``\\d`` outside ASCII (Arabic-Indic, Devanagari, full-width... digits): looked
        for only within the runs of non-ASCII characters ("?" in ``ascii_folded``). Blanking
        cannot add such a digit, so a yes stays true."""
        if self._only_ascii_digits is None:
            value = self.value
            self._only_ascii_digits = value.isascii() or not any(
                _DIGIT.search(value, *run.span())
                for run in _NON_ASCII_RUN.finditer(self.ascii_folded)
            )
        return self._only_ascii_digits

    def blank(self, spans: list[tuple[int, int]]) -> None:
        """Replace each (start, end) span, in order and not overlapping, with one space."""
        self.value = _blanked(self.value, spans, " ")
        if self._ascii is not None:
            self._ascii = _blanked(self._ascii, spans, b" ")
        if self._ascii_folded is not None:
            self._ascii_folded = _blanked(self._ascii_folded, spans, b" ")
        self._long_digit_runs = None
        self._hits.clear()


def _blanked(value: AnyStr, spans: list[tuple[int, int]], space: AnyStr) -> AnyStr:
    pieces = []
    end = 0
    for start, span_end in spans:
        pieces.append(value[end:start])
        end = span_end
    pieces.append(value[end:])
    return space.join(pieces)


_DIGIT = re.compile(r"\d")
_DIGIT_RUN = re.compile(r"\d\d*")
_NON_ASCII_RUN = re.compile(rb"\?\?*")  # in ascii_folded, with the question marks of the text
_FOLD = bytes.maketrans(
    (string.ascii_uppercase + string.digits).encode(), (string.ascii_lowercase + "0" * 10).encode()
)
_ZERO_RUN = re.compile(rb"0+")
_FOUR_ZEROS = re.compile(rb"0000")  # re's search for it beats bytes.find's here

# Positions where a detector's pattern may start, in increasing order, or None for anywhere.
# Every position where the pattern can match must be among them.
_StartFinder = Callable[[_Text], Iterable[int] | None]


@dataclass(frozen=True, slots=True)
class _Detector:
    kind: SensitiveKind
    pattern: re.Pattern[str]
    is_valid: Callable[[str], bool] | None = None
    # None: try everywhere (a pattern that opens with a literal is searched at C speed anyway).
    starts: _StartFinder | None = None


def _matches_at(pattern: re.Pattern[AnyStr], haystack: AnyStr) -> Iterator[int]:
    """Every position where ``pattern`` matches, overlapping matches included."""
    match = pattern.search(haystack)
    while match is not None:
        yield match.start()
        match = pattern.search(haystack, match.start() + 1)


def _occurrences(haystack: AnyStr, needle: AnyStr) -> Iterator[int]:
    """Every position where ``needle`` begins, overlapping occurrences included."""
    position = haystack.find(needle)
    while position >= 0:
        yield position
        position = haystack.find(needle, position + 1)


def _at_literal(literal: str, anchor: str | None = None) -> _StartFinder:
    """Where ``literal`` begins; found through ``anchor``, one rare character of it, when given.

    A search for one character runs at memchr speed, several times faster than one for a short
    string, so a literal with a character rare in text (the J of eyJ) is found through that.
    """
    needle = literal.encode("ascii")
    if anchor is None:
        return lambda text: _occurrences(text.ascii, needle)
    offset = literal.index(anchor)
    anchor_byte = anchor.encode("ascii")

    def starts(text: _Text) -> Iterator[int]:
        haystack = text.ascii
        for position in _occurrences(haystack, anchor_byte):
            start = position - offset
            if start >= 0 and haystack.startswith(needle, start):
                yield start

    return starts


def _at_patterns(*patterns: tuple[re.Pattern[bytes], int]) -> _StartFinder:
    """Where any of several literals begins, each ``(pattern, offset)`` finding some of them
    ``offset`` characters after their start.

    Every pattern opens with a literal character or string, which re searches for at C speed:
    one search per group of literals that share a first character costs less than one search
    per literal, or per short piece they share. Overlapping occurrences are found too.
    """

    def starts(text: _Text) -> list[int]:
        found: set[int] = set()
        for pattern, offset in patterns:
            found.update(hit - offset for hit in text.hits(pattern) if hit >= offset)
        return sorted(found)

    return starts


def _case_safe(*words: bytes) -> tuple[bytes, ...]:
    """Lower-case ASCII words that no other character matches under re.IGNORECASE, so finding
    them in ``ascii_folded`` finds every ``(?i:word)``: re lets U+017F stand for s, U+212A for k
    and U+0130/U+0131 for i, so none of those letters."""
    for word in words:
        if not (word.isascii() and word.islower()) or set(word) & set(b"iks"):
            raise ValueError(f"{word!r} cannot be found case-insensitively in ascii_folded")
    return words


def _at_word(word: bytes, *, before: tuple[int, ...] = (0,)) -> _StartFinder:
    """Where ``word`` begins in any mix of ASCII cases (like ``(?i:word)``), or each of
    ``before`` characters earlier (for a pattern that opens with a few characters of its own).

    re searches for a literal faster than ``bytes.find`` when its first letter is rarer than
    its last (bearer, cret), so words are searched for with re."""
    (word,) = _case_safe(word)
    pattern = re.compile(re.escape(word))
    if before == (0,):
        return lambda text: _matches_at(pattern, text.ascii_folded)

    def starts(text: _Text) -> list[int]:
        found = {
            position - back
            for position in _matches_at(pattern, text.ascii_folded)
            for back in before
            if position >= back
        }
        return sorted(found)

    return starts


# --- private keys -----------------------------------------------------------------------------

# A BEGIN line, then everything up to the next "-----" (unrolled, possessive: linear), then an
# END line if present. A truncated block still counts.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"[^-]*+(?:-(?!----)[^-]*+)*+"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?"
)

# --- API keys ---------------------------------------------------------------------------------

_KEY_CHARS = r"A-Za-z0-9_\-"

# OpenAI (sk-..., sk-proj-...) and Anthropic (sk-ant-api03-...) keys; validated below.
_SK_KEY = re.compile(rf"(?<![{_KEY_CHARS}])sk-[{_KEY_CHARS}]{{20,}}+")
# The "k" of "sk-", "sk_live_" and "rk_live_": one search for two detectors.
_K_DASH_OR_LIVE = re.compile(rb"k(?:-|_live_)")
_PREFIXED_KEYS = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,255}+"  # GitHub classic tokens
    r"|github_pat_[A-Za-z0-9_]{22,255}+"  # GitHub fine-grained tokens
    r"|xox[abposer]-\d+-[A-Za-z0-9-]{8,}+"  # Slack bot/user/refresh tokens
    r"|xapp-\d-[A-Za-z0-9-]{10,}+"  # Slack app tokens
    r"|AIza[A-Za-z0-9_\-]{35}"  # Google API keys
    r"|(?:sk|rk)_live_[A-Za-z0-9]{16,}+"  # Stripe secret / restricted keys
    r")(?![A-Za-z0-9])"
)
# Every _PREFIXED_KEYS match begins with one of these prefixes; they are searched for (in
# groups that share a first character), not the pattern. The offset: how far into the prefix
# the search finds it (k_live_ is searched for, the key begins one character earlier).
_API_KEY_PREFIXES = (
    (re.compile(rb"A(?:KIA|SIA|BIA|CCA|Iza)"), 0),
    (re.compile(rb"g(?:h[pousr]|ithub_pat)_"), 0),
    (re.compile(rb"x(?:ox[abposer]|app)-"), 0),
    (_K_DASH_OR_LIVE, 1),  # sk_live_, rk_live_ (and sk-, which the pattern turns down)
)

_AWS_SECRET = re.compile(
    r"(?i:aws_?secret_?access_?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
)


def _looks_random(candidate: str) -> bool:
    """Real keys mix digits and upper case; slugs like sk-learn-tutorial-notes do not."""
    return any(c.isdigit() for c in candidate) and any(c.isupper() for c in candidate)


# --- bearer tokens ----------------------------------------------------------------------------

_JWT = re.compile(
    r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{5,}+\.eyJ[A-Za-z0-9_\-]{5,}+\.[A-Za-z0-9_\-]*+"
)
_BEARER = re.compile(r"(?i:\bbearer)[ \t]+[A-Za-z0-9._~+/\-]{20,}+=*+")
_SLACK_WEBHOOK = re.compile(
    r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9]{6,}+/[A-Za-z0-9]{6,}+/[A-Za-z0-9]{12,}+"
)


def _bearer_is_opaque_token(candidate: str) -> bool:
    value = candidate.split(None, 1)[1]
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


# --- emails -----------------------------------------------------------------------------------

# A local part starting at the start of its run, then "@" and a run of domain characters;
# the domain's shape is checked in Python.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}+@[A-Za-z0-9.\-]{3,255}+")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?")
_RETINA_ASSET = re.compile(r"\d+(?:\.\d+)?x")


_EMAIL_LOCAL_BYTES = frozenset((string.ascii_letters + string.digits + "._%+-").encode())


def _email_starts(text: _Text) -> Iterator[int]:
    """The start of the run of local-part characters before each "@", if 1-64 long.

    A match starts only at the start of such a run (the lookbehind), takes at most 64 of them
    and needs an "@" right after, so no other position can start one.
    """
    haystack = text.ascii
    at = haystack.find(b"@")
    while at >= 0:
        start = at
        while start > 0 and at - start <= 64 and haystack[start - 1] in _EMAIL_LOCAL_BYTES:
            start -= 1
        if 0 < at - start <= 64:
            yield start
        at = haystack.find(b"@", at + 1)


def _is_email(candidate: str) -> bool:
    local, _, domain = candidate.partition("@")
    labels = domain.rstrip(".").split(".")
    if local.startswith(".") or local.endswith(".") or len(labels) < 2:
        return False
    tld = labels[-1]
    if not (tld.isascii() and tld.isalpha() and 2 <= len(tld) <= 24):
        return False
    if _RETINA_ASSET.fullmatch(".".join(labels[:-1])):  # icon@2x.png, logo@1.5x.webp
        return False
    return all(len(label) <= 63 and _DOMAIN_LABEL.fullmatch(label) for label in labels)


# --- payment cards ----------------------------------------------------------------------------

# Only the layouts cards are written in, so that a nearby date or phone number cannot merge into
# one long candidate that hides the card: 13-19 bare digits, 4-4-4-4(-1..3), or Amex/Diners
# 4-6-5 / 4-6-4, with one separator used throughout; never part of a longer number.
_CARD = re.compile(
    r"(?<![\w.+\-])(?:"
    r"\d{13,19}"
    r"|\d{4}(?P<sep>[ \-])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,3})?"
    r"|\d{4}(?P<amex_sep>[ \-])\d{6}(?P=amex_sep)\d{4,5}"
    r")(?![\w]|[.\-]\d)"
)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_starts(text: _Text) -> list[int]:
    """Every layout opens with four digits at the start of a digit run (the lookbehind)."""
    return [start for start, _ in text.long_digit_runs]


def _is_card_number(candidate: str) -> bool:
    """Luhn-valid, a card-network first digit (2-6), and not one repeated digit."""
    digits = candidate.replace(" ", "").replace("-", "")
    return digits[0] in "23456" and len(set(digits)) > 1 and _luhn_valid(digits)


# --- phone numbers ----------------------------------------------------------------------------

# "+" and a country code followed by up to six groups of digits (E.164, digit count checked in
# Python), or a formatted North American number with valid area code and exchange (2-9xx).
# Bare digit runs (IDs, timestamps), dates, versions and dotted quads never match; neither do
# national formats without "+" outside North America (e.g. UK "020 7946 0958"), by design.
_PHONE = re.compile(
    r"(?<![\w+.\-/])(?:"
    r"\+\d{1,3}+(?:[ .\-]?+\(?\d{1,4}+\)?){1,6}+"
    r"|(?:1[ .\-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .\-])[2-9]\d\d[ .\-]\d{4}"
    r")(?![\w]|[.\-/]\d)"
)


def _phone_starts(text: _Text) -> list[int]:
    """Every "+", and the few places a North American number can start before its last four
    digits.

    A North American match ends in "[2-9]dd", one of " .-", and a run of exactly four digits
    (the lookahead), and that exchange follows " ", ".", "-" or ")". From the end of the
    exchange back, the area code part ("[2-9]dd" and a separator, or "(...)" and maybe a space)
    and the optional "1" and separator take 4 to 8 characters, so the match starts 8 to 12
    characters before the four digits.
    """
    value = text.value
    found = set(_occurrences(text.ascii, b"+"))
    for start, end in text.long_digit_runs:
        if (
            end - start == 4
            and start >= 8
            and value[start - 1] in " .-"
            and value[start - 4] in "23456789"
            and value[start - 3 : start - 1].isdecimal()  # what \d matches, as re has it
            and value[start - 5] in " .-)"
        ):
            found.update(range(max(start - 12, 0), start - 7))
    return sorted(found)


def _is_phone(candidate: str) -> bool:
    """International numbers have 8-15 digits; North American ones are fully checked by regex."""
    if candidate.startswith("+"):
        return 8 <= sum(c.isdigit() for c in candidate) <= 15
    return True


_DETECTORS: tuple[_Detector, ...] = (
    _Detector("private_key", _PRIVATE_KEY, starts=_at_literal("-----BEGIN")),
    _Detector("api_key", _SK_KEY, _looks_random, _at_patterns((_K_DASH_OR_LIVE, 1))),
    _Detector("api_key", _PREFIXED_KEYS, starts=_at_patterns(*_API_KEY_PREFIXES)),
    # "aws_secret" or "awssecret": the pattern begins 6 or 5 characters before "cret".
    _Detector("api_key", _AWS_SECRET, starts=_at_word(b"cret", before=(6, 5))),
    _Detector("token", _JWT, starts=_at_literal("eyJ", anchor="J")),
    _Detector("token", _SLACK_WEBHOOK, starts=_at_literal("hooks.slack.com/")),
    _Detector(
        "token",
        _BEARER,
        _bearer_is_opaque_token,
        _at_word(b"bearer"),
    ),
    _Detector("email", _EMAIL, _is_email, _email_starts),
    _Detector("card_number", _CARD, _is_card_number, _card_starts),
    _Detector("phone", _PHONE, _is_phone, _phone_starts),
)


def _matches_from(
    pattern: re.Pattern[str], value: str, starts: Iterable[int]
) -> Iterator[re.Match[str]]:
    """What ``pattern.finditer(value)`` finds, trying only ``starts``: leftmost first, and the
    next one no earlier than where the last ended (an invalid match still consumes its text)."""
    end = 0
    for start in starts:
        if start >= end and (match := pattern.match(value, start)) is not None:
            yield match
            end = match.end()


def _count_and_blank(detector: _Detector, text: _Text, *, everywhere: bool = False) -> int:
    """Blank out each valid match (one space each); return how many there were."""
    starts = None if everywhere or detector.starts is None else detector.starts(text)
    if starts is None:
        matches: Iterable[re.Match[str]] = detector.pattern.finditer(text.value)
    else:
        matches = _matches_from(detector.pattern, text.value, starts)
    is_valid = detector.is_valid
    spans = [m.span() for m in matches if is_valid is None or is_valid(m.group())]
    if spans:
        text.blank(spans)
    return len(spans)


def _find(text: str, *, everywhere: bool) -> list[SensitiveFinding]:
    counts = dict.fromkeys(SENSITIVE_KINDS, 0)
    scanned = _Text(text)
    for detector in _DETECTORS:
        counts[detector.kind] += _count_and_blank(detector, scanned, everywhere=everywhere)
    return [SensitiveFinding(kind, count) for kind, count in counts.items() if count]


def find_sensitive(text: str) -> list[SensitiveFinding]:
    """Count the sensitive items in ``text``: one finding per kind found, in SENSITIVE_KINDS order."""
    return _find(text, everywhere=False)


def _find_sensitive_everywhere(text: str) -> list[SensitiveFinding]:
    """The same findings from trying every pattern at every position: the reference for tests."""
    return _find(text, everywhere=True)
