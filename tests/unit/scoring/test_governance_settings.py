"""The [governance] policy section: the built-in policy spells out every default, and every
problem is named by its dotted key through load_policy's usual PolicyInvalid."""

from __future__ import annotations

import copy
import tomllib

import pytest

from budgets.policy import DEFAULT_POLICY_PATH, PolicyInvalid, load_policy, parse_policy
from scoring.governance import GovernanceSettings, governance_settings
from scoring.sections import POLICY_SECTIONS

DEFAULT = tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def with_governance(section: object) -> dict:
    data = copy.deepcopy(DEFAULT)
    data["governance"] = section
    return data


def problems(section: object) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(with_governance(section), sections=POLICY_SECTIONS)
    return [str(e) for e in caught.value.errors]


def test_the_built_in_policy_states_every_default_and_an_empty_section_gets_them_too():
    assert governance_settings(load_policy()) == GovernanceSettings()
    assert governance_settings(parse_policy(with_governance({}))) == GovernanceSettings()


def test_a_policy_can_tune_one_threshold_and_keep_the_others():
    settings = governance_settings(parse_policy(with_governance({"chat_loops": {"min_turns": 20}})))
    assert settings.chat_loops.min_turns == 20
    assert settings.chat_loops.min_loops == GovernanceSettings().chat_loops.min_loops


def test_every_bad_value_is_reported_by_its_dotted_key_in_one_go():
    found = problems(
        {
            "baseline_weeks": 0,
            "context_inflation": {"ratio": 0.5, "speed": 2},
            "chat_loops": {"min_turns": 1},
            "output_spam": {"max_distance": 40, "min_share": 1.5, "max_copy_cost": -0.1},
            "prompt_spam": {"min_repeats": "many"},
            "task_splitting": {"min_split": 0.5},
            "recommendations": {"lapse_share": 0.99, "ceiling_share": 0.9},
            "typo": 1,
        }
    )
    keys = sorted(problem.split(":")[0] for problem in found)
    assert keys == [
        "governance.baseline_weeks",
        "governance.chat_loops.min_turns",
        "governance.context_inflation.ratio",
        "governance.context_inflation.speed",
        "governance.output_spam.max_copy_cost",
        "governance.output_spam.max_distance",
        "governance.output_spam.min_share",
        "governance.prompt_spam.min_repeats",
        "governance.recommendations.lapse_share",
        "governance.task_splitting.min_split",
        "governance.typo",
    ]


def test_a_governance_section_that_is_not_a_table_is_refused():
    assert problems(3) == ["governance: must be a table"]
