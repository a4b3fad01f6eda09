"""A flag's life: raised from a detector's finding, who may see it, disputing it, resolving it.

`run_detectors` judges a week (`scoring.detector_data.detect_week`) and writes one flag per
person, week and detector (the unique key makes re-runs idempotent), refreshes the evidence of
flags nobody has decided yet, clears those whose pattern is gone (audited), and returns every
undecided flag, so the person hears about it once (`bot.core.presenters.flags` words it). The
plain explanation stored with a flag is written by the `explain` function the caller hands in
(a template the bot renders): the domain renders no templates.

Flags are private: the flagged person sees their own, and their managers (anyone above them in
the management chain) and admins may look at them; nobody else, and never in a channel. The
person may dispute a pending flag; their manager (or an admin) resolves a pending or disputed
flag as upheld or cleared. Nobody resolves their own flag. Every change is a conditional update
on the flag's status, so two clicks decide once, and is written to the audit log in the same
transaction. Refusals are values (`problem` codes); the words live in the `flag_refused`
template. Callers own the transaction and commit it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from budgets import audit
from budgets.directory import manages
from budgets.policy import Policy
from budgets.windows import Window, week_by_key, week_of, week_starting
from scoring.detector_data import detect_week
from scoring.detectors import Finding
from scoring.governance import MISCONDUCT, governance_settings
from storage.database import upsert_insert
from storage.models import DetectorRun, Flag, Person, UsageEvent

SYSTEM_ACTOR = "tokenbot"
UNDECIDED = ("pending", "disputed")
UPHELD, CLEARED = "upheld", "cleared"
DECISIONS = (UPHELD, CLEARED)
RECENT_FLAGS = 12  # the newest flags a listing shows (undecided ones always show)

# detector, evidence -> the plain explanation stored with a flag
Explain = Callable[[str, dict[str, Any]], str]


@dataclass(frozen=True)
class FlagState:
    """A flag as it is now: what a presenter shows (plain values, read in the transaction)."""

    id: int
    person_id: int
    week: str
    detector: str
    status: str
    evidence: dict[str, Any]
    explanation: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None = None  # the name of who resolved it, when it was a person

    @classmethod
    def of(cls, flag: Flag, resolved_by: str | None = None) -> FlagState:
        return cls(
            id=flag.id,
            person_id=flag.person_id,
            week=flag.week,
            detector=flag.detector,
            status=flag.status,
            evidence=dict(flag.evidence),
            explanation=flag.explanation,
            created_at=flag.created_at,
            resolved_at=flag.resolved_at,
            resolved_by=resolved_by,
        )


@dataclass(frozen=True)
class FlagChange:
    """What a dispute or resolution did; `problem` is set (and nothing changed) on refusal.

    `tell`: whom the change concerns: on a dispute, the people asked to resolve it; on a
    resolution, the person flagged."""

    flag: FlagState | None  # the flag as it is now
    problem: str | None = None
    actor_name: str | None = None
    tell: tuple[int, ...] = ()
    reason: str | None = None  # the disputer's reason

    @property
    def changed(self) -> bool:
        return self.problem is None


def subject(flag_id: int) -> str:
    return f"flag:{flag_id}"


# --- raising flags -------------------------------------------------------------------------


def write_flags(
    session: Session, week: str, findings: Sequence[Finding], now: datetime, explain: Explain
) -> list[Flag]:
    """Store the week's misconduct findings as flags, idempotently: new ones are inserted
    (ON CONFLICT on person, week and detector does nothing), undecided ones get the latest
    evidence, and undecided ones no finding supports any more are cleared (audited). Returns
    the week's open flags from detectors, oldest first."""
    flags = Flag.__table__
    found = {(f.person_id, f.detector): f for f in findings if f.misconduct and f.week == week}
    if found:
        rows = [
            {
                "person_id": f.person_id,
                "week": week,
                "detector": f.detector,
                "status": "pending",
                "evidence": f.evidence,
                "explanation": explain(f.detector, f.evidence),
                "created_at": now,
            }
            for f in found.values()
        ]
        stmt = upsert_insert(session, flags).on_conflict_do_nothing(
            index_elements=["person_id", "week", "detector"]
        )
        session.execute(stmt, rows)
    existing = session.scalars(
        select(Flag)
        .where(Flag.week == week, Flag.detector.in_(MISCONDUCT))
        .order_by(Flag.id)
        .execution_options(populate_existing=True)
    ).all()
    open_flags = []
    for flag in existing:
        finding = found.get((flag.person_id, flag.detector))
        if flag.status in UNDECIDED and finding is None:
            changed = session.execute(
                update(flags)
                .where(flags.c.id == flag.id, flags.c.status.in_(UNDECIDED))
                .values(status="cleared", resolved_at=now, resolved_by_id=None)
            )
            cleared = cast(CursorResult[Any], changed).rowcount
            if cleared:
                audit.record(
                    session,
                    now,
                    SYSTEM_ACTOR,
                    "flag.auto_cleared",
                    subject(flag.id),
                    {"week": week, "detector": flag.detector, "was": flag.status},
                )
            continue
        if flag.status in UNDECIDED and finding is not None and flag.evidence != finding.evidence:
            session.execute(
                update(flags)
                .where(flags.c.id == flag.id, flags.c.status.in_(UNDECIDED))
                .values(
                    evidence=finding.evidence,
                    explanation=explain(flag.detector, finding.evidence),
                )
            )
        if flag.status != "cleared":
            open_flags.append(flag)
    session.flush()
    for flag in open_flags:
        session.refresh(flag)
    return open_flags


