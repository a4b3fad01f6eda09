"""A flag's life after a detector raised it: who may see it, disputing it, resolving it.

Flags are private: the flagged person sees their own, and their managers (anyone above them in
the management chain) and admins may look at them; nobody else, and never in a channel. The
person may dispute a pending flag; their manager (or an admin) resolves a pending or disputed
flag as upheld or cleared. Nobody resolves their own flag. Every change is a conditional update
on the flag's status, so two clicks decide once, and is written to the audit log in the same
transaction. Refusals are values (`problem` codes); the words live in the `flag_refused`
template. Callers own the transaction and commit it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from bot.core.messages import Button, Notice, Reply
from budgets import audit
from budgets.directory import manages
from scoring.detectors import ACTION_RESOLVE, UNDECIDED, dispute_button, flag_context, subject
from storage.models import Flag, Person

UPHELD, CLEARED = "upheld", "cleared"
DECISIONS = (UPHELD, CLEARED)
RECENT_FLAGS = 12  # the newest flags a listing shows (undecided ones always show)


@dataclass(frozen=True)
class FlagChange:
    """What a dispute or resolution did; `problem` is set (and nothing changed) on refusal."""

    flag: dict[str, Any] | None  # flag_context of the flag as it is now
    problem: str | None = None
    actor_name: str | None = None
    notices: tuple[Notice, ...] = ()

    @property
    def changed(self) -> bool:
        return self.problem is None


def may_view(session: Session, viewer: Person, person: Person) -> bool:
    return viewer.id == person.id or may_resolve(session, viewer, person)


def may_resolve(session: Session, actor: Person, person: Person) -> bool:
    """Their manager (anywhere up the chain) or an admin, and never for their own flags."""
    if actor.id == person.id:
        return False
    return actor.has_role("admin") or manages(session, actor, person)


def flags_of(session: Session, person: Person, limit: int = RECENT_FLAGS) -> list[Flag]:
    """The person's undecided flags and their latest others, newest week first."""
    query = select(Flag).where(Flag.person_id == person.id)
    undecided = session.scalars(query.where(Flag.status.in_(UNDECIDED))).all()
    latest = session.scalars(query.order_by(Flag.week.desc(), Flag.id.desc()).limit(limit)).all()
    chosen = {f.id: f for f in [*undecided, *latest]}
    return sorted(chosen.values(), key=lambda f: (f.week, f.id), reverse=True)


def resolve_buttons(flag: Flag | dict[str, Any]) -> tuple[Button, ...]:
    flag_id = str(flag["id"] if isinstance(flag, dict) else flag.id)
    return (
        Button("Upheld", f"{ACTION_RESOLVE}:{UPHELD}", flag_id, style="danger"),
        Button("Cleared", f"{ACTION_RESOLVE}:{CLEARED}", flag_id, style="primary"),
    )


def listing_buttons(
    flags: list[Flag], viewer: Person, person: Person, resolver: bool
) -> tuple[Button, ...]:
    """Dispute for the person's own pending flags; Upheld / Cleared for a resolver."""
    buttons: list[Button] = []
    for flag in flags:
        if viewer.id == person.id and flag.status == "pending":
            buttons.append(dispute_button(flag))
        elif resolver and flag.status in UNDECIDED:
            buttons.extend(resolve_buttons(flag))
    return tuple(buttons)


def _load(session: Session, flag_id: int) -> Flag | None:
    return session.execute(
        select(Flag).where(Flag.id == flag_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _resolvers(session: Session, person: Person) -> list[Person]:
    """Who hears about a dispute: the person's manager, else every active admin."""
    if person.manager_id is not None:
        manager = session.get(Person, person.manager_id)
        if manager is not None and manager.active:
            return [manager]
    return list(
        session.scalars(
            select(Person)
            .where(Person.active, Person.roles.contains("admin"), Person.id != person.id)
            .order_by(Person.id)
        )
    )


def dispute(
    session: Session, flag_id: int, actor: Person, now: datetime, reason: str | None = None
) -> FlagChange:
    """The flagged person disputes a pending flag; their manager is asked to resolve it."""
    flag = _load(session, flag_id)
    if flag is None or flag.person_id != actor.id:
        return FlagChange(None, "not_found")
    if flag.status != "pending":
        return FlagChange(flag_context(flag), "not_pending")
    reason = (reason or "").strip()[:500] or None
    flags = Flag.__table__
    changed = session.execute(
        update(flags)
        .where(flags.c.id == flag.id, flags.c.status == "pending")
        .values(status="disputed")
    )
    won = cast(CursorResult[Any], changed).rowcount
    if won != 1:
        return FlagChange(flag_context(_load(session, flag_id) or flag), "not_pending")
    audit.record(
        session,
        now,
        actor.email,
        "flag.disputed",
        subject(flag.id),
        {"week": flag.week, "detector": flag.detector, "reason": reason},
    )
    flag = _load(session, flag_id)
    assert flag is not None
    context = flag_context(flag)
    notices = tuple(
        Notice(
            resolver.id,
            Reply(
                "flag_disputed",
                {"flag": context, "person_name": actor.name, "reason": reason, "own": False},
                buttons=resolve_buttons(flag),
            ),
            ref=f"flag:{flag.id}:dispute",
        )
        for resolver in _resolvers(session, actor)
    )
    return FlagChange(context, actor_name=actor.name, notices=notices)


def resolve(
    session: Session, flag_id: int, actor: Person, decision: str, now: datetime
) -> FlagChange:
    """A manager or admin upholds or clears an undecided flag, once."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
    flag = _load(session, flag_id)
    person = session.get(Person, flag.person_id) if flag is not None else None
    if flag is None or person is None:
        return FlagChange(None, "not_found")
    if actor.id == person.id:
        return FlagChange(flag_context(flag), "own_flag")
    if not may_resolve(session, actor, person):
        return FlagChange(None, "not_manager")
    if flag.status not in UNDECIDED:
        return FlagChange(flag_context(flag), "already_decided", _name(session, flag))
    flags = Flag.__table__
    changed = session.execute(
        update(flags)
        .where(flags.c.id == flag.id, flags.c.status.in_(UNDECIDED))
        .values(status=decision, resolved_by_id=actor.id, resolved_at=now)
    )
    won = cast(CursorResult[Any], changed).rowcount
    if won != 1:
        flag = _load(session, flag_id)
        assert flag is not None
        return FlagChange(flag_context(flag), "already_decided", _name(session, flag))
    audit.record(
        session,
        now,
        actor.email,
        f"flag.{decision}",
        subject(flag.id),
        {
            "week": flag.week,
            "detector": flag.detector,
            "person": person.email,
            "was": flag.status,
            "as_admin": not manages(session, actor, person),
        },
    )
    flag = _load(session, flag_id)
    assert flag is not None
    context = flag_context(flag)
    notice = Notice(
        person.id, Reply("flag_resolved", {"flag": context, "actor_name": actor.name, "own": True})
    )
    return FlagChange(context, actor_name=actor.name, notices=(notice,))


def view_context(session: Session, flag: Flag) -> dict[str, Any]:
    """A flag as message context, with who resolved it."""
    return {**flag_context(flag), "resolved_by": _name(session, flag)}


def _name(session: Session, flag: Flag) -> str | None:
    if flag.resolved_by_id is None:
        return None
    resolver = session.get(Person, flag.resolved_by_id)
    return resolver.name if resolver is not None else None
