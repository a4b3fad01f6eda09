"""Property tests of the ledger's invariants, on the real database under test.

Each example empties the tables, imports the five-person org and runs a generated sequence of
usage deliveries (with duplicates), extra grants and period closings, then checks:
- for every grant, granted = remaining + used + expired, and nothing is negative;
- `verify()` finds nothing;
- usage is never lost: the debits and overdrafts add up to the budget tokens of the
  attributed usage, and every delivered id is stored once.

On order: duplicates are no-ops wherever and however often they arrive, and within one batch
the order of events does not matter. Across batches, *which* grant pays depends on arrival
order (draw-down is first come, first served: two people share their team pool, and a grant
may only be valid for part of the period), so across orders the property is that each
person's usage totals are the same, not each grant's remainder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from budgets.directory import import_directory
from budgets.ledger import expire, record_usage, verify
from budgets.periods import period_by_key
from budgets.policy import Policy
from storage.models import AccountTotal, Grant, GrantBalance, LedgerEntry, Person, UsageEvent
from tests.conftest import PEOPLE_CSV, empty_all_tables
from tests.integration.ledger_support import grant, small_policy, usage

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
USERS = ("ann@acme.test", "bob@acme.test", "mia@acme.test", "fin@acme.test", "who@else.test")
USE_CASES = ("coding", "research", "security-review", None, "astrology")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-opus-4", "mystery-llm")

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def policy() -> Policy:
    return small_policy()


@dataclass(frozen=True)
class EventSpec:
    user: str
    tokens: int
    use_case: str | None
    project: str | None
    model: str
    hours: int  # after 1 Nov: usage falls in November or December

    def event(self, number: int):
        return usage(
            self.user,
            self.tokens,
            NOV_1 + timedelta(hours=self.hours),
            use_case=self.use_case,
            project=self.project,
            model=self.model,
            id=f"prop-{number}",
        )


event_specs = st.builds(
    EventSpec,
    user=st.sampled_from(USERS),
    tokens=st.integers(1, 1_500),
    use_case=st.sampled_from(USE_CASES),
    project=st.sampled_from((None, None, "Apollo")),
    model=st.sampled_from(MODELS),
    hours=st.integers(0, 50 * 24),
)


@dataclass(frozen=True)
class Deliver:
    numbers: tuple[int, ...]  # event numbers; repeats are duplicate deliveries


@dataclass(frozen=True)
class GrantExtra:
    kind: str
    user: str
    amount: int
    start_day: int
    days: int


@dataclass(frozen=True)
class Close:
    period: str
    days_late: int


def operations(event_count: int):
    numbers = st.integers(0, event_count - 1)
    return st.lists(
        st.one_of(
            st.builds(Deliver, st.lists(numbers, min_size=1, max_size=8).map(tuple)),
            st.builds(
                GrantExtra,
                kind=st.sampled_from(("burst", "manual")),
                user=st.sampled_from(USERS[:4]),
                amount=st.integers(1, 800),
                start_day=st.integers(0, 45),
                days=st.integers(1, 30),
            ),
            st.builds(Close, st.sampled_from(("2026-11", "2026-12")), st.integers(0, 3)),
        ),
        min_size=1,
        max_size=10,
    )


scenarios = st.lists(event_specs, min_size=1, max_size=12).flatmap(
    lambda specs: st.tuples(st.just(specs), operations(len(specs)))
)


def fresh_org(services) -> dict[str, int]:
    """Empty every table and import the org again; returns email -> person id."""
    empty_all_tables(services.settings.database_url)
    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, PEOPLE_CSV, services.policy, NOV_1)
        assert result.ok, result.errors
        uow.commit()
    with services.db.read() as s:
        return dict(s.execute(select(Person.email, Person.id)).all())


def deliver(services, events) -> None:
    latest = max(e.timestamp for e in events)
    with services.db.unit_of_work() as uow:
        record_usage(uow.session, events, services.policy, latest + timedelta(minutes=5))
        uow.commit()


def run(services, specs, ops) -> set[str]:
    """Apply the operations; returns the usage ids delivered."""
    people = fresh_org(services)
    delivered: set[str] = set()
    for op in ops:
        if isinstance(op, Deliver):
            events = [specs[n].event(n) for n in op.numbers]
            deliver(services, events)
            delivered.update(e.id for e in events)
        elif isinstance(op, GrantExtra):
            start = NOV_1 + timedelta(days=op.start_day)
            with services.db.unit_of_work() as uow:
                grant(
                    uow.session,
                    op.kind,
                    people[op.user],
                    op.amount,
                    start,
                    start + timedelta(days=op.days),
                    period=("2026-11" if op.start_day < 30 else "2026-12"),
                )
                uow.commit()
        else:
            period = period_by_key(services.policy.periods, op.period)
            with services.db.unit_of_work() as uow:
                expire(
                    uow.session, services.policy, period, period.end + timedelta(days=op.days_late)
                )
                uow.commit()
    return delivered


def grant_states(services) -> dict[str, tuple[int, int, int, int]]:
    """idempotency key -> (amount, remaining, used, expired): comparable across runs."""
    with services.db.read() as s:
        return {
            key: (amount, remaining, used, expired)
            for key, amount, remaining, used, expired in s.execute(
                select(
                    Grant.idempotency_key,
                    Grant.amount,
                    GrantBalance.remaining,
                    GrantBalance.used,
                    GrantBalance.expired,
                ).join(GrantBalance, GrantBalance.grant_id == Grant.id)
            )
        }


def person_totals(services) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """(email, period) -> (used, overdraft, cost, events)."""
    with services.db.read() as s:
        return {
            (email, period): (used, overdraft, cost, events)
            for email, period, used, overdraft, cost, events in s.execute(
                select(
                    Person.email,
                    AccountTotal.period,
                    AccountTotal.used,
                    AccountTotal.overdraft,
                    AccountTotal.cost_micros,
                    AccountTotal.events,
                ).join(Person, Person.id == AccountTotal.person_id)
            )
        }


def usage_totals(services) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(email, period) -> (used, cost, events): what was spent, whoever's grant paid."""
    return {key: (t[0], t[2], t[3]) for key, t in person_totals(services).items()}


