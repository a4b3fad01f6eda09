"""The `[policy]` charter (purpose, review cadence, owners) and `[settings.defaults]`: the
default policy fills both, each problem is named by its key, and a file without them loads."""

from __future__ import annotations

import copy
from datetime import time
from decimal import Decimal
from typing import Any

import pytest

from budgets.policy import PolicyInvalid, load_policy, parse_policy
from budgets.setting_values import QuietHours
from tests.unit.budgets.test_policy import DEFAULT


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(data)
    return [str(e) for e in caught.value.errors]


def with_section(name: str, section: Any) -> dict[str, Any]:
    data = copy.deepcopy(DEFAULT)
    data[name] = section
    return data


def test_the_default_policy_names_its_purpose_cadence_and_owners_and_setting_defaults():
    policy = load_policy()
    assert policy.charter is not None
    assert policy.charter.purpose.startswith("Give everyone the AI tokens")
    assert policy.charter.review_cadence == "quarterly"
    assert policy.charter.owners.spend == ("finance@example.com",)
    assert policy.charter.owners.exceptions == ("ai-platform@example.com",)
    assert policy.charter.owners.rules == ("ai-platform@example.com",)
    defaults = policy.settings_defaults
    assert (defaults.reminders, defaults.alerts, defaults.digest, defaults.quiet_hours) == (
        True,
        "on",
        True,
        None,
    )


def test_a_policy_without_the_sections_loads_with_no_charter_and_everything_on():
    data = copy.deepcopy(DEFAULT)
    del data["policy"], data["settings"]
    policy = parse_policy(data)
    assert policy.charter is None
    assert policy.settings_defaults.reminders and policy.settings_defaults.digest


def test_each_charter_problem_is_named_by_its_key():
    found = problems_of(
        with_section(
            "policy",
            {
                "purpose": " ",
                "review_cadence": "weekly",
                "owners": {"spend": [], "exceptions": ["Bob"], "deputy": ["x@y.z"]},
            },
        )
    )
    assert "policy.purpose: must say what the policy is for (one sentence)" in found
    assert (
        "policy.review_cadence: must be one of monthly, quarterly, half-yearly, yearly, "
        "got 'weekly'"
    ) in found
    assert (
        "policy.owners.spend: must name who monitors spend: an email address or a #channel" in found
    )
    assert "policy.owners.exceptions: names 'Bob': give an email address or a #channel" in found
    assert "policy.owners.rules: is required" in found
    assert any(p.startswith("policy.owners.deputy: unknown key") for p in found)


def test_an_owner_may_be_one_string_or_a_channel():
    policy = parse_policy(
        with_section(
            "policy",
            {
                "purpose": "Predictable AI cost.",
                "review_cadence": "yearly",
                "owners": {
                    "spend": "cfo@acme.test",
                    "exceptions": "#ai-exceptions",
                    "rules": ["a@b.c"],
                },
            },
        )
    )
    assert policy.charter is not None
    assert policy.charter.owners.spend == ("cfo@acme.test",)
    assert policy.charter.owners.exceptions == ("#ai-exceptions",)


def test_settings_defaults_are_checked_by_the_rules_people_are_held_to():
    found = problems_of(
        with_section(
            "settings",
            {
                "defaults": {
                    "reminders": "sometimes",
                    "alerts": "300%",
                    "quiet_hours": "19-8",
                    "digets": True,
                }
            },
        )
    )
    assert "settings.defaults.reminders: must be on or off, got 'sometimes'" in found
    assert any(p.startswith("settings.defaults.alerts: must be on, off, or a share") for p in found)
    assert any(
        p.startswith("settings.defaults.quiet_hours: must be a range HH:MM-HH:MM") for p in found
    )
    assert any(p.startswith("settings.defaults.digets: unknown key") for p in found)


def test_settings_defaults_read_quiet_hours_and_an_alert_share():
    policy = parse_policy(
        with_section(
            "settings",
            {"defaults": {"alerts": "90%", "quiet_hours": "19:00-08:00", "digest": False}},
        )
    )
    defaults = policy.settings_defaults
    assert defaults.alerts == "0.9"
    assert defaults.quiet_hours == QuietHours(time(19), time(8))
    assert defaults.digest is False
    assert Decimal(defaults.alerts) == Decimal("0.9")
