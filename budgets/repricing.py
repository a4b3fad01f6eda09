"""Repricing: usage recorded at an unknown price, booked again once its model resolves.

A model nothing resolves is recorded at weight 1 and no price (budgets.models). When the policy
learns it later (an alias, a catalog entry) or the price database does, `reprice_unknown` books
that usage at the right price:

- each usage row is claimed once, with a conditional update (`unknown_price` true -> false), so
  two runs, concurrent or repeated, reprice a row exactly once; a second run finds nothing;
- the ledger stays append-only: the difference is new entries. More budget tokens than booked are
  drawn like any usage (the draw-down order); fewer are given back in the reverse order of that
  draw — first the person's overdraft in that period, then the grants that person drew from in
  that period, last drawn first — never more than was drawn from each. Tokens given back to a
  grant that has expired expire again at once (an expire entry), so a closed period stays closed;
- projections (grant balances, account and use-case totals) move with the entries in the same
  transaction, so `ledger verify` stays clean; event counts do not change (no new calls);
- the usage row keeps the name as sent in `model_sent`; its budget tokens and cost become the
  repriced ones (the before and after are in the audit log and in the ledger entries).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from budgets import audit
from budgets.draws import kind_rank
from budgets.policy import Policy
from budgets.team_shares import add_pool_use
from budgets.usage_ledger import (
    IntegerPrices,
    add_account_totals,
    add_use_case_totals,
    debit,
)
from storage.database import is_sqlite
from storage.models import Grant, GrantBalance, LedgerEntry, Person, UsageEvent

_CLAIM_CHUNK = 5_000


@dataclass(frozen=True)
class RepricedModel:
    """One model name as sent whose usage was booked again."""

    sent: str
    resolved: str
    source: str  # catalog | public
    via: str
    events: int
    budget_tokens_before: int
    budget_tokens_after: int
    cost_micros_after: int


@dataclass
class RepriceResult:
    repriced: list[RepricedModel] = field(default_factory=list)
    still_unknown: list[str] = field(default_factory=list)
    given_back: int = 0  # budget tokens returned to grants and overdraft
    drawn: int = 0  # budget tokens drawn in addition
    overdraft: int = 0  # of those drawn, not covered by any grant
    # When the repriced calls happened (earliest, latest): summaries built over that time
    # (scoring's weekly rollups) are stale and are for the caller to forget.
    between: tuple[datetime, datetime] | None = None

    @property
    def events(self) -> int:
        return sum(m.events for m in self.repriced)


def unknown_price_models(session: Session) -> list[str]:
    """Model names with usage still recorded at an unknown price."""
    usage = UsageEvent.__table__
    return sorted(
        session.scalars(select(usage.c.model).where(usage.c.unknown_price.is_(True)).distinct())
    )


def reprice_unknown(
    session: Session, policy: Policy, now: datetime, *, actor: str = "cli"
) -> RepriceResult:
    """Book usage recorded at an unknown price at the price its model now resolves to.
    The caller commits (everything or nothing)."""
    result = RepriceResult()
    for name in unknown_price_models(session):
        resolved = policy.resolve_model(name)
        if not resolved.is_known:
            result.still_unknown.append(name)
            continue
        rows = _claim(session, name, resolved.name, resolved.source)
        if not rows:
            continue
        prices: dict[int, IntegerPrices] = {}
        changes = []
        earliest = min(r["occurred_at"] for r in rows)
        latest = max(r["occurred_at"] for r in rows)
        if result.between is not None:
            earliest = min(earliest, result.between[0])
            latest = max(latest, result.between[1])
        result.between = (earliest, latest)
        for r in rows:
            price = resolved.price_at(r["occurred_at"])
            integer = prices.get(id(price))
            if integer is None:
                integer = prices[id(price)] = IntegerPrices(price)
            budget = integer.budget_tokens(r["input_tokens"], r["output_tokens"])
            cost = integer.cost_micros(
                r["input_tokens"], r["output_tokens"], r["cached_input_tokens"]
            )
            changes.append((r, budget, cost))
        usage = UsageEvent.__table__
        session.execute(
            update(usage)
            .where(usage.c.id == bindparam("usage_id"))
            .values(budget_tokens=bindparam("budget"), cost_micros=bindparam("cost")),
            [{"usage_id": r["id"], "budget": b, "cost": c} for r, b, c in changes],
        )
        drawn, overdraft, given_back = _book_differences(session, changes, policy, now)
        result.drawn += drawn
        result.overdraft += overdraft
        result.given_back += given_back
        repriced = RepricedModel(
            sent=name,
            resolved=resolved.name,
            source=resolved.source,
            via=resolved.via,
            events=len(changes),
            budget_tokens_before=sum(r["budget_tokens"] for r, _, _ in changes),
            budget_tokens_after=sum(b for _, b, _ in changes),
            cost_micros_after=sum(c for _, _, c in changes),
        )
        result.repriced.append(repriced)
        audit.record(
            session,
            now,
            actor,
            "usage.reprice",
            f"model {name}",
            {
                "resolved": resolved.name,
                "source": resolved.source,
                "via": resolved.via,
                "events": repriced.events,
                "budget_tokens_before": repriced.budget_tokens_before,
                "budget_tokens_after": repriced.budget_tokens_after,
                "cost_micros_after": repriced.cost_micros_after,
            },
        )
    return result


def _claim(session: Session, sent: str, resolved: str, source: str) -> list[dict[str, Any]]:
    """Mark a model's unknown-price rows as priced; each row is returned to one caller only."""
    usage = UsageEvent.__table__
    claimed: list[dict[str, Any]] = []
    while True:
        chunk = (
            select(usage.c.id)
            .where(usage.c.unknown_price.is_(True), usage.c.model == sent)
            .order_by(usage.c.id)
            .limit(_CLAIM_CHUNK)
        )
        if not is_sqlite(session):
            chunk = chunk.with_for_update()
        ids = list(session.scalars(chunk))
        if not ids:
            return claimed
        rows = session.execute(
            update(usage)
            .where(usage.c.id.in_(ids), usage.c.unknown_price.is_(True))
            .values(
                unknown_price=False,
                price_source=source,
                model=resolved,
                model_sent=func.coalesce(usage.c.model_sent, usage.c.model),
            )
            .returning(
                usage.c.id,
                usage.c.person_id,
                usage.c.period,
                usage.c.use_case,
                usage.c.project,
                usage.c.occurred_at,
                usage.c.input_tokens,
                usage.c.output_tokens,
                usage.c.cached_input_tokens,
                usage.c.budget_tokens,
                usage.c.cost_micros,
            )
        ).all()
        claimed.extend(dict(r._mapping) for r in rows)
        if len(ids) < _CLAIM_CHUNK:
            return claimed


