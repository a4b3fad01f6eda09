"""Pre-flight authorization against the real ledger: what the policy refuses and why."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from budgets import authorize as codes
from budgets.authorize import authorize
from budgets.ledger import record_usage
from budgets.policy import Limits
from ingest.events import UsageEvent

BASELINE = 2_000_000  # the default tier's baseline in the built-in policy


def spend(services, user: str, tokens: int, use_case: str = "seo-brief", n: int = 1) -> None:
    """Record usage of `tokens` raw gpt-4o tokens (weight 1: as many budget tokens)."""
    events = [
        UsageEvent(
            id=f"{user}-{use_case}-{n}-{i}",
            user=user,
            model="gpt-4o",
            input_tokens=tokens // n,
            output_tokens=0,
            cached_input_tokens=0,
            use_case=use_case,
            project=None,
            template_id=None,
            conversation_id=None,
            timestamp=services.clock(),
            prompt_fingerprint=None,
        )
        for i in range(n)
    ]
    with services.db.unit_of_work() as uow:
        record_usage(uow.session, events, services.policy, services.clock())
        uow.commit()


def ask(services, user="ann@acme.test", tokens=1000, use_case="seo-brief", model="gpt-4o", **kw):
    with services.db.read() as session:
        return authorize(
            session,
            kw.get("policy", services.policy),
            user,
            model,
            tokens,
            use_case,
            kw.get("project"),
            services.clock(),
        )


def test_a_request_within_budget_is_allowed_from_the_first_pool_of_the_draw_order(services, org):
    decision = ask(services, tokens=10_000)
    assert decision.allow and decision.reason == codes.WITHIN_BUDGET
    assert decision.pool == "baseline"
    # Ann's baseline (both token classes) plus the Marketing team pool.
    assert decision.remaining == BASELINE + 5_000_000


def test_the_estimate_is_weighted_by_the_model(services, org):
    assert ask(services, tokens=10_000, model="claude-opus-4").estimated_budget_tokens == 60_000
    assert ask(services, tokens=10_000, model="not-in-catalog").estimated_budget_tokens == 10_000


def test_a_prohibited_use_case_is_refused_with_the_policy_reason(services, org):
    decision = ask(services, use_case="personal")
    assert not decision.allow and decision.reason == codes.PROHIBITED
    assert "acceptable-use policy" in decision.facts["policy_reason"]


def test_a_model_outside_the_use_case_list_is_refused(services, org):
    decision = ask(services, use_case="support-reply", model="claude-opus-4")
    assert not decision.allow and decision.reason == codes.MODEL_NOT_ALLOWED
    assert ask(services, use_case="support-reply", model="gpt-4o-mini").allow


def test_a_capped_use_case_is_held_to_its_cap_for_the_period(services, org):
    spend(services, "ann@acme.test", 900_000, use_case="research")
    assert ask(services, tokens=100_000, use_case="research").allow
    decision = ask(services, tokens=100_001, use_case="research")
    assert not decision.allow and decision.reason == codes.CAPPED
    assert decision.remaining == 100_000
    # The cap is per person: Bob's research is untouched by Ann's.
    assert ask(services, user="bob@acme.test", tokens=500_000, use_case="research").allow


def test_usage_of_a_capped_use_case_last_period_does_not_count(services, org, clock):
    spend(services, "ann@acme.test", 1_000_000, use_case="research")
    clock.advance(days=20)  # December
    assert ask(services, tokens=500_000, use_case="research").reason != codes.CAPPED


def test_a_hard_limit_refuses_what_the_grants_cannot_cover(services, org):
    hard = replace(services.policy, limits=Limits("hard", Decimal("0.1")))
    spend(services, "ann@acme.test", BASELINE + 5_000_000 - 1_000, n=4)
    assert ask(services, tokens=1_000, policy=hard).allow
    decision = ask(services, tokens=1_001, policy=hard)
    assert not decision.allow and decision.reason == codes.HARD_LIMIT
    assert decision.remaining == 1_000


def test_a_soft_limit_allows_an_overdraft_up_to_a_share_of_the_baseline(services, org):
    spend(services, "ann@acme.test", BASELINE + 5_000_000, n=4)  # every grant used up
    allowance = BASELINE // 10
    decision = ask(services, tokens=allowance)
    assert decision.allow and decision.reason == codes.OVERDRAFT
    assert decision.remaining == 0
    spend(services, "ann@acme.test", allowance - 500, n=1)  # now overdrawn
    assert ask(services, tokens=500).allow
    refused = ask(services, tokens=501)
    assert not refused.allow and refused.reason == codes.SOFT_LIMIT


def test_an_unknown_person_is_refused_and_an_alias_resolves(services, org):
    from budgets.directory import add_alias

    unknown = ask(services, user="nobody@acme.test")
    assert not unknown.allow and unknown.reason == codes.UNKNOWN_PERSON
    assert not ask(services, user="openai-user:u-7").allow
    with services.db.unit_of_work() as uow:
        add_alias(uow.session, "openai-user:u-7", "ann@acme.test")
        uow.commit()
    assert ask(services, user="openai-user:u-7").allow
    assert ask(services, user="ANN@acme.test").allow  # emails are case-insensitive


@pytest.mark.parametrize(
    "kwargs,would_be",
    [
        ({"use_case": "personal"}, codes.PROHIBITED),
        ({"user": "nobody@acme.test"}, codes.UNKNOWN_PERSON),
        ({"tokens": 50_000_000}, codes.SOFT_LIMIT),
        ({"tokens": 10}, codes.WITHIN_BUDGET),
    ],
)
def test_in_the_baseline_phase_everything_is_allowed_but_the_reason_says_what_would_happen(
    services, org, kwargs, would_be
):
    measuring = replace(services.policy, phase="baseline")
    decision = ask(services, policy=measuring, **kwargs)
    assert decision.allow and not decision.enforced
    assert decision.reason == would_be
    assert decision.would_refuse == (would_be != codes.WITHIN_BUDGET)


def test_the_reserved_pool_of_a_use_case_comes_first(services, org):
    decision = ask(services, use_case="security-review")
    assert decision.pool == "reserved"
    assert decision.remaining == BASELINE + 5_000_000 + 20_000_000
