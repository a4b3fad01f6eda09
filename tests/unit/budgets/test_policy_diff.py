"""`diff_policies` compares two parsed policies field by field: the sections people feel
(tiers, pools, projects) get a human subject; every other section, including ones added to
the policy later, shows up by its dotted key with no code of its own."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from budgets.policy import parse_policy
from budgets.policy_diff import diff_policies, flatten
from tests.unit.budgets.test_policy import DEFAULT


def edited(**changes: Any) -> Any:
    data = copy.deepcopy(DEFAULT)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = data
        for name in parents:
            target = target.setdefault(name, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return parse_policy(data)


def lines(old: Any, new: Any) -> dict[str, tuple[Any, Any, str]]:
    return {c.key: (c.old, c.new, c.subject) for c in diff_policies(old, new)}


def test_the_same_policy_has_no_changes():
    assert diff_policies(parse_policy(DEFAULT), parse_policy(copy.deepcopy(DEFAULT))) == []


def test_a_tier_and_team_pools_are_worded_as_what_people_get():
    old = parse_policy(DEFAULT)
    new = edited(
        tiers__default={"baseline": 1_500_000},
        tiers__gold={"baseline": 9_000_000},
        team_pools__overrides={"platform": 8_000_000},
        team_pools__default=4_000_000,
    )
    found = lines(old, new)
    assert found["tiers.default.baseline"] == (2_000_000, 1_500_000, "tier default")
    assert found["tiers.gold.baseline"] == (None, 9_000_000, "tier gold")
    assert found["team_pools.default"] == (
        5_000_000,
        4_000_000,
        "team pool default (teams without an override)",
    )
    assert found["team_pools.overrides.platform"] == (None, 8_000_000, "team pool platform")
    assert "tiers.gold.name" not in found  # a tier's name is its key


def test_sections_without_wording_of_their_own_show_by_their_dotted_keys():
    old = parse_policy(DEFAULT)
    new = edited(
        approvals__max_request=2_000_000,
        scoring__min_tasks=6,
        governance__recommendations={**DEFAULT["governance"]["recommendations"], "periods": 3},
        policy__review_cadence="monthly",
        settings__defaults={"quiet_hours": "19:00-08:00"},
    )
    found = lines(old, new)
    assert found["approvals.max_request"][:2] == (1_000_000, 2_000_000)
    assert found["scoring.min_tasks"][:2] == (5, 6)
    assert found["governance.recommendations.periods"] == (
        2,
        3,
        "quota recommendations: periods",
    )
    assert found["charter.review_cadence"][:2] == ("quarterly", "monthly")
    assert found["settings_defaults.quiet_hours"] == (
        None,
        "19:00-08:00",
        "default setting quiet_hours",
    )


def test_rules_models_and_owners_are_named_as_such():
    old = parse_policy(DEFAULT)
    research = {**DEFAULT["use_cases"]["research"], "cap": 500_000}
    new = edited(
        use_cases__research=research,
        models__o3={**DEFAULT["models"]["o3"], "weight": 1.0},
        policy__owners={**DEFAULT["policy"]["owners"], "spend": ["cfo@acme.test"]},
    )
    found = lines(old, new)
    assert found["use_cases.research.cap"] == (1_000_000, 500_000, "use case research cap")
    assert found["models.o3.weight"] == (Decimal("0.8"), Decimal("1.0"), "model o3 weight")
    assert found["charter.owners.spend"] == (
        ("finance@example.com",),
        ("cfo@acme.test",),
        "policy owners: spend",
    )


def test_lists_of_named_entries_compare_by_name_and_order_follows_the_policy():
    old = parse_policy(DEFAULT)
    pools = [{"name": "security-review reserve", "use_case": "security-review", "amount": 1}]
    new = edited(reserved_pools=pools, phase="optimize")
    changes = diff_policies(old, new)
    assert [c.key for c in changes] == [
        "phase",
        "reserved_pools.security-review reserve.amount",
    ]
    assert changes[1].subject == "reserved pool security-review reserve amount"


def test_flatten_walks_dataclasses_tables_and_lists():
    flat = flatten(parse_policy(DEFAULT))
    assert flat["models.gpt-4o.aliases"] == ()
    assert flat["alerts.person_thresholds"] == (Decimal("0.8"), Decimal("1.0"))
    assert flat["tiers.light.baseline"] == 500_000
    assert "source" not in flat
