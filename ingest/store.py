"""Storing validated outcome events, and the storage limits every event must also fit.

`record_outcomes` is the outcome counterpart of `budgets.usage_ledger.record_usage`: each outcome id
is stored once (ON CONFLICT DO NOTHING), whatever the order or repetition of deliveries; the
user resolves to a person like usage does (email or directory alias), and an identity nobody
is mapped to is kept as unattributed (person_id NULL) until an admin re-assigns it. Only the
measurements are stored (edit distance, minutes, fingerprint), never a draft or final text.

`storage_errors` reports values the parser accepts but a column cannot hold (e.g. a 300
character use case), as FieldErrors, so a batch or file is rejected up front with a reason
instead of failing half-way in the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.orm import Session

from budgets.usage_ledger import identity_key, resolve_identities, unique_by_id
from ingest.events import FieldError
from storage.database import insert_new_rows
from storage.models import Outcome, UsageEvent


class OutcomeLike(Protocol):
    """What record_outcomes reads from an outcome event. Read-only properties, so frozen
    dataclasses (`ingest.events.OutcomeEvent`) satisfy it."""

    @property
    def id(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def artifact_id(self) -> str: ...

    @property
    def use_case(self) -> str | None: ...

    @property
    def status(self) -> str: ...

    @property
    def usage_ids(self) -> tuple[str, ...]: ...

    @property
    def conversation_id(self) -> str | None: ...

    @property
    def edit_distance(self) -> float | None: ...

    @property
    def minutes_saved(self) -> int | None: ...

    @property
    def first_draft_seconds(self) -> int | None: ...

    @property
    def template_id(self) -> str | None: ...

    @property
    def timestamp(self) -> datetime: ...

    @property
    def content_fingerprint(self) -> str | None: ...


@dataclass
class OutcomeResult:
    recorded: int = 0
    duplicates: int = 0
    unattributed: int = 0


def record_outcomes(
    session: Session, outcomes: Sequence[OutcomeLike], now: datetime
) -> OutcomeResult:
    """Store outcome events once each; the caller validates and commits."""
    result = OutcomeResult()
    unique, result.duplicates = unique_by_id(outcomes)
    if not unique:
        return result
    people = resolve_identities(session, {o.user for o in unique.values()})
    rows = []
    for o in sorted(unique.values(), key=lambda o: o.id):  # id order: see record_usage
        person = people.get(identity_key(o.user))
        rows.append(
            {
                "id": o.id,
                "person_id": person[0] if person else None,
                "identity": o.user.strip(),
                "artifact_id": o.artifact_id,
                "use_case": o.use_case,
                "status": o.status,
                "usage_ids": list(o.usage_ids) or None,
                "conversation_id": o.conversation_id,
                "edit_distance": o.edit_distance,
                "minutes_saved": o.minutes_saved,
                "minutes_verified": False,
                "first_draft_seconds": o.first_draft_seconds,
                "template_id": o.template_id,
                "content_fingerprint": o.content_fingerprint,
                "occurred_at": o.timestamp,
                "recorded_at": now,
            }
        )
    inserted = insert_new_rows(session, Outcome.__table__, rows)
    result.recorded = len(inserted)
    result.duplicates += len(rows) - len(inserted)
    result.unattributed = sum(1 for r in rows if r["id"] in inserted and r["person_id"] is None)
    return result


# --- storage limits ------------------------------------------------------------------------


def _text_limits(table: Table, fields: dict[str, str]) -> list[tuple[str, int]]:
    """(event attribute, column length) for the event's bounded text columns."""
    limits = []
    for attribute, column in fields.items():
        length = getattr(table.c[column].type, "length", None)
        if length:
            limits.append((attribute, length))
    return limits


_USAGE_LIMITS = _text_limits(
    UsageEvent.__table__,
    {
        "id": "id",
        "user": "identity",
        "model": "model",
        "use_case": "use_case",
        "project": "project",
        "template_id": "template_id",
        "conversation_id": "conversation_id",
        "prompt_fingerprint": "prompt_fingerprint",
    },
)
_OUTCOME_LIMITS = _text_limits(
    Outcome.__table__,
    {
        "id": "id",
        "user": "identity",
        "artifact_id": "artifact_id",
        "use_case": "use_case",
        "conversation_id": "conversation_id",
        "template_id": "template_id",
        "content_fingerprint": "content_fingerprint",
    },
)


def _too_long(event: Any, index: int, limits: Iterable[tuple[str, int]]) -> list[FieldError]:
    return [
        FieldError(index, attribute, f"must be at most {length} characters")
        for attribute, length in limits
        if (value := getattr(event, attribute)) is not None and len(value) > length
    ]


def usage_storage_errors(event: Any, index: int) -> list[FieldError]:
    """Problems of a parsed usage event that the database could not store."""
    return _too_long(event, index, _USAGE_LIMITS)


def outcome_storage_errors(event: Any, index: int) -> list[FieldError]:
    """Problems of a parsed outcome event that the database could not store."""
    return _too_long(event, index, _OUTCOME_LIMITS)
