"""Sample contexts of the governance messages (issue 9): flags, the flag explanation, the
monthly review, quota recommendations and the quarterly scorecard. Built with the domain's own
functions where they are pure, so the samples carry exactly what the handlers put in replies."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core.presenters.quota_changes import change_context
from bot.core.presenters.review import review_context, scorecard_context
from budgets.policy import load_policy
from budgets.quota_changes import AutoApplied
from scoring.detectors import (
    Burst,
    ContextWeek,
    Conversation,
    UseCaseBaseline,
    chat_loops,
    context_inflation,
    output_spam,
    overspend,
    prompt_spam,
    task_splitting,
    underuse,
)
from scoring.governance import GovernanceSettings
from scoring.review import (
    Change,
    FlagCount,
    HotSpot,
    MonthlyReview,
    PersonLine,
    TeamLine,
    TeamScorecard,
    WorkflowLine,
)

S = GovernanceSettings()
BRIEFS = UseCaseBaseline("seo-brief", 40, 2_000, 8_000)


def _week(key: str, ratio: float, accepted: int = 7) -> ContextWeek:
    return ContextWeek(key, 10, ratio, 10, accepted, "seo-brief", 2_000 * ratio, 2_000)


EVIDENCE: dict[str, list[dict[str, Any]]] = {
    "context_inflation": [
        context_inflation([_week("2026-W46", 4.0)], S.context_inflation),
        context_inflation(
            [_week("2026-W44", 0.6), _week("2026-W45", 0.7), _week("2026-W46", 1.7)],
            S.context_inflation,
        ),
        context_inflation(
            [_week(f"2026-W4{n}", r) for n, r in ((3, 0.7), (4, 1.0), (5, 1.3), (6, 1.8))],
            S.context_inflation,
        ),
    ],
    "chat_loops": [
        chat_loops([Conversation(22, 80_000, False)] * 5, 500_000, 12, S.chat_loops),
        {
            **chat_loops([Conversation(22, 80_000, False)] * 4, 420_000, 9, S.chat_loops),
            "weeks": 2,
            "from_week": "2026-W45",
        },
    ],
    "output_spam": [
        output_spam(
            {"a1b2c3d4e5f60718": 6, "a1b2c3d4e5f60719": 3, "0f0f0f0f0f0f0f0f": 9},
            18,
            S.output_spam,
        ),
        output_spam(
            {"a1b2c3d4e5f60718": 3, "a1b2c3d4e5f60719": 2, "0f0f0f0f0f0f0f0f": 5},
            10,
            S.output_spam,
            costs={
                "a1b2c3d4e5f60718": [
                    ("seo-brief", 9_000),
                    ("seo-brief", 400),
                    ("seo-brief", 8_500),
                ],
                "a1b2c3d4e5f60719": [("seo-brief", 350), ("seo-brief", 500)],
            },
            baselines={"seo-brief": UseCaseBaseline("seo-brief", 40, 2_000, 8_000)},
        ),
    ],
    "prompt_spam": [
        prompt_spam({"00000000deadbeef": 30, "1234567890abcdef": 10}, 40, S.prompt_spam)
    ],
    "task_splitting": [
        task_splitting(
            {"seo-brief": [Burst(5, 9_000), Burst(6, 10_000)]},
            {"seo-brief": BRIEFS},
            30,
            S.task_splitting,
        ),
        task_splitting(
            {"seo-brief": [Burst(6, 9_000)]}, {"seo-brief": BRIEFS}, 8, S.task_splitting
        ),
    ],
    "overspend": [overspend(600_000, 400_000, 0.25)],
    "underuse": [underuse(20_000, 400_000, 0.2)],
}
EVIDENCE["chat_loops"].append({**EVIDENCE["chat_loops"][0], "continuing": True, "eased_to": 0.6})


def flag(detector: str = "prompt_spam", status: str = "pending", **changes: Any) -> dict[str, Any]:
    values = {
        "id": 12,
        "week": "2026-W46",
        "detector": detector,
        "status": status,
        "evidence": EVIDENCE[detector][0],
        "explanation": "The same prompt was sent 30 times this week, 75% of your 40 requests.",
        "created_at": "2026-11-16T06:00:00+00:00",
        "resolved_at": None,
        "resolved_by": None,
    }
    values.update(changes)
    return values


REVIEW = MonthlyReview(
    month="2026-10",
    scope="org",
    scope_name="the organisation",
    people=42,
    over_users=(PersonLine(3, "Bob Builder", "Marketing", 3_000_000, 2_000_000, 0.5, 0.8),),
    under_users=(PersonLine(4, "Ann Analyst", None, 100_000, 2_000_000, -0.95, None),),
    workflows=(
        WorkflowLine("seo-brief", "seo-brief-v3", "SEO brief v3", 40, 35, 0.875, 2_100.0),
        WorkflowLine("coding", "tpl-9", None, 12, 9, 0.75, None),
        WorkflowLine("support-reply", None, None, 30, 21, 0.7, 900.0),
    ),
    hot_spots=(HotSpot("Marketing", "seo-brief", 12, 0.3), HotSpot(None, "coding", 6, 0.2)),
    teams=(
        TeamLine(1, "Marketing", 3, 4_350_000, 20_000_000, 15_000_000, -0.71, 17, 12, 0.7, 0.0),
        TeamLine(None, "No team", 1, 0, 0, 0, None, 0, 0, None, 0.0),
    ),
    flags=(FlagCount("prompt_spam", pending=1), FlagCount("chat_loops")),
    trend=(
        Change("tokens", 4_350_000, 50_000),
        Change("cost_micros", 17_400_000, 0),
        Change("artifacts", 17, 2),
        Change("accepted", 12, 2),
        Change("acceptance", 0.71, 1.0),
        Change("verified_minutes", 0.0, 0.0),
        Change("flags", 1, 0),
    ),
)
EMPTY_REVIEW = MonthlyReview(
    "2026-08",
    "team",
    "Mia Manager's team",
    2,
    (),
    (),
    (),
    (),
    (),
    (),
    tuple(
        Change(m, 0, 0)
        for m in (
            "tokens",
            "cost_micros",
            "artifacts",
            "accepted",
            "acceptance",
            "verified_minutes",
            "flags",
        )
    ),
)

RECOMMENDATION = {
    "id": 1,
    "month": "2026-10",
    "kind": "tier",
    "subject_name": "Ann Analyst",
    "direction": "raise",
    "tier_from": "default",
    "tier_to": "power-user",
    "amount_from": 2_000_000,
    "amount_to": 6_000_000,
    "evidence": {
        "periods": ["2026-09", "2026-10"],
        "used": [2_000_000, 2_000_000],
        "allotted": [2_000_000, 2_000_000],
        "artifacts": 20,
        "acceptance": 0.8,
    },
    "status": "pending",
}
POOL = {
    **RECOMMENDATION,
    "id": 2,
    "kind": "team_pool",
    "subject_name": "Marketing",
    "direction": "lower",
    "tier_from": None,
    "tier_to": None,
    "amount_from": 5_000_000,
    "amount_to": 3_750_000,
    "evidence": {"periods": ["2026-09", "2026-10"], "used": [0, 0], "allotted": [5_000_000] * 2},
}
AUTO_RAISE = AutoApplied(
    recommendation_id=1,
    person_id=4,
    name="Ann Analyst",
    manager_id=2,
    direction="raise",
    tier_from="default",
    tier_to="power-user",
    amount_from=2_000_000,
    amount_to=6_000_000,
    effective_period="2026-11",
    evidence={**RECOMMENDATION["evidence"], "baseline_acceptance": 0.75},
)
AUTO_LOWER = replace(
    AUTO_RAISE,
    recommendation_id=2,
    direction="lower",
    tier_to="light",
    amount_to=500_000,
    evidence={
        "periods": ["2026-09", "2026-10"],
        "used": [90_000, 120_000],
        "allotted": [2_000_000] * 2,
        "artifacts": 0,
        "acceptance": None,
    },
)
RESERVED = {**POOL, "id": 3, "kind": "reserved_pool", "subject_name": "security-review reserve"}


def _card(team: str, verdict: str, usage: float | None, accepted: float | None) -> TeamScorecard:
    return TeamScorecard(
        quarter="2026-Q4",
        team_id=1,
        team=team,
        tokens=140_000,
        tokens_before=100_000,
        accepted=16,
        accepted_before=10,
        acceptance=0.8,
        acceptance_before=0.7,
        verified_minutes=0.0,
        verified_minutes_before=0.0,
        variance=-0.4,
        verdict=verdict,
        usage_change=usage,
        accepted_change=accepted,
        minutes_change=None,
        value_change=accepted,
        value_measure="accepted",
    )


GOVERNANCE_SAMPLES: dict[str, Any] = {
    "flag_explanation": [
        {"detector": detector, "evidence": evidence}
        for detector, samples in EVIDENCE.items()
        for evidence in samples
    ],
    "flags": [
        {
            "own": True,
            "name": "Ann Analyst",
            "flags": [
                flag(),
                flag("chat_loops", "disputed", id=13),
                flag("task_splitting", "cleared", id=14),
            ],
            "resolver": False,
        },
        {"own": True, "name": "Ann Analyst", "flags": [], "resolver": False},
        {
            "own": False,
            "name": "Ann Analyst",
            "flags": [flag(status="upheld", resolved_by="Mia Manager")],
            "resolver": True,
        },
        {"own": False, "name": "Ann Analyst", "flags": [], "resolver": True},
    ],
    "flag_raised": [
        {"flag": flag(d)} for d in ("context_inflation", "output_spam", "task_splitting")
    ],
    "flag_disputed": [
        {"flag": flag(), "person_name": "Ann Analyst", "reason": "load test", "own": False},
        {"flag": flag(), "person_name": "Ann Analyst", "reason": None, "own": False},
        {"flag": flag(), "person_name": "Ann Analyst", "reason": None, "own": True},
    ],
    "flag_resolved": [
        {"flag": flag(status="upheld"), "actor_name": "Mia Manager", "own": True},
        {"flag": flag(status="cleared"), "actor_name": "Mia Manager", "own": True},
        {"flag": flag(status="cleared"), "actor_name": "Mia Manager", "own": False},
    ],
    "flag_refused": [
        {"problem": problem, "flag": flag(status="upheld"), "actor_name": "Mia Manager"}
        for problem in (
            "not_found",
            "not_pending",
            "own_flag",
            "not_manager",
            "already_decided",
            "odd",
        )
    ],
    "monthly_review": [review_context(REVIEW), review_context(EMPTY_REVIEW)],
    "quota_recommendations": {
        "month": "2026-10",
        "recommendations": [RECOMMENDATION, POOL, RESERVED],
    },
    "quota_decided": [
        {
            "recommendation": {**RECOMMENDATION, "status": "applied"},
            "decided_by": "Cleo Chief",
            "effective_period": "2026-12",
        },
        {
            "recommendation": {**POOL, "status": "dismissed"},
            "decided_by": "Cleo Chief",
            "effective_period": None,
        },
    ],
    "quota_auto_applied": [
        change_context(change, audience)
        for change in (AUTO_RAISE, AUTO_LOWER)
        for audience in ("person", "manager", "admin")
    ],
    "quota_reverted": {
        "recommendation": {**RECOMMENDATION, "status": "reverted"},
        "decided_by": "Cleo Chief",
        "effective_period": "2026-12",
    },
    "quota_refused": [
        {
            "problem": problem,
            "recommendation": {**RECOMMENDATION, "status": "applied"},
            "decided_by": "Cleo Chief",
            "effective_period": None,
        }
        for problem in ("not_found", "not_admin", "already_decided", "odd")
    ],
    "quarterly_scorecard": [
        scorecard_context(
            load_policy(),
            "2026-Q4",
            [
                _card("Marketing", "healthy", 0.4, 0.55),
                _card("Sales", "revisit_incentives", 0.4, 0.0),
                _card("Support", "watch", 0.5, 0.2),
                _card("Apps", "efficient", -0.1, 0.2),
                _card("Ops", "declining", -0.3, -0.3),
                _card("Data", "steady", 0.0, 0.0),
                _card("New", "new", None, None),
            ],
        ),
        scorecard_context(load_policy(), "2026-Q4", []),
    ],
}
