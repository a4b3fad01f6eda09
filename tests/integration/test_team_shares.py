"""Members' shares of their team's pool on a real database (issues #16 and #23): the policy's
share cap and managers' allocations, honoured alike by the ledger's debit and by authorize;
who may allocate; over-allocation refused with its figures; re-setting audited; and two
managers allocating at once never over-allocating the pool (real concurrent transactions:
run with TOKENBOT_TEST_DATABASE_URL for PostgreSQL).

Amounts come from `small_policy()`: a default baseline of 1,000, team pools of 500. The
Marketing team is Mia (manager), Ann and Bob; Cleo (the CEO, an admin) is above Mia.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from budgets import authorize as codes
from budgets.authorize import authorize
from budgets.directory import import_directory
from budgets.ledger import record_usage, verify
from budgets.policy import Limits, Policy, TeamPools
from budgets.team_shares import (
    NO_TEAM,
    NOT_ALLOWED,
    OVER_POOL,
    AllocationRefused,
    allocate,
    team_allocations,
    team_share,
)
from storage.models import (
    AuditEntry,
    Grant,
    LedgerEntry,
    Person,
    TeamAllocation,
    TeamPoolShare,
)
from tests.conftest import PEOPLE_CSV, empty_all_tables, row_counts, run_together
from tests.integration.ledger_support import small_policy, usage

BASELINE = 1_000
POOL = 500


def with_cap(policy: Policy, cap) -> Policy:
    return replace(policy, team_pools=TeamPools(POOL, {}, cap))


@pytest.fixture
def policy() -> Policy:
    hard = replace(small_policy(), limits=Limits("hard", small_policy().limits.soft_overdraft))
    return with_cap(hard, 200)


def spend(services, email: str, tokens: int) -> None:
    with services.db.unit_of_work() as uow:
        record_usage(
            uow.session, [usage(email, tokens, services.clock())], services.policy, services.clock()
        )
        uow.commit()


def drawn_from_pool(services, email: str) -> int:
    """What the ledger's debit entries say the person drew from team pools."""
    with services.db.read() as s:
        return int(
            s.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                .join(Grant, Grant.id == LedgerEntry.grant_id)
                .join(Person, Person.id == LedgerEntry.person_id)
                .where(
                    LedgerEntry.entry_type == "debit",
                    Grant.kind == "team_pool",
                    Person.email == email,
                )
            )
        )


def overdraft_of(services, email: str) -> int:
    with services.db.read() as s:
        return int(
            s.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                .join(Person, Person.id == LedgerEntry.person_id)
                .where(LedgerEntry.entry_type == "overdraft", Person.email == email)
            )
        )


def ask(services, email: str, tokens: int):
    with services.db.read() as session:
        return authorize(
            session, services.policy, email, "gpt-4o", tokens, "coding", None, services.clock()
        )


def set_share(services, actor: str, member: str, amount: int):
    with services.db.unit_of_work() as uow:
        people = {p.email: p for p in uow.session.scalars(select(Person))}
        result = allocate(
            uow.session,
            services.policy,
            people[actor],
            people.get(member),
            amount,
            services.clock(),
        )
        uow.commit()
    return result


def refusal(services, actor: str, member: str, amount: int) -> AllocationRefused:
    with pytest.raises(AllocationRefused) as caught:
        set_share(services, actor, member, amount)
    return caught.value


# --- the share cap (#16) -----------------------------------------------------------------------


def test_one_member_cannot_drain_the_team_pool_past_the_share_cap(services, org):
    spend(services, "ann@acme.test", BASELINE)  # her baseline, all of it
    spend(services, "ann@acme.test", 300)
    assert drawn_from_pool(services, "ann@acme.test") == 200  # the cap, not the pool's 500
    assert overdraft_of(services, "ann@acme.test") == 100
    # Bob still has his capped share of what is left.
    spend(services, "bob@acme.test", BASELINE + 250)
    assert drawn_from_pool(services, "bob@acme.test") == 200


def test_authorize_counts_the_team_pool_only_up_to_the_members_share(services, org):
    spend(services, "ann@acme.test", BASELINE)
    refused = ask(services, "ann@acme.test", 300)
    assert not refused.allow and refused.reason == codes.HARD_LIMIT
    assert refused.remaining == 200 and refused.pool == "team_pool"
    allowed = ask(services, "ann@acme.test", 200)
    assert allowed.allow and allowed.remaining == 200
    spend(services, "ann@acme.test", 200)
    spent = ask(services, "ann@acme.test", 1)
    assert not spent.allow and spent.remaining == 0 and spent.pool is None


def test_a_cap_written_as_a_share_of_the_pool_is_that_share_of_its_amount(services, org):
    services.policy = with_cap(services.policy, Decimal("0.4"))
    spend(services, "ann@acme.test", BASELINE + 500)
    assert drawn_from_pool(services, "ann@acme.test") == 200  # 0.4 x 500


