"""Detect secrets and personal data in text before it is sent to a model for a cost estimate.

``find_sensitive(text)`` reports how many credentials, keys, tokens, emails, phone numbers and
payment card numbers a text contains, so the bot can warn the user.

Invariants:

* A finding holds only a kind and a count, never the matched text or its position, so findings
  are safe to log, store and show.
* Every pattern is compiled once at import. Each can start only at a fixed prefix or at the start
  of a run of its characters, and uses bounded or possessive repetition, so a scan is linear in
  the length of the text (100 KB, adversarial input included, takes tens of milliseconds).
* Detectors run from most to least specific, and each blanks out what it matched before the next
  runs: a key inside a PEM block is not also an API key, and the digits of a card number or an
  API key are not also a phone number. So each span of text is counted at most once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True, slots=True)
class _Detector:
    kind: SensitiveKind
    pattern: re.Pattern[str]
    is_valid: Callable[[str], bool] | None = None


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


def _is_phone(candidate: str) -> bool:
    """International numbers have 8-15 digits; North American ones are fully checked by regex."""
    if candidate.startswith("+"):
        return 8 <= sum(c.isdigit() for c in candidate) <= 15
    return True


_DETECTORS: tuple[_Detector, ...] = (
    _Detector("private_key", _PRIVATE_KEY),
    _Detector("api_key", _SK_KEY, _looks_random),
    _Detector("api_key", _PREFIXED_KEYS),
    _Detector("api_key", _AWS_SECRET),
    _Detector("token", _JWT),
    _Detector("token", _SLACK_WEBHOOK),
    _Detector("token", _BEARER, _bearer_is_opaque_token),
    _Detector("email", _EMAIL, _is_email),
    _Detector("card_number", _CARD, _is_card_number),
    _Detector("phone", _PHONE, _is_phone),
)


def _count_and_blank(detector: _Detector, text: str) -> tuple[str, int]:
    """Replace each valid match with a space; return the new text and how many there were."""
    is_valid = detector.is_valid
    if is_valid is None:
        return detector.pattern.subn(" ", text)
    found = 0

    def blank_if_valid(match: re.Match[str]) -> str:
        nonlocal found
        candidate = match.group()
        if is_valid(candidate):
            found += 1
            return " "
        return candidate

    return detector.pattern.sub(blank_if_valid, text), found


def find_sensitive(text: str) -> list[SensitiveFinding]:
    """Count the sensitive items in ``text``: one finding per kind found, in SENSITIVE_KINDS order."""
    counts = dict.fromkeys(SENSITIVE_KINDS, 0)
    for detector in _DETECTORS:
        text, found = _count_and_blank(detector, text)
        counts[detector.kind] += found
    return [SensitiveFinding(kind, count) for kind, count in counts.items() if count]
