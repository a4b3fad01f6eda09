"""Numbers an operator or a client supplies are bounded to what the database holds, and
refused with a message naming the key, before anything is written."""

from __future__ import annotations

import copy
import tomllib

import pytest

from budgets.policy import DEFAULT_POLICY_PATH, PolicyInvalid, parse_policy


def default_policy_data() -> dict:
    return copy.deepcopy(tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))


@pytest.mark.parametrize("amount", [10**26, 2**63])
def test_a_tier_baseline_beyond_what_the_database_holds_is_refused_by_policy_check(amount):
    """Threat: `policy check` accepted a tier baseline of 10^26; `directory import` then
    crashed with a traceback (BIGINT overflow) half-way through granting. Every number in
    the policy is bounded where it is read, and the error names the key."""
    data = default_policy_data()
    tier = next(iter(data["tiers"]))
    data["tiers"][tier]["baseline"] = amount
    with pytest.raises(PolicyInvalid) as raised:
        parse_policy(data, "test policy")
    reasons = [str(e) for e in raised.value.errors]
    assert any(f"tiers.{tier}.baseline" in r and "at most" in r for r in reasons), reasons


def test_the_default_policy_is_within_the_bounds():
    """The other side: real budgets are far below the bound."""
    assert parse_policy(default_policy_data(), "default").tiers