# --- allocations (#23) -------------------------------------------------------------------------


def test_a_member_with_an_allocation_draws_up_to_it_and_the_others_share_the_rest(services, org):
    allocated = set_share(services, "mia@acme.test", "bob@acme.test", 350)
    assert (allocated.amount, allocated.pool_amount, allocated.unallocated) == (350, POOL, 150)
    # Bob's allocation is above the cap of 200: a manager chose it.
    spend(services, "bob@acme.test", BASELINE + 400)
    assert drawn_from_pool(services, "bob@acme.test") == 350
    # Ann shares the unallocated 150 (under the cap of 200).
    assert ask(services, "ann@acme.test", BASELINE + 150).allow
    assert not ask(services, "ann@acme.test", BASELINE + 151).allow
    spend(services, "ann@acme.test", BASELINE + 400)
    assert drawn_from_pool(services, "ann@acme.test") == 150


def test_an_allocation_stays_held_for_its_member_while_others_draw(services, org):
    set_share(services, "mia@acme.test", "bob@acme.test", 300)
    spend(services, "ann@acme.test", BASELINE + 500)
    assert drawn_from_pool(services, "ann@acme.test") == 200
    spend(services, "bob@acme.test", BASELINE + 500)
    assert drawn_from_pool(services, "bob@acme.test") == 300
    with services.db.read() as s:
        shares = {
            row.person_id: (row.allocation, row.used) for row in s.scalars(select(TeamPoolShare))
        }
    # The projection agrees with the ledger's entries.
    assert shares[org["bob@acme.test"].id] == (300, drawn_from_pool(services, "bob@acme.test"))
    assert shares[org["ann@acme.test"].id] == (None, drawn_from_pool(services, "ann@acme.test"))
    with services.db.read() as s:
        assert verify(s) == []


def test_an_allocation_above_what_the_pool_has_unallocated_is_refused_with_the_figures(
    services, org
):
    set_share(services, "mia@acme.test", "bob@acme.test", 300)
    before = row_counts(services)
    refused = refusal(services, "mia@acme.test", "ann@acme.test", 250)
    assert refused.code == OVER_POOL
    assert refused.facts["pool"] == POOL
    assert refused.facts["allocated_to_others"] == 300
    assert refused.facts["unallocated"] == 200
    assert refused.facts["amount"] == 250
    assert row_counts(services) == before


def test_resetting_an_allocation_replaces_it_and_both_settings_are_kept_and_audited(services, org):
    set_share(services, "mia@acme.test", "bob@acme.test", 300)
    again = set_share(services, "ceo@acme.test", "bob@acme.test", 100)
    assert again.previous == 300 and again.allocated == 100
    set_share(services, "mia@acme.test", "ann@acme.test", 400)  # fits now: 500 - 100
    with services.db.read() as s:
        settings = s.execute(
            select(TeamAllocation.amount, TeamAllocation.set_by_id).order_by(TeamAllocation.id)
        ).all()
        audited = s.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "team.allocate")
        ).all()
    assert [a for a, _ in settings] == [300, 100, 400]
    assert [by for _, by in settings][:2] == [org["mia@acme.test"].id, org["ceo@acme.test"].id]
    assert audited == ["mia@acme.test", "ceo@acme.test", "mia@acme.test"]
    with services.db.read() as s:
        (team,) = team_allocations(
            s, services.policy, [org["bob@acme.test"].team_id], services.clock()
        )
    assert {(m.email, m.allocation, m.set_by) for m in team.members} == {
        ("bob@acme.test", 100, "Cleo Chief"),
        ("ann@acme.test", 400, "Mia Manager"),
    }
    assert team.unallocated == 0


@pytest.mark.parametrize(
    ("actor", "member"),
    [
        ("bob@acme.test", "ann@acme.test"),  # a peer
        ("ann@acme.test", "ann@acme.test"),  # oneself
        ("fin@acme.test", "ann@acme.test"),  # finance is not above Ann
        ("mia@acme.test", "nobody@acme.test"),  # no such person: the same answer
        ("mia@acme.test", "ceo@acme.test"),  # above the manager
    ],
)
def test_only_someone_above_the_member_or_an_admin_may_allocate(services, org, actor, member):
    before = row_counts(services)
    assert refusal(services, actor, member, 100).code == NOT_ALLOWED
    assert row_counts(services) == before


def test_an_admin_may_allocate_to_anyone_in_a_team(services, org):
    assert set_share(services, "ceo@acme.test", "ann@acme.test", 100).amount == 100


def test_someone_in_no_team_has_no_pool_to_allocate(services, org):
    with services.db.unit_of_work() as uow:
        uow.session.get(Person, org["ann@acme.test"].id).team_id = None
        uow.commit()
    assert refusal(services, "mia@acme.test", "ann@acme.test", 100).code == NO_TEAM


