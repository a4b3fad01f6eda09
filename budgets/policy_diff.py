"""What changes between two policies, and for whom.

`diff_policies` compares two parsed `Policy` objects field by field, generically: dataclasses
by their fields, tables by their keys, lists of named entries (projects, reserved pools, any
`[[...]]` whose entries have a `name`) by name, and everything else as a value. A section
added to `Policy` later shows up in the diff with no work here. The sections people feel most
get their own subject and wording (`subject_of`): a tier's baseline, a team pool, a project's
budget, a reserved pool; `count_affected` then counts who each of those changes touches, from
the directory (active people in the tier, members of the team, ...).

The result is facts (`PolicyChange`); the CLI words them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from budgets.policy import Policy
from storage.models import Person, Team

# Not part of what a policy says: where it was read from.
IGNORED = frozenset({"source"})


@dataclass(frozen=True)
class PolicyChange:
    key: str  # dotted: tiers.default.baseline, team_pools.overrides.platform, scoring.min_tasks
    old: Any  # None when added
    new: Any  # None when removed
    subject: str  # "tier default", "team pool platform", or the key itself
    unit: str = ""  # "tokens" for amounts
    affects: int | None = None  # active people it touches, when the subject says who

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> plain value, for any mix of dataclasses, dicts and lists. A dataclass
    with a text form of its own (quiet hours' `19:00-08:00`) is one value, shown as that."""
    if dataclasses.is_dataclass(value) and type(value).__str__ is not object.__str__:
        return {prefix: str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if f.name in IGNORED or (
                f.name == "name" and prefix.endswith(f".{getattr(value, 'name', '')}")
            ):
                continue  # a tier's or model's name is its key already
            out.update(flatten(getattr(value, f.name), _join(prefix, f.name)))
        return out
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(v, _join(prefix, str(k))))
        return out or {prefix: {}}
    if isinstance(value, list | tuple) and value and all(_name_of(v) for v in value):
        out = {}
        for item in value:
            out.update(flatten(item, _join(prefix, str(_name_of(item)))))
        return out
    if isinstance(value, list | tuple):
        return {prefix: tuple(_plain(v) for v in value)}
    return {prefix: _plain(value)}


def _name_of(item: Any) -> str | None:
    if isinstance(item, dict):
        name = item.get("name")
    else:
        name = getattr(item, "name", None) if dataclasses.is_dataclass(item) else None
    return name if isinstance(name, str) and name else None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(sorted(flatten(value).items()))
    if isinstance(value, dict):
        return tuple(sorted((str(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def diff_policies(old: Policy, new: Policy) -> list[PolicyChange]:
    """Every value that differs, in the order the policy's sections are declared."""
    before, after = flatten(old), flatten(new)
    sections = list(dict.fromkeys(k.split(".", 1)[0] for k in [*before, *after]))
    keys = sorted(
        dict.fromkeys([*before, *after]), key=lambda k: sections.index(k.split(".", 1)[0])
    )
    changes = []
    for key in keys:
        a, b = before.get(key), after.get(key)
        if a == b or (_empty(a) and _empty(b)):
            continue
        subject, unit = subject_of(key)
        changes.append(PolicyChange(key, a, b, subject, unit))
    return changes


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == ()


def subject_of(key: str) -> tuple[str, str]:
    """The human subject of a changed key, and the unit of its value."""
    parts = key.split(".")
    head = parts[0]
    if head == "tiers" and len(parts) >= 2:
        return f"tier {parts[1]}", "tokens"
    if head == "team_pools" and parts[1:2] == ["default"]:
        return "team pool default (teams without an override)", "tokens"
    if head == "team_pools" and parts[1:2] == ["overrides"] and len(parts) >= 3:
        return f"team pool {'.'.join(parts[2:])}", "tokens"
    if head == "projects" and len(parts) >= 3:
        return f"project {parts[1]} {parts[-1]}", "tokens" if parts[-1] == "budget" else ""
    if head == "reserved_pools" and len(parts) >= 3:
        return f"reserved pool {parts[1]} {parts[-1]}", "tokens" if parts[-1] == "amount" else ""
    if head == "governance" and parts[1:2] == ["recommendations"]:
        return f"quota recommendations: {'.'.join(parts[2:])}", ""
    if head == "use_cases" and len(parts) >= 3:
        return f"use case {parts[1]} {'.'.join(parts[2:])}", "tokens" if parts[-1] == "cap" else ""
    if head == "models" and len(parts) >= 3:
        return f"model {parts[1]} {'.'.join(parts[2:])}", ""
    if head == "charter" and parts[1:2] == ["owners"] and len(parts) >= 3:
        return f"policy owners: {parts[2]}", ""
    if head == "settings_defaults" and len(parts) >= 2:
        return f"default setting {parts[1]}", ""
    return key, ""


def count_affected(
    session: Session, old: Policy, changes: Iterable[PolicyChange]
) -> list[PolicyChange]:
    """The changes with `affects` set where the subject names who: active people in a tier
    (people with no tier of that name count in `default`, as grants treat them), members of a
    team whose pool changes, and, for the default pool, members of teams without an override
    in either policy. Anything else is left as it is (None: the whole org or nobody in
    particular)."""
    changes = list(changes)
    tiers = _people_by(session, Person.tier)
    known = set(old.tiers)
    teams = dict(
        session.execute(
            select(Team.name, func.count(Person.id))
            .join(Person, Person.team_id == Team.id)
            .where(Person.active)
            .group_by(Team.name)
        ).all()
    )
    overridden = set(old.team_pools.overrides) | {
        c.key.split(".", 2)[2] for c in changes if c.key.startswith("team_pools.overrides.")
    }
    counted = []
    for change in changes:
        parts = change.key.split(".")
        affects: int | None = None
        if parts[0] == "tiers" and len(parts) >= 2:
            tier = parts[1]
            affects = tiers.get(tier, 0)
            if tier == "default":
                affects += sum(n for name, n in tiers.items() if name not in known | {"default"})
        elif change.key == "team_pools.default":
            affects = sum(n for team, n in teams.items() if team not in overridden)
        elif parts[:2] == ["team_pools", "overrides"] and len(parts) >= 3:
            affects = teams.get(".".join(parts[2:]), 0)
        counted.append(replace(change, affects=affects))
    return counted


def _people_by(session: Session, column: Any) -> dict[str, int]:
    return {
        str(value): int(n)
        for value, n in session.execute(
            select(column, func.count(Person.id)).where(Person.active).group_by(column)
        ).all()
    }
