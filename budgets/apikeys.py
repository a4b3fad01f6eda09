"""API keys for the usage API: created once, stored only as a hash, checked in constant time.

A key reads `tbk_<prefix>_<secret>`. The prefix (random, stored in clear and indexed) finds the
candidate rows; the SHA-256 of the whole key is what is stored and compared, with
`hmac.compare_digest`. A plain hash is enough because the secret is 256 random bits (nothing to
brute-force); slow password hashes would only slow every request. The plaintext is returned by
`create_api_key` once and never stored.

A revoked key stays listed (name and prefix, for the audit trail) and never verifies again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, CursorResult, select, update
from sqlalchemy.orm import Session

from storage.database import DriverQuery
from storage.models import ApiKey

KEY_SCHEME = "tbk"
PREFIX_CHARS = 10
NAME_MAX = 100
# Checked on every API request: plain SQL built once (no per-call statement building).
_ACTIVE_KEYS = DriverQuery(
    "SELECT name, key_hash FROM api_keys WHERE prefix = :prefix AND revoked_at IS NULL"
)


class ApiKeyError(ValueError):
    """An expected failure (name taken, unknown name): the message says what to do."""


@dataclass(frozen=True)
class CreatedKey:
    name: str
    prefix: str
    plaintext: str  # shown once to the admin; never stored


@dataclass(frozen=True)
class KeyInfo:
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def prefix_of(plaintext: str) -> str | None:
    """The stored prefix of a well-formed key, or None for anything else."""
    scheme, _, rest = plaintext.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != KEY_SCHEME or len(prefix) != PREFIX_CHARS or not secret:
        return None
    return prefix


def create_api_key(session: Session, name: str, now: datetime) -> CreatedKey:
    """Create a key named `name`; the caller commits and shows `plaintext` once."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ApiKeyError(f"a key name must be 1 to {NAME_MAX} characters")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ApiKeyError(f"a key named {name!r} already exists (names are never reused)")
    # The prefix alphabet avoids "_" so the key splits unambiguously.
    prefix = secrets.token_hex(PREFIX_CHARS // 2)
    plaintext = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(name=name, prefix=prefix, key_hash=hash_key(plaintext), created_at=now))
    session.flush()
    return CreatedKey(name=name, prefix=prefix, plaintext=plaintext)


def verify_api_key(session: Session | Connection, plaintext: str | None) -> str | None:
    """The name of the active key `plaintext` is, or None (missing, malformed, wrong, revoked)."""
    if not plaintext:
        return None
    prefix = prefix_of(plaintext)
    if prefix is None:
        return None
    presented = hash_key(plaintext)
    match = None
    connection = session.connection() if isinstance(session, Session) else session
    for name, stored in _ACTIVE_KEYS.rows(connection, {"prefix": prefix}):
        # Compare every candidate (no early exit) so timing says nothing about which matched.
        if hmac.compare_digest(stored, presented):
            match = name
    return match


def list_api_keys(session: Session) -> list[KeyInfo]:
    return [
        KeyInfo(k.name, k.prefix, k.created_at, k.revoked_at)
        for k in session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.name))
    ]


def revoke_api_key(session: Session, name: str, now: datetime) -> bool:
    """Revoke the key named `name`; False when it was already revoked. The caller commits."""
    key = session.scalar(select(ApiKey).where(ApiKey.name == name.strip()))
    if key is None:
        raise ApiKeyError(f"no API key named {name!r} (see `tokenbot apikey list`)")
    revoked = cast(  # an UPDATE's result is a cursor's, which has the row count
        CursorResult,
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        ),
    )
    return bool(revoked.rowcount)
