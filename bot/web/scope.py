"""What a person may see on the dashboard.

Executives, finance and admins see the whole organisation; a manager sees everyone below them
(the people the monthly review covers for them, `scoring.review`'s own walk down the chain);
everyone else sees themselves. A person page is open to its person and to anyone whose scope
holds them; flags only to the person and their managers (`scoring.flags.may_view`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from scoring.review import reports_below  # the review's scope for a manager, not a second walk
from storage.models import Person

ORG_ROLES = ("executive", "finance", "admin")


@dataclass(frozen=True)
class Scope:
    kind: str  # org | reports | self
    person_ids: tuple[int, ...] | None  # None: everyone
    label: str

    @property
    def is_org(self) -> bool:
        return self.kind == "org"

    @property
    def sees_groups(self) -> bool:
        """Teams, workflows and finance compare groups: not for a scope of one."""
        return self.kind in ("org", "reports")

    def holds(self, person_id: int) -> bool:
        return self.person_ids is None or person_id in self.person_ids


def scope_of(session: Session, person: Person) -> Scope:
    if any(person.has_role(role) for role in ORG_ROLES):
        return Scope("org", None, "the organisation")
    if person.has_role("manager"):
        below = reports_below(session, person.id)
        if below:
            return Scope("reports", tuple(below), f"{person.name}'s team")
    return Scope("self", (person.id,), "your own figures")


def may_see_person(scope: Scope, viewer: Person, person_id: int) -> bool:
    return person_id == viewer.id or scope.holds(person_id)