def test_balance_facts_show_the_share_and_what_it_is_made_of(services, org):
    set_share(services, "mia@acme.test", "bob@acme.test", 300)
    spend(services, "ann@acme.test", BASELINE + 50)
    with services.db.read() as s:
        ann = team_share(
            s, s.get(Person, org["ann@acme.test"].id), services.policy, services.clock()
        )
        bob = team_share(
            s, s.get(Person, org["bob@acme.test"].id), services.policy, services.clock()
        )
    assert ann is not None and bob is not None
    assert (ann.pool_remaining, ann.held_for_others, ann.used, ann.member_cap) == (
        450,
        300,
        50,
        200,
    )
    assert ann.left == min(450 - 300, 200 - 50) == 150
    assert (bob.allocation, bob.used, bob.left) == (300, 0, 300)


# --- races --------------------------------------------------------------------------------------

THREADS = 8


def test_managers_allocating_at_once_never_over_allocate_the_pool(services, org):
    """Mia gives Ann 300 while Cleo gives Bob 300, four times each, all at once: the pool of
    500 holds one of them; the other is refused every time, whichever comes first."""
    calls = iter(
        [("mia@acme.test", "ann@acme.test"), ("ceo@acme.test", "bob@acme.test")] * (THREADS // 2)
    )
    lock = threading.Lock()

    def one():
        with lock:
            actor, member = next(calls)
        try:
            return member, set_share(services, actor, member, 300).amount
        except AllocationRefused as refused:
            return member, refused.code

    results = run_together(one, THREADS)
    won = {member for member, outcome in results if outcome == 300}
    assert len(won) == 1
    assert all(outcome == OVER_POOL for member, outcome in results if member not in won)
    with services.db.read() as s:
        allocations = s.scalars(
            select(TeamPoolShare.allocation).where(TeamPoolShare.allocation.is_not(None))
        ).all()
        settings = s.scalar(select(func.count()).select_from(TeamAllocation))
    assert allocations == [300]
    assert settings == THREADS // 2  # each success recorded once, each refusal not at all
    with services.db.read() as s:
        assert verify(s) == []


def test_usage_and_an_allocation_at_once_never_overdraw_a_share(services, org):
    """Ann spends while Mia allocates Bob 300: whichever commits first, Ann never draws into
    Bob's allocation once it is set, and the pool is never overdrawn."""
    spend(services, "ann@acme.test", BASELINE)
    policy = services.policy
    services.policy = replace(policy, team_pools=TeamPools(POOL, {}, None))
    moves = iter(["allocate", "spend"])
    lock = threading.Lock()

    def one():
        with lock:
            move = next(moves)
        if move == "allocate":
            try:
                return set_share(services, "mia@acme.test", "bob@acme.test", 300).amount
            except AllocationRefused as refused:
                return refused.code
        spend(services, "ann@acme.test", 400)
        return "spent"

    run_together(one, 2)
    ann = drawn_from_pool(services, "ann@acme.test")
    with services.db.read() as s:
        bob = s.scalar(
            select(TeamPoolShare.allocation).where(
                TeamPoolShare.person_id == org["bob@acme.test"].id
            )
        )
    if bob == 300:  # allocated first: Ann shares the 200 left unallocated
        assert ann == 200
    else:  # Ann drew first: her 400 left only 100 unallocated, and 300 was refused
        assert ann == 400 and bob is None
    with services.db.read() as s:
        assert verify(s) == []


# --- property: authorize and the ledger apply the same limit -----------------------------------

EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MEMBERS = ("ann@acme.test", "bob@acme.test", "mia@acme.test")


@EXAMPLES
@given(
    shares=st.dictionaries(st.sampled_from(MEMBERS[:2]), st.integers(0, 250), max_size=2),
    spends=st.lists(st.tuples(st.sampled_from(MEMBERS), st.integers(1, 900)), max_size=6),
    probe=st.sampled_from(MEMBERS),
)
def test_what_authorize_says_is_left_is_exactly_what_the_ledger_draws(
    services, shares, spends, probe
):
    empty_all_tables(services.settings.database_url)
    with services.db.unit_of_work() as uow:
        assert import_directory(uow.session, PEOPLE_CSV, services.policy, services.clock()).ok
        uow.commit()
    for member, amount in shares.items():
        set_share(services, "mia@acme.test", member, amount)
    for member, tokens in spends:
        spend(services, member, tokens)
    left = ask(services, probe, 10**9).remaining
    before = overdraft_of(services, probe)
    spend(services, probe, left + 1)
    # Everything authorize counted was drawn; the one token beyond it was not.
    assert overdraft_of(services, probe) - before == 1
    with services.db.read() as s:
        assert verify(s) == []
