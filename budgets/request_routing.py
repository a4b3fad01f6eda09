"""Who decides each step of a burst request (`route`): the project's owner or the requester's
nearest active manager, an admin when nobody is left, and a finance approver (neither the
requester nor the first approver) when the amount is above the policy's finance threshold.
Deterministic (lowest id first), so routing is reproducible and testable. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from budgets.policy import Policy
from budgets.request_views import STEP_ADMIN, STEP_MANAGER, STEP_OWNER, Problem
from storage.models import Person, Project


@dataclass(frozen=True)
class Route:
    step: str
    approver: Person
    finance_approver: Person | None


def management_chain(session: Session, person: Person) -> list[Person]:
    """The person's managers, nearest first (stops on a loop, which import refuses anyway)."""
    chain: list[Person] = []
    seen = {person.id}
    current = person.manager_id
    while current is not None and current not in seen:
        manager = session.get(Person, current)
        if manager is None:
            break
        chain.append(manager)
        seen.add(current)
        current = manager.manager_id
    return chain


def _first_with_role(session: Session, role: str, excluding: set[int]) -> Person | None:
    """The active person with `role` and the lowest id: deterministic, so routing is
    reproducible and testable."""
    candidates = session.scalars(
        select(Person).where(Person.active, Person.roles.contains(role)).order_by(Person.id)
    )
    return next((p for p in candidates if p.has_role(role) and p.id not in excluding), None)


def route(
    session: Session, policy: Policy, requester: Person, amount: int, project: Project | None
) -> Route | Problem:
    """Who decides each step of a request; a Problem when nobody can."""
    approver: Person | None = None
    step = STEP_MANAGER
    if project is not None and project.owner_id is not None:
        owner = session.get(Person, project.owner_id)
        if owner is not None and owner.active and owner.id != requester.id:
            approver, step = owner, STEP_OWNER
    if approver is None:
        approver = next(
            (p for p in management_chain(session, requester) if p.active),
            None,
        )
    if approver is None:
        approver, step = _first_with_role(session, "admin", {requester.id}), STEP_ADMIN
    if approver is None:
        return Problem("no_approver")
    finance = None
    if amount > policy.approvals.finance_threshold:
        # Two steps means two people: finance is neither the requester nor the first approver.
        finance = _first_with_role(session, "finance", {requester.id, approver.id})
        if finance is None:
            return Problem(
                "no_finance_approver",
                {"threshold": policy.approvals.finance_threshold, "approver": approver.name},
            )
    return Route(step, approver, finance)