@EXAMPLES
@given(scenario=scenarios)
def test_every_grant_balances_verify_is_clean_and_no_usage_is_lost(services, scenario):
    specs, ops = scenario
    delivered = run(services, specs, ops)

    for key, (amount, remaining, used, expired) in grant_states(services).items():
        assert amount == remaining + used + expired, key
        assert min(remaining, used, expired) >= 0, key

    with services.db.read() as s:
        assert [str(p) for p in verify(s)] == []
        drawn = s.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.entry_type.in_(("debit", "overdraft"))
            )
        )
        attributed = s.scalar(
            select(func.coalesce(func.sum(UsageEvent.budget_tokens), 0)).where(
                UsageEvent.person_id.is_not(None)
            )
        )
        stored = set(s.scalars(select(UsageEvent.id)))
        unattributed = set(
            s.scalars(select(UsageEvent.identity).where(UsageEvent.person_id.is_(None)))
        )
    assert drawn == attributed
    assert stored == delivered
    assert unattributed <= {"who@else.test"}


def batches_with_duplicates(event_count: int):
    """First deliveries in some order and batching, each batch padded with duplicates of
    anything delivered so far, shuffled within the batch."""

    @st.composite
    def plan(draw):
        order = draw(st.permutations(range(event_count)))
        cuts = sorted(draw(st.sets(st.integers(1, max(event_count - 1, 1)), max_size=3)))
        bounds = [0, *[c for c in cuts if c < event_count], event_count]
        clean, noisy = [], []
        for start, end in zip(bounds, bounds[1:], strict=False):
            if start == end:
                continue
            batch = list(order[start:end])
            seen = list(order[:end])
            extra = draw(st.lists(st.sampled_from(seen), max_size=4))
            clean.append(batch)
            noisy.append(draw(st.permutations(batch + extra)))
        replays = draw(st.lists(st.sampled_from(range(event_count)), max_size=3))
        if replays:
            noisy.append(replays)  # a late redelivery of events already counted
        return clean, noisy

    return plan()


order_scenarios = st.lists(event_specs, min_size=2, max_size=10).flatmap(
    lambda specs: st.tuples(
        st.just(specs),
        batches_with_duplicates(len(specs)),
        st.permutations(range(len(specs))),
    )
)


def replay(services, specs, batches) -> None:
    fresh_org(services)
    for batch in batches:
        deliver(services, [specs[n].event(n) for n in batch])


@settings(EXAMPLES, max_examples=15)  # three replays per example
@given(scenario=order_scenarios)
def test_duplicates_in_any_order_give_the_same_balances(services, scenario):
    specs, (clean, noisy), other_order = scenario

    replay(services, specs, clean)
    expected_grants, expected_people = grant_states(services), person_totals(services)

    replay(services, specs, noisy)
    assert grant_states(services) == expected_grants
    assert person_totals(services) == expected_people

    # Each event once, in a wholly different order and batching: the same usage per person
    # and period (which grant paid may differ: first come, first served).
    replay(services, specs, [other_order[i : i + 3] for i in range(0, len(other_order), 3)])
    assert usage_totals(services) == {k: (t[0], t[2], t[3]) for k, t in expected_people.items()}
    with services.db.read() as s:
        assert [str(p) for p in verify(s)] == []
