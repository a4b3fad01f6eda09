"""The token ledger on a real database: draw-down order, overdraft, unknown models and
unattributed usage, idempotent usage and period roll-over, verification, and the balance view.

Amounts come from `small_policy()`: a default baseline of 1,000 (800 operational, 200
exploration), team pools of 500, the Apollo project with 200, a 300-token security reserve.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from budgets.balances import balance_for
from budgets.ledger import expire, record_usage, verify
from budgets.periods import period_by_key
from budgets.policy import Policy
from storage.models import (
    AccountTotal,
    Grant,
    GrantBalance,
    LedgerEntry,
    Person,
    Project,
    UsageEvent,
)
from tests.conftest import row_counts
from tests.integration.ledger_support import grant, grant_states, small_policy, usage

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)
NOV_25 = datetime(2026, 11, 25, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def policy() -> Policy:
    return small_policy()


def find_grant(session, kind: str, owner_type: str, owner_id: int | None, token_class=None) -> int:
    query = select(Grant.id).where(
        Grant.kind == kind, Grant.owner_type == owner_type, Grant.period == "2026-11"
    )
    query = query.where(Grant.owner_id == owner_id) if owner_id is not None else query
    if token_class:
        query = query.where(Grant.token_class == token_class)
    return session.scalar(query)


def record(services, *events, now=None):
    with services.db.unit_of_work() as uow:
        result = record_usage(uow.session, list(events), services.policy, now or services.clock())
        uow.commit()
    return result


def debits(services) -> dict[int | None, int]:
    """grant id (None for overdraft) -> tokens drawn, from the ledger entries."""
    with services.db.read() as s:
        rows = s.execute(
            select(LedgerEntry.grant_id, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.entry_type.in_(("debit", "overdraft")))
            .group_by(LedgerEntry.grant_id)
        ).all()
    return {grant_id: int(total) for grant_id, total in rows}


def assert_verified(services) -> None:
    with services.db.read() as s:
        assert [str(p) for p in verify(s)] == []


@pytest.fixture
def grants(services, org):
    """Ids of the November grants the org import issued, by name."""
    ann, mia = org["ann@acme.test"], org["mia@acme.test"]
    with services.db.read() as s:
        apollo = s.scalar(select(Project.id).where(Project.name == "Apollo"))
        return {
            "reserved": find_grant(s, "reserved", "org", None),
            "project": find_grant(s, "project", "project", apollo),
            "ann operational": find_grant(s, "baseline", "person", ann.id, "operational"),
            "ann exploration": find_grant(s, "baseline", "person", ann.id, "exploration"),
            "marketing pool": find_grant(s, "team_pool", "team", ann.team_id),
            "mia operational": find_grant(s, "baseline", "person", mia.id, "operational"),
        }


def test_the_org_import_issued_the_small_policys_allotments(services, grants):
    with services.db.read() as s:
        states = grant_states(s)
    assert states[grants["reserved"]] == (300, 300, 0, 0)
    assert states[grants["project"]] == (200, 200, 0, 0)
    assert states[grants["ann operational"]] == (800, 800, 0, 0)
    assert states[grants["ann exploration"]] == (200, 200, 0, 0)
    assert states[grants["marketing pool"]] == (500, 500, 0, 0)


def test_usage_of_a_use_case_with_a_reserved_pool_draws_from_it_first(services, org, grants):
    record(services, usage("ann@acme.test", 250, NOV_10, use_case="security-review"))
    assert debits(services) == {grants["reserved"]: 250}
    assert_verified(services)


def test_usage_for_a_project_draws_the_project_budget_before_the_persons_baseline(
    services, org, grants
):
    record(services, usage("ann@acme.test", 300, NOV_10, project="Apollo"))
    assert debits(services) == {grants["project"]: 200, grants["ann operational"]: 100}


def test_draw_down_walks_baseline_then_team_pool_then_burst_then_manual_then_overdraft(
    services, org, grants
):
    ann = org["ann@acme.test"]
    with services.db.unit_of_work() as uow:
        # Issued in this order so that grant ids alone would pick the later-expiring one first.
        burst_late = grant(uow.session, "burst", ann.id, 100, NOV_1, DEC_1, period="2026-11")
        burst_soon = grant(uow.session, "burst", ann.id, 100, NOV_1, NOV_25, period="2026-11")
        manual = grant(uow.session, "manual", ann.id, 100, NOV_1, DEC_1, period="2026-11")
        uow.commit()

    result = record(services, usage("ann@acme.test", 1_900, NOV_10, use_case="coding"))

    assert result.overdraft == 100
    assert debits(services) == {
        grants["ann operational"]: 800,  # coding is operational: its class first
        grants["ann exploration"]: 200,
        grants["marketing pool"]: 500,
        burst_soon: 100,
        burst_late: 100,
        manual: 100,
        None: 100,
    }
    with services.db.read() as s:
        total = s.get(AccountTotal, (ann.id, "2026-11"))
        order = s.scalars(
            select(LedgerEntry.grant_id)
            .where(LedgerEntry.entry_type == "debit")
            .order_by(LedgerEntry.id)
        ).all()
    assert (total.used, total.overdraft, total.events) == (1_900, 100, 1)
    assert order == [
        grants["ann operational"],
        grants["ann exploration"],
        grants["marketing pool"],
        burst_soon,
        burst_late,
        manual,
    ]
    assert_verified(services)


def test_exploration_use_draws_the_exploration_baseline_before_the_operational_one(
    services, org, grants
):
    record(services, usage("ann@acme.test", 300, NOV_10, use_case="research"))
    assert debits(services) == {grants["ann exploration"]: 200, grants["ann operational"]: 100}


def test_a_burst_grant_not_yet_effective_is_not_drawn(services, org, grants):
    ann = org["ann@acme.test"]
    with services.db.unit_of_work() as uow:
        later = grant(uow.session, "burst", ann.id, 500, NOV_25, DEC_1, period="2026-11")
        uow.commit()
    record(services, usage("ann@acme.test", 1_600, NOV_10))
    drawn = debits(services)
    assert later not in drawn
    assert drawn[None] == 100


def test_usage_beyond_every_grant_is_recorded_as_overdraft_never_lost(services, org, grants):
    ann = org["ann@acme.test"]
    result = record(
        services,
        usage("ann@acme.test", 1_400, NOV_10),
        usage("ann@acme.test", 600, NOV_10 + timedelta(hours=1)),
    )
    assert (result.recorded, result.overdraft) == (2, 500)
    with services.db.read() as s:
        overdraft = s.execute(
            select(LedgerEntry.person_id, LedgerEntry.period, LedgerEntry.amount).where(
                LedgerEntry.entry_type == "overdraft"
            )
        ).all()
        assert s.get(AccountTotal, (ann.id, "2026-11")).overdraft == 500
        view = balance_for(s, ann, services.policy, services.clock())
    assert [tuple(r) for r in overdraft] == [(ann.id, "2026-11", 500)]
    assert (view.used, view.overdraft, view.personal_remaining) == (2_000, 500, 0)
    assert_verified(services)


def test_a_use_case_spelled_differently_is_the_policys_use_case(services, org, grants):
    # Gateways send what people typed: "Security-Review " is the policy's security-review,
    # stored under the policy's name, drawn from its reserved pool, never "uncategorised".
    event = usage("ann@acme.test", 250, NOV_10, use_case="Security-Review ")
    result = record(services, event)
    assert result.uncategorised_use_cases == set()
    with services.db.read() as s:
        stored = s.get(UsageEvent, event.id)
    assert (stored.use_case, stored.uncategorised) == ("security-review", False)
    assert debits(services) == {grants["reserved"]: 250}
    assert_verified(services)


def test_a_model_missing_from_the_catalog_draws_weight_one_and_is_flagged_unknown_price(
    services, org
):
    event = usage("ann@acme.test", 0, NOV_10, model="mystery-llm-9")
    event = event.__class__(**{**event.__dict__, "input_tokens": 100, "output_tokens": 50})
    result = record(services, event)
    assert result.unknown_models == {"mystery-llm-9"}
    with services.db.read() as s:
        stored = s.get(UsageEvent, event.id)
    assert (stored.budget_tokens, stored.cost_micros, stored.unknown_price) == (150, 0, True)
    assert sum(debits(services).values()) == 150


def test_a_weighted_model_draws_its_weight_in_budget_tokens_and_costs_its_price(services, org):
    event = usage("ann@acme.test", 1_000, NOV_10, model="claude-opus-4")
    record(services, event)
    with services.db.read() as s:
        stored = s.get(UsageEvent, event.id)
    # weight 6; $15 per 1M input tokens = 15 micro-dollars per token
    assert (stored.budget_tokens, stored.cost_micros, stored.unknown_price) == (
        6_000,
        15_000,
        False,
    )


def test_usage_of_someone_not_in_the_directory_is_kept_unattributed(services, org):
    before = row_counts(services)
    event = usage("  Stranger@Elsewhere.test ", 400, NOV_10, use_case="unlisted-thing")
    result = record(services, event)
    assert (result.recorded, result.unattributed) == (1, 1)
    assert result.uncategorised_use_cases == {"unlisted-thing"}
    with services.db.read() as s:
        stored = s.get(UsageEvent, event.id)
    assert (stored.person_id, stored.identity, stored.uncategorised) == (
        None,
        "Stranger@Elsewhere.test",
        True,
    )
    after = row_counts(services)
    assert after["usage_events"] == before["usage_events"] + 1
    assert after["ledger_entries"] == before["ledger_entries"]
    assert_verified(services)


def test_usage_recorded_twice_counts_once(services, org):
    event = usage("ann@acme.test", 500, NOV_10)
    first = record(services, event, event)
    second = record(services, event)
    assert (first.recorded, first.duplicates) == (1, 1)
    assert (second.recorded, second.duplicates) == (0, 1)
    assert sum(debits(services).values()) == 500
    assert_verified(services)


def test_the_same_batch_recorded_concurrently_from_two_threads_counts_once(services, org):
    threads = 2
    batch = [usage("ann@acme.test", 100, NOV_10 + timedelta(minutes=i)) for i in range(20)]
    batch += [usage("bob@acme.test", 150, NOV_10 + timedelta(minutes=i)) for i in range(20)]
    start = threading.Barrier(threads)
    results, failures = [], []

    def deliver() -> None:
        try:
            start.wait(timeout=10)
            with services.db.unit_of_work() as uow:
                results.append(record_usage(uow.session, batch, services.policy, services.clock()))
                uow.commit()
        except Exception as exc:  # surfaced below with the thread's error
            failures.append(exc)

    workers = [threading.Thread(target=deliver) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert failures == []
    assert sorted(r.recorded for r in results) == [0, 40]
    assert sorted(r.duplicates for r in results) == [0, 40]
    assert sum(debits(services).values()) == 20 * 100 + 20 * 150
    with services.db.read() as s:
        events = s.scalar(select(func.sum(AccountTotal.events)))
    assert events == 40
    assert_verified(services)


def test_verify_reports_a_projection_that_drifted_from_its_entries(services, org, grants):
    record(services, usage("ann@acme.test", 300, NOV_10))
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(GrantBalance)
            .where(GrantBalance.grant_id == grants["ann operational"])
            .values(remaining=GrantBalance.remaining + 7)
        )
        uow.session.execute(update(AccountTotal).values(events=AccountTotal.events + 1))
        uow.commit()
    with services.db.read() as s:
        problems = {(p.subject, p.field, p.stored, p.derived) for p in verify(s)}
    ann = org["ann@acme.test"]
    assert (f"grant {grants['ann operational']}", "remaining", 507, 500) in problems
    assert (f"person {ann.id} period 2026-11", "events", 2, 1) in problems


# --- period roll-over ----------------------------------------------------------------------


def expire_november(services, now=DEC_1):
    november = period_by_key(services.policy.periods, "2026-11")
    with services.db.unit_of_work() as uow:
        result = expire(uow.session, services.policy, november, now)
        uow.commit()
    return result


def test_closing_a_period_lapses_what_is_left_as_visible_expire_entries(services, org, grants):
    record(services, usage("ann@acme.test", 900, NOV_10))  # 800 operational + 100 exploration
    with services.db.read() as s:
        left = {gid: state[1] for gid, state in grant_states(s).items() if state[1] > 0}
    result = expire_november(services)
    assert not result.already_done
    assert result.expired_grants == len(left)
    assert result.expired_tokens == sum(left.values())
    with services.db.read() as s:
        expired = dict(
            s.execute(
                select(LedgerEntry.grant_id, LedgerEntry.amount).where(
                    LedgerEntry.entry_type == "expire", LedgerEntry.reference == "expire:2026-11"
                )
            ).all()
        )
        states = grant_states(s)
    assert expired == left
    assert states[grants["ann exploration"]] == (200, 0, 100, 100)
    assert states[grants["ann operational"]] == (800, 0, 800, 0)
    assert all(states[gid][1] == 0 for gid in left)
    assert_verified(services)


def test_rollover_is_capped_at_the_policys_share_of_the_baseline(services, org):
    ann, bob = org["ann@acme.test"], org["bob@acme.test"]
    record(services, usage("ann@acme.test", 950, NOV_10))  # 50 left of 1,000
    result = expire_november(services)
    with services.db.read() as s:
        rollovers = dict(
            s.execute(
                select(Grant.owner_id, Grant.amount).where(Grant.source == "rollover from 2026-11")
            ).all()
        )
        people = s.scalar(select(func.count()).select_from(Person))
    assert rollovers[ann.id] == 50  # all of what was left: under the cap
    assert rollovers[bob.id] == 100  # 1,000 unused, capped at 10% of a 1,000 baseline
    assert rollovers[org["mia@acme.test"].id] == 300  # power-user: 10% of 3,000
    assert len(rollovers) == people
    assert result.rolled_over_tokens == sum(rollovers.values())


def test_closing_a_period_issues_the_next_periods_allotments(services, org):
    result = expire_november(services)
    with services.db.read() as s:
        december = s.execute(
            select(Grant.kind, func.count(), func.sum(Grant.amount))
            .where(Grant.period == "2026-12", Grant.source == "policy")
            .group_by(Grant.kind)
        ).all()
        december_all = s.scalar(
            select(func.count()).select_from(Grant).where(Grant.period == "2026-12")
        )
        starts = set(s.scalars(select(Grant.effective_at).where(Grant.period == "2026-12")))
    by_kind = {kind: (n, int(total)) for kind, n, total in december}
    # 5 people x 2 classes; power-users (ceo, mia) 3,000, the others 1,000.
    assert by_kind["baseline"] == (10, 2 * 3_000 + 3 * 1_000)
    assert by_kind["team_pool"] == (3, 1_500)
    assert by_kind["project"] == (1, 200)
    assert by_kind["reserved"] == (1, 300)
    assert result.issued_grants == december_all
    assert starts == {DEC_1}


def test_closing_a_period_twice_changes_nothing_the_second_time(services, org):
    record(services, usage("ann@acme.test", 300, NOV_10))
    first = expire_november(services)
    before = row_counts(services)
    second = expire_november(services, now=DEC_1 + timedelta(days=3))
    assert first.expired_tokens > 0 and not first.already_done
    assert second.already_done
    assert (second.expired_tokens, second.rolled_over_tokens, second.issued_grants) == (0, 0, 0)
    assert row_counts(services) == before
    assert_verified(services)


def test_a_period_that_has_not_ended_cannot_be_closed(services, org):
    before = row_counts(services)
    with pytest.raises(ValueError, match="2026-11 has not ended yet"):
        expire_november(services, now=DEC_1 - timedelta(seconds=1))
    assert row_counts(services) == before


def test_closing_an_earlier_period_after_a_later_one_changes_nothing(services, org):
    # November's close lapsed every grant that ended by then, October's included; closing
    # October afterwards must not issue November allotments into a closed period.
    october = period_by_key(services.policy.periods, "2026-10")
    expire_november(services)
    before = row_counts(services)
    with services.db.unit_of_work() as uow:
        result = expire(uow.session, services.policy, october, DEC_1)
        uow.commit()
    assert (result.already_done, result.superseded_by) == (True, "2026-11")
    after = row_counts(services)
    assert after.pop("period_runs") == before.pop("period_runs") + 1
    assert after == before
    with services.db.unit_of_work() as uow:
        again = expire(uow.session, services.policy, october, DEC_1)
    assert (again.already_done, again.superseded_by) == (True, None)


def test_late_usage_for_a_closed_period_is_recorded_as_that_periods_overdraft(services, org):
    ann = org["ann@acme.test"]
    expire_november(services)
    result = record(services, usage("ann@acme.test", 120, NOV_25), now=DEC_1 + timedelta(hours=2))
    assert result.overdraft == 120
    with services.db.read() as s:
        november = s.get(AccountTotal, (ann.id, "2026-11"))
        december = s.get(AccountTotal, (ann.id, "2026-12"))
    assert (november.used, november.overdraft) == (120, 120)
    assert december is None
    assert_verified(services)


# --- the balance read view -----------------------------------------------------------------


def test_the_balance_view_shows_each_pool_burn_rate_and_run_out_date(services, org, clock):
    ann = org["ann@acme.test"]
    clock.set(datetime(2026, 11, 11, tzinfo=UTC))  # ten days into November
    record(services, usage("ann@acme.test", 500, NOV_10))
    with services.db.read() as s:
        view = balance_for(s, ann, services.policy, clock())
    assert view.period.key == "2026-11"
    assert [(p.label, p.remaining, p.amount, p.shared) for p in view.pools] == [
        ("Baseline (operational)", 300, 800, False),
        ("Baseline (exploration)", 200, 200, False),
        ("Team pool (Marketing)", 500, 500, True),
    ]
    assert all(p.expires_at == DEC_1 for p in view.pools)
    assert (view.personal_remaining, view.personal_total, view.used) == (500, 1_000, 500)
    assert view.used_share == 0.5
    assert view.burn_per_day == 50
    assert view.run_out_at == datetime(2026, 11, 21, tzinfo=UTC)
    assert view.cost_micros == 1_250  # 500 input tokens at $2.50 per 1M


def test_a_project_owner_sees_the_project_pool_and_an_idle_person_has_no_run_out_date(
    services, org
):
    mia = org["mia@acme.test"]
    with services.db.read() as s:
        view = balance_for(s, mia, services.policy, services.clock())
    labels = [p.label for p in view.pools]
    assert "Project Apollo" in labels
    assert view.burn_per_day == 0 and view.run_out_at is None


def test_a_trickle_of_usage_against_a_huge_balance_does_not_overflow_the_run_out_date(
    services, org, clock
):
    ann = org["ann@acme.test"]
    with services.db.unit_of_work() as uow:
        grant(uow.session, "manual", ann.id, 5_000_000_000, NOV_1, DEC_1, period="2026-11")
        uow.commit()
    clock.set(datetime(2026, 11, 11, tzinfo=UTC))
    record(services, usage("ann@acme.test", 10, NOV_10))  # 1 token a day
    with services.db.read() as s:
        view = balance_for(s, ann, services.policy, clock())
    assert view.burn_per_day == 1
    assert view.run_out_at == clock() + timedelta(days=36_500)


def test_a_rollover_shows_as_its_own_pool_in_the_next_period(services, org, clock):
    ann = org["ann@acme.test"]
    expire_november(services)
    clock.set(DEC_1 + timedelta(days=2))
    with services.db.read() as s:
        view = balance_for(s, ann, services.policy, clock())
    assert view.period.key == "2026-12"
    assert ("Baseline (operational) rollover", 100) in [(p.label, p.remaining) for p in view.pools]
    assert view.personal_total == 1_100
