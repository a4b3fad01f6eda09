"""`usage reprice` on a real database: usage recorded at an unknown price is booked again once
its model resolves, with append-only ledger entries, exactly once, and `ledger verify` clean.

Amounts come from `small_policy()` (tests/integration/ledger_support.py): Ann has 800
operational and 200 exploration tokens, her team pool 500."""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from budgets.attribution import repriceable_models, unknown_models
from budgets.ledger import expire, record_usage, verify
from budgets.periods import period_by_key
from budgets.policy import DEFAULT_POLICY_PATH, parse_policy
from budgets.repricing import reprice_unknown
from storage.models import AccountTotal, AuditEntry, LedgerEntry, UsageEvent
from tests.conftest import run_together
from tests.integration.ledger_support import small_policy, usage

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)


@pytest.fixture
def policy():
    return small_policy()


def policy_knowing(alias: str, model: str):
    """The small policy, with `alias` now an alias of catalog `model`."""
    base = small_policy()
    data = copy.deepcopy(tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))
    data["tiers"] = {name: {"baseline": t.baseline} for name, t in base.tiers.items()}
    data["team_pools"] = {"default": 500}
    data["projects"] = [{"name": "Apollo", "owner": "mia@acme.test", "budget": 200}]
    data["reserved_pools"] = [
        {"name": "security reserve", "use_case": "security-review", "amount": 300}
    ]
    data["models"][model]["aliases"] = [alias]
    return parse_policy(data, "small test policy with an alias")


def record(services, *events):
    with services.db.unit_of_work() as uow:
        result = record_usage(uow.session, list(events), services.policy, services.clock())
        uow.commit()
    return result


def reprice(services, policy):
    with services.db.unit_of_work() as uow:
        result = reprice_unknown(uow.session, policy, services.clock())
        uow.commit()
    return result


def ann_total(services, org):
    with services.db.read() as s:
        return s.get(AccountTotal, (org["ann@acme.test"].id, "2026-11"))


def assert_verified(services):
    with services.db.read() as s:
        assert [str(p) for p in verify(s)] == []


def test_a_model_group_learnt_later_is_repriced_and_its_excess_given_back(services, org):
    result = record(services, usage("ann@acme.test", 1_000, NOV_10, model="fast-chat"))
    assert result.unknown_models == {"fast-chat"}
    assert ann_total(services, org).used == 1_000  # weight 1 while unknown
    knowing = policy_knowing("fast-chat", "gpt-4o-mini")
    with services.db.read() as s:
        assert unknown_models(s, knowing) == []
        assert [m.name for m in repriceable_models(s, knowing)] == ["fast-chat"]
    entries_before = _entries(services)

    result = reprice(services, knowing)

    assert [(m.sent, m.resolved, m.events) for m in result.repriced] == [
        ("fast-chat", "gpt-4o-mini", 1)
    ]
    assert (result.repriced[0].budget_tokens_before, result.repriced[0].budget_tokens_after) == (
        1_000,
        100,
    )
    assert result.given_back == 900
    with services.db.read() as s:
        stored = s.scalars(select(UsageEvent)).one()
        assert (stored.model, stored.model_sent, stored.price_source, stored.unknown_price) == (
            "gpt-4o-mini",
            "fast-chat",
            "catalog",
            False,
        )
        assert (stored.budget_tokens, stored.cost_micros) == (100, 150)  # 1,000 x $0.15/1M
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "usage.reprice")).one()
        assert audit.detail["budget_tokens_before"] == 1_000
    total = ann_total(services, org)
    assert (total.used, total.cost_micros, total.events) == (100, 150, 1)
    # Append-only: every earlier entry is still there, unchanged; the correction is new entries.
    after = _entries(services)
    assert after[: len(entries_before)] == entries_before
    assert sum(e[2] for e in after[len(entries_before) :] if e[1] == "debit") == -900
    assert_verified(services)


def test_a_second_reprice_changes_nothing(services, org):
    record(services, usage("ann@acme.test", 1_000, NOV_10, model="fast-chat"))
    knowing = policy_knowing("fast-chat", "gpt-4o-mini")
    reprice(services, knowing)
    entries = _entries(services)

    again = reprice(services, knowing)

    assert again.repriced == []
    assert _entries(services) == entries
    assert_verified(services)


def test_repricing_a_dearer_model_draws_the_difference_in_draw_down_order(services, org):
    # 400 tokens at weight 1 while unknown; claude-opus-4 weighs 6: 2,400 in all, so 2,000 more
    # are drawn: 400 more operational, then 200 exploration, 500 team pool, then 900 overdraft.
    record(services, usage("ann@acme.test", 400, NOV_10, model="big-brain"))
    result = reprice(services, policy_knowing("big-brain", "claude-opus-4"))
    assert (result.drawn, result.overdraft, result.given_back) == (2_000, 900, 0)
    total = ann_total(services, org)
    assert (total.used, total.overdraft, total.events) == (2_400, 900, 1)
    assert_verified(services)


def test_tokens_given_back_first_cancel_the_overdraft(services, org):
    record(services, usage("ann@acme.test", 1_600, NOV_10, model="fast-chat"))
    assert ann_total(services, org).overdraft == 100  # 800 + 200 + 500 covered
    reprice(services, policy_knowing("fast-chat", "gpt-4o-mini"))
    total = ann_total(services, org)
    assert (total.used, total.overdraft) == (160, 0)
    assert_verified(services)


def test_tokens_given_back_to_an_expired_grant_expire_again(services, org):
    record(services, usage("ann@acme.test", 500, NOV_10, model="fast-chat"))
    services.clock.set(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    with services.db.unit_of_work() as uow:
        expire(
            uow.session,
            services.policy,
            period_by_key(services.policy.periods, "2026-11"),
            services.clock(),
        )
        uow.commit()
    reprice(services, policy_knowing("fast-chat", "gpt-4o-mini"))
    with services.db.read() as s:
        lapsed = s.scalar(
            select(func.sum(LedgerEntry.amount)).where(
                LedgerEntry.entry_type == "expire", LedgerEntry.reference.like("reprice:%")
            )
        )
    assert lapsed == 450
    assert_verified(services)


def test_unattributed_usage_is_repriced_and_debited_at_the_new_price_when_reassigned(services, org):
    from budgets.attribution import reassign_identity

    record(services, usage("key:abc", 1_000, NOV_10, model="fast-chat"))
    knowing = policy_knowing("fast-chat", "gpt-4o-mini")
    reprice(services, knowing)
    with services.db.unit_of_work() as uow:
        reassign_identity(uow.session, "key:abc", "ann@acme.test", knowing, services.clock())
        uow.commit()
    assert ann_total(services, org).used == 100
    assert_verified(services)


def test_concurrent_reprices_book_each_row_exactly_once(services, org):
    record(
        services,
        *[usage("ann@acme.test", 100, NOV_10, model="fast-chat") for _ in range(6)],
        usage("bob@acme.test", 300, NOV_10, model="fast-chat"),
    )
    knowing = policy_knowing("fast-chat", "gpt-4o-mini")

    results = run_together(lambda: reprice(services, knowing), 4)

    assert sum(r.events for r in results) == 7
    assert sum(r.given_back for r in results) == (600 - 60) + (300 - 30)
    assert ann_total(services, org).used == 60
    assert_verified(services)


def _entries(services):
    with services.db.read() as s:
        return [
            (e.grant_id, e.entry_type, e.amount, e.reference)
            for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.id))
        ]
