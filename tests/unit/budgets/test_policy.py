"""Policy loading and validation: the built-in default works, and every problem is reported
with the dotted key it concerns, all of them in one go."""

from __future__ import annotations

import copy
import tomllib
from datetime import date
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


def with_pools(projects=None, reserved=None) -> dict[str, Any]:
    data = with_changes()
    if projects is not None:
        data["projects"] = projects
    if reserved is not None:
        data["reserved_pools"] = reserved
    return data


LAUNCH = {
    "name": "launch week",
    "use_case": "ad-copy",
    "amount": 1_000,
    "starts": date(2026, 12, 7),
    "ends": date(2026, 12, 13),
    "owner": "mia@acme.test",
    "teams": ["Marketing"],
}


def test_project_members_and_teams_are_read_and_admit_only_them():
    policy = parse_policy(
        with_pools(
            projects=[
                {
                    "name": "Apollo",
                    "owner": "mia@acme.test",
                    "budget": 5,
                    "members": ["Ann@Acme.test"],
                    "teams": ["Growth Marketing"],
                }
            ]
        )
    )
    members = policy.projects["Apollo"].members
    assert members.admits("ann@acme.test", None)
    assert members.admits("bob@acme.test", "growth marketing")
    assert not members.admits("bob@acme.test", "Finance")
    assert policy.has_members
    assert not load_policy().has_members  # the default names no members: open to everyone


def test_a_project_member_that_is_not_an_email_points_to_teams():
    data = with_pools(
        projects=[{"name": "A", "owner": "o@x.io", "budget": 1, "members": ["Marketing"]}]
    )
    (reason,) = reasons_for(data, "projects[0].members")
    assert "'Marketing'" in reason and "not an email" in reason and "teams" in reason


@pytest.mark.parametrize("team", ["", "  Marketing", "ann@acme.test", "Mar\nketing", "x" * 201])
def test_a_project_team_that_is_not_a_valid_team_name_is_a_problem(team: str):
    data = with_pools(projects=[{"name": "A", "owner": "o@x.io", "budget": 1, "teams": [team]}])
    (reason,) = reasons_for(data, "projects[0].teams")
    assert repr(team) in reason


def test_a_reserved_pools_eligible_teams_must_be_a_list_of_names():
    data = with_pools(reserved=[{"name": "r", "use_case": "coding", "amount": 1, "teams": "Eng"}])
    assert reasons_for(data, "reserved_pools[0].teams") == ["must be a list of strings"]


def test_a_launch_pool_is_read_with_its_window_owner_and_members():
    policy = parse_policy(with_pools(reserved=[LAUNCH]))
    (pool,) = policy.launch_pools
    assert pool.days == 7 and pool.owner == "mia@acme.test"
    start, end = pool.window(policy.periods.zone)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-12-07T00:00:00+00:00",
        "2026-12-14T00:00:00+00:00",
    )
    assert policy.reserved_pool_of_grant(pool.grant_key) == pool


def test_a_launch_pool_that_ends_before_it_starts_is_a_problem():
    data = with_pools(reserved=[{**LAUNCH, "ends": date(2026, 12, 6)}])
    (reason,) = reasons_for(data, "reserved_pools[0].ends")
    assert "2026-12-06" in reason and "before starts" in reason


def test_a_launch_pool_needs_both_dates_an_owner_email_and_members():
    data = with_pools(reserved=[{**LAUNCH, "ends": None, "owner": "mia", "teams": []}])
    del data["reserved_pools"][0]["ends"]
    assert reasons_for(data, "reserved_pools[0].ends") == [
        "a launch pool needs both starts and ends"
    ]
    data = with_pools(reserved=[{k: v for k, v in LAUNCH.items() if k not in ("owner", "teams")}])
    assert "is required" in reasons_for(data, "reserved_pools[0].owner")[0]
    assert "members" in reasons_for(data, "reserved_pools[0].members")[0]
    data = with_pools(reserved=[{**LAUNCH, "owner": "mia"}])
    assert "email" in reasons_for(data, "reserved_pools[0].owner")[0]


def test_a_launch_pool_date_that_is_not_a_date_is_a_problem():
    data = with_pools(reserved=[{**LAUNCH, "starts": "next monday"}])
    (reason,) = reasons_for(data, "reserved_pools[0].starts")
    assert "must be a date such as 2026-12-07" in reason


def test_launch_pools_of_one_name_must_not_overlap_but_may_recur():
    later = {**LAUNCH, "starts": date(2027, 3, 1), "ends": date(2027, 3, 7)}
    assert len(parse_policy(with_pools(reserved=[LAUNCH, later])).launch_pools) == 2
    overlapping = {**LAUNCH, "starts": date(2026, 12, 13), "ends": date(2026, 12, 20)}
    (reason,) = reasons_for(with_pools(reserved=[LAUNCH, overlapping]), "reserved_pools[1].starts")
    assert "overlaps" in reason and "2026-12-07" in reason


def test_two_reserved_pools_of_one_name_are_a_problem_unless_launch_windows():
    pool = {"name": "r", "use_case": "coding", "amount": 1}
    (reason,) = reasons_for(with_pools(reserved=[pool, pool]), "reserved_pools[1].name")
    assert "duplicate reserved pool 'r'" in reason


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
