"""Sample contexts of the scoring messages (issue 8): score, leaderboard, templates, the weekly
spotlight and verified-savings claims. Plain, JSON-safe data, as the handlers and
`scoring.spotlight` build it."""

from __future__ import annotations

from typing import Any

WEEK = {"key": "2026-W47", "kind": "week", "first_day": "2026-11-16", "last_day": "2026-11-22"}
PERIOD = {"key": "2026-11", "kind": "period", "first_day": "2026-11-01", "last_day": "2026-11-18"}
TIP = {
    "template": "SEO brief v3",
    "template_id": "seo-brief-v3",
    "use_case": "seo-brief",
    "saving_share": 0.38,
    "acceptance_rate": 0.81,
    "author": "Tia Template",
    "artifacts": 42,
}


def _reason(measure: str, value: float, **extra: Any) -> dict[str, Any]:
    return {
        "measure": measure,
        "value": value,
        "use_case": extra.pop("use_case", None),
        "figures": extra.pop("figures", []),
        "accepted_by_others": extra.pop("accepted_by_others", 0),
        "colleagues": extra.pop("colleagues", 0),
        "tokens_saved": extra.pop("tokens_saved", 0),
        "template": extra.pop("template", None),
        "minutes_saved": extra.pop("minutes_saved", 0.0),
    }


def _figure(
    component: str,
    unit: str,
    value: float | None,
    baseline: float | None,
    raw: float | None = None,
    index: float = 1.0,
    use_case: str = "seo-brief",
    share: float = 1.0,
):
    return {
        "component": component,
        "unit": unit,
        "value": value,
        "baseline": baseline,
        "raw": value if raw is None else raw,
        "index": index,
        "use_case": use_case,
        "share": share,
    }


CATEGORIES = [
    {
        "key": "efficiency-champion",
        "label": "Efficiency champion",
        "measure": "efficiency",
        "people": [
            {
                "tier": "gold",
                "name": "Ann Analyst",
                "team": "Marketing",
                "reason": _reason(
                    "efficiency",
                    2.0,
                    use_case="seo-brief",
                    figures=[_figure("efficiency", "tokens_per_accepted", 1000.0, 4000.0)],
                ),
            },
            {
                "tier": "silver",
                "name": "Dan <Typical> & Co",
                "team": None,
                "reason": _reason(
                    "efficiency",
                    1.26,
                    use_case="seo-brief",
                    figures=[_figure("efficiency", "tokens_per_accepted", 2666.7, 4000.0)],
                ),
            },
            {
                "tier": "bronze",
                "name": "Eve Typical",
                "team": "Sales",
                "reason": _reason(
                    "efficiency",
                    1.5,
                    figures=[
                        _figure(
                            "efficiency",
                            "tokens_per_accepted",
                            3000.0,
                            4000.0,
                            2000.0,
                            1.33,
                            "seo-brief",
                            0.6,
                        ),
                        _figure(
                            "efficiency",
                            "tokens_per_accepted",
                            5000.0,
                            None,
                            4000.0,
                            2.0,
                            "coding",
                            0.4,
                        ),
                    ],
                ),
            },
        ],
    },
    {
        "key": "prompt-to-result",
        "label": "Best prompt-to-result ratio",
        "measure": "prompt_to_result",
        "people": [
            {
                "tier": "gold",
                "name": "Ann Analyst",
                "team": "Marketing",
                "reason": _reason(
                    "prompt_to_result",
                    1.39,
                    use_case="seo-brief",
                    figures=[
                        _figure("acceptance", "rate", 1.0, 0.75),
                        _figure("revision", "edit_distance", 0.05, 0.2),
                    ],
                ),
            }
        ],
    },
    {
        "key": "workflow-builder",
        "label": "Reusable workflow builder",
        "measure": "workflow_builder",
        "people": [
            {
                "tier": "gold",
                "name": "Tia Template",
                "team": "Marketing",
                "reason": _reason(
                    "workflow_builder",
                    18.0,
                    accepted_by_others=18,
                    colleagues=3,
                    tokens_saved=37_720,
                    template="SEO brief v3",
                ),
            }
        ],
    },
    {
        "key": "knowledge-contribution",
        "label": "Best internal knowledge contribution",
        "measure": "knowledge_contribution",
        "people": [
            {
                "tier": "gold",
                "name": "Tia Template",
                "team": "Marketing",
                "reason": _reason(
                    "knowledge_contribution",
                    37_720.0,
                    accepted_by_others=18,
                    colleagues=3,
                    tokens_saved=37_720,
                    template="SEO brief v3",
                    minutes_saved=45.0,
                ),
            }
        ],
    },
    {
        "key": "verified-savings",
        "label": "Highest verified savings",
        "measure": "verified_savings",
        "people": [
            {
                "tier": "bronze",
                "name": "Hal Saver",
                "team": "Sales",
                "reason": _reason("verified_savings", 90.0),
            }
        ],
    },
    {
        "key": "all-round",
        "label": "All-round",
        "measure": "score",
        "people": [
            {
                "tier": "gold",
                "name": "Kim Typical",
                "team": "Sales",
                "reason": _reason("score", 131.5, use_case="coding"),
            },
            {
                "tier": "silver",
                "name": "Eve Typical",
                "team": "Sales",
                "reason": _reason(
                    "speed",
                    1.4,
                    use_case="coding",
                    figures=[_figure("speed", "seconds", 420.0, 600.0)],
                ),
            },
        ],
    },
    {"key": "quiet", "label": "Nobody this week", "measure": "reuse", "people": []},
]
STANDINGS = [
    {"team_id": 3, "team": "Sales", "people": 4, "efficiency": 1.2, "score": 117.6},
    {"team_id": 2, "team": "Marketing", "people": 5, "efficiency": 1.07, "score": 102.1},
]

