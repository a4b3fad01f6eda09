"""Policy loading and validation: the built-in default works, and every problem is reported
with the dotted key it concerns, all of them in one go."""

from __future__ import annotations

import copy
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from budgets.policy import (
    DEFAULT_POLICY_PATH,
    UNKNOWN_MODEL,
    PolicyError,
    PolicyInvalid,
    load_policy,
    parse_policy,
)

DEFAULT = tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def with_changes(**sections: dict[str, Any]) -> dict[str, Any]:
    """The built-in policy with some sections' keys replaced (None deletes a key)."""
    data = copy.deepcopy(DEFAULT)
    for section, changes in sections.items():
        target = data.setdefault(section, {})
        for key, value in changes.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    return data


def problems(data: dict[str, Any]) -> list[PolicyError]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(data, "test policy")
    return caught.value.errors


def reasons_for(data: dict[str, Any], key: str) -> list[str]:
    found = problems(data)
    reasons = [e.reason for e in found if e.key == key]
    assert reasons, f"no problem reported under {key!r}; got {[str(e) for e in found]}"
    return reasons


def test_the_built_in_default_loads_and_runs_in_the_incentives_phase():
    policy = load_policy()
    assert policy.source == "built-in default"
    assert policy.phase == "incentives"
    assert policy.is_enforcing and policy.recognition_enabled
    assert policy.models["gpt-4o"].weight == 1
    assert set(policy.tiers) >= {"default", "power-user"}
    assert policy.split == {"operational": Decimal("0.8"), "exploration": Decimal("0.2")}
    assert policy.periods.cadence == "monthly" and policy.periods.timezone == "UTC"


def test_a_copy_of_the_default_on_disk_loads_with_its_path_as_source(tmp_path: Path):
    copy_path = tmp_path / "policy.toml"
    copy_path.write_bytes(DEFAULT_POLICY_PATH.read_bytes())
    assert load_policy(copy_path).source == str(copy_path)


def test_the_baseline_phase_measures_only():
    policy = parse_policy({**copy.deepcopy(DEFAULT), "phase": "baseline"})
    assert not policy.is_enforcing
    assert not policy.recognition_enabled


def test_an_unknown_key_is_named_with_the_allowed_keys():
    (reason,) = reasons_for(with_changes(periods={"cadance": "monthly"}), "periods.cadance")
    assert "unknown key" in reason
    for allowed in ("cadence", "reset_day", "timezone", "reminder_days_before", "rollover_cap"):
        assert allowed in reason


def test_an_unknown_top_level_section_is_named():
    data = {**copy.deepcopy(DEFAULT), "budgetz": {}}
    (reason,) = reasons_for(data, "budgetz")
    assert "unknown key" in reason and "periods" in reason


def test_the_default_tier_is_required():
    data = copy.deepcopy(DEFAULT)
    del data["tiers"]["default"]
    (reason,) = reasons_for(data, "tiers.default")
    assert "required" in reason


def test_a_bad_time_zone_is_refused_with_a_hint():
    (reason,) = reasons_for(with_changes(periods={"timezone": "Mars/Olympus"}), "periods.timezone")
    assert "Mars/Olympus" in reason and "Europe/Paris" in reason


@pytest.mark.parametrize("zone", ["Europe", "../../etc/passwd", ""])
def test_a_time_zone_that_is_a_directory_or_a_path_is_a_problem_not_a_crash(zone: str):
    assert reasons_for(with_changes(periods={"timezone": zone}), "periods.timezone")


@pytest.mark.parametrize("day", [29, 31])
def test_a_reset_day_after_the_28th_is_refused(day: int):
    (reason,) = reasons_for(with_changes(periods={"reset_day": day}), "periods.reset_day")
    assert "28" in reason


def test_a_reset_day_that_is_not_a_number_says_it_must_be_a_day():
    (reason,) = reasons_for(with_changes(periods={"reset_day": "first"}), "periods.reset_day")
    assert "tokens" not in reason and "whole number" in reason


def test_a_capped_use_case_needs_its_cap():
    data = with_changes()
    data["use_cases"]["research"].pop("cap")
    (reason,) = reasons_for(data, "use_cases.research.cap")
    assert "capped" in reason


def test_a_prohibited_use_case_needs_a_reason_people_are_shown():
    data = with_changes()
    data["use_cases"]["personal"].pop("reason")
    (reason,) = reasons_for(data, "use_cases.personal.reason")
    assert "prohibited" in reason


def test_allowed_models_must_name_models_in_the_catalog():
    data = with_changes()
    data["use_cases"]["support-reply"]["allowed_models"] = ["gpt-4o-mini", "gpt-9"]
    (reason,) = reasons_for(data, "use_cases.support-reply.allowed_models")
    assert "'gpt-9'" in reason and "[models]" in reason


