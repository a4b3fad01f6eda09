import pytest

from ingest.edit_distance import edit_distance
from ingest.fingerprint import EMPTY_FINGERPRINT, hamming, simhash64

BRIEF = (
    "Write a search engine optimised brief for the spring running shoe launch. "
    "Target keywords are lightweight running shoes, recycled trainers and marathon training. "
    "The audience is amateur runners between twenty five and forty who train three times a week. "
    "Mention the recycled upper, the carbon plate and the thirty day return policy. "
    "Keep the tone energetic but factual and end with a clear call to action."
)
BRIEF_LIGHTLY_EDITED = BRIEF.replace("energetic but factual", "upbeat yet factual").replace(
    "thirty day", "sixty day"
)
UNRELATED = (
    "Quarterly finance summary: revenue grew eleven percent while operating costs stayed flat. "
    "The board approved the new procurement policy and postponed the office move to next year. "
    "Cash reserves cover nine months of expenses; the audit found no material weaknesses. "
    "Hiring remains frozen in support functions until the second half of the fiscal year."
)


def test_simhash_is_16_lowercase_hex_digits_and_deterministic() -> None:
    fingerprint = simhash64(BRIEF)

    assert len(fingerprint) == 16
    assert fingerprint == fingerprint.lower()
    int(fingerprint, 16)
    assert simhash64(BRIEF) == fingerprint


def test_simhash_ignores_case_punctuation_and_whitespace() -> None:
    assert simhash64("Hello,   World!\nHow are you?") == simhash64("hello world how are you")


def test_similar_texts_have_a_small_hamming_distance() -> None:
    assert hamming(simhash64(BRIEF), simhash64(BRIEF_LIGHTLY_EDITED)) <= 10


def test_different_texts_have_a_large_hamming_distance() -> None:
    assert hamming(simhash64(BRIEF), simhash64(UNRELATED)) >= 20


def test_texts_without_words_fingerprint_as_zero_and_short_texts_still_fingerprint() -> None:
    assert simhash64("") == EMPTY_FINGERPRINT
    assert simhash64(" ... ") == EMPTY_FINGERPRINT
    assert simhash64("hi there") != EMPTY_FINGERPRINT


def test_hamming_counts_differing_bits_of_same_length_hex_fingerprints() -> None:
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("0000000000000000", "ffffffffffffffff") == 64
    assert hamming("00000000000000F0", "0000000000000000") == 4
    with pytest.raises(ValueError):
        hamming("00", "000")
    with pytest.raises(ValueError):
        hamming("zz", "00")


def test_edit_distance_is_zero_for_the_same_text_and_whitespace_changes() -> None:
    assert edit_distance(BRIEF, BRIEF) == 0.0
    assert edit_distance("a  b\nc", "a b c") == 0.0
    assert edit_distance("", "") == 0.0


def test_edit_distance_is_one_for_texts_without_common_words() -> None:
    assert edit_distance("alpha beta", "gamma delta") == 1.0
    assert edit_distance("", "anything") == 1.0


def test_edit_distance_grows_with_the_share_of_changed_characters() -> None:
    light = edit_distance(BRIEF, BRIEF_LIGHTLY_EDITED)
    heavy = edit_distance(BRIEF, UNRELATED)

    assert 0.0 < light < 0.1
    assert light < heavy <= 1.0


def test_edit_distance_counts_characters_of_changed_words() -> None:
    # "brown" (5 characters) replaced by "red" (3): 8 of 2 * 15 + ... characters differ.
    draft, final = "the quick brown fox", "the quick red fox"
    total = len("thequickbrownfox") + len("thequickredfox")
    assert edit_distance(draft, final) == pytest.approx((5 + 3) / total)


def test_edit_distance_of_long_texts_stays_fast() -> None:
    long_draft = " ".join(f"word{index % 997} filler{index % 13}" for index in range(40_000))
    long_final = long_draft.replace("word5 ", "changed ")

    assert 0.0 < edit_distance(long_draft, long_final) < 0.05