COMPONENTS = [
    ("adoption", "count", 8.0, 8.0, 6.0, "1.29", "25", "32.2"),
    ("acceptance", "rate", 0.9, 1.0, 0.75, "1.19", "20", "23.8"),
    ("revision", "edit_distance", 0.11, 0.05, 0.2, "1.59", "5", "8.0"),
    ("efficiency", "per_1k", 0.51, 1.0, 0.25, "2.00", "15", "30.0"),
    ("cost", "cost_per_accepted", 4894.0, 2500.0, 10000.0, "2.00", "5", "10.0"),
    ("speed", "seconds", 430.0, 300.0, 600.0, "1.44", "5", "7.2"),
    ("savings", "minutes", 0.0, 0.0, 0.0, "1.00", "10", "10.0"),
    ("reuse", "rate", 0.0, 0.0, 0.0, "1.00", "15", "15.0"),
]


def _score(**changes: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "name": "Ann Analyst",
        "own": True,
        "phase": "incentives",
        "window": WEEK,
        "score": "136.2",
        "artifacts": 8,
        "min_tasks": 5,
        "flagged": False,
        "inactive": False,
        "flag_statuses": [],
        "flag_reach": "window",
        "short_of": [],
        "short_everywhere": False,
        "trailing_weeks": 8,
        "prior_weight": "5",
        "index_cap": "2",
        "smoothing": "1 accepted artifact, 5 points of a rate or of edits, 1 s of drafting time, "
        "30 verified minutes",
        "components": [
            {
                "name": name,
                "unit": unit,
                "value": value,
                "raw": raw,
                "baseline": baseline,
                "index": index,
                "weight": weight,
                "contribution": contribution,
                "parts": [
                    {
                        "use_case": "seo-brief",
                        "share": 1.0,
                        "value": value,
                        "raw": raw,
                        "baseline": baseline,
                        "index": index,
                        "counts": (6, 8) if unit == "rate" else None,
                    }
                ],
            }
            for name, unit, value, raw, baseline, index, weight, contribution in COMPONENTS
        ],
        "use_cases": [
            {"use_case": "seo-brief", "share": 0.8, "artifacts": 8},
            {"use_case": "ad-copy", "share": 0.2, "artifacts": 1},
        ],
        "improvement": {
            "component": "efficiency",
            "use_case": "seo-brief",
            "value": 8400.0,
            "baseline": 4000.0,
            "ratio": 2.1,
            "unit": "tokens_per_accepted",
            "points": "10.8",
            "artifacts": 8,
            "stretch": False,
            "target": None,
            "template": TIP,
        },
    }
    context.update(changes)
    return context


def _improvement(component: str, unit: str, value: float | None, baseline: float, **more: Any):
    return {
        "component": component,
        "use_case": "seo-brief",
        "value": value,
        "baseline": baseline,
        "ratio": value / baseline if value is not None and baseline else None,
        "unit": unit,
        "points": "4.5",
        "artifacts": 6,
        "stretch": more.get("stretch", False),
        "target": more.get("target"),
        "template": more.get("template"),
    }


SCORE_SAMPLES = [
    _score(),
    _score(own=False, name="Bob Builder", flagged=True, phase="baseline"),
    _score(own=False, name="Bob Builder", flagged=True, flag_statuses=["upheld"]),
    _score(flagged=True, flag_statuses=["pending", "upheld"]),
    _score(flagged=True, flag_statuses=["pending"], flag_reach="adjacent"),
    _score(flagged=True, flag_statuses=["upheld"], flag_reach="watched"),
    _score(inactive=True),
    _score(
        artifacts=3,
        short_of=[{"label": "Efficiency champion", "min_tasks": 5}],
        short_everywhere=False,
    ),
    _score(
        own=False,
        name="Leo Lucky",
        artifacts=1,
        short_of=[{"label": "Efficiency champion", "min_tasks": 5}],
        short_everywhere=True,
    ),
    _score(artifacts=2, improvement=_improvement("efficiency", "tokens_per_accepted", None, 4000)),
    _score(improvement=_improvement("cost", "cost_per_accepted", 42_000.0, 10_000.0)),
    _score(improvement=_improvement("cost", "cost_per_accepted", None, 10_000.0)),
    _score(improvement=_improvement("acceptance", "rate", 0.5, 0.75)),
    _score(improvement=_improvement("revision", "edit_distance", 0.4, 0.2)),
    _score(improvement=_improvement("speed", "seconds", 900.0, 600.0)),
    _score(improvement=_improvement("adoption", "count", 1.0, 6.0)),
    _score(improvement=_improvement("savings", "minutes", 0.0, 30.0)),
    _score(improvement=_improvement("reuse", "rate", 0.0, 0.4, template=TIP)),
    _score(improvement=_improvement("adoption", "count", 8.0, 6.0, stretch=True, target=10.0)),
    _score(improvement=None),
    _score(score=None, artifacts=0),
    _score(score=None, artifacts=3, own=False, name="Leo Lucky"),
]

