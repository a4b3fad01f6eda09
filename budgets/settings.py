"""Personal notice settings: reminders, alerts, the weekly digest and quiet hours.

What a person chose is stored in `PersonSettings` (NULL: the policy's `[settings.defaults]`),
so `effective_settings` is the one place that says what holds for someone: their choice, else
the policy's default. Every job that tells a person something asks it (reminders, alerts, the
digest), and the outbox holds a direct message due in someone's quiet hours until they end
(`quiet_until`): held, never dropped.

Values are parsed by the pure functions of `budgets.setting_values` (`parse_switch`, `parse_alerts`, `parse_quiet_hours`) that
raise `SettingInvalid` naming the field and what is allowed, so the policy's defaults and the
chat form are checked by the same rules. `change_settings` validates every field before it
writes anything: one bad field changes nothing. Each change bumps the row's `revision` and is
recorded in the audit log (`settings.change`, with each field's old and new value).

Quiet hours are read on the person's wall clock: their directory time zone, else the org's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from budgets.audit import record
from budgets.policy import Policy
from budgets.reminders import zone_or
from budgets.setting_values import (
    FIELDS,
    QuietHours,
    SettingInvalid,
    SettingsDefaults,
    alert_share,
    parse_alerts,
    parse_quiet_hours,
    parse_switch,
)
from storage.database import upsert_insert
from storage.models import Person, PersonSettings


@dataclass(frozen=True)
class EffectiveSettings:
    """What holds for one person now, and which fields they chose themselves."""

    person_id: int
    reminders: bool
    alerts: str  # on | off | a share such as "0.9"
    digest: bool
    quiet_hours: QuietHours | None
    zone: str  # the wall clock quiet hours are read on
    chosen: frozenset[str] = frozenset()
    revision: int = 0

    def wants_alert(self, threshold: Decimal) -> bool:
        if self.alerts == "off":
            return False
        share = alert_share(self.alerts)
        return share is None or threshold >= share

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet hours holding `now` end; None when `now` is not quiet."""
        if self.quiet_hours is None:
            return None
        return self.quiet_hours.end_after(now, ZoneInfo(self.zone))

    def as_text(self) -> dict[str, str]:
        """Each field as the form shows it and accepts it back."""
        return {
            "reminders": "on" if self.reminders else "off",
            "alerts": self.alerts,
            "digest": "on" if self.digest else "off",
            "quiet_hours": str(self.quiet_hours) if self.quiet_hours else "off",
        }


def _zone(person_zone: str | None, policy: Policy) -> str:
    return zone_or(person_zone, policy.periods.timezone)


def _effective(
    person_id: int, zone: str, row: PersonSettings | None, defaults: SettingsDefaults
) -> EffectiveSettings:
    chosen = set()
    if row is not None:
        chosen = {f for f in FIELDS if getattr(row, f) is not None}
    return EffectiveSettings(
        person_id=person_id,
        reminders=row.reminders
        if row is not None and row.reminders is not None
        else defaults.reminders,
        alerts=row.alerts if row is not None and row.alerts is not None else defaults.alerts,
        digest=row.digest if row is not None and row.digest is not None else defaults.digest,
        quiet_hours=parse_quiet_hours(row.quiet_hours)
        if row is not None and row.quiet_hours is not None
        else defaults.quiet_hours,
        zone=zone,
        chosen=frozenset(chosen),
        revision=row.revision if row is not None else 0,
    )


def effective_settings(
    session: Session, policy: Policy, person_ids: list[int] | None = None
) -> dict[int, EffectiveSettings]:
    """Person id -> what holds for them (active people; `person_ids` narrows it), in one read."""
    query = (
        select(Person.id, Person.timezone, PersonSettings)
        .outerjoin(PersonSettings, PersonSettings.person_id == Person.id)
        .where(Person.active)
    )
    if person_ids is not None:
        query = query.where(Person.id.in_(sorted(set(person_ids))))
    return {
        pid: _effective(pid, _zone(tz, policy), row, policy.settings_defaults)
        for pid, tz, row in session.execute(query).all()
    }


def settings_for(session: Session, policy: Policy, person: Person) -> EffectiveSettings:
    row = session.get(PersonSettings, person.id)
    return _effective(person.id, _zone(person.timezone, policy), row, policy.settings_defaults)


def quiet_until(session: Session, policy: Policy, person_id: int, now: datetime) -> datetime | None:
    """When the quiet hours holding `now` end for this person; None when they are not quiet
    (or not an active person: nothing to hold for)."""
    found = effective_settings(session, policy, [person_id]).get(person_id)
    return found.quiet_until(now) if found is not None else None


def parse_choices(values: Mapping[str, str]) -> tuple[dict[str, object], list[SettingInvalid]]:
    """The stored form of each field given (`default` resets a field to the policy's), and
    every problem: fields are checked all at once so a person fixes them in one go."""
    parsed: dict[str, object] = {}
    problems: list[SettingInvalid] = []
    for field, raw in values.items():
        if field not in FIELDS:
            problems.append(
                SettingInvalid(field, f"is not a setting (settings: {', '.join(FIELDS)})")
            )
            continue
        text = str(raw).strip()
        if text.lower() == "default":
            parsed[field] = None
            continue
        try:
            if field in ("reminders", "digest"):
                parsed[field] = parse_switch(field, text)
            elif field == "alerts":
                parsed[field] = parse_alerts(text)
            else:
                quiet = parse_quiet_hours(text)
                parsed[field] = str(quiet) if quiet else ""
        except SettingInvalid as problem:
            problems.append(problem)
    return parsed, problems


def change_settings(
    session: Session,
    policy: Policy,
    person: Person,
    values: Mapping[str, str],
    now: datetime,
    actor: str | None = None,
) -> EffectiveSettings:
    """Store the fields given (validated all first: a bad one raises the first problem's
    `SettingInvalid` and writes nothing), audit what changed, and return what now holds. The
    caller commits."""
    parsed, problems = parse_choices(values)
    if problems:
        raise problems[0]
    table = PersonSettings.__table__
    session.execute(
        upsert_insert(session, table)
        .values(person_id=person.id, revision=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["person_id"])
    )
    # Locks the row on PostgreSQL until commit, so two changes at once are applied in turn.
    row = session.scalars(
        select(PersonSettings)
        .where(PersonSettings.person_id == person.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    changed = {
        field: {"from": getattr(row, field), "to": value}
        for field, value in parsed.items()
        if getattr(row, field) != value
    }
    if changed:
        session.execute(
            update(table)
            .where(table.c.person_id == person.id)
            .values(
                **{field: change["to"] for field, change in changed.items()},
                revision=table.c.revision + 1,
                updated_at=now,
            )
        )
        record(
            session,
            now,
            actor or person.email,
            "settings.change",
            f"person:{person.id}",
            {"changes": changed, "revision": row.revision + 1},
        )
        session.flush()
        session.expire(row)
    return settings_for(session, policy, person)


def problems_text(problems: list[SettingInvalid]) -> list[dict[str, str]]:
    return [{"field": p.field, "reason": p.reason} for p in problems]