def _book_differences(
    session: Session, changes: list[tuple[dict[str, Any], int, int]], policy: Policy, now: datetime
) -> tuple[int, int, int]:
    """Ledger entries for the difference of each attributed row; (drawn, overdraft, given back)."""
    attributed = [c for c in changes if c[0]["person_id"] is not None]
    if not attributed:
        return 0, 0, 0
    teams = dict(
        session.execute(
            select(Person.id, Person.team_id).where(
                Person.id.in_({r["person_id"] for r, _, _ in attributed})
            )
        ).all()
    )
    more: list[dict[str, Any]] = []
    less: list[dict[str, Any]] = []
    for r, budget, cost in attributed:
        row = {
            "person_id": r["person_id"],
            "team_id": teams.get(r["person_id"]),
            "period": r["period"],
            "use_case": r["use_case"],
            "project": r["project"],
            "occurred_at": r["occurred_at"],
            "budget_tokens": budget - r["budget_tokens"],
            "cost_micros": cost - r["cost_micros"],
        }
        (more if row["budget_tokens"] >= 0 else less).append(row)
    overdraft = debit(session, more, policy, now, counts_events=False) if more else 0
    given_back = _give_back(session, less, now) if less else 0
    return sum(r["budget_tokens"] for r in more), overdraft, given_back


