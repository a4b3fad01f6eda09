"""Policy versions: the policy in force is the latest one applied, stored in the database.

How the file and the stored versions interact (one rule, documented in the README):
- Until a policy has been applied, the file is in force (`TOKENBOT_POLICY`, or the built-in
  default): version 0.
- `tokenbot policy apply FILE --as ADMIN` validates FILE and stores its text as the next
  version; from then on the latest stored version is in force for every process, whatever
  `TOKENBOT_POLICY` says (a process started with a different file warns once). Applying is
  the one way to change the policy of a running installation.
- Processes notice a new version on their next request or job: `latest_number` is one indexed
  read of the highest version, and only when it moved is the stored text parsed again
  (`bot.bootstrap.Services.refresh_policy`). No restart, no signal.

Versions are 1, 2, 3 ... in the order applied. `store_version` takes the next number with a
plain insert that the primary key guards: when two applies race, one insert fails, and
`apply` retries it with the number after, so each apply stores exactly one version and the
numbers are strictly ordered. Versions are never updated or deleted; `history` lists them.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from budgets.audit import record
from budgets.policy import (
    Policy,
    PolicyError,
    PolicyInvalid,
    SectionReader,
    parse_policy,
)
from storage.database import Database
from storage.models import Person, PolicyVersion

MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class VersionInfo:
    """Which policy is in force: version 0 is the file, before anything was applied."""

    version: int
    applied_at: datetime | None
    applied_by: str | None
    source: str
    sha256: str = ""
    note: str = ""


@dataclass(frozen=True)
class Applied:
    version: int
    previous: int
    applied_at: datetime
    applied_by: str
    attempts: int  # inserts tried: more than one when another apply took the number first


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_text(
    text: str, source: str, sections: Mapping[str, SectionReader] | None = None
) -> Policy:
    """Validate a policy given as TOML text; raises `PolicyInvalid` with every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyInvalid([PolicyError("(syntax)", str(exc))], source) from exc
    return parse_policy(data, source, sections)


def latest_number(db: Database) -> int:
    """The version in force (0: none applied yet, the file holds). One indexed read."""
    with db.read() as session:
        return int(session.scalar(select(func.max(PolicyVersion.version))) or 0)


def version_row(db: Database, version: int | None = None) -> PolicyVersion | None:
    """A stored version (the latest when `version` is None)."""
    with db.read() as session:
        if version is None:
            return session.scalars(
                select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1)
            ).first()
        return session.get(PolicyVersion, version)


def info_of(row: PolicyVersion) -> VersionInfo:
    return VersionInfo(
        version=row.version,
        applied_at=row.applied_at,
        applied_by=row.applied_by,
        source=f"version {row.version}",
        sha256=row.sha256,
        note=row.note,
    )


def load_version(
    db: Database, sections: Mapping[str, SectionReader] | None = None
) -> tuple[Policy, VersionInfo] | None:
    """The latest stored policy, parsed, with who applied it; None when none was applied."""
    row = version_row(db)
    if row is None:
        return None
    return parse_text(row.text, f"policy version {row.version}", sections), info_of(row)


def history(db: Database) -> Sequence[VersionInfo]:
    """Every stored version, newest first."""
    with db.read() as session:
        rows = session.execute(
            select(
                PolicyVersion.version,
                PolicyVersion.applied_at,
                PolicyVersion.applied_by,
                PolicyVersion.sha256,
                PolicyVersion.note,
            ).order_by(PolicyVersion.version.desc())
        ).all()
    return [VersionInfo(v, at, by, f"version {v}", sha, note) for v, at, by, sha, note in rows]


class NotAnAdmin(PermissionError):
    pass


def admin_named(db: Database, email: str) -> Person:
    """The active admin with this email; raises `NotAnAdmin` saying why not."""
    with db.read() as session:
        person = session.scalar(select(Person).where(Person.email == email.strip().lower()))
    if person is None or not person.active:
        raise NotAnAdmin(f"{email} is not an active person in the directory")
    if not person.has_role("admin"):
        raise NotAnAdmin(f"{email} is not an admin: only admins apply policies")
    return person


def apply(
    db: Database,
    text: str,
    admin: Person,
    now: datetime,
    note: str = "",
    sections: Mapping[str, SectionReader] | None = None,
) -> Applied:
    """Validate `text` (raises `PolicyInvalid`, storing nothing) and store it as the next
    version, audited (`policy.apply`) in the same transaction. Retries when another apply
    took the number first, so each call stores exactly one version."""
    parse_text(text, "the new policy", sections)
    sha = digest(text)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with db.unit_of_work() as uow:
                previous = int(uow.session.scalar(select(func.max(PolicyVersion.version))) or 0)
                version = previous + 1
                uow.session.add(
                    PolicyVersion(
                        version=version,
                        applied_at=now,
                        applied_by=admin.email,
                        sha256=sha,
                        text=text,
                        note=note[:500],
                    )
                )
                uow.session.flush()
                record(
                    uow.session,
                    now,
                    admin.email,
                    "policy.apply",
                    f"policy:{version}",
                    {"previous": previous, "sha256": sha, "note": note[:500]},
                )
                uow.commit()
        except IntegrityError:
            continue  # another apply stored this number first: take the next one
        return Applied(version, previous, now, admin.email, attempt)
    raise RuntimeError(f"could not store the policy after {MAX_ATTEMPTS} attempts")