def test_the_split_must_add_up_to_one():
    (reason,) = reasons_for(with_changes(split={"operational": 0.7, "exploration": 0.2}), "split")
    assert "add up to 1" in reason


def test_expiry_of_a_request_must_come_after_its_nudge():
    data = with_changes(approvals={"nudge_after_hours": 48, "expire_after_hours": 48})
    (reason,) = reasons_for(data, "approvals.expire_after_hours")
    assert "nudge_after_hours" in reason


def test_a_reserved_pool_must_name_a_known_use_case():
    data = with_changes()
    data["reserved_pools"][0]["use_case"] = "astrology"
    (reason,) = reasons_for(data, "reserved_pools[0].use_case")
    assert "'astrology'" in reason


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan"])
def test_a_share_that_is_not_a_finite_number_is_a_problem_not_a_crash(value: object):
    (reason,) = reasons_for(with_changes(periods={"rollover_cap": value}), "periods.rollover_cap")
    assert "number" in reason or "between" in reason


def test_bad_toml_syntax_is_reported_as_a_syntax_problem(tmp_path: Path):
    broken = tmp_path / "broken.toml"
    broken.write_text('phase = "incentives"\n[periods\ncadence = "monthly"\n', encoding="utf-8")
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(broken)
    (error,) = caught.value.errors
    assert error.key == "(syntax)"
    assert "line 2" in error.reason
    assert str(broken) in str(caught.value)


def test_a_missing_file_is_reported_not_raised_as_os_error(tmp_path: Path):
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(tmp_path / "nowhere.toml")
    assert caught.value.errors[0].key == "(file)"


def test_every_problem_is_reported_at_once():
    data = with_changes(
        periods={"reset_day": 30, "timezone": "Nowhere/City", "cadence": "weekly"},
        split={"operational": 0.5, "exploration": 0.2},
        approvals={"nudge_after_hours": 80},
    )
    data["phase"] = "growth"
    keys = {e.key for e in problems(data)}
    assert {
        "phase",
        "periods.reset_day",
        "periods.timezone",
        "periods.cadence",
        "split",
        "approvals.expire_after_hours",
    } <= keys


def test_the_error_message_lists_each_problem_on_its_own_line_with_its_key():
    data = with_changes(periods={"reset_day": 30, "timezone": "Nowhere/City"})
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(data, "my-policy.toml")
    message = str(caught.value)
    assert message.startswith("my-policy.toml is invalid (2 problem(s))")
    assert "  - periods.reset_day: " in message
    assert "  - periods.timezone: " in message


def test_a_model_missing_from_the_catalog_draws_with_weight_one_and_an_unknown_price():
    policy = load_policy()
    assert policy.model("mystery-llm") is UNKNOWN_MODEL
    assert policy.model("mystery-llm").budget_tokens(100, 50) == 150


def test_budget_tokens_are_raw_tokens_times_weight_rounded_up():
    policy = load_policy()
    assert policy.models["gpt-4o"].budget_tokens(1000, 500) == 1500
    assert policy.models["gpt-4o-mini"].budget_tokens(7, 0) == 1  # 0.7 rounds up
    assert policy.models["claude-opus-4"].budget_tokens(10, 10) == 120


def test_cost_is_integer_micro_dollars_with_cached_input_at_its_own_price():
    gpt4o = load_policy().models["gpt-4o"]
    # 1M uncached input at $2.50, 1M output at $10.00
    assert gpt4o.cost_micros(1_000_000, 1_000_000) == 12_500_000
    # 400 cached of 1000 input: 600 x 2.5 + 400 x 1.25 + 0 output
    assert gpt4o.cost_micros(1000, 0, 400) == 2000


def test_a_baseline_split_adds_up_exactly():
    policy = load_policy()
    for baseline in (0, 1, 7, 2_000_001):
        parts = policy.baseline_split(baseline)
        assert sum(parts.values()) == baseline
        assert parts["exploration"] == baseline * 2 // 10


def test_a_member_share_cap_is_a_share_of_the_pool_or_a_number_of_tokens():
    share = parse_policy(with_changes(team_pools={"member_share_cap": 0.4}), "test")
    assert share.team_pools.member_share_cap == Decimal("0.4")
    assert share.team_pools.member_cap(1_000_001) == 400_000  # rounds down
    amount = parse_policy(with_changes(team_pools={"member_share_cap": 300_000}), "test")
    assert amount.team_pools.member_cap(1_000_000) == 300_000
    assert parse_policy(DEFAULT, "test").team_pools.member_cap(1_000_000) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [(1.5, "between 0 and 1"), (0.0, "above 0"), (0, ">= 1"), ("40%", "share of the pool")],
)
def test_a_bad_member_share_cap_says_what_is_allowed(value: object, words: str):
    (reason,) = reasons_for(
        with_changes(team_pools={"member_share_cap": value}), "team_pools.member_share_cap"
    )
    assert words in reason
