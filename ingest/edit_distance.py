"""How much a person changed an AI draft before using it: a normalised edit distance.

`edit_distance(draft, final)` aligns the two texts word by word (words and punctuation marks are
tokens, whitespace is ignored) with difflib's SequenceMatcher and weighs the alignment by
characters: distance = 1 - 2 * matched_characters / (draft_characters + final_characters), i.e.
the character-weighted `1 - SequenceMatcher.ratio()` computed on word tokens.

Invariants:
- the result is in [0.0, 1.0]: 0.0 for texts that differ only in whitespace (or are both empty),
  1.0 for texts without a word in common;
- it is deterministic (no use of Python's salted `hash`);
- cost stays bounded on long texts: the common prefix and suffix are trimmed in linear time;
  middles longer than DIRECT_COMPARISON_TOKENS are first aligned as content-defined chunks of
  about CHUNK_TOKENS tokens, and only the differing regions are aligned word by word. A differing
  region longer than DIRECT_COMPARISON_TOKENS on both sides counts as rewritten: an
  approximation that only matters for long texts that share little anyway.
"""

import re
import zlib
from collections.abc import Sequence
from difflib import SequenceMatcher

DIRECT_COMPARISON_TOKENS = 5_000
CHUNK_TOKENS = 16
MAX_CHUNK_TOKENS = 64

_TOKEN = re.compile(r"\w+|[^\w\s]")
Tokens = list[str]


def edit_distance(draft: str, final: str) -> float:
    """Share of characters changed between `draft` and `final`, from 0.0 (same) to 1.0."""
    draft_tokens = _TOKEN.findall(draft)
    final_tokens = _TOKEN.findall(final)
    total_characters = _characters(draft_tokens) + _characters(final_tokens)
    if total_characters == 0:
        return 0.0
    matched = _matched_characters(draft_tokens, final_tokens)
    return max(0.0, min(1.0, 1.0 - 2.0 * matched / total_characters))


def _matched_characters(draft: Tokens, final: Tokens) -> int:
    prefix = 0
    shortest = min(len(draft), len(final))
    while prefix < shortest and draft[prefix] == final[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and draft[-1 - suffix] == final[-1 - suffix]:
        suffix += 1
    matched = _characters(draft[:prefix]) + _characters(draft[len(draft) - suffix :])
    draft_middle = draft[prefix : len(draft) - suffix]
    final_middle = final[prefix : len(final) - suffix]
    if (
        len(draft_middle) <= DIRECT_COMPARISON_TOKENS
        and len(final_middle) <= DIRECT_COMPARISON_TOKENS
    ):
        return matched + _matched_by_words(draft_middle, final_middle)
    return matched + _matched_by_chunks(draft_middle, final_middle)


def _matched_by_words(draft: Tokens, final: Tokens) -> int:
    if not draft or not final:
        return 0
    matcher = SequenceMatcher(None, draft, final)
    return sum(
        _characters(draft[start : start + size]) for start, _, size in matcher.get_matching_blocks()
    )


def _matched_by_chunks(draft: Tokens, final: Tokens) -> int:
    draft_chunks = _chunks(draft)
    final_chunks = _chunks(final)
    matched = 0
    matcher = SequenceMatcher(None, draft_chunks, final_chunks)
    for tag, draft_start, draft_end, final_start, final_end in matcher.get_opcodes():
        if tag == "equal":
            matched += sum(_characters(chunk) for chunk in draft_chunks[draft_start:draft_end])
        elif tag == "replace":
            draft_region = [
                token for chunk in draft_chunks[draft_start:draft_end] for token in chunk
            ]
            final_region = [
                token for chunk in final_chunks[final_start:final_end] for token in chunk
            ]
            if min(len(draft_region), len(final_region)) <= DIRECT_COMPARISON_TOKENS:
                matched += _matched_by_words(draft_region, final_region)
    return matched


def _chunks(tokens: Tokens) -> list[tuple[str, ...]]:
    """Split after tokens whose CRC says so (content-defined, so insertions shift no boundary)."""
    chunks = []
    start = 0
    for position, token in enumerate(tokens):
        if (
            zlib.crc32(token.encode()) % CHUNK_TOKENS == 0
            or position + 1 - start >= MAX_CHUNK_TOKENS
        ):
            chunks.append(tuple(tokens[start : position + 1]))
            start = position + 1
    if start < len(tokens):
        chunks.append(tuple(tokens[start:]))
    return chunks


def _characters(tokens: Sequence[str]) -> int:
    return sum(map(len, tokens))
