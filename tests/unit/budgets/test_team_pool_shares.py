"""The team-pool share rule (`budgets.draws.team_pool_left`, issues #16 and #23) and how
`plan_draws` honours it through `kind_limits`: plain cases, then a property over any pool,
allocations, cap and sequence of draws."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from budgets.draws import Draw, PoolShare, plan_draws, team_pool_left
from tests.unit.budgets.test_draws import G


def test_a_member_with_an_allocation_draws_up_to_it_and_no_further():
    shares = {1: PoolShare(300, 100)}
    assert team_pool_left(1, 1_000, shares, member_cap=None) == 200


def test_an_allocation_is_not_limited_by_the_share_cap():
    assert team_pool_left(1, 1_000, {1: PoolShare(600, 0)}, member_cap=400) == 600


def test_members_without_an_allocation_share_the_unallocated_rest():
    # Pool of 1000; Ann has 300 allocated and drew 100, so 200 stays held for her.
    shares = {1: PoolShare(300, 100), 2: PoolShare(None, 250)}
    assert team_pool_left(2, 900 - 250, shares, member_cap=None) == 450
    assert team_pool_left(3, 900 - 250, shares, member_cap=None) == 450


def test_the_share_cap_limits_what_one_member_without_an_allocation_draws():
    shares = {2: PoolShare(None, 350)}
    assert team_pool_left(2, 650, shares, member_cap=400) == 50
    assert team_pool_left(3, 650, shares, member_cap=400) == 400


def test_drawing_past_an_allocation_frees_nothing_and_nothing_is_ever_negative():
    shares = {1: PoolShare(100, 180)}
    assert team_pool_left(1, 820, shares, member_cap=None) == 0
    assert team_pool_left(2, 820, shares, member_cap=None) == 820
    assert team_pool_left(2, 50, {1: PoolShare(500, 0)}, member_cap=None) == 0


def test_never_more_than_the_pool_holds():
    assert team_pool_left(1, 40, {1: PoolShare(300, 0)}, member_cap=None) == 40


def test_plan_draws_takes_no_more_than_the_kind_limit_and_moves_on_to_the_next_kind():
    grants = [G(1, "baseline"), G(2, "team_pool"), G(3, "burst")]
    plan = plan_draws(
        grants, 500, "operational", {1: 100, 2: 1_000, 3: 1_000}, kind_limits={"team_pool": 150}
    )
    assert plan.draws == (Draw(1, 100), Draw(2, 150), Draw(3, 250))
    assert plan.overdraft == 0


def test_a_kind_limit_covers_several_grants_of_that_kind_together():
    grants = [G(1, "team_pool"), G(2, "team_pool")]
    plan = plan_draws(grants, 500, "operational", {1: 100, 2: 100}, kind_limits={"team_pool": 150})
    assert plan.draws == (Draw(1, 100), Draw(2, 50)) and plan.overdraft == 350


# --- property: a period of draws by members of one team --------------------------------------

POOL = 7


@given(
    pool=st.integers(0, 5_000),
    allocations=st.dictionaries(st.integers(1, 6), st.integers(0, 2_000), max_size=4),
    cap=st.none() | st.integers(0, 5_000),
    draws=st.lists(st.tuples(st.integers(1, 6), st.integers(0, 3_000)), max_size=30),
)
def test_no_member_draws_beyond_their_allocation_or_the_cap_and_the_pool_is_never_overdrawn(
    pool, allocations, cap, draws
):
    if sum(allocations.values()) > pool:  # the allocation rule refuses over-allocation
        return
    remaining = pool
    shares = {p: PoolShare(a, 0) for p, a in allocations.items()}
    for person, amount in draws:
        left = team_pool_left(person, remaining, shares, cap)
        plan = plan_draws(
            [G(1, "baseline"), G(POOL, "team_pool")],
            amount,
            "operational",
            {1: 0, POOL: remaining},
            kind_limits={"team_pool": left},
        )
        drawn = sum(d.amount for d in plan.draws if d.grant_id == POOL)
        assert plan.drawn + plan.overdraft == amount
        remaining -= drawn
        old = shares.get(person, PoolShare(None, 0))
        shares[person] = PoolShare(old.allocation, old.used + drawn)

        assert remaining >= 0
        for share in shares.values():
            if share.allocation is not None:
                assert share.used <= share.allocation
            elif cap is not None:
                assert share.used <= cap
        unallocated_used = sum(s.used for s in shares.values() if s.allocation is None)
        assert unallocated_used <= pool - sum(allocations.values())
        # What each allocated member has not drawn is still in the pool for them.
        assert remaining >= sum(
            s.allocation - s.used for s in shares.values() if s.allocation is not None
        )
