"""Usage: record usage events once each and draw their budget tokens from grants.

Usage events (`UsageEvent` rows) and the debit and overdraft `LedgerEntry` rows are facts;
`GrantBalance`, `AccountTotal` and `UseCaseTotal` (each person's usage per use case and period,
for capped use cases) are projections updated in the same transaction, so reads are O(1) in
history size. Invariants (property-tested):
- a usage event id is recorded once, whatever the order or repetition of deliveries;
- usage is always recorded: what no grant covers is an overdraft entry, never lost;
- a draw never takes a grant below zero remaining (amount = remaining + used + expired).

Which grants a usage event is drawn from, and how much from each, is the draw-down rule in
`budgets.draws` (`plan_draws`); this module picks the grants that may cover each group of usage
(scope, effective and unexpired at its time, and the person a member where the policy names
members: `eligible_grants`), applies the plan and records it.

Usage tagged with a project the policy does not name is recorded with the project as sent,
drawn from the person's own grants like untagged usage, and reported (`unknown_projects`); it
never draws from a project row the database still holds but the policy has dropped. `debit`,
`IntegerPrices` and the totals' upserts are shared with `budgets.repricing`.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from budgets.draws import NO_SHARE, Drawer, PoolShare, eligible_grants, plan_draws, team_pool_left
from budgets.models import ResolvedModel
from budgets.periods import Period, period_for
from budgets.policy import ModelPrice, Policy
from budgets.team_shares import add_pool_use, shares_for
from storage.database import insert_new_rows, is_sqlite, upsert_insert
from storage.models import (
    AccountTotal,
    Grant,
    GrantBalance,
    LedgerEntry,
    Person,
    Project,
    Team,
    UsageEvent,
    UseCaseTotal,
)


class UsageLike(Protocol):
    """What record_usage reads from a usage event. Read-only properties, so frozen
    dataclasses (`ingest.events.UsageEvent`, `bot.demo.DemoUsage`) satisfy it."""

    @property
    def id(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def input_tokens(self) -> int: ...

    @property
    def output_tokens(self) -> int: ...

    @property
    def cached_input_tokens(self) -> int: ...

    @property
    def use_case(self) -> str | None: ...

    @property
    def project(self) -> str | None: ...

    @property
    def template_id(self) -> str | None: ...

    @property
    def conversation_id(self) -> str | None: ...

    @property
    def timestamp(self) -> datetime: ...

    @property
    def prompt_fingerprint(self) -> str | None: ...


@dataclass
class RecordResult:
    recorded: int = 0
    duplicates: int = 0
    unattributed: int = 0
    overdraft: int = 0
    unknown_models: set[str] = field(default_factory=set)
    uncategorised_use_cases: set[str] = field(default_factory=set)
    # Projects the policy does not name: that usage was drawn from the person's own grants.
    unknown_projects: set[str] = field(default_factory=set)


def identity_key(identity: str) -> str:
    """How an identity is looked up: emails case-insensitively, provider ids exactly."""
    identity = identity.strip()
    return identity.lower() if "@" in identity else identity


def resolve_identities(
    session: Session, identities: Iterable[str]
) -> dict[str, tuple[int, int | None]]:
    """Map emails and provider aliases to (person id, team id); unknown ones are absent."""
    from storage.models import IdentityAlias

    keys = {identity_key(i) for i in identities}
    emails = [k for k in keys if "@" in k]
    found: dict[str, tuple[int, int | None]] = {}
    # Core statements on the session's connection: no ORM compile state per call (this runs
    # for every group of usage).
    people, aliases = Person.__table__.c, IdentityAlias.__table__.c
    connection = session.connection()
    for chunk in _chunks(emails, 500):
        for pid, email, team_id in connection.execute(
            select(people.id, people.email, people.team_id).where(people.email.in_(chunk))
        ):
            found[email] = (pid, team_id)
    rest = [k for k in keys if k not in found]
    for chunk in _chunks(rest, 500):
        for alias, pid, team_id in connection.execute(
            select(aliases.alias, people.id, people.team_id)
            .join_from(IdentityAlias.__table__, Person.__table__, people.id == aliases.person_id)
            .where(aliases.alias.in_(chunk))
        ):
            found[alias] = (pid, team_id)
    return found


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _PeriodCache:
    """period_for is called per event; consecutive events almost always share a period."""

    def __init__(self, policy: Policy):
        self.calendar = policy.periods
        self.last: Period | None = None

    def __call__(self, moment: datetime) -> Period:
        if self.last is None or not self.last.contains(moment):
            self.last = period_for(self.calendar, moment)
        return self.last


def unique_by_id(events: Iterable[Any]) -> tuple[dict[str, Any], int]:
    """The first event of each id, in order, and how many repeats were dropped."""
    unique: dict[str, Any] = {}
    repeats = 0
    for event in events:
        if event.id in unique:
            repeats += 1
        else:
            unique[event.id] = event
    return unique, repeats


class IntegerPrices:
    """A model's `budget_tokens` and `cost_micros` in exact integer arithmetic: the same results
    as ModelPrice's Decimal methods (ceiling; half up), several times faster per event."""

    def __init__(self, model: ModelPrice):
        self.weight = model.weight.as_integer_ratio()
        ratios = [
            price.as_integer_ratio()
            for price in (model.input_per_1m, model.cached_input_per_1m, model.output_per_1m)
        ]
        self.denominator = math.lcm(*(d for _, d in ratios))
        self.input, self.cached, self.output = (n * (self.denominator // d) for n, d in ratios)

    def budget_tokens(self, input_tokens: int, output_tokens: int) -> int:
        numerator, denominator = self.weight
        return -(-(input_tokens + output_tokens) * numerator // denominator)

    def cost_micros(self, input_tokens: int, output_tokens: int, cached_input_tokens: int) -> int:
        total = (
            max(input_tokens - cached_input_tokens, 0) * self.input
            + cached_input_tokens * self.cached
            + output_tokens * self.output
        )
        return (2 * total + self.denominator) // (2 * self.denominator)


def record_usage(
    session: Session, events: Sequence[UsageLike], policy: Policy, now: datetime
) -> RecordResult:
    """Record usage events once each and draw their budget tokens from grants.

    The caller validates events and commits. Duplicated ids (within the batch, or already
    stored) are counted as duplicates and change nothing.
    """
    return record_usage_groups(session, [events], policy, now)[0]


def record_usage_groups(
    session: Session, batches: Sequence[Sequence[UsageLike]], policy: Policy, now: datetime
) -> list[RecordResult]:
    """Record several callers' batches in the caller's one transaction (group commit), with
    one set-wise insert and one debit for them all; a result per batch.

    An id sent in several batches of the group is recorded for the first and a duplicate for
    the others. The overdraft of each draw (per person, period, use case and project) is
    attributed to its events in batch order: the first events are covered first, as if the
    batches had been drawn one after another.
    """
    results = [RecordResult() for _ in batches]
    owner: dict[str, int] = {}  # event id -> the batch that recorded it (its first sender)
    unique: dict[str, UsageLike] = {}
    for number, events in enumerate(batches):
        for e in events:
            if e.id in unique:
                results[number].duplicates += 1
            else:
                unique[e.id] = e
                owner[e.id] = number
    if not unique:
        return results

    users = {e.user: identity_key(e.user) for e in unique.values()}
    people = resolve_identities(session, users)
    periods = _PeriodCache(policy)
    # Names as sent resolve to catalog models, public prices or unknown (budgets.models);
    # integer prices are made once per price (public prices can differ by the call's date).
    models: dict[str, ResolvedModel] = {}
    prices: dict[int, IntegerPrices] = {}
    # The policy's spelling of each use case sent ("SEO-Brief" is seo-brief); others as sent.
    use_cases: dict[str | None, str | None] = {}
    projects: dict[str | None, str | None] = {None: None}
    rows: list[dict[str, Any]] = []
    for e in unique.values():
        resolved = models.get(e.model)
        if resolved is None:
            resolved = models[e.model] = policy.resolve_model(e.model)
        price = resolved.price if resolved.source != "public" else resolved.price_at(e.timestamp)
        model = prices.get(id(price))
        if model is None:
            model = prices[id(price)] = IntegerPrices(price)
        if e.use_case not in use_cases:
            known = policy.use_case_named(e.use_case)
            use_cases[e.use_case] = known.name if known is not None else e.use_case
        use_case = use_cases[e.use_case]
        if e.project not in projects:
            spec = policy.project_named(e.project)
            projects[e.project] = spec.name if spec is not None else e.project
        person = people.get(users[e.user])
        rows.append(
            {
                "id": e.id,
                "person_id": person[0] if person else None,
                "identity": e.user.strip(),
                "model": resolved.name,
                "model_sent": e.model if e.model != resolved.name else None,
                "price_source": resolved.source,
                "input_tokens": e.input_tokens,
                "output_tokens": e.output_tokens,
                "cached_input_tokens": e.cached_input_tokens or 0,
                "budget_tokens": model.budget_tokens(e.input_tokens, e.output_tokens),
                "cost_micros": model.cost_micros(
                    e.input_tokens, e.output_tokens, e.cached_input_tokens or 0
                ),
                "use_case": use_case,
                "project": projects[e.project],
                "template_id": e.template_id,
                "conversation_id": e.conversation_id,
                "prompt_fingerprint": e.prompt_fingerprint,
                "occurred_at": e.timestamp,
                "period": periods(e.timestamp).key,
                "unknown_price": resolved.source == "unknown",
                "uncategorised": use_case not in policy.use_cases,
                "recorded_at": now,
            }
        )
    # The debit attributes overdrafts in send order: keep it before sorting for the insert.
    in_send_order = list(rows)
    # Insert in id order: two concurrent batches sharing ids then lock them in the same order
    # (PostgreSQL), so they queue instead of deadlocking.
    rows.sort(key=lambda r: r["id"])
    inserted = insert_new_rows(session, UsageEvent.__table__, rows)
    new_rows = [r for r in in_send_order if r["id"] in inserted]
    for r in rows:
        result = results[owner[r["id"]]]
        if r["id"] not in inserted:
            result.duplicates += 1
            continue
        result.recorded += 1
        if r["person_id"] is None:
            result.unattributed += 1
        if r["unknown_price"]:
            result.unknown_models.add(r["model"])
        if r["uncategorised"]:
            result.uncategorised_use_cases.add(r["use_case"] or "(none)")
        if r["project"] and policy.project_named(r["project"]) is None:
            result.unknown_projects.add(r["project"])
    teams = {pid: team_id for pid, team_id in people.values()}
    attributed = [
        dict(r, team_id=teams[r["person_id"]]) for r in new_rows if r["person_id"] is not None
    ]
    per_row = [0] * len(attributed)
    debit(session, attributed, policy, now, per_row=per_row)
    for r, overdraft in zip(attributed, per_row, strict=True):
        results[owner[r["id"]]].overdraft += overdraft
    return results


def debit_recorded_usage(
    session: Session, rows: list[dict[str, Any]], policy: Policy, now: datetime
) -> int:
    """Draw usage rows already stored (now attributed: `person_id`, `team_id`, `period`,
    `use_case`, `project`, `occurred_at`, `budget_tokens`, `cost_micros`) from grants and add
    them to the projections; returns the overdraft. Used when unattributed usage is re-assigned."""
    return debit(session, rows, policy, now)


def debit(
    session: Session,
    rows: list[dict[str, Any]],
    policy: Policy,
    now: datetime,
    *,
    counts_events: bool = True,
    per_row: list[int] | None = None,
) -> int:
    """Draw recorded usage from grants; returns the overdraft (tokens no grant covered).
    `counts_events=False` draws a correction of usage already counted (a reprice). `per_row`
    (as long as `rows`) receives each row's share of the overdraft: within a draw the rows
    are covered in their order, so the last ones are the ones overdrawn."""
    counted = 1 if counts_events else 0
    if not rows:
        return 0
    # Aggregate per person, period, use case and project: one draw-down per group per batch.
    groups: dict[tuple[Any, ...], list[Any]] = {}
    members: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    totals: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    by_use_case: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for position, r in enumerate(rows):
        key = (r["person_id"], r["team_id"], r["period"], r["use_case"], r["project"])
        group = groups.setdefault(key, [0, r["occurred_at"]])
        group[0] += r["budget_tokens"]
        group[1] = max(group[1], r["occurred_at"])
        if per_row is not None:
            members[key].append(position)
        total = totals[(r["person_id"], r["period"])]
        total[0] += r["budget_tokens"]
        total[1] += r["cost_micros"]
        total[2] += counted
        use_case_total = by_use_case[(r["person_id"], r["period"], r["use_case"] or "")]
        use_case_total[0] += r["budget_tokens"]
        use_case_total[1] += counted

    person_ids = sorted({k[0] for k in groups})
    team_ids = sorted({k[1] for k in groups if k[1] is not None})
    # Only projects the policy names draw a project budget (see the module docstring).
    # Each project as sent -> the policy's name for it (rows stored before usage took the
    # policy's spelling may differ in case).
    known_projects = {
        k[4]: spec.name for k in groups if k[4] and (spec := policy.project_named(k[4]))
    }
    project_names = sorted(set(known_projects.values()))
    use_cases = sorted({k[3] for k in groups if k[3]})
    project_ids = (
        dict(
            session.execute(
                select(Project.name, Project.id).where(Project.name.in_(project_names))
            ).all()
        )
        if project_names
        else {}
    )
    earliest = min(r["occurred_at"] for r in rows)
    latest = max(r["occurred_at"] for r in rows)
    grants, grant_balances = Grant.__table__.c, GrantBalance.__table__.c
    owners = [and_(grants.owner_type == "person", grants.owner_id.in_(person_ids))]
    if team_ids:
        owners.append(and_(grants.owner_type == "team", grants.owner_id.in_(team_ids)))
    if project_ids:
        owners.append(
            and_(grants.owner_type == "project", grants.owner_id.in_(list(project_ids.values())))
        )
    if use_cases:
        owners.append(and_(grants.owner_type == "org", grants.use_case.in_(use_cases)))
    query = (
        select(
            grants.id,
            grants.kind,
            grants.token_class,
            grants.owner_type,
            grants.owner_id,
            grants.use_case,
            grants.effective_at,
            grants.expires_at,
            grants.idempotency_key,
            grants.amount,
            grant_balances.remaining,
        )
        .select_from(Grant.__table__)
        .join(GrantBalance.__table__, grant_balances.grant_id == grants.id)
        .where(
            grant_balances.remaining > 0,
            grants.expires_at > earliest,
            grants.effective_at <= latest,
            or_(*owners),
        )
        .order_by(grants.id)
    )
    if not is_sqlite(session):
        # Serialise concurrent draws on the same grants; ordered by id so two batches
        # locking overlapping grants cannot deadlock.
        query = query.with_for_update(of=GrantBalance.__table__)
    candidates = session.connection().execute(query).all()
    remaining = {g.id: g.remaining for g in candidates}
    # Which grants may cover a group, found by scope instead of testing every candidate.
    by_scope: dict[tuple[str, Any], list[Any]] = defaultdict(list)
    for g in candidates:
        scope = _scope_of(g)
        if scope is not None:
            by_scope[scope].append(g)

    drawers = _drawers(session, policy, person_ids)
    # Members' shares of their team pools (the second draw-down rule), read after the pools'
    # balances are locked, so concurrent batches see each other's draws.
    shares = (
        shares_for(session, {(k[1], k[2]) for k in groups if k[1] is not None}, person_ids)
        if any(g.kind == "team_pool" for g in candidates)
        else {}
    )
    pool_use: dict[tuple[int, str, int], int] = defaultdict(int)
    draws: dict[tuple[int, int, str], int] = defaultdict(int)
    overdrafts: dict[tuple[int, str], int] = defaultdict(int)
    for (person_id, team_id, period, use_case, project), (amount, moment) in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][3] or "", kv[0][4] or "")
    ):
        project_id = project_ids.get(known_projects.get(project, "")) if project else None
        cls = policy.token_class_for(use_case)
        usable = [
            g
            for scope in _scopes(person_id, team_id, project_id, use_case)
            for g in by_scope.get(scope, ())
            if remaining[g.id] > 0 and g.effective_at <= moment < g.expires_at
        ]
        if policy.has_members:
            drawer = drawers.get(person_id, Drawer(None, None))
            usable = eligible_grants(usable, policy, drawer, project if project_id else None).grants
        pools = [g for g in usable if g.kind == "team_pool"]
        limits = {}
        if pools and team_id is not None:
            team_shares = shares[(team_id, period)]
            limits["team_pool"] = team_pool_left(
                person_id,
                sum(remaining[g.id] for g in pools),
                team_shares,
                policy.team_pools.member_cap(sum(g.amount for g in pools)),
            )
        plan = plan_draws(usable, amount, cls, remaining, kind_limits=limits)
        for draw in plan.draws:
            remaining[draw.grant_id] -= draw.amount
            draws[(draw.grant_id, person_id, period)] += draw.amount
        from_pool = sum(d.amount for d in plan.draws if any(g.id == d.grant_id for g in pools))
        if from_pool and team_id is not None:
            share = team_shares.get(person_id, NO_SHARE)
            team_shares[person_id] = PoolShare(share.allocation, share.used + from_pool)
            pool_use[(team_id, period, person_id)] += from_pool
        if plan.overdraft:
            overdrafts[(person_id, period)] += plan.overdraft
            if per_row is not None:
                _attribute_overdraft(
                    rows,
                    members[(person_id, team_id, period, use_case, project)],
                    amount - plan.overdraft,
                    per_row,
                )

    batch = f"usage-batch:{uuid.uuid4().hex}"
    entries = [
        {
            "entry_type": "debit",
            "grant_id": gid,
            "person_id": pid,
            "period": period,
            "amount": amount,
            "reference": batch,
            "created_at": now,
        }
        for (gid, pid, period), amount in draws.items()
    ] + [
        {
            "entry_type": "overdraft",
            "grant_id": None,
            "person_id": pid,
            "period": period,
            "amount": amount,
            "reference": batch,
            "created_at": now,
        }
        for (pid, period), amount in overdrafts.items()
    ]
    if entries:
        session.execute(LedgerEntry.__table__.insert(), entries)
    per_grant: dict[int, int] = defaultdict(int)
    for (gid, _pid, _period), amount in draws.items():
        per_grant[gid] += amount
    if per_grant:
        balances = GrantBalance.__table__
        session.execute(
            update(balances)
            .where(balances.c.grant_id == _bind("gid"))
            .values(
                remaining=balances.c.remaining - _bind("amount"),
                used=balances.c.used + _bind("amount"),
            ),
            [{"gid": gid, "amount": amount} for gid, amount in per_grant.items()],
        )
    add_pool_use(session, pool_use)
    add_account_totals(
        session,
        [
            {
                "person_id": pid,
                "period": period,
                "used": t[0],
                "overdraft": overdrafts.get((pid, period), 0),
                "cost_micros": t[1],
                "events": t[2],
            }
            for (pid, period), t in totals.items()
        ],
    )
    add_use_case_totals(
        session,
        [
            {"person_id": pid, "period": period, "use_case": uc, "used": t[0], "events": t[1]}
            for (pid, period, uc), t in by_use_case.items()
        ],
    )
    return sum(overdrafts.values())


