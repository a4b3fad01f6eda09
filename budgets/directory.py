"""The people directory: who is who, who manages whom, and how chat and provider identities
map to people.

`import_directory` is all-or-nothing: it validates every row of the CSV (and the resulting
management graph together with the people already stored) and returns every problem with
its line number; only a file with no problems is written. Rows upsert by email.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from budgets.periods import period_for
from budgets.policy import ROLES, Policy, is_email, is_time_zone
from storage.models import IdentityAlias, Person, Team

HEADER = (
    "email",
    "name",
    "team",
    "manager_email",
    "roles",
    "tier",
    "slack_user_id",
    "teams_user_id",
)
OPTIONAL = ("aliases", "timezone")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass
class DirectoryRow:
    line: int
    email: str
    name: str
    team: str
    manager_email: str | None
    roles: tuple[str, ...]
    tier: str
    slack_user_id: str | None
    teams_user_id: str | None
    aliases: tuple[str, ...] = ()
    timezone: str | None = None


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    teams_created: int = 0
    grants_issued: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_directory_csv(text: str, policy: Policy) -> tuple[list[DirectoryRow], list[RowError]]:
    """Parse and check each row on its own (graph checks need the database: see below)."""
    errors: list[RowError] = []
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [h for h in HEADER if h not in header]
    if missing:
        return [], [
            RowError(
                1, "header", f"missing column(s) {', '.join(missing)}; expected {','.join(HEADER)}"
            )
        ]
    unknown = [h for h in header if h not in HEADER + OPTIONAL]
    if unknown:
        errors.append(
            RowError(
                1,
                "header",
                f"unknown column(s) {', '.join(unknown)}; allowed: {', '.join(HEADER + OPTIONAL)}",
            )
        )
    rows: list[DirectoryRow] = []
    seen: dict[str, int] = {}
    seen_slack: dict[str, int] = {}
    seen_teams: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        cell = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        email = cell.get("email", "").lower()
        if not is_email(email):
            errors.append(
                RowError(line, "email", f"{cell.get('email')!r} is not a valid email address")
            )
        elif email in seen:
            errors.append(RowError(line, "email", f"{email} already appears on line {seen[email]}"))
        else:
            seen[email] = line
        if not cell.get("name"):
            errors.append(RowError(line, "name", "is required"))
        if not cell.get("team"):
            errors.append(RowError(line, "team", "is required"))
        manager = cell.get("manager_email", "").lower() or None
        if manager and not is_email(manager):
            errors.append(
                RowError(line, "manager_email", f"{manager!r} is not a valid email address")
            )
        if manager and manager == email:
            errors.append(RowError(line, "manager_email", "a person cannot be their own manager"))
        roles = tuple(r.strip() for r in (cell.get("roles") or "member").split(";") if r.strip())
        for role in roles:
            if role not in ROLES:
                errors.append(
                    RowError(
                        line,
                        "roles",
                        f"unknown role {role!r}; allowed: {', '.join(ROLES)} (separated by ';')",
                    )
                )
        tier = cell.get("tier") or "default"
        if tier not in policy.tiers:
            errors.append(
                RowError(
                    line,
                    "tier",
                    f"unknown tier {tier!r}; the policy defines: {', '.join(policy.tiers)}",
                )
            )
        for column, registry in (("slack_user_id", seen_slack), ("teams_user_id", seen_teams)):
            value = cell.get(column)
            if value and value in registry:
                errors.append(
                    RowError(line, column, f"{value} is already used on line {registry[value]}")
                )
            elif value:
                registry[value] = line
        zone = cell.get("timezone")
        if zone and not is_time_zone(zone):
            errors.append(
                RowError(
                    line,
                    "timezone",
                    f"unknown time zone {zone!r} (use an IANA name such as Europe/Paris)",
                )
            )
        rows.append(
            DirectoryRow(
                line=line,
                email=email,
                name=cell.get("name", ""),
                team=cell.get("team", ""),
                manager_email=manager,
                roles=roles or ("member",),
                tier=tier,
                slack_user_id=cell.get("slack_user_id") or None,
                teams_user_id=cell.get("teams_user_id") or None,
                aliases=tuple(a.strip() for a in cell.get("aliases", "").split(";") if a.strip()),
                timezone=cell.get("timezone") or None,
            )
        )
    if not rows and not errors:
        errors.append(RowError(2, "email", "the file has a header but no people"))
    return rows, errors


def _graph_errors(session: Session, rows: list[DirectoryRow]) -> list[RowError]:
    """Managers must exist (in the file or already stored) and management must not loop."""
    errors: list[RowError] = []
    stored = dict(session.execute(select(Person.email, Person.manager_id)).all())
    id_to_email = dict(session.execute(select(Person.id, Person.email)).all())
    manager_of: dict[str, str | None] = {
        e: id_to_email.get(m) if m else None for e, m in stored.items()
    }
    for row in rows:
        manager_of[row.email] = row.manager_email
    known = set(manager_of)
    by_email = {row.email: row for row in rows}
    for row in rows:
        if row.manager_email and row.manager_email not in known:
            errors.append(
                RowError(
                    row.line,
                    "manager_email",
                    f"{row.manager_email} is neither in this file nor in the directory",
                )
            )
    for row in rows:
        chain = [row.email]
        current = manager_of.get(row.email)
        while current is not None:
            if current == row.email:
                path = " -> ".join([*chain, current])
                errors.append(RowError(row.line, "manager_email", f"management cycle: {path}"))
                break
            if current in chain or len(chain) > len(manager_of):
                break  # a cycle not through this row; reported on its own rows
            chain.append(current)
            current = manager_of.get(current)
    # Chat ids must not collide with someone else already stored.
    for column in ("slack_user_id", "teams_user_id"):
        values = {getattr(r, column): r for r in rows if getattr(r, column)}
        if not values:
            continue
        col = getattr(Person, column)
        for email, value in session.execute(select(Person.email, col).where(col.in_(list(values)))):
            row = values[value]
            holder = by_email.get(email)
            # Free only when its holder is in this file and takes a different id there
            # (a blank cell keeps the stored id).
            released = holder is not None and getattr(holder, column) not in (None, value)
            if email != row.email and not released:
                errors.append(RowError(row.line, column, f"{value} already belongs to {email}"))
    return errors


def import_directory(session: Session, text: str, policy: Policy, now: datetime) -> ImportResult:
    """Validate and upsert a directory CSV; writes nothing unless every row is valid.
    New people get this period's baseline at once. The caller commits."""
    from budgets.grants import ensure_period_grants

    rows, errors = parse_directory_csv(text, policy)
    # Graph problems are reported together with row problems (fix everything in one pass),
    # leaving out rows whose email or manager cell is itself already reported as wrong.
    unusable = {e.line for e in errors if e.field in ("email", "manager_email")}
    errors += _graph_errors(session, [r for r in rows if r.line not in unusable])
    result = ImportResult(errors=sorted(errors, key=lambda e: (e.line, e.field)))
    if errors:
        return result

    teams = {t.name: t for t in session.scalars(select(Team))}
    for name in sorted({r.team for r in rows} - set(teams)):
        teams[name] = Team(name=name)
        session.add(teams[name])
        result.teams_created += 1
    existing = {
        p.email: p
        for p in session.scalars(select(Person).where(Person.email.in_([r.email for r in rows])))
    }
    # Chat ids are unique: release the ids that change hands first, so people in the file can
    # swap ids without one UPDATE hitting the other's old value.
    for row in rows:
        person = existing.get(row.email)
        for column in ("slack_user_id", "teams_user_id"):
            new_id = getattr(row, column)
            if person is not None and new_id and getattr(person, column) != new_id:
                setattr(person, column, None)
    session.flush()
    people: dict[str, Person] = {}
    for row in rows:
        person = existing.get(row.email)
        if person is None:
            person = Person(email=row.email)
            session.add(person)
            result.created += 1
        else:
            result.updated += 1
        person.name = row.name
        person.team = teams[row.team]
        person.roles = ";".join(row.roles)
        person.tier = row.tier
        person.slack_user_id = row.slack_user_id or person.slack_user_id
        person.teams_user_id = row.teams_user_id or person.teams_user_id
        person.timezone = row.timezone or person.timezone
        person.active = True
        people[row.email] = person
    session.flush()
    managers = {p.email: p.id for p in session.scalars(select(Person))}
    for row in rows:
        people[row.email].manager_id = managers[row.manager_email] if row.manager_email else None
        for alias in row.aliases:
            session.merge(IdentityAlias(alias=alias, person_id=people[row.email].id))
    session.flush()
    result.grants_issued = ensure_period_grants(
        session, policy, period_for(policy.periods, now), now
    )
    return result