def _give_back(session: Session, rows: list[dict[str, Any]], now: datetime) -> int:
    """Return budget tokens (rows carry negative budget_tokens) in reverse draw order."""
    owed: dict[tuple[int, str], int] = defaultdict(int)
    for r in rows:
        owed[(r["person_id"], r["period"])] -= r["budget_tokens"]
    reference = f"reprice:{uuid.uuid4().hex}"
    entries: list[dict[str, Any]] = []
    per_grant: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # given back, expired again
    overdraft_back: dict[tuple[int, str], int] = {}
    pool_back: dict[tuple[int, str, int], int] = defaultdict(int)  # members' team-pool shares
    entries_table = LedgerEntry.__table__
    for (person_id, period), amount in sorted(owed.items()):
        drawn = session.execute(
            select(
                entries_table.c.entry_type,
                entries_table.c.grant_id,
                func.sum(entries_table.c.amount),
            )
            .where(
                entries_table.c.person_id == person_id,
                entries_table.c.period == period,
                entries_table.c.entry_type.in_(("debit", "overdraft")),
            )
            .group_by(entries_table.c.entry_type, entries_table.c.grant_id)
        ).all()
        overdraft = sum(int(total) for kind, _, total in drawn if kind == "overdraft")
        by_grant = {gid: int(total) for kind, gid, total in drawn if kind == "debit" and total}
        grants = (
            list(
                session.execute(
                    select(Grant.id, Grant.kind, Grant.expires_at, Grant.owner_id).where(
                        Grant.id.in_(by_grant)
                    )
                ).all()
            )
            if by_grant
            else []
        )
        # Last drawn first: the overdraft, then grants in reverse draw-down order.
        grants.sort(key=lambda g: (kind_rank(g.kind), g.expires_at, g.id), reverse=True)
        take = min(amount, max(overdraft, 0))
        if take:
            overdraft_back[(person_id, period)] = take
            entries.append(_entry("overdraft", None, person_id, period, -take, reference, now))
            amount -= take
        for g in grants:
            if amount == 0:
                break
            take = min(amount, by_grant[g.id])
            if take <= 0:
                continue
            amount -= take
            entries.append(_entry("debit", g.id, person_id, period, -take, reference, now))
            per_grant[g.id][0] += take
            if g.kind == "team_pool":
                pool_back[(g.owner_id, period, person_id)] -= take
            if g.expires_at <= now:
                entries.append(_entry("expire", g.id, person_id, period, take, reference, now))
                per_grant[g.id][1] += take
        if amount:  # cannot happen: a person's draws in a period cover their usage there
            raise RuntimeError(
                f"reprice: {amount} tokens of person {person_id} in {period} not found in the ledger"
            )
    if entries:
        session.execute(LedgerEntry.__table__.insert(), entries)
    if per_grant:
        balances = GrantBalance.__table__
        session.execute(
            update(balances)
            .where(balances.c.grant_id == bindparam("gid"))
            .values(
                remaining=balances.c.remaining + bindparam("back") - bindparam("lapsed"),
                used=balances.c.used - bindparam("back"),
                expired=balances.c.expired + bindparam("lapsed"),
            ),
            [{"gid": gid, "back": b, "lapsed": x} for gid, (b, x) in sorted(per_grant.items())],
        )
    add_pool_use(session, pool_back)
    totals: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    by_use_case: dict[tuple[int, str, str], int] = defaultdict(int)
    for r in rows:
        totals[(r["person_id"], r["period"])][0] += r["budget_tokens"]
        totals[(r["person_id"], r["period"])][1] += r["cost_micros"]
        by_use_case[(r["person_id"], r["period"], r["use_case"] or "")] += r["budget_tokens"]
    add_account_totals(
        session,
        [
            {
                "person_id": pid,
                "period": period,
                "used": used,
                "overdraft": -overdraft_back.get((pid, period), 0),
                "cost_micros": cost,
                "events": 0,
            }
            for (pid, period), (used, cost) in totals.items()
        ],
    )
    add_use_case_totals(
        session,
        [
            {"person_id": pid, "period": period, "use_case": uc, "used": used, "events": 0}
            for (pid, period, uc), used in by_use_case.items()
        ],
    )
    return sum(owed.values())


def _entry(
    entry_type: str,
    grant_id: int | None,
    person_id: int,
    period: str,
    amount: int,
    reference: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "entry_type": entry_type,
        "grant_id": grant_id,
        "person_id": person_id,
        "period": period,
        "amount": amount,
        "reference": reference,
        "created_at": now,
    }
