"""The chat grammar's pure parsers, tested with plain strings."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.errors import UsageError
from bot.core.parsing import parse_amount, parse_date, parse_options, split_words


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("50000", 50_000),
        ("50k", 50_000),
        ("50K", 50_000),
        ("2.5M", 2_500_000),
        ("2,5m", 2_500_000),
        ("1.25k", 1_250),
        ("1b", 1_000_000_000),
        ("1,000,000", 1_000_000),
        ("1_000_000", 1_000_000),
        (" 75k ", 75_000),
        ("10 k", 10_000),
    ],
)
def test_amounts_accept_plain_numbers_and_k_m_b_suffixes(text: str, tokens: int):
    assert parse_amount(text) == tokens


@pytest.mark.parametrize("text", ["", "k", "fifty", "50x", "-5k", "5k5", "50kk", "1e6"])
def test_something_that_is_not_an_amount_says_how_to_write_one(text: str):
    with pytest.raises(UsageError, match=r"50000, 50k or 2\.5M"):
        parse_amount(text)


def test_a_fraction_of_a_token_is_refused():
    with pytest.raises(UsageError, match="whole number"):
        parse_amount("1.5")


@pytest.mark.parametrize("text", ["0", "0k", "0.0M"])
def test_zero_is_refused(text: str):
    with pytest.raises(UsageError, match="more than zero"):
        parse_amount(text)


def test_dates_are_iso_days():
    assert parse_date(" 2026-12-15 ") == date(2026, 12, 15)


@pytest.mark.parametrize("text", ["15/12/2026", "tomorrow", "2026-02-30", ""])
def test_a_bad_date_shows_the_expected_form(text: str):
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        parse_date(text)


def test_words_split_like_a_shell_so_quotes_group():
    assert split_words('request 50k "launch week copy" --project Apollo') == [
        "request",
        "50k",
        "launch week copy",
        "--project",
        "Apollo",
    ]


def test_an_unbalanced_quote_falls_back_to_whitespace_splitting():
    assert split_words("estimate it's fine") == ["estimate", "it's", "fine"]


def test_options_are_separated_from_positional_words():
    positional, options = parse_options(
        ["50k", "launch", "--project", "Apollo", "copy", "--until=2026-12-15"],
        {"project", "until"},
        "request AMOUNT REASON",
    )
    assert positional == ["50k", "launch", "copy"]
    assert options == {"project": "Apollo", "until": "2026-12-15"}


def test_an_unknown_option_lists_the_allowed_ones_and_carries_the_usage():
    with pytest.raises(UsageError) as caught:
        parse_options(["--projcet", "Apollo"], {"project", "until"}, "request AMOUNT REASON")
    assert "--projcet" in caught.value.message
    assert "--project, --until" in caught.value.message
    assert caught.value.usage == "request AMOUNT REASON"


def test_an_option_without_its_value_is_an_error():
    with pytest.raises(UsageError, match="--project needs a value"):
        parse_options(["50k", "--project"], {"project"}, "request AMOUNT")


def test_a_command_without_options_says_none_are_allowed():
    with pytest.raises(UsageError, match=r"allowed: none"):
        parse_options(["--verbose", "x"], set(), "score")
