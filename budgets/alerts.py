"""Threshold alerts: a person's baseline, a team's pool or a project's budget crossing the
policy's thresholds (`[alerts]`) in the current period.

Computed from projections (`GrantBalance` summed per owner for the period), so the cost grows
with the number of owners, never with usage history. Only the highest threshold crossed is
reported: someone who jumps from 50% to 105% hears about 100%, not about 80% and 100% at once.
Each alert has a key per threshold, period and recipient, so the caller sends it once.

Recipients: a person hears about their own baseline; a team pool goes to the team's managers
(members with the manager role, or else whoever manages the members); a project's budget goes
to its owner (a project without an owner is skipped: there is nobody to tell).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from budgets.periods import period_for
from budgets.policy import Policy
from budgets.reminders import zone_or
from storage.models import Grant, GrantBalance, Person, Project, Team

SUBJECTS = {"person": "baseline", "team": "team_pool", "project": "project"}


@dataclass(frozen=True)
class ThresholdCrossed:
    subject: str  # person | team | project
    subject_id: int
    subject_name: str
    recipient_id: int
    zone: str  # the recipient's time zone (or the policy's)
    threshold: Decimal
    used: int
    amount: int
    period: str
    period_end: datetime

    @property
    def key(self) -> str:
        key = (
            f"alert:{self.period}:{self.subject}:{self.subject_id}:{threshold_text(self.threshold)}"
        )
        # A team has several managers; each hears once.
        return f"{key}:manager:{self.recipient_id}" if self.subject == "team" else key


def threshold_text(threshold: Decimal) -> str:
    """0.8 -> "0.8", 1.0 -> "1": the same key whether the policy says 1 or 1.0."""
    return format(threshold.normalize(), "f")


def highest_crossed(thresholds: Iterable[Decimal], used: int, amount: int) -> Decimal | None:
    if amount <= 0:
        return None
    crossed = [t for t in thresholds if used >= t * amount]
    return max(crossed) if crossed else None


def _usage_by_owner(session: Session, kind: str, period: str) -> dict[int, tuple[int, int]]:
    """owner id -> (used, amount) over the owner's grants of `kind` in the period."""
    rows = session.execute(
        select(Grant.owner_id, func.sum(GrantBalance.used), func.sum(Grant.amount))
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(Grant.kind == kind, Grant.period == period, Grant.owner_id.is_not(None))
        .group_by(Grant.owner_id)
        .order_by(Grant.owner_id)
    )
    return {
        owner: (int(used or 0), int(amount or 0))
        for owner, used, amount in rows
        if owner is not None
    }


def team_managers(session: Session, team_ids: Iterable[int]) -> dict[int, list[int]]:
    """Team id -> who hears about its pool: members with the manager role, or else the
    managers of its members."""
    ids = sorted(set(team_ids))
    if not ids:
        return {}
    members: dict[int, list[Person]] = defaultdict(list)
    for person in session.scalars(
        select(Person).where(Person.team_id.in_(ids), Person.active).order_by(Person.id)
    ):
        members[person.team_id].append(person)  # type: ignore[index]
    managers = {}
    for team_id in ids:
        people = members.get(team_id, [])
        with_role = [p.id for p in people if p.has_role("manager")]
        managers[team_id] = with_role or sorted(
            {p.manager_id for p in people if p.manager_id is not None} - {p.id for p in people}
        )
    return managers


def thresholds_crossed(session: Session, policy: Policy, now: datetime) -> list[ThresholdCrossed]:
    """Every alert that is true now for the current period (sent or not)."""
    period = period_for(policy.periods, now)
    found: list[tuple[str, int, Decimal, int, int, list[int]]] = []
    thresholds = {
        "person": policy.alerts.person_thresholds,
        "team": policy.alerts.team_thresholds,
        "project": policy.alerts.project_thresholds,
    }
    usage = {
        subject: _usage_by_owner(session, kind, period.key) for subject, kind in SUBJECTS.items()
    }
    crossed: dict[str, dict[int, tuple[Decimal, int, int]]] = defaultdict(dict)
    for subject, owners in usage.items():
        for owner_id, (used, amount) in owners.items():
            threshold = highest_crossed(thresholds[subject], used, amount)
            if threshold is not None:
                crossed[subject][owner_id] = (threshold, used, amount)
    if not crossed:
        return []

    managers = team_managers(session, crossed["team"])
    projects = {
        p.id: p
        for p in session.scalars(select(Project).where(Project.id.in_(list(crossed["project"]))))
    }
    teams = dict(
        session.execute(select(Team.id, Team.name).where(Team.id.in_(list(crossed["team"])))).all()
    )
    for subject, crossings in crossed.items():
        for owner_id, (threshold, used, amount) in crossings.items():
            if subject == "person":
                recipients = [owner_id]
            elif subject == "team":
                recipients = managers.get(owner_id, [])
            else:
                owner = projects[owner_id].owner_id if owner_id in projects else None
                recipients = [owner] if owner is not None else []
            found.append((subject, owner_id, threshold, used, amount, recipients))

    people = {
        p.id: p
        for p in session.scalars(
            select(Person).where(Person.id.in_(sorted({r for *_, rs in found for r in rs})))
        )
    }
    names = {
        "person": {pid: p.name for pid, p in people.items()},
        "team": teams,
        "project": {pid: p.name for pid, p in projects.items()},
    }
    alerts = []
    for subject, owner_id, threshold, used, amount, recipients in found:
        for recipient_id in recipients:
            recipient = people.get(recipient_id)
            if recipient is None or not recipient.active:
                continue
            alerts.append(
                ThresholdCrossed(
                    subject=subject,
                    subject_id=owner_id,
                    subject_name=names[subject].get(owner_id, str(owner_id)),
                    recipient_id=recipient_id,
                    zone=zone_or(recipient.timezone, policy.periods.timezone),
                    threshold=threshold,
                    used=used,
                    amount=amount,
                    period=period.key,
                    period_end=period.end,
                )
            )
    return alerts
