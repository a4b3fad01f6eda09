"""Dashboard sign-in: one-time links and browser sessions, shared by the CLI
(`tokenbot dashboard link`), the chat command (`dashboard`) and the web dashboard.

Invariants:
- a token is shown once (in the link or the cookie) and only its SHA-256 is stored, so a copy
  of the database opens nothing;
- a link is good for `LINK_LIFETIME` and opens one session at most: redeeming it is one
  conditional UPDATE (`used_at IS NULL AND expires_at > now`), so of two opens at once exactly
  one wins, on SQLite and PostgreSQL alike;
- a session ends at its expiry or at sign-out, whichever comes first; a person made inactive
  in the directory is signed out at their next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import DashboardSession, DashboardSignIn, Person

LINK_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
SIGN_IN_PATH = "/dashboard/sign-in"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SignInLink:
    url: str
    expires_at: datetime


def sign_in_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{SIGN_IN_PATH}?token={quote(token)}"


def issue_link(session: Session, person: Person, base_url: str, now: datetime) -> SignInLink:
    """A new one-time link for `person` (the caller commits)."""
    token = new_token()
    expires_at = now + LINK_LIFETIME
    session.add(
        DashboardSignIn(
            token_hash=token_hash(token), person_id=person.id, created_at=now, expires_at=expires_at
        )
    )
    session.flush()
    return SignInLink(sign_in_url(base_url, token), expires_at)


def redeem_link(session: Session, token: str, now: datetime) -> int | None:
    """The person id the link signs in, marking it used; None when unknown, used or expired.
    The caller commits; exactly one of several concurrent redeems gets the id."""
    digest = token_hash(token)
    claimed = session.execute(
        update(DashboardSignIn)
        .where(
            DashboardSignIn.token_hash == digest,
            DashboardSignIn.used_at.is_(None),
            DashboardSignIn.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    return session.scalar(
        select(DashboardSignIn.person_id).where(DashboardSignIn.token_hash == digest)
    )


def start_session(
    session: Session,
    person_id: int,
    method: str,
    now: datetime,
    lifetime: timedelta = SESSION_LIFETIME,
) -> str:
    """A new session for the person; returns its token (for the cookie). The caller commits."""
    token = new_token()
    session.add(
        DashboardSession(
            token_hash=token_hash(token),
            person_id=person_id,
            method=method,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


def session_person(session: Session, token: str, now: datetime) -> Person | None:
    """The active person of a live session, else None."""
    return session.scalar(
        select(Person)
        .join(DashboardSession, DashboardSession.person_id == Person.id)
        .where(
            DashboardSession.token_hash == token_hash(token),
            DashboardSession.ended_at.is_(None),
            DashboardSession.expires_at > now,
            Person.active,
        )
    )


def end_session(session: Session, token: str, now: datetime) -> bool:
    """Sign out: the session ends now. The caller commits."""
    ended = session.execute(
        update(DashboardSession)
        .where(
            DashboardSession.token_hash == token_hash(token), DashboardSession.ended_at.is_(None)
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return ended.rowcount == 1


def public_url(services) -> str | None:  # noqa: ANN001
    """The base URL people reach tokenbot at: `services.public_url` (tests, embedders),
    else TOKENBOT_PUBLIC_URL. None when neither is set."""
    import os

    url = services.public_url or os.environ.get("TOKENBOT_PUBLIC_URL") or ""
    return url.rstrip("/") or None
