"""Dynamic quotas (`[quotas] auto_apply`, issue 23) on the real ledger: at the period change
the `expire` job applies each person's one-step tier change (never below what they used)
before the next period's allotments are issued, tells the person, their manager and the
admins, once per period whatever the runs (a concurrent double run on PostgreSQL); an admin
reverts a change once, audited."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction
from bot.jobs import run_job
from budgets.ledger import expire, verify
from budgets.periods import period_by_key
from budgets.policy import QuotaSettings
from storage.models import (
    AuditEntry,
    Grant,
    GrantBalance,
    LedgerEntry,
    OutboxMessage,
    QuotaOverride,
    QuotaRecommendation,
)
from tests.conftest import Clock
from tests.integration.test_quotas import seed
from tests.integration.test_request_races import all_at_once

NOVEMBER_START = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    """Mid-October: the directory import issues October's allotments, and November's are
    issued at the period change, as in production."""
    return Clock(datetime(2026, 10, 15, 10, 0, tzinfo=UTC))


@pytest.fixture
def automatic(services, clock):  # noqa: ANN001, ANN201
    services.policy = replace(
        services.policy, phase="optimize", quotas=QuotaSettings(auto_apply=True)
    )
    return services


def close_september(services) -> None:  # noqa: ANN001
    """September was closed at its own change (before these tests' October close)."""
    with services.db.unit_of_work() as uow:
        expire(
            uow.session,
            services.policy,
            period_by_key(services.policy.periods, "2026-09"),
            services.clock(),
        )
        uow.commit()


def prepared(services, clock) -> None:  # noqa: ANN001
    seed(services)
    clock.set(NOVEMBER_START)
    close_september(services)


def baseline_of(services, person, period="2026-11"):  # noqa: ANN001, ANN201
    with services.db.read() as session:
        return session.scalar(
            select(func.sum(Grant.amount)).where(
                Grant.kind == "baseline",
                Grant.owner_type == "person",
                Grant.owner_id == person.id,
                Grant.period == period,
                Grant.source == "policy",  # the tier's allotment, not a rollover
            )
        )


def facts(services):  # noqa: ANN001, ANN201
    with services.db.read() as session:
        overrides = session.execute(
            select(QuotaOverride.subject, QuotaOverride.tier, QuotaOverride.effective_at).order_by(
                QuotaOverride.id
            )
        ).all()
        audits = Counter(session.scalars(select(AuditEntry.action)))
        keys = sorted(
            k for k in session.scalars(select(OutboxMessage.key)) if k.startswith("quota-auto:")
        )
        november = session.scalar(
            select(func.count()).select_from(Grant).where(Grant.period == "2026-11")
        )
    return overrides, audits, keys, november


def test_the_period_change_applies_one_step_and_tells_the_person_manager_and_admins(
    automatic, org, clock
):
    prepared(automatic, clock)
    run_job(automatic, "expire", deliverers=[])
    overrides, audits, keys, _ = facts(automatic)
    ann, bob = org["ann@acme.test"], org["bob@acme.test"]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert (f"person:{ann.id}", "power-user", start) in overrides
    assert (f"person:{bob.id}", "light", start) in overrides
    # Allotments of the new period follow the new tiers.
    assert baseline_of(automatic, ann) == 6_000_000
    assert baseline_of(automatic, bob) == 500_000
    assert audits["quota.auto_applied"] == len(overrides)
    mia, ceo = org["mia@acme.test"], org["ceo@acme.test"]
    with automatic.db.read() as session:
        ann_rec = session.scalar(
            select(QuotaRecommendation.id).where(QuotaRecommendation.subject == f"person:{ann.id}")
        )
    for who in (f"person:{ann.id}", f"manager:{mia.id}", f"admin:{ceo.id}"):
        assert f"quota-auto:{ann_rec}:{who}" in keys

    # The job again (or after a restart): nothing more.
    run_job(automatic, "expire", deliverers=[])
    assert facts(automatic)[:3] == (overrides, audits, keys)


def test_a_concurrent_double_run_applies_once(automatic, org, clock):
    prepared(automatic, clock)
    all_at_once([lambda: run_job(automatic, "expire", deliverers=[]) for _ in range(2)])
    overrides, audits, keys, november = facts(automatic)
    assert len(overrides) == len({s for s, _, _ in overrides}) == audits["quota.auto_applied"]
    assert len(overrides) >= 2
    assert len(keys) == len(set(keys))
    run_job(automatic, "expire", deliverers=[])
    assert facts(automatic)[3] == november  # the period's allotments were issued once


def test_nothing_is_applied_without_auto_apply(services, org, clock):
    services.policy = replace(services.policy, phase="optimize")
    prepared(services, clock)
    run_job(services, "expire", deliverers=[])
    overrides, audits, keys, _ = facts(services)
    assert (overrides, audits["quota.auto_applied"], keys) == ([], 0, [])
    assert baseline_of(services, org["ann@acme.test"]) == 2_000_000


def test_an_admin_reverts_a_change_once_and_only_an_admin(automatic, org, clock):
    prepared(automatic, clock)
    run_job(automatic, "expire", deliverers=[])
    ann = org["ann@acme.test"]
    with automatic.db.read() as session:
        rec = session.scalar(
            select(QuotaRecommendation.id).where(QuotaRecommendation.subject == f"person:{ann.id}")
        )
    dispatcher = Dispatcher(automatic)

    def click(email):  # noqa: ANN001, ANN202
        return dispatcher.handle_action(IncomingAction("console", email, "quota.revert", str(rec)))

    refused = click("mia@acme.test")
    assert refused.template == "quota_refused" and refused.context["problem"] == "not_admin"
    reverted = click("ceo@acme.test")
    assert reverted.template == "quota_reverted"
    assert "is back to tier default (2M) from budget period 2026-11" in automatic.renderer.text(
        reverted
    )
    # November's allotment was issued at power-user: the extra 4M lapses now, once.
    with automatic.db.read() as session:
        left = session.scalar(
            select(func.sum(GrantBalance.remaining))
            .join(Grant, Grant.id == GrantBalance.grant_id)
            .where(
                Grant.kind == "baseline",
                Grant.owner_id == ann.id,
                Grant.period == "2026-11",
                Grant.owner_type == "person",
            )
        )
        lapsed = session.scalars(
            select(LedgerEntry.amount).where(LedgerEntry.reference == f"quota-revert:{rec}")
        ).all()
        assert verify(session) == []
    assert (left, sorted(lapsed)) == (2_000_000, [800_000, 3_200_000])
    again = click("ceo@acme.test")
    assert again.context["problem"] == "already_decided"
    _, audits, _, _ = facts(automatic)
    assert audits["quota.reverted"] == 1

    # December's allotment is back at the default tier.
    clock.set(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    run_job(automatic, "expire", deliverers=[])
    assert baseline_of(automatic, ann, "2026-12") == 2_000_000


def test_reverting_a_lowering_grants_back_what_the_running_period_misses_once(
    automatic, org, clock
):
    prepared(automatic, clock)
    run_job(automatic, "expire", deliverers=[])
    bob = org["bob@acme.test"]
    with automatic.db.read() as session:
        rec = session.scalar(
            select(QuotaRecommendation.id).where(QuotaRecommendation.subject == f"person:{bob.id}")
        )
    dispatcher = Dispatcher(automatic)
    for _ in range(2):
        dispatcher.handle_action(
            IncomingAction("console", "ceo@acme.test", "quota.revert", str(rec))
        )
    with automatic.db.read() as session:
        top_ups = session.execute(
            select(Grant.token_class, Grant.amount).where(
                Grant.idempotency_key.like(f"quota-revert:{rec}:%")
            )
        ).all()
        assert verify(session) == []
    assert sorted(top_ups) == [("exploration", 300_000), ("operational", 1_200_000)]
    assert baseline_of(automatic, bob) + sum(a for _, a in top_ups) == 2_000_000


def test_concurrent_reverts_revert_once(automatic, org, clock):
    prepared(automatic, clock)
    run_job(automatic, "expire", deliverers=[])
    ann = org["ann@acme.test"]
    with automatic.db.read() as session:
        rec = session.scalar(
            select(QuotaRecommendation.id).where(QuotaRecommendation.subject == f"person:{ann.id}")
        )
    dispatcher = Dispatcher(automatic)
    replies = all_at_once(
        [
            lambda: dispatcher.handle_action(
                IncomingAction("console", "ceo@acme.test", "quota.revert", str(rec))
            )
            for _ in range(4)
        ]
    )
    assert sorted(r.template for r in replies) == ["quota_refused"] * 3 + ["quota_reverted"]
    with automatic.db.read() as session:
        lapsed = session.scalars(
            select(LedgerEntry.amount).where(LedgerEntry.reference == f"quota-revert:{rec}")
        ).all()
        assert verify(session) == []
    assert sorted(lapsed) == [800_000, 3_200_000]
    assert facts(automatic)[1]["quota.reverted"] == 1


def test_a_change_a_later_tier_change_followed_is_not_reverted_over_it(automatic, org, clock):
    prepared(automatic, clock)
    run_job(automatic, "expire", deliverers=[])
    ann = org["ann@acme.test"]
    with automatic.db.unit_of_work() as uow:
        rec = uow.session.scalar(
            select(QuotaRecommendation.id).where(QuotaRecommendation.subject == f"person:{ann.id}")
        )
        # An admin set Ann's tier again afterwards (a later override): it governs now.
        uow.session.add(
            QuotaOverride(
                kind="tier",
                subject=f"person:{ann.id}",
                tier="light",
                effective_at=datetime(2026, 12, 1, tzinfo=UTC),
                created_at=clock(),
            )
        )
        uow.commit()
    before = facts(automatic)
    refused = Dispatcher(automatic).handle_action(
        IncomingAction("console", "ceo@acme.test", "quota.revert", str(rec))
    )
    assert refused.template == "quota_refused" and refused.context["problem"] == "superseded"
    assert "followed by a later tier change" in automatic.renderer.text(refused)
    assert facts(automatic) == before  # nothing changed: no override, lapse or audit