def _drawers(session: Session, policy: Policy, person_ids: list[int]) -> dict[int, Drawer]:
    """Each person's email and team name, read only when some pool names its members."""
    if not policy.has_members:
        return {}
    found: dict[int, Drawer] = {}
    for chunk in _chunks(person_ids, 500):
        for pid, email, team in session.execute(
            select(Person.id, Person.email, Team.name)
            .outerjoin(Team, Team.id == Person.team_id)
            .where(Person.id.in_(chunk))
        ):
            found[pid] = Drawer(email, team)
    return found


def _attribute_overdraft(
    rows: list[dict[str, Any]], positions: list[int], covered: int, per_row: list[int]
) -> None:
    """The first `covered` tokens of the rows at `positions` (in order) are drawn; the rest
    of each row is its overdraft."""
    for position in positions:
        amount = rows[position]["budget_tokens"]
        drawn = min(amount, max(covered, 0))
        per_row[position] = amount - drawn
        covered -= amount


def _bind(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


def _scope_of(g: Any) -> tuple[str, Any] | None:
    """What a grant covers: a use case (reserved), a project, a team, or one person."""
    if g.kind == "reserved":
        return ("reserved", g.use_case) if g.use_case is not None else None
    if g.kind == "project":
        return ("project", g.owner_id)
    if g.kind == "team_pool":
        return ("team_pool", g.owner_id)
    return ("person", g.owner_id) if g.owner_type == "person" else None


def _scopes(
    person_id: int, team_id: int | None, project_id: int | None, use_case: str | None
) -> list[tuple[str, Any]]:
    """The scopes of the grants that may cover usage by this person, team, project, use case."""
    scopes: list[tuple[str, Any]] = [("person", person_id)]
    if team_id is not None:
        scopes.append(("team_pool", team_id))
    if project_id is not None:
        scopes.append(("project", project_id))
    if use_case is not None:
        scopes.append(("reserved", use_case))
    return scopes


def add_account_totals(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add per person and period deltas (used, overdraft, cost, events) to `AccountTotal`."""
    if not rows:
        return
    table = AccountTotal.__table__
    stmt = upsert_insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["person_id", "period"],
        set_={
            "used": table.c.used + stmt.excluded.used,
            "overdraft": table.c.overdraft + stmt.excluded.overdraft,
            "cost_micros": table.c.cost_micros + stmt.excluded.cost_micros,
            "events": table.c.events + stmt.excluded.events,
        },
    )
    # One executemany, rows in key order (PostgreSQL locks them in that order: no deadlock).
    session.execute(stmt, sorted(rows, key=lambda r: (r["person_id"], r["period"])))


def add_use_case_totals(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add per person, period and use case deltas (used, events) to `UseCaseTotal`."""
    if not rows:
        return
    table = UseCaseTotal.__table__
    stmt = upsert_insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["person_id", "period", "use_case"],
        set_={
            "used": table.c.used + stmt.excluded.used,
            "events": table.c.events + stmt.excluded.events,
        },
    )
    session.execute(stmt, sorted(rows, key=lambda r: (r["person_id"], r["period"], r["use_case"])))
