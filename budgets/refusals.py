"""A record of the authorize calls the policy refused, and their counts by reason.

`authorize` itself writes nothing (it is the gateway's hot path, on a read-only connection).
The API records a refusal after deciding it, in a transaction of its own, only when the
answer is a refusal (`Decision.allow` false: in the baseline phase nothing is refused, so
nothing is recorded). Rows are facts, never updated: when, whose (None for an identity the
directory does not know), the reason code, the model and use case as the decision named them,
the project. No prompt is stored.

Counts are by reason code over a half-open time range [start, end) and a scope of people
(None: everyone, unknown identities included; a set of ids: only those people's calls).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from budgets.authorize import UNKNOWN_PERSON, Decision
from budgets.usage_ledger import identity_key, resolve_identities
from storage.models import AuthorizeRefusal


def record_refusal(
    session: Session,
    decision: Decision,
    identity: str,
    model: str,
    project: str | None,
    now: datetime,
) -> None:
    """Append one refused call (the caller commits). `identity` and `model` as the gateway
    sent them; the model recorded is the one the decision resolved it to, when it did."""
    person_id = None
    if decision.reason != UNKNOWN_PERSON:
        found = resolve_identities(session, [identity]).get(identity_key(identity))
        person_id = found[0] if found else None
    session.execute(
        insert(AuthorizeRefusal).values(
            at=now,
            person_id=person_id,
            identity=identity.strip()[:320],
            code=decision.reason,
            model=str(decision.facts.get("model") or model)[:200],
            use_case=_cut(decision.facts.get("use_case"), 100),
            project=_cut(project, 200),
        )
    )


def _cut(text: str | None, length: int) -> str | None:
    """As sent, cut to the column's length (the gateway's text is not checked for length)."""
    return None if text is None else text[:length]


def refusals_by_reason(
    session: Session,
    start: datetime,
    end: datetime,
    person_ids: Iterable[int] | None = None,
) -> dict[str, int]:
    """Refused calls in [start, end) by reason code, for `person_ids` (None: everyone, calls
    from unknown identities included). Codes with no refusal are absent."""
    in_range = (AuthorizeRefusal.at >= start) & (AuthorizeRefusal.at < end)
    if person_ids is None:
        query = (
            select(AuthorizeRefusal.code, func.count())
            .where(in_range)
            .group_by(AuthorizeRefusal.code)
        )
        return {code: int(n) for code, n in session.execute(query)}
    wanted = set(person_ids)
    counts: Counter[str] = Counter()
    # Grouped by person too and kept in Python: a manager's scope can hold thousands of ids,
    # while refusals in a period are few.
    by_person = (
        select(AuthorizeRefusal.person_id, AuthorizeRefusal.code, func.count())
        .where(in_range & AuthorizeRefusal.person_id.is_not(None))
        .group_by(AuthorizeRefusal.person_id, AuthorizeRefusal.code)
    )
    for pid, code, n in session.execute(by_person):
        if pid in wanted:
            counts[code] += int(n)
    return dict(counts)
