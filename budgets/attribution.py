"""Usage the directory or the policy does not know yet, and fixing it afterwards.

Usage is never dropped for being unknown: an identity mapped to nobody is stored unattributed
(person_id NULL), a model missing from the catalog is stored with weight 1 and an unknown price,
and a use case missing from the policy is stored as uncategorised. This module lists those for
admins and re-assigns an identity's unattributed usage once the person is in the directory.

Re-assigning is idempotent and safe to run concurrently: it claims rows with a conditional
update (`person_id IS NULL` -> the person), so each row is attributed and debited exactly once;
a second run finds nothing left to claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from budgets.directory import add_alias, find_person
from budgets.policy import Policy
from budgets.usage_ledger import debit_recorded_usage, identity_key
from storage.models import Outcome, UsageEvent


@dataclass(frozen=True)
class UnattributedIdentity:
    identity: str
    events: int
    budget_tokens: int
    cost_micros: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class UnknownName:
    """A model or use case seen in usage but missing from the current policy."""

    name: str
    events: int
    tokens: int  # raw input + output tokens
    last_seen: datetime


@dataclass(frozen=True)
class Reassigned:
    identity: str
    email: str
    usage_events: int
    budget_tokens: int
    overdraft: int
    outcomes: int
    alias_added: bool


def unattributed_identities(session: Session) -> list[UnattributedIdentity]:
    """Identities with usage nobody is mapped to, most budget tokens first."""
    usage = UsageEvent.__table__
    rows = session.execute(
        select(
            usage.c.identity,
            func.count(),
            func.sum(usage.c.budget_tokens),
            func.sum(usage.c.cost_micros),
            func.min(usage.c.occurred_at),
            func.max(usage.c.occurred_at),
        )
        .where(usage.c.person_id.is_(None))
        .group_by(usage.c.identity)
    ).all()
    found = [
        UnattributedIdentity(
            identity,
            int(count),
            int(tokens or 0),
            int(cost or 0),
            first,
            last,
        )
        for identity, count, tokens, cost, first, last in rows
    ]
    return sorted(found, key=lambda u: (-u.budget_tokens, u.identity))


def reassign_identity(
    session: Session, identity: str, email: str, policy: Policy, now: datetime
) -> Reassigned:
    """Attribute `identity`'s still-unattributed usage and outcomes to the person with `email`
    and debit that usage from their grants. When the identity is not the person's own email it
    is also added as a directory alias, so later usage maps directly. The caller commits."""
    identity = identity.strip()
    person = find_person(session, email)
    if person is None:
        raise LookupError(f"no person with email {email} in the directory")
    alias_added = identity_key(identity) != person.email
    if alias_added:
        add_alias(session, identity_key(identity), person.email)

    usage = UsageEvent.__table__
    claimed = session.execute(
        update(usage)
        .where(_same_identity(usage.c.identity, identity), usage.c.person_id.is_(None))
        .values(person_id=person.id)
        .returning(
            usage.c.period,
            usage.c.use_case,
            usage.c.project,
            usage.c.occurred_at,
            usage.c.budget_tokens,
            usage.c.cost_micros,
        )
    ).all()
    rows = [
        {
            "person_id": person.id,
            "team_id": person.team_id,
            "period": r.period,
            "use_case": r.use_case,
            "project": r.project,
            "occurred_at": r.occurred_at,
            "budget_tokens": r.budget_tokens,
            "cost_micros": r.cost_micros,
        }
        for r in claimed
    ]
    overdraft = debit_recorded_usage(session, rows, policy, now)
    outcomes = Outcome.__table__
    attributed_outcomes = cast(  # an UPDATE's result is a cursor's, which has the row count
        CursorResult,
        session.execute(
            update(outcomes)
            .where(_same_identity(outcomes.c.identity, identity), outcomes.c.person_id.is_(None))
            .values(person_id=person.id)
        ),
    ).rowcount
    return Reassigned(
        identity=identity,
        email=person.email,
        usage_events=len(rows),
        budget_tokens=sum(r["budget_tokens"] for r in rows),
        overdraft=overdraft,
        outcomes=int(attributed_outcomes or 0),
        alias_added=alias_added,
    )


def _same_identity(column, identity: str):  # noqa: ANN001, ANN202
    # Emails are stored as sent but match case-insensitively, like resolve_identities.
    if "@" in identity:
        return func.lower(column) == identity_key(identity)
    return column == identity


def unknown_models(session: Session, policy: Policy) -> list[UnknownName]:
    """Models recorded at an unknown price that nothing resolves yet (budgets.models: not the
    catalog, its aliases, nor the public price database)."""
    usage = UsageEvent.__table__
    return [
        name
        for name in _unknown(session, usage.c.model, usage.c.unknown_price, set())
        if not policy.resolve_model(name.name).is_known
    ]


def repriceable_models(session: Session, policy: Policy) -> list[UnknownName]:
    """Models recorded at an unknown price that resolve now: `usage reprice` books them."""
    usage = UsageEvent.__table__
    return [
        name
        for name in _unknown(session, usage.c.model, usage.c.unknown_price, set())
        if policy.resolve_model(name.name).is_known
    ]


def uncategorised_use_cases(session: Session, policy: Policy) -> list[UnknownName]:
    """Use cases used but missing from the policy ("(none)" when usage named none)."""
    usage = UsageEvent.__table__
    return _unknown(
        session,
        func.coalesce(usage.c.use_case, "(none)"),
        usage.c.uncategorised,
        set(policy.use_cases),
    )


def _unknown(session: Session, name, marked, known: set[str]) -> list[UnknownName]:  # noqa: ANN001
    usage = UsageEvent.__table__
    rows = session.execute(
        select(
            name,
            func.count(),
            func.sum(usage.c.input_tokens + usage.c.output_tokens),
            func.max(usage.c.occurred_at),
        )
        .where(marked.is_(True))
        .group_by(name)
    ).all()
    found = [
        UnknownName(
            value,
            int(count),
            int(tokens or 0),
            last,
        )
        for value, count, tokens, last in rows
        if value not in known  # the policy may have learnt it since
    ]
    return sorted(found, key=lambda u: (-u.tokens, u.name))
