"""The dashboard's pure rules: outliers among teams, formula-safe CSV cells, signed cookies."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from bot.web.auth import csrf_ok, csrf_token, sign_cookie, unsign_cookie
from bot.web.chargeback import chargeback_csv, neutralise
from bot.web.config import WebSettings
from budgets.spend import SpendRow
from scoring.overview import outliers


def test_a_team_at_one_and_a_half_times_the_median_stands_out():
    # The article's case: 8,000 tokens for five drafts against 20,000 for seven, and peers.
    per_accepted = {"a": 1_600, "b": 2_857, "c": 1_700, "d": 1_500}
    assert outliers(per_accepted) == {"b"}


def test_two_teams_or_undefined_values_make_no_outlier():
    assert outliers({"a": 1_000, "b": 9_000}) == set()
    assert outliers({"a": 1_000, "b": None, "c": 9_000}) == set()
    assert outliers({"a": 0, "b": 0, "c": 0}) == set()


@given(st.text())
def test_no_neutralised_cell_starts_like_a_formula(text):
    cell = neutralise(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.endswith(text) and len(cell) - len(text) in (0, 1)


def test_the_chargeback_csv_neutralises_every_text_cell_and_keeps_numbers():
    rows = [SpendRow("-team", "=SUM(A1:A9)", "@cmd", "+model", 1200, 2_500_000, 3)]
    parsed = list(csv.reader(io.StringIO(chargeback_csv("2026-11", rows))))
    assert parsed[1] == [
        "2026-11",
        "'-team",
        "'=SUM(A1:A9)",
        "'@cmd",
        "'+model",
        "1200",
        "2.500000",
        "3",
    ]
    odd = SpendRow("\tx", "\rx", "", "m", 0, 0, 0)
    tab = list(csv.reader(io.StringIO(chargeback_csv("2026-11", [odd]))))
    assert tab[1][1:3] == ["'\tx", "'\rx"]


def test_a_cookie_verifies_only_with_its_own_signature_and_key():
    settings = WebSettings(secret_key=b"k" * 32)
    signed = sign_cookie(settings, "token")
    assert unsign_cookie(settings, signed) == "token"
    assert unsign_cookie(settings, signed.replace("token", "tokeN")) is None
    assert unsign_cookie(WebSettings(secret_key=b"j" * 32), signed) is None
    assert unsign_cookie(settings, "no-signature") is None
    assert csrf_ok(settings, "token", csrf_token(settings, "token"))
    assert not csrf_ok(settings, "other", csrf_token(settings, "token"))
    assert not csrf_ok(settings, "token", "")
