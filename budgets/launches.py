"""Launch pools: reserved pools with a window (`starts` to `ends`) and members, for a launch or
surge week (policy: `[[reserved_pools]]` with `starts`, `ends`, `owner`, `members`/`teams`).

A launch pool is one grant (`launch:<starts>:<name>`, kind `reserved`) effective over its
window only, so the draw-down rule draws it inside the window and for its members alone
(`budgets.draws.eligible_grants`). Invariants:
- its grant is issued once (its key), by the period allotments of a period it overlaps or by
  the launches job for a window not over yet;
- after the window, what is left lapses once: `lapse_launch_pools` moves a grant's remaining
  to expired with one `expire` entry (`lapse:<key>`) under a row lock (PostgreSQL) or the
  write lock (SQLite), so concurrent or repeated runs lapse nothing twice, and a period close
  after it finds nothing left (amount = remaining + used + expired still holds);
- the report (`launch_reports`) compares the members' tokens of the pool's use case and their
  accepted artifacts in the window with as many days just before it, a day after the window
  (`REPORT_AFTER`: gateways' late batches and outcomes decided the next morning are in); the
  caller's key (one per pool window) makes sending it once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from budgets.grants import issue_grants, launch_grant_spec
from budgets.policy import Policy, ReservedPool
from budgets.rollover import lapse_grants
from storage.database import is_sqlite
from storage.models import Grant, GrantBalance, Outcome, Person, Team, UsageEvent

LAUNCH_KEY_PREFIX = "launch:"
REPORT_KEY_PREFIX = "launch-report:"  # + the pool's grant key: the report's outbox key
# A window is reported this long after it ends, so usage and outcomes sent late are counted.
REPORT_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class LaunchLapsed:
    grant_id: int
    key: str
    lapsed: int  # tokens moved from remaining to expired


@dataclass(frozen=True)
class Span:
    """The members' work on the pool's use case over whole days `starts` to `ends`."""

    starts: date
    ends: date
    tokens: int  # budget tokens of their usage
    accepted: int  # their accepted artifacts


@dataclass(frozen=True)
class LaunchReport:
    pool: str
    use_case: str
    owner: str  # email, from the policy
    owner_id: int | None  # None when the directory does not know the owner
    amount: int
    drawn: int  # what the pool gave
    lapsed: int  # what it had left at the end
    members: int  # people the pool admits
    window: Span
    before: Span  # as many days just before the window
    grant_key: str

    @property
    def key(self) -> str:
        return REPORT_KEY_PREFIX + self.grant_key


def issue_launch_pools(session: Session, policy: Policy, now: datetime) -> int:
    """Issue the grant of every launch pool whose window is not over (once each)."""
    zone = policy.periods.zone
    specs = [
        launch_grant_spec(policy, pool)
        for pool in policy.launch_pools
        if pool.window(zone)[1] > now
    ]
    return len(issue_grants(session, specs, now))


def lapse_launch_pools(session: Session, policy: Policy, now: datetime) -> list[LaunchLapsed]:
    """Lapse what launch pool grants whose window is over still hold, once each (including
    pools the policy no longer names)."""
    query = (
        select(
            Grant.id,
            Grant.idempotency_key,
            Grant.owner_type,
            Grant.owner_id,
            Grant.period,
            GrantBalance.remaining,
        )
        .join(GrantBalance, GrantBalance.grant_id == Grant.id)
        .where(
            Grant.kind == "reserved",
            Grant.idempotency_key.startswith(LAUNCH_KEY_PREFIX, autoescape=True),
            Grant.expires_at <= now,
            GrantBalance.remaining > 0,
        )
        .order_by(Grant.id)
    )
    if not is_sqlite(session):
        # A second run waits here and then re-reads `remaining > 0`: it finds nothing left.
        query = query.with_for_update(of=GrantBalance)
    lapsing = session.execute(query).all()
    if not lapsing:
        return []
    for g in lapsing:  # one reference per pool window: `lapse:<grant key>`
        lapse_grants(session, [g], f"lapse:{g.idempotency_key}", now)
    return [LaunchLapsed(g.id, g.idempotency_key, g.remaining) for g in lapsing]


def launch_reports(
    session: Session, policy: Policy, now: datetime, reported: Collection[str] = ()
) -> list[LaunchReport]:
    """A report for every launch pool of the policy whose window ended `REPORT_AFTER` ago and
    whose grant was issued (a window over before it could be drawn has nothing to report),
    except those whose grant key is in `reported` (the caller's: already sent)."""
    zone = policy.periods.zone
    ended = [
        pool
        for pool in policy.launch_pools
        if pool.window(zone)[1] + REPORT_AFTER <= now and pool.grant_key not in reported
    ]
    if not ended:
        return []
    grants = {
        key: (int(used), int(expired))
        for key, used, expired in session.execute(
            select(Grant.idempotency_key, GrantBalance.used, GrantBalance.expired)
            .join(GrantBalance, GrantBalance.grant_id == Grant.id)
            .where(Grant.idempotency_key.in_([pool.grant_key for pool in ended]))
        )
    }
    people = session.execute(
        select(Person.id, Person.email, Team.name).outerjoin(Team, Team.id == Person.team_id)
    ).all()
    by_email = {email: pid for pid, email, _team in people}
    reports = []
    for pool in ended:
        if pool.grant_key not in grants:
            continue
        used, expired = grants[pool.grant_key]
        members = [pid for pid, email, team in people if pool.members.admits(email, team)]
        assert pool.starts is not None and pool.ends is not None  # a launch pool
        days = timedelta(days=pool.days)
        reports.append(
            LaunchReport(
                pool=pool.name,
                use_case=pool.use_case,
                owner=pool.owner or "",
                owner_id=by_email.get(pool.owner or ""),
                amount=pool.amount,
                drawn=used,
                lapsed=expired,
                members=len(members),
                window=_span(session, policy, pool, members, pool.starts),
                before=_span(session, policy, pool, members, pool.starts - days),
                grant_key=pool.grant_key,
            )
        )
    return reports


def _span(
    session: Session, policy: Policy, pool: ReservedPool, members: list[int], starts: date
) -> Span:
    """The members' tokens and accepted artifacts of the pool's use case over the pool's
    number of days from `starts`."""
    ends = starts + timedelta(days=pool.days - 1)
    moved = ReservedPool(pool.name, pool.use_case, 0, starts=starts, ends=ends)
    start, end = moved.window(policy.periods.zone)
    if not members:
        return Span(starts, ends, 0, 0)
    tokens = session.scalar(
        select(func.coalesce(func.sum(UsageEvent.budget_tokens), 0)).where(
            UsageEvent.person_id.in_(members),
            UsageEvent.use_case == pool.use_case,
            UsageEvent.occurred_at >= start,
            UsageEvent.occurred_at < end,
        )
    )
    accepted = session.scalar(
        select(func.count()).where(
            Outcome.person_id.in_(members),
            Outcome.use_case == pool.use_case,
            Outcome.status == "accepted",
            Outcome.occurred_at >= start,
            Outcome.occurred_at < end,
        )
    )
    return Span(starts, ends, int(tokens or 0), int(accepted or 0))
