"""The [scoring] policy section: defaults that work out of the box, and every problem named by
its dotted key through load_policy's usual PolicyInvalid."""

from __future__ import annotations

import copy
import tomllib
from dataclasses import replace
from decimal import Decimal

import pytest

from budgets.policy import DEFAULT_POLICY_PATH, PolicyInvalid, load_policy, parse_policy
from scoring.config import COMPONENTS, DEFAULT_CATEGORIES, scoring_settings
from scoring.sections import POLICY_SECTIONS

DEFAULT = tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def with_scoring(section: object) -> dict:
    data = copy.deepcopy(DEFAULT)
    data["scoring"] = section
    return data


def problems(section: object) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(with_scoring(section), sections=POLICY_SECTIONS)
    return [str(e) for e in caught.value.errors]


def test_a_policy_without_a_scoring_section_gets_every_default():
    settings = scoring_settings(parse_policy(with_scoring({})))
    assert settings.trailing_weeks == 8
    assert settings.prior_weight == 5
    assert settings.min_tasks == 5
    assert [c.key for c in settings.categories] == list(DEFAULT_CATEGORIES)
    for phase in ("baseline", "incentives", "optimize"):
        assert sum(settings.weights_for(phase).values()) == 100
        assert set(settings.weights_for(phase)) == set(COMPONENTS)


def test_the_baseline_phase_weighs_like_the_declared_incentives_phase():
    settings = scoring_settings(
        parse_policy(with_scoring({"weights": {"incentives": {"adoption": 1, "speed": 3}}}))
    )
    assert settings.weights_for("baseline") == settings.weights_for("incentives")
    assert settings.weights_for("baseline")["speed"] == 3


def test_early_phases_weigh_adoption_and_later_ones_efficiency():
    settings = scoring_settings(load_policy())
    incentives, optimize = settings.weights_for("incentives"), settings.weights_for("optimize")
    assert incentives["adoption"] > optimize["adoption"]
    assert optimize["efficiency"] > incentives["efficiency"]


def test_declared_categories_replace_the_defaults_and_keep_their_order():
    settings = scoring_settings(
        parse_policy(
            with_scoring(
                {
                    "categories": {
                        "speedy": {"measure": "speed", "tiers": {"gold": 2}},
                        "all-round": {
                            "label": "All-round",
                            "measure": "score",
                            "min_value": 110,
                            "tiers": {"top": 1, "runner-up": 4},
                            "team_tiers": {"top": 1},
                        },
                    }
                }
            )
        )
    )
    assert [c.key for c in settings.categories] == ["speedy", "all-round"]
    speedy, all_round = settings.categories
    assert speedy.label == "Speedy" and speedy.tiers == (("gold", 2),)
    assert all_round.min_value == Decimal(110)
    assert all_round.tiers == (("top", 1), ("runner-up", 4))
    assert all_round.team_tiers == (("top", 1),)


def test_every_problem_of_the_section_is_reported_with_its_key():
    found = problems(
        {
            "trailing_weeks": 60,
            "min_tasks": 0,
            "prior_weight": "lots",
            "surprise": True,
            "weights": {"optimize": {"speed": -1, "spend": 50}, "later": {}},
            "categories": {
                "big-spender": {"measure": "tokens"},
                "nobody": {"measure": "efficiency", "tiers": {"gold": 0}},
                "odd": {"measure": "speed", "tiers": {"gold": "one"}},
            },
        }
    )
    keys = {p.split(":")[0] for p in found}
    assert {
        "scoring.trailing_weeks",
        "scoring.min_tasks",
        "scoring.prior_weight",
        "scoring.surprise",
        "scoring.weights.optimize.speed",
        "scoring.weights.optimize.spend",
        "scoring.weights.later",
        "scoring.categories.big-spender.measure",
        "scoring.categories.nobody.tiers",
        "scoring.categories.odd.tiers.gold",
    } <= keys


def test_no_category_can_rank_by_spend():
    (problem,) = problems({"categories": {"whale": {"measure": "cost_micros"}}})
    assert problem.startswith("scoring.categories.whale.measure: must be one of")


def test_a_phase_whose_weights_are_all_zero_is_refused():
    weights = {name: 0 for name in COMPONENTS}
    assert problems({"weights": {"incentives": weights}}) == [
        "scoring.weights.incentives: needs at least one component with a weight above 0"
    ]


def test_settings_of_a_policy_built_in_code_are_checked_too():
    policy = replace(load_policy(), scoring={"min_tasks": -3})
    with pytest.raises(PolicyInvalid, match="scoring.min_tasks"):
        scoring_settings(policy)


def test_without_the_scoring_readers_budgets_leave_the_section_to_scoring_which_refuses_it():
    """budgets.policy never imports scoring: handed no section readers it keeps the table raw,
    and scoring refuses it (by key) when it reads it."""
    policy = parse_policy(with_scoring({"min_tasks": -3}))
    with pytest.raises(PolicyInvalid, match="scoring.min_tasks"):
        scoring_settings(policy)


def test_the_savings_bounds_are_validated_with_their_keys_named():
    found = problems({"savings": {"max_claim_factor": 0.5, "max_minutes_per_artifact": 20_000}})
    assert any("scoring.savings.max_claim_factor" in p for p in found), found
    assert any(
        "scoring.savings.max_minutes_per_artifact" in p and "at most 10080" in p for p in found
    ), found
    assert any("scoring.savings.mystery" in p for p in problems({"savings": {"mystery": 1}}))
    settings = scoring_settings(parse_policy(with_scoring({})))
    assert (settings.max_claim_factor, settings.max_minutes_per_artifact) == (2, 480)
