"""budgets.sensitive tries each pattern only where a match can start; these tests check that the
findings always equal a plain scan of every pattern at every position.

Texts are glued from pieces chosen to sit on the shortcuts' edges: keys and their prefixes,
"@" and local parts, digit runs in ASCII and other scripts, "+" and "(" before digits, the
pieces of a North American number (tried only 8 to 12 characters before its last four
digits), "aws" and "secret" with and without "_" (tried 6 or 5 characters before "cret"),
the characters re matches case-insensitively for ASCII letters (U+017F, U+212A, U+0130,
U+0131), and text that blanking a match changes.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from budgets.sensitive import _find_sensitive_everywhere, find_sensitive
from tests.unit.budgets.test_sensitive import (
    ADVERSARIAL,
    ANTHROPIC_KEY,
    AWS_KEY_ID,
    AWS_SECRET_LINE,
    CODE,
    GITHUB_FINE_GRAINED,
    GITHUB_TOKEN,
    GOOGLE_KEY,
    JWT,
    OPENAI_KEY,
    PROSE,
    SLACK_BOT_TOKEN,
    SLACK_WEBHOOK,
    STRIPE_KEY,
    pem,
)

PIECES = [
    # secrets and their near misses
    OPENAI_KEY,
    ANTHROPIC_KEY,
    AWS_KEY_ID,
    AWS_SECRET_LINE,
    AWS_SECRET_LINE.upper(),
    AWS_SECRET_LINE.replace("s", "\u017f"),  # re's IGNORECASE takes U+017F for s
    GITHUB_TOKEN,
    GITHUB_FINE_GRAINED,
    SLACK_BOT_TOKEN,
    GOOGLE_KEY,
    STRIPE_KEY,
    JWT,
    SLACK_WEBHOOK,
    pem("RSA PRIVATE KEY"),
    pem("PRIVATE KEY", end=False),
    "sk-",
    "AKIA",
    "ASIAKIA",
    "ghp_",
    "github_pat_",
    "xoxb-1-",
    "rk_live_",
    "eyJ",
    "Bearer ",
    "BEARER ",
    "bEaReR\t",
    "8f3a9c2d7e1b4f6a0c5d9e2f7a1b3c4d",
    "aws_secret_access_key=",
    "AWS_SECRET_ACCESS_KEY: ",
    "awssecretaccesskey=",
    "aws",
    "aws_",
    "secret",
    "SECRET",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "a\u212aIA",  # Kelvin sign
    "\u0130\u0131",
    # emails
    "jane.doe@example.com",
    "@",
    "a@",
    "@example.com",
    "x" * 70,
    "x" * 63,  # with "a@" after it: a 64-character local part, the longest there is
    "icon@2x.png",
    # numbers
    "4111 1111 1111 1111",
    "4111111111111111",
    "3782 822463 10005",
    "(415) 555-2671",
    "415-555-2671",
    "1-800-555-0199",
    "1800-555-0199",
    "+44 20 7946 0958",
    "+",
    "(",
    "1",
    "12",
    "555",
    "2024-01-15",
    # a North American number in pieces, and look-alikes of its last four digits
    "1 ",
    "1-",
    "1(",
    "1415",
    "(415)",
    ") ",
    ")",
    "415-",
    "415.",
    "555-",
    "555 ",
    "2671",
    "12671",
    "\u0662\u0666\u0667\u0661",  # Arabic-Indic four digits
    "5\u0665\u0665",  # an exchange with Arabic-Indic digits
    "\u0664\u0661\u0661\u0661 \u0661\u0661\u0661\u0661",  # Arabic-Indic digits are \d too
    "\u0968\u0966\u0968\u0966",  # Devanagari
    "\u00b2",  # a digit to str.isdigit, not to \d
    "\uff14\uff11\uff11\uff11",  # full-width digits
    "+\u0664\u0664 \u0662\u0660 \u0667\u0669\u0664\u0666 \u0660\u0669\u0665\u0668",  # a phone
    "?",  # what non-ASCII characters become in the ASCII-folded copy
    # glue
    " ",
    "\n",
    "-",
    ".",
    "_",
    "/",
    ":",
    "=",
    '"',
    "'",
    "é",
    "東京",
    "🎉",
    PROSE[:80],
    CODE[:80],
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=24))
@example([OPENAI_KEY, "@example.com"])
@example([AWS_KEY_ID, "\u0664", "+1 415 555 2671"])
@example(["x" * 63, "a@", "example.com"])
@example(["BEARER ", "8f3a9c2d7e1b4f6a0c5d9e2f7a1b3c4d", "bEaReR\t", JWT])
@example(["東京", "+", "\u0664\u0661\u0661\u0661 \u0661\u0661\u0661\u0661"])
@example(["1 ", "(415)", ") ", "555-", "2671"])
@example(["1415", " ", "555 ", "\u0662\u0666\u0667\u0661"])
@example(["415.", "5\u0665\u0665", "-", "2671"])
@example(["jane.doe@example.com", "415-", "555-", "2671", "4111111111111111"])
@example(["awssecretaccesskey=", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"])
@example(["AWS_SECRET_ACCESS_KEY: ", "aws_", "secret"])
def test_the_shortcuts_find_what_a_plain_scan_finds(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert find_sensitive(text) == _find_sensitive_everywhere(text)


def test_the_shortcuts_find_what_a_plain_scan_finds_on_long_and_adversarial_text() -> None:
    # A fifth of each adversarial text keeps its shape (the plain scan is the slow one here).
    for text in [*ADVERSARIAL.values(), (PROSE + CODE) * 10 + "東京 🎉 (415) 555-2671"]:
        text = text[:20_000]
        assert find_sensitive(text) == _find_sensitive_everywhere(text)
