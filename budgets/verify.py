"""Verification: rebuild every projection from the append-only facts and list what differs.

`LedgerEntry`, `UsageEvent` and `TeamAllocation` rows are the facts; `GrantBalance`,
`AccountTotal`, `UseCaseTotal` and `TeamPoolShare` are projections of them. For every grant amount = remaining + used + expired
and remaining >= 0; each person's debits plus overdraft in a period equal their usage. An empty
list means the projections agree with the facts. Reads only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import (
    AccountTotal,
    Grant,
    GrantBalance,
    LedgerEntry,
    TeamAllocation,
    TeamPoolShare,
    UsageEvent,
    UseCaseTotal,
)


@dataclass(frozen=True)
class Discrepancy:
    subject: str
    field: str
    stored: int
    derived: int

    def __str__(self) -> str:
        return f"{self.subject} {self.field}: stored {self.stored}, derived from entries {self.derived}"


def verify(session: Session) -> list[Discrepancy]:
    """Rebuild every projection from the append-only facts and list what differs."""
    problems: list[Discrepancy] = []
    entries = LedgerEntry.__table__
    sums: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for grant_id, entry_type, total in session.execute(
        select(entries.c.grant_id, entries.c.entry_type, func.sum(entries.c.amount))
        .where(entries.c.grant_id.is_not(None))
        .group_by(entries.c.grant_id, entries.c.entry_type)
    ):
        sums[grant_id][entry_type] = int(total)
    grants = session.execute(
        select(
            Grant.id, Grant.amount, GrantBalance.remaining, GrantBalance.used, GrantBalance.expired
        ).join(GrantBalance, GrantBalance.grant_id == Grant.id, isouter=True)
    ).all()
    for g in grants:
        derived = sums.get(g.id, {})
        granted, used, expired = (
            derived.get("grant", 0),
            derived.get("debit", 0),
            derived.get("expire", 0),
        )
        subject = f"grant {g.id}"
        if g.remaining is None:
            problems.append(Discrepancy(subject, "balance row", 0, 1))
            continue
        for name, stored, value in (
            ("amount", g.amount, granted),
            ("used", g.used, used),
            ("expired", g.expired, expired),
            ("remaining", g.remaining, granted - used - expired),
        ):
            if stored != value:
                problems.append(Discrepancy(subject, name, stored, value))
        if g.remaining < 0:
            problems.append(Discrepancy(subject, "remaining (negative)", g.remaining, 0))

    usage = UsageEvent.__table__
    derived_totals: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for pid, period, used, cost, count in session.execute(
        select(
            usage.c.person_id,
            usage.c.period,
            func.sum(usage.c.budget_tokens),
            func.sum(usage.c.cost_micros),
            func.count(),
        )
        .where(usage.c.person_id.is_not(None))
        .group_by(usage.c.person_id, usage.c.period)
    ):
        derived_totals[(pid, period)][:3] = [int(used), int(cost), int(count)]
    drawn: dict[tuple[int, str], int] = defaultdict(int)
    for pid, period, entry_type, total in session.execute(
        select(
            entries.c.person_id, entries.c.period, entries.c.entry_type, func.sum(entries.c.amount)
        )
        .where(entries.c.entry_type.in_(("debit", "overdraft")))
        .group_by(entries.c.person_id, entries.c.period, entries.c.entry_type)
    ):
        drawn[(pid, period)] += int(total)
        if entry_type == "overdraft":
            derived_totals[(pid, period)][3] = int(total)
    stored_totals = {(t.person_id, t.period): t for t in session.scalars(select(AccountTotal))}
    for key in sorted(set(stored_totals) | set(derived_totals)):
        stored = stored_totals.get(key)
        used, cost, count, overdraft = derived_totals.get(key, [0, 0, 0, 0])
        subject = f"person {key[0]} period {key[1]}"
        for name, value in (
            ("used", used),
            ("cost_micros", cost),
            ("events", count),
            ("overdraft", overdraft),
        ):
            stored_value = getattr(stored, name) if stored else 0
            if stored_value != value:
                problems.append(Discrepancy(subject, name, stored_value, value))
        if drawn.get(key, 0) != used:
            problems.append(
                Discrepancy(subject, "debits + overdraft vs usage", drawn.get(key, 0), used)
            )
    problems.extend(_verify_use_case_totals(session))
    problems.extend(_verify_team_pool_shares(session))
    return problems


def _verify_team_pool_shares(session: Session) -> list[Discrepancy]:
    """Each member's draws from their team pool (debits on its grants) and latest allocation."""
    entries = LedgerEntry.__table__
    derived: dict[tuple[int, str, int], list[int | None]] = defaultdict(lambda: [None, 0])
    for team_id, period, pid, total in session.execute(
        select(Grant.owner_id, entries.c.period, entries.c.person_id, func.sum(entries.c.amount))
        .join(Grant, Grant.id == entries.c.grant_id)
        .where(entries.c.entry_type == "debit", Grant.kind == "team_pool")
        .group_by(Grant.owner_id, entries.c.period, entries.c.person_id)
    ):
        derived[(team_id, period, pid)][1] = int(total)
    for a in session.scalars(select(TeamAllocation).order_by(TeamAllocation.id)):
        derived[(a.team_id, a.period, a.person_id)][0] = a.amount  # the latest wins
    stored = {
        (s.team_id, s.period, s.person_id): [s.allocation, s.used]
        for s in session.scalars(select(TeamPoolShare))
    }
    problems = []
    for key in sorted(set(stored) | set(derived), key=str):
        subject = f"team {key[0]} period {key[1]} person {key[2]} pool share"
        have, want = stored.get(key, [None, 0]), derived.get(key, [None, 0])
        for index, name in enumerate(("allocation", "used")):
            if have[index] != want[index]:
                problems.append(Discrepancy(subject, name, have[index] or 0, want[index] or 0))
    return problems


def _verify_use_case_totals(session: Session) -> list[Discrepancy]:
    usage = UsageEvent.__table__
    use_case = func.coalesce(usage.c.use_case, "")
    derived = {
        (pid, period, uc): (int(used), int(count))
        for pid, period, uc, used, count in session.execute(
            select(
                usage.c.person_id,
                usage.c.period,
                use_case,
                func.sum(usage.c.budget_tokens),
                func.count(),
            )
            .where(usage.c.person_id.is_not(None))
            .group_by(usage.c.person_id, usage.c.period, use_case)
        )
    }
    stored = {
        (t.person_id, t.period, t.use_case): (t.used, t.events)
        for t in session.scalars(select(UseCaseTotal))
    }
    problems = []
    for key in sorted(set(stored) | set(derived)):
        subject = f"person {key[0]} period {key[1]} use case {key[2] or '(none)'}"
        for index, name in enumerate(("used", "events")):
            stored_value = stored[key][index] if key in stored else 0
            derived_value = derived[key][index] if key in derived else 0
            if stored_value != derived_value:
                problems.append(Discrepancy(subject, name, stored_value, derived_value))
    return problems