def add_alias(session: Session, alias: str, email: str) -> Person:
    """Map a provider identity to a person (the caller commits)."""
    person = session.scalar(select(Person).where(Person.email == email.strip().lower()))
    if person is None:
        raise LookupError(f"no person with email {email} in the directory")
    session.merge(IdentityAlias(alias=alias.strip(), person_id=person.id))
    return person


def find_person(session: Session, email: str) -> Person | None:
    return session.scalar(select(Person).where(Person.email == email.strip().lower()))


def reports_of(session: Session, manager: Person) -> list[Person]:
    return list(
        session.scalars(select(Person).where(Person.manager_id == manager.id).order_by(Person.name))
    )


def manages(session: Session, manager: Person, person: Person) -> bool:
    """True when `manager` is anywhere above `person` in the management chain."""
    current = person.manager_id
    seen: set[int] = set()
    while current is not None and current not in seen:
        if current == manager.id:
            return True
        seen.add(current)
        current = session.scalar(select(Person.manager_id).where(Person.id == current))
    return False


CHAT_ID_COLUMNS = {"slack": "slack_user_id", "teams": "teams_user_id"}


def link_chat_id(session: Session, email: str, platform: str, chat_id: str) -> Person | None:
    """Save a chat platform's user id on the active person with this email (first contact of
    someone the directory knows by email only). The caller commits.

    Returns None, linking nothing, when no active person has the email, when that person is
    already linked to a different id on the platform, or when the id belongs to someone else
    (an inactive person): the directory decides identity, never the chat platform alone."""
    column = getattr(Person, CHAT_ID_COLUMNS[platform])
    person = session.scalar(
        select(Person).where(Person.email == email.strip().lower(), Person.active)
    )
    if person is None:
        return None
    current = getattr(person, column.key)
    if current == chat_id:
        return person
    taken = session.scalar(select(Person.id).where(column == chat_id))
    if current is not None or taken is not None:
        return None
    setattr(person, column.key, chat_id)
    session.flush()
    return person
