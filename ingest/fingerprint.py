"""Near-duplicate fingerprints of texts: 64-bit simhash over word 3-shingles.

Used to notice the same prompt or the same delivered artifact coming back again and again
without storing the text itself.

Invariants:
- `simhash64` is deterministic across processes and machines (blake2b, not Python's `hash`),
  case-insensitive, ignores punctuation and whitespace, and always returns 16 lowercase hex digits;
  a text without any word fingerprints as "0000000000000000".
- Similar texts give fingerprints a small `hamming` distance apart (a few bits); unrelated texts
  differ in about half of the 64 bits.
- Cost is linear in the text length.
"""

import re
from collections import Counter
from hashlib import blake2b

FINGERPRINT_BITS = 64
SHINGLE_WORDS = 3
EMPTY_FINGERPRINT = "0" * (FINGERPRINT_BITS // 4)

_WORD = re.compile(r"\w+")
_HEX = re.compile(r"[0-9a-fA-F]+")


def simhash64(text: str) -> str:
    """The 64-bit simhash of `text`'s word 3-shingles, as 16 lowercase hex digits."""
    words = _WORD.findall(text.casefold())
    if not words:
        return EMPTY_FINGERPRINT
    last_start = max(len(words) - SHINGLE_WORDS, 0)
    digests = [
        blake2b(" ".join(words[start : start + SHINGLE_WORDS]).encode(), digest_size=8).digest()
        for start in range(last_start + 1)
    ]
    # Transpose the 8-byte digests into 8 columns of byte values and count each column in C;
    # a bit is set when more than half of the shingles have it set.
    fingerprint = 0
    for byte_position, column in enumerate(zip(*digests, strict=True)):
        value_counts = Counter(column)
        for bit_in_byte in range(8):
            mask = 0x80 >> bit_in_byte
            ones = sum(count for value, count in value_counts.items() if value & mask)
            if 2 * ones > len(digests):
                fingerprint |= 1 << (FINGERPRINT_BITS - 1 - (byte_position * 8 + bit_in_byte))
    return f"{fingerprint:016x}"


def hamming(a: str, b: str) -> int:
    """How many bits differ between two hex fingerprints of the same length."""
    if len(a) != len(b) or not _HEX.fullmatch(a) or not _HEX.fullmatch(b):
        raise ValueError(f"fingerprints must be hex strings of the same length: {a!r}, {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()