def run_detectors(
    session: Session, policy: Policy, week_start: date, now: datetime, explain: Explain
) -> list[FlagState]:
    """Judge the week holding `week_start`, write its flags (the caller commits) and return
    the undecided ones: each is told to the person flagged once (the outbox keeps the key).
    Re-running it changes nothing that was already right."""
    week = week_starting(policy.periods.zone, week_start)
    findings = detect_week(session, policy, week, now)
    active = set(session.scalars(select(Person.id).where(Person.active)))
    flags = write_flags(
        session, week.key, [f for f in findings if f.person_id in active], now, explain
    )
    return [FlagState.of(flag) for flag in flags if flag.status in UNDECIDED]


# --- which weeks to judge ------------------------------------------------------------------


def is_settled(policy: Policy, week: Window, now: datetime) -> bool:
    """A closed week whose long conversations have had `settle_hours` to be accepted: judging
    it again later would find the same."""
    hours = governance_settings(policy).chat_loops.settle_hours
    return now >= week.end + timedelta(hours=hours)


def weeks_to_judge(session: Session, policy: Policy, now: datetime) -> list[Window]:
    """The weeks the daily job judges, oldest first: every settled week not judged yet (see
    `mark_judged`), from the first week with usage but at most `catch_up_weeks` back, then the
    week holding yesterday (judged every day until it has settled)."""
    zone = policy.periods.zone
    yesterday = week_of(zone, now - timedelta(days=1))
    first_use = session.scalar(select(func.min(UsageEvent.occurred_at)))
    if first_use is None:
        return [yesterday]
    week = week_of(
        zone, max(first_use, now - timedelta(weeks=governance_settings(policy).catch_up_weeks))
    )
    judged = set(session.scalars(select(DetectorRun.week)))
    due = []
    while week.start < yesterday.start:
        if week.key not in judged:
            due.append(week)
        week = week_of(zone, week.end)
    return [*due, yesterday]


def mark_judged(session: Session, policy: Policy, week: Window, now: datetime) -> None:
    """Record a settled week as judged (idempotent); an unsettled one stays due."""
    if is_settled(policy, week, now):
        stmt = upsert_insert(session, DetectorRun.__table__).on_conflict_do_nothing(
            index_elements=["week"]
        )
        session.execute(stmt, [{"week": week.key, "ran_at": now}])


def week_named(policy: Policy, key: str) -> Window:
    """`2026-W47` on the policy's calendar; ValueError names the form expected."""
    return week_by_key(policy.periods.zone, key)


# --- who may see and decide ----------------------------------------------------------------


def may_view(session: Session, viewer: Person, person: Person) -> bool:
    return viewer.id == person.id or may_resolve(session, viewer, person)


def may_resolve(session: Session, actor: Person, person: Person) -> bool:
    """Their manager (anywhere up the chain) or an admin, and never for their own flags."""
    if actor.id == person.id:
        return False
    return actor.has_role("admin") or manages(session, actor, person)


def flags_of(session: Session, person: Person, limit: int = RECENT_FLAGS) -> list[FlagState]:
    """The person's undecided flags and their latest others, newest week first, with who
    resolved them."""
    query = select(Flag).where(Flag.person_id == person.id)
    undecided = session.scalars(query.where(Flag.status.in_(UNDECIDED))).all()
    latest = session.scalars(query.order_by(Flag.week.desc(), Flag.id.desc()).limit(limit)).all()
    chosen = {f.id: f for f in [*undecided, *latest]}
    shown = sorted(chosen.values(), key=lambda f: (f.week, f.id), reverse=True)
    return [FlagState.of(f, _name(session, f)) for f in shown]


# --- disputing and resolving ---------------------------------------------------------------


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
        return FlagChange(FlagState.of(flag), "not_pending")
    reason = (reason or "").strip()[:500] or None
    flags = Flag.__table__
    changed = session.execute(
        update(flags)
        .where(flags.c.id == flag.id, flags.c.status == "pending")
        .values(status="disputed")
    )
    won = cast(CursorResult[Any], changed).rowcount
    if won != 1:
        return FlagChange(FlagState.of(_load(session, flag_id) or flag), "not_pending")
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
    resolvers = tuple(resolver.id for resolver in _resolvers(session, actor))
    return FlagChange(FlagState.of(flag), actor_name=actor.name, tell=resolvers, reason=reason)


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
        return FlagChange(FlagState.of(flag), "own_flag")
    if not may_resolve(session, actor, person):
        return FlagChange(None, "not_manager")
    if flag.status not in UNDECIDED:
        return FlagChange(FlagState.of(flag), "already_decided", _name(session, flag))
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
        return FlagChange(FlagState.of(flag), "already_decided", _name(session, flag))
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
    return FlagChange(FlagState.of(flag), actor_name=actor.name, tell=(person.id,))


def _name(session: Session, flag: Flag) -> str | None:
    if flag.resolved_by_id is None:
        return None
    resolver = session.get(Person, flag.resolved_by_id)
    return resolver.name if resolver is not None else None
