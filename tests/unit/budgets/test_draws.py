"""The draw-down rule (`budgets.draws.plan_draws`), the one the ledger's debit and the gateway's
authorization both apply: plain cases, then properties over any grants and amount."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from budgets.draws import DRAW_ORDER, Draw, draw_order, kind_rank, plan_draws

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class G:
    id: int
    kind: str
    token_class: str = "operational"
    expires_at: datetime = T0 + timedelta(days=30)


def test_usage_is_drawn_in_draw_order_each_grant_giving_at_most_what_it_holds():
    grants = [G(1, "burst"), G(2, "baseline"), G(3, "team_pool"), G(4, "reserved")]
    remaining = {1: 100, 2: 50, 3: 40, 4: 10}
    plan = plan_draws(grants, 150, "operational", remaining)
    assert plan.draws == (Draw(4, 10), Draw(2, 50), Draw(3, 40), Draw(1, 50))
    assert plan.overdraft == 0


def test_what_no_grant_covers_is_the_overdraft():
    plan = plan_draws([G(1, "baseline")], 70, "operational", {1: 30})
    assert plan.draws == (Draw(1, 30),) and plan.overdraft == 40


def test_within_a_kind_the_usages_token_class_then_the_soonest_expiry_then_the_oldest_first():
    soon, late = T0 + timedelta(days=1), T0 + timedelta(days=9)
    grants = [
        G(5, "baseline", "exploration", soon),
        G(4, "baseline", "operational", late),
        G(3, "baseline", "operational", soon),
        G(2, "baseline", "operational", soon),
    ]
    assert [g.id for g in draw_order(grants, "operational")] == [2, 3, 4, 5]
    assert [g.id for g in draw_order(grants, "exploration")] == [5, 2, 3, 4]


def test_nothing_to_draw_draws_nothing_and_empty_grants_are_skipped():
    assert plan_draws([G(1, "baseline")], 0, "operational", {1: 5}).draws == ()
    plan = plan_draws([G(1, "reserved"), G(2, "baseline")], 5, "operational", {1: 0, 2: 9})
    assert plan.draws == (Draw(2, 5),)


def test_a_negative_amount_is_refused():
    with pytest.raises(ValueError):
        plan_draws([], -1, "operational", {})


def test_an_unknown_kind_is_drawn_from_last():
    assert kind_rank("something-new") > max(kind_rank(k) for k in DRAW_ORDER)


# --- properties ------------------------------------------------------------------------------

grant_lists = st.lists(
    st.builds(
        G,
        id=st.integers(1, 40),
        kind=st.sampled_from((*DRAW_ORDER, "other")),
        token_class=st.sampled_from(("operational", "exploration")),
        expires_at=st.integers(0, 5).map(lambda d: T0 + timedelta(days=d)),
    ),
    max_size=12,
)


@given(
    grants=grant_lists,
    amount=st.integers(0, 10_000),
    token_class=st.sampled_from(("operational", "exploration")),
    holdings=st.dictionaries(st.integers(1, 40), st.integers(0, 3_000)),
)
def test_draws_never_exceed_a_grant_and_draws_plus_overdraft_are_the_amount(
    grants, amount, token_class, holdings
):
    plan = plan_draws(grants, amount, token_class, holdings)
    assert plan.drawn + plan.overdraft == amount
    assert plan.overdraft >= 0
    drawn: dict[int, int] = {}
    for d in plan.draws:
        assert d.amount > 0
        drawn[d.grant_id] = drawn.get(d.grant_id, 0) + d.amount
    for gid, total in drawn.items():
        assert total <= holdings.get(gid, 0)
    # An overdraft only when every grant handed in was drawn dry.
    if plan.overdraft:
        for g in grants:
            assert drawn.get(g.id, 0) == holdings.get(g.id, 0)


unique_grant_lists = st.lists(
    st.builds(
        G,
        id=st.integers(1, 40),
        kind=st.sampled_from((*DRAW_ORDER, "other")),
        token_class=st.sampled_from(("operational", "exploration")),
        expires_at=st.integers(0, 5).map(lambda d: T0 + timedelta(days=d)),
    ),
    max_size=12,
    unique_by=lambda g: g.id,
)


@given(
    grants=unique_grant_lists,
    amount=st.integers(0, 10_000),
    token_class=st.sampled_from(("operational", "exploration")),
    holdings=st.dictionaries(st.integers(1, 40), st.integers(0, 3_000)),
)
def test_draws_follow_draw_order_then_token_class_then_expiry_then_id(
    grants, amount, token_class, holdings
):
    plan = plan_draws(grants, amount, token_class, holdings)
    by_id = {g.id: g for g in grants}

    def key(gid: int) -> tuple:
        g = by_id[gid]
        return (kind_rank(g.kind), g.token_class != token_class, g.expires_at, g.id)

    keys = [key(d.grant_id) for d in plan.draws]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # A grant is drawn from only when every grant before it in that order is dry.
    drawn = {d.grant_id: d.amount for d in plan.draws}
    if plan.draws:
        last = keys[-1]
        for g in grants:
            if key(g.id) < last:
                assert drawn.get(g.id, 0) == holdings.get(g.id, 0)


# --- eligibility (issue 16): who may draw a project budget or a reserved pool -----------------


@dataclass(frozen=True)
class KG:
    id: int
    kind: str
    idempotency_key: str
    token_class: str = "operational"
    expires_at: datetime = T0 + timedelta(days=30)


def eligibility_policy():
    import copy
    import tomllib

    from budgets.policy import DEFAULT_POLICY_PATH, parse_policy

    data = copy.deepcopy(tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))
    data["projects"] = [
        {"name": "Apollo", "owner": "o@x.io", "budget": 1, "members": ["ann@x.io"]},
        {"name": "Open", "owner": "o@x.io", "budget": 1},
    ]
    data["reserved_pools"] = [
        {"name": "sec", "use_case": "security-review", "amount": 1, "teams": ["Security"]},
        {"name": "free", "use_case": "coding", "amount": 1},
    ]
    return parse_policy(data, "eligibility")


POLICY = eligibility_policy()
GRANT_POOL = (
    ("baseline", "baseline:2026-11:person:1:operational"),
    ("team_pool", "team_pool:2026-11:team:1"),
    ("burst", "burst:req-1"),
    ("manual", "manual:1"),
    ("project", "project:2026-11:project:1"),
    ("reserved", "reserved:2026-11:reserved:sec"),
    ("reserved", "reserved:2026-11:reserved:free"),
    ("reserved", "reserved:2026-11:reserved:gone"),  # a pool the policy no longer names
)


def test_a_member_by_email_or_team_draws_and_anyone_else_is_told_what_they_are_not_in():
    from budgets.draws import Drawer, eligible_grants

    grants = [KG(i, kind, key) for i, (kind, key) in enumerate(GRANT_POOL)]
    outsider = eligible_grants(grants, POLICY, Drawer("bob@x.io", "Sales"), "Apollo")
    assert [g.idempotency_key for g in outsider.grants if g.kind in ("project", "reserved")] == [
        "reserved:2026-11:reserved:free",
    ]
    assert outsider.not_member_of == (
        "project Apollo",
        "reserved pool sec",
        "a reserved pool the policy no longer names",
    )
    insider = eligible_grants(grants, POLICY, Drawer("ANN@x.io", "security"), "Apollo")
    # A grant of a pool the policy dropped (renamed, removed, a launch window moved) is
    # nobody's: whoever it was for is not known any more, so it is not open to everyone.
    assert insider.grants == [g for g in grants if not g.idempotency_key.endswith(":gone")]
    assert insider.not_member_of == ("a reserved pool the policy no longer names",)


@given(
    picks=st.lists(st.integers(0, len(GRANT_POOL) - 1), max_size=12),
    email=st.sampled_from(["ann@x.io", "bob@x.io", None]),
    team=st.sampled_from(["Security", "Sales", None]),
    project=st.sampled_from(["Apollo", "Open", None]),
)
def test_eligibility_only_removes_restricted_pools_and_keeps_the_order(picks, email, team, project):
    from budgets.draws import Drawer, eligible_grants

    grants = [KG(n, *GRANT_POOL[i]) for n, i in enumerate(picks)]
    result = eligible_grants(grants, POLICY, Drawer(email, team), project)
    assert result.grants == [g for g in grants if g in result.grants]  # a sub-list, in order
    for g in grants:
        if g.kind not in ("project", "reserved") or (g.kind == "project" and project != "Apollo"):
            assert g in result.grants
        if g.idempotency_key.endswith(":gone"):
            assert g not in result.grants
    assert len(set(result.not_member_of)) == len(result.not_member_of)
    assert bool(result.not_member_of) == (len(result.grants) < len(grants))