SCORING_SAMPLES: dict[str, Any] = {
    "score": SCORE_SAMPLES,
    "leaderboard": [
        {
            "phase": "incentives",
            "window": WEEK,
            "category": None,
            "categories": CATEGORIES,
            "standings": STANDINGS,
        },
        {
            "phase": "optimize",
            "window": PERIOD,
            "category": "efficiency-champion",
            "categories": CATEGORIES[:1],
            "standings": [],
        },
        {"phase": "baseline", "window": WEEK, "category": None, "categories": [], "standings": []},
    ],
    "spotlight": [
        {
            "window": WEEK,
            "scope": "org",
            "team": None,
            "categories": CATEGORIES,
            "standings": STANDINGS,
            "tip": TIP,
            "new_template": {
                "template": "Launch <email> brief",
                "template_id": "launch-email-v1",
                "use_case": "ad-copy",
                "author": "Tia *Template*",
                "reuse": 12,
                "reusers": 3,
            },
        },
        {
            "window": WEEK,
            "scope": "team",
            "team": "Marketing & <Brand>",
            "categories": CATEGORIES[:2],
            "standings": [],
            "tip": None,
            "new_template": {
                "template": "Support reply",
                "template_id": "support-reply-v2",
                "use_case": "support-reply",
                "author": None,
                "reuse": 1,
                "reusers": 1,
            },
        },
        {
            "window": WEEK,
            "scope": "org",
            "team": None,
            "categories": [CATEGORIES[-1]],
            "standings": [],
            "tip": None,
        },
    ],
    "templates": [
        {
            "use_case": None,
            "weeks": 8,
            "groups": [
                {
                    "use_case": "seo-brief",
                    "untemplated_tokens_per_task": 3574.2,
                    "templates": [
                        {
                            "id": "seo-brief-v3",
                            "name": "SEO brief v3",
                            "author": "Tia Template",
                            "tokens_per_task": 2000.0,
                            "acceptance_rate": 0.75,
                            "saving_share": 0.44,
                            "artifacts": 30,
                            "reuse": 24,
                            "reusers": 3,
                        },
                        {
                            "id": "seo-brief-v1",
                            "name": "SEO brief v1",
                            "author": None,
                            "tokens_per_task": None,
                            "acceptance_rate": None,
                            "saving_share": None,
                            "artifacts": 0,
                            "reuse": 1,
                            "reusers": 1,
                        },
                    ],
                }
            ],
        },
        {"use_case": "coding", "weeks": 8, "groups": []},
    ],
    "savings_claimed": [
        {
            "person": "Kim Typical",
            "manager": "Mia Manager",
            "artifact_id": "brief-42",
            "use_case": "seo-brief",
            "minutes": 45,
        },
        {
            "person": "Kim Typical",
            "manager": "Mia Manager",
            "artifact_id": "brief-42",
            "use_case": None,
            "minutes": 45,
        },
    ],
    "savings_verify": {
        "person": "Kim Typical",
        "manager": "Mia Manager",
        "artifact_id": "brief-42",
        "use_case": "seo-brief",
        "minutes": 45,
    },
    "savings_decided": [
        {
            "person": "Kim Typical",
            "manager": "Mia Manager",
            "artifact_id": "brief-42",
            "use_case": "seo-brief",
            "minutes": 45,
            "verified": verified,
            "audience": audience,
        }
        for verified in (True, False)
        for audience in ("manager", "claimant")
    ],
    "savings_refused": [
        {"code": "bad_minutes", "facts": {"minutes": 0, "maximum": 10_080}},
        {"code": "no_artifact", "facts": {"artifact_id": "brief-x"}},
        {"code": "not_accepted", "facts": {"artifact_id": "brief-x", "status": "rejected"}},
        {"code": "already_verified", "facts": {"artifact_id": "brief-x", "minutes": 45.0}},
        {"code": "already_verified", "facts": {"artifact_id": "brief-x", "minutes": None}},
        {"code": "no_manager", "facts": {}},
        {"code": "not_manager", "facts": {}},
        {"code": "superseded", "facts": {"artifact_id": "brief-x"}},
        {"code": "unknown_claim", "facts": {}},
    ],
}
