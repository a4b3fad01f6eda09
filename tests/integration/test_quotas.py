"""Quota recommendations on the real ledger: proposed from two periods of usage with their
evidence, applied or dismissed once by an admin (audited), and an applied change shows up in
the next period's allotments, not the running one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.jobs import review_content
from budgets import audit
from budgets.ledger import ensure_period_grants, expire
from budgets.periods import period_by_key
from budgets.quotas import recommend_quotas
from scoring.governance import governance_settings
from scoring.review import month_window
from storage.models import Grant, QuotaRecommendation
from tests.integration.governance_support import call, press, record, result, text_of

OCTOBER = "2026-10"


@pytest.fixture
def optimizing(services):  # noqa: ANN001, ANN201
    services.policy = replace(services.policy, phase="optimize")
    return services


def seed(services) -> None:  # noqa: ANN001
    """Ann uses all of her 2M in September and October with good acceptance; Bob barely
    touches his; every team pool lapses unused."""
    with services.db.unit_of_work() as uow:
        for key in ("2026-09", "2026-10"):
            period = period_by_key(services.policy.periods, key)
            ensure_period_grants(uow.session, services.policy, period, services.clock())
        uow.commit()
    usage, outcomes = [], []
    for month in (9, 10):
        day = datetime(2026, month, 10, 10, tzinfo=UTC)
        usage += [call("ann@acme.test", day, tokens=1_600_000)]  # 2M with output
        usage += [call("bob@acme.test", day, tokens=100_000)]
        outcomes += [result("ann@acme.test", day, status="accepted") for _ in range(8)]
        outcomes += [result("ann@acme.test", day, status="rejected") for _ in range(2)]
    record(services, usage, outcomes)


def proposals(services):  # noqa: ANN001, ANN201
    window = month_window(services.policy, OCTOBER)
    with services.db.read() as session:
        rules = governance_settings(services.policy).recommendations
        return recommend_quotas(session, services.policy, window.start, window.end, rules)


def recommendations_for(services, org) -> list:  # noqa: ANN001
    with services.db.unit_of_work() as uow:
        notices = review_content(uow.session, services.policy, OCTOBER, services.clock())
        uow.commit()
    return [n for key, n in notices if key.startswith("quota:")]


def test_ceilings_hit_with_good_acceptance_and_allotments_left_unused_are_proposed_with_evidence(
    optimizing, org
):
    seed(optimizing)
    found = {p.subject_name: p for p in proposals(optimizing)}
    ann, bob = found["Ann Analyst"], found["Bob Builder"]
    assert (ann.direction, ann.tier_from, ann.tier_to) == ("raise", "default", "power-user")
    assert ann.evidence == {
        "periods": ["2026-09", "2026-10"],
        "used": [2_000_000, 2_000_000],
        "allotted": [2_000_000, 2_000_000],
        "artifacts": 20,
        "acceptance": 0.8,
        "baseline_acceptance": 0.8,  # she is the only one with results: her own median
    }
    assert (bob.direction, bob.tier_from, bob.tier_to) == ("lower", "default", "light")
    marketing = found["Marketing"]
    assert (marketing.kind, marketing.amount_from, marketing.amount_to) == (
        "team_pool",
        5_000_000,
        3_750_000,
    )
    assert found["Mia Manager"].tier_to == "default"  # a power-user who used nothing
    assert found["security-review reserve"].direction == "lower"


def seed_periods(services, usage, outcomes) -> None:  # noqa: ANN001
    with services.db.unit_of_work() as uow:
        for key in ("2026-09", "2026-10"):
            period = period_by_key(services.policy.periods, key)
            ensure_period_grants(uow.session, services.policy, period, services.clock())
        uow.commit()
    record(services, usage, outcomes)


def test_a_lowering_never_goes_below_what_the_person_used(optimizing, org):
    """Bob used 600k of his 2M in each period (a lapse at the 30% share): light (500k) would
    not cover what he used, so nothing is proposed; Fin, at 125k, is lowered to light."""
    usage = []
    for month in (9, 10):
        day = datetime(2026, month, 10, 10, tzinfo=UTC)
        usage += [call("bob@acme.test", day, tokens=480_000)]  # 600k with output
        usage += [call("fin@acme.test", day, tokens=100_000)]
    seed_periods(optimizing, usage, [])
    found = {p.subject_name: p for p in proposals(optimizing) if p.kind == "tier"}
    assert "Bob Builder" not in found
    fin = found["Finn Finance"]
    assert (fin.direction, fin.tier_to, fin.amount_to) == ("lower", "light", 500_000)
    assert max(fin.evidence["used"]) <= fin.amount_to


def test_good_acceptance_for_a_raise_is_good_against_the_use_case_baseline(optimizing, org):
    """Ann and Bob both hit their ceiling. Ann's 64% is above the 60% floor but the lowest in
    the org (the seo-brief median is Fin's 80%): no raise. Bob's 90% is above it: raised."""
    usage, outcomes = [], []
    for month in (9, 10):
        day = datetime(2026, month, 10, 10, tzinfo=UTC)
        usage += [
            call(email, day, tokens=1_600_000) for email in ("ann@acme.test", "bob@acme.test")
        ]
        usage += [call("fin@acme.test", day, tokens=1_000)]
    day = datetime(2026, 10, 12, 10, tzinfo=UTC)
    for email, accepted, total in (
        ("ann@acme.test", 16, 25),
        ("bob@acme.test", 9, 10),
        ("fin@acme.test", 8, 10),
    ):
        outcomes += [
            result(email, day, status="accepted" if i < accepted else "rejected")
            for i in range(total)
        ]
    seed_periods(optimizing, usage, outcomes)
    raised = {p.subject_name: p for p in proposals(optimizing) if p.direction == "raise"}
    assert "Ann Analyst" not in raised
    bob = raised["Bob Builder"]
    assert (bob.evidence["acceptance"], bob.evidence["baseline_acceptance"]) == (0.9, 0.8)


def test_only_admins_get_the_recommendations_with_apply_and_dismiss_buttons(optimizing, org):
    seed(optimizing)
    (notice,) = recommendations_for(optimizing, org)
    assert notice.to_person_id == org["ceo@acme.test"].id and notice.reply.private
    labels = [b.label for b in notice.reply.buttons]
    assert "Apply #1" in labels and "Dismiss #1" in labels
    text = text_of(optimizing, notice.reply)
    assert "Raise Ann Analyst from tier default (2M) to power-user (6M)" in text
    assert "2026-09: 2M used of 2M; 2026-10: 2M used of 2M; 80% of 20 results accepted" in text
    recommendations_for(optimizing, org)  # the job again: nothing is proposed twice
    with optimizing.db.read() as session:
        stored = session.scalar(select(func.count()).select_from(QuotaRecommendation))
    assert stored == len(proposals(optimizing))


def test_no_recommendations_outside_the_optimize_phase(services, org):
    seed(services)
    assert recommendations_for(services, org) == []


def test_an_applied_change_takes_effect_next_period_and_is_audited(optimizing, org, clock):
    seed(optimizing)
    (notice,) = recommendations_for(optimizing, org)
    ids = {r["subject_name"]: r["id"] for r in notice.reply.context["recommendations"]}
    apply_ann = next(b for b in notice.reply.buttons if b.label == f"Apply #{ids['Ann Analyst']}")
    dismiss_bob = next(
        b for b in notice.reply.buttons if b.label == f"Dismiss #{ids['Bob Builder']}"
    )

    refused = press(optimizing, "mia@acme.test", apply_ann)
    assert refused.template == "quota_refused" and "Only an admin" in text_of(optimizing, refused)
    applied = press(optimizing, "ceo@acme.test", apply_ann)
    assert "It takes effect in period 2026-12" in text_of(optimizing, applied)
    again = press(optimizing, "ceo@acme.test", apply_ann)
    assert "was already applied by Cleo Chief" in text_of(optimizing, again)
    dismissed = press(optimizing, "ceo@acme.test", dismiss_bob)
    assert "Dismissed" in text_of(optimizing, dismissed)

    with optimizing.db.read() as session:
        actions = [
            (e.actor, e.action, e.detail.get("effective_period"))
            for e in audit.entries(session)
            if e.subject.startswith("quota:")
        ]
    assert actions == [
        ("ceo@acme.test", "quota.applied", "2026-12"),
        ("ceo@acme.test", "quota.dismissed", None),
    ]

    def baseline(person: str, period: str) -> int:
        with optimizing.db.read() as session:
            return session.scalar(
                select(func.sum(Grant.amount)).where(
                    Grant.kind == "baseline",
                    Grant.owner_id == org[person].id,
                    Grant.period == period,
                    Grant.source == "policy",
                )
            )

    assert baseline("ann@acme.test", "2026-11") == 2_000_000  # the running period is untouched
    clock.set(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    with optimizing.db.unit_of_work() as uow:
        november = period_by_key(optimizing.policy.periods, "2026-11")
        expire(uow.session, optimizing.policy, november, clock())
        uow.commit()
    assert baseline("ann@acme.test", "2026-12") == 6_000_000
    assert baseline("bob@acme.test", "2026-12") == 2_000_000  # dismissed: nothing changes
