"""The audit log: who did what to which subject, when. Append-only facts.

Writers call `record` inside the same transaction as the change it describes, so an entry
exists exactly when the change was committed. Subjects are `kind:id` strings
(`request:42`), so one subject's history is a single indexed query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry


def record(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an entry; the caller commits it together with the change it describes."""
    session.add(
        AuditEntry(at=now, actor=actor, action=action, subject=subject, detail=detail or {})
    )


def entries(
    session: Session,
    since: datetime | None = None,
    subject: str | None = None,
    limit: int | None = None,
) -> Sequence[AuditEntry]:
    """Entries oldest first, optionally from `since` on and for one subject."""
    query = select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()
