"""Model-name resolution (budgets.models) on the names providers and gateways really send.

Prices and ids come from the genai-prices package bundled data (offline); the catalog is the
built-in policy's."""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from budgets.policy import DEFAULT_POLICY_PATH, PolicyInvalid, load_policy, parse_policy


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def policy_with(models_update: dict, drop: tuple[str, ...] = ()):
    data = copy.deepcopy(tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))
    for name in drop:
        del data["models"][name]
        for use in data.get("use_cases", {}).values():
            if name in use.get("allowed_models", []):
                use["allowed_models"].remove(name)
    for name, fields in models_update.items():
        data["models"].setdefault(name, {}).update(fields)
    return parse_policy(data, "test policy")


@pytest.mark.parametrize(
    ("sent", "catalog_name"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-3-5-haiku-20241022", "claude-haiku-3.5"),
        ("openai/gpt-4o", "gpt-4o"),
        ("anthropic/claude-sonnet-4", "claude-sonnet-4"),
        ("anthropic/claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("GPT-4o", "gpt-4o"),
        (" gpt-4o ", "gpt-4o"),
    ],
)
def test_dated_prefixed_and_regional_names_book_at_the_catalog_models_price(
    policy, sent, catalog_name
):
    resolved = policy.resolve_model(sent)
    assert (resolved.name, resolved.source) == (catalog_name, "catalog")
    assert resolved.price == policy.models[catalog_name]
    assert policy.model(sent) == policy.models[catalog_name]


def test_gpt_4o_mini_dated_is_debited_at_its_weight_not_at_weight_one(policy):
    price = policy.model("gpt-4o-mini-2024-07-18")
    assert price.budget_tokens(1_000, 0) == 100  # weight 0.1, as gpt-4o-mini
    assert price.cost_micros(1_000_000, 0) == 150_000  # $0.15 per 1M input tokens


def test_a_litellm_model_group_resolves_through_an_explicit_alias():
    policy = policy_with({"gpt-4o-mini": {"aliases": ["fast-chat", "team-*-mini"]}})
    assert policy.resolve_model("fast-chat").name == "gpt-4o-mini"
    assert policy.resolve_model("FAST-CHAT").name == "gpt-4o-mini"
    assert policy.resolve_model("team-seo-mini").name == "gpt-4o-mini"
    assert policy.resolve_model("fast-chat").via == "alias fast-chat"
    assert load_policy().resolve_model("fast-chat").source == "unknown"


def test_a_model_missing_from_the_catalog_gets_its_public_price_marked_as_such(policy):
    resolved = policy.resolve_model("claude-opus-4-1-20250805")
    assert resolved.source == "public"
    assert resolved.name == "claude-opus-4-1"
    assert resolved.via.startswith("genai-prices anthropic/")
    assert (resolved.price.input_per_1m, resolved.price.output_per_1m) == (
        Decimal(15),
        Decimal(75),
    )
    assert resolved.price.cached_input_per_1m == Decimal("1.5")
    # The weight is its price against the default model's (gpt-4o: 2.50 + 10.00 at weight 1).
    assert resolved.price.weight == Decimal("7.2000")


def test_an_embedding_model_gets_its_public_input_price(policy):
    resolved = policy.resolve_model("text-embedding-3-small")
    assert resolved.source == "public"
    assert resolved.price.input_per_1m == Decimal("0.02")


def test_a_public_price_follows_the_price_in_effect_on_the_calls_date():
    policy = policy_with({}, drop=("o3",))
    resolved = policy.resolve_model("o3-2025-04-16")
    assert resolved.source == "public"
    before = resolved.price_at(datetime(2025, 5, 1, tzinfo=UTC))
    after = resolved.price_at(datetime(2025, 7, 1, tzinfo=UTC))
    # OpenAI cut o3's price on 2025-06-10 (genai-prices records both).
    assert (before.input_per_1m, before.output_per_1m) == (Decimal(10), Decimal(40))
    assert (after.input_per_1m, after.output_per_1m) == (Decimal(2), Decimal(8))
    assert resolved.price_at(datetime(2025, 5, 2, tzinfo=UTC)) is before  # made once


@pytest.mark.parametrize("sent", ["azure/my-deployment", "llama-9000", "unknown", ""])
def test_a_name_nothing_resolves_is_unknown_at_weight_one_and_no_price(policy, sent):
    resolved = policy.resolve_model(sent)
    assert resolved.source == "unknown"
    assert not resolved.is_known
    assert resolved.price.weight == 1
    assert resolved.price.cost_micros(1_000, 1_000) == 0


@given(st.sampled_from(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "o3"]), st.data())
def test_catalog_names_match_in_any_case(name, data):
    policy = load_policy()
    spelled = "".join(
        data.draw(st.sampled_from([c.lower(), c.upper()])) if c.isalpha() else c for c in name
    )
    assert policy.resolve_model(spelled).name == name


def test_policy_check_names_every_alias_problem():
    data = copy.deepcopy(tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))
    data["models"]["gpt-4o"]["aliases"] = ["gpt-4o-mini", "shared", "*"]
    data["models"]["o3"]["aliases"] = ["shared", 7]
    with pytest.raises(PolicyInvalid) as raised:
        parse_policy(data, "test policy")
    reasons = [str(e) for e in raised.value.errors]
    assert any(
        "models.gpt-4o.aliases" in r and "'gpt-4o-mini', which is a model of its own" in r
        for r in reasons
    ), reasons
    assert any("'*', which would price every unknown model" in r for r in reasons), reasons
    assert any("models.o3.aliases" in r and "must be a list of strings" in r for r in reasons)
