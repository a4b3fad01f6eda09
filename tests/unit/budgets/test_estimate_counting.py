"""budgets.estimate: token counts, approximate models, chat format, prices and budget."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
import tiktoken

from budgets.balances import personal_remaining
from budgets.estimate import estimate
from budgets.ledger import GrantSpec, issue_grants
from budgets.periods import period_for
from budgets.tokenizer import estimate_tokens
from tests.unit.budgets.estimate_fixtures import TEXTS, reference_encoding


@pytest.fixture(scope="module")
def tiktoken_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tiktoken.Encoding]:
    cache_dir = tmp_path_factory.mktemp("tiktoken-cache")
    return {name: reference_encoding(name, cache_dir) for name in ("o200k_base", "cl100k_base")}


@pytest.fixture
def ann(org):
    return org["ann@acme.test"]


def hello_tokens(n: int) -> str:
    """n tokens in both o200k_base and cl100k_base: "hello" then " hello" n-1 times."""
    return "hello" + " hello" * (n - 1)


# --- counts equal tiktoken's ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TEXTS))
@pytest.mark.parametrize(
    ("model", "encoding"), [("gpt-4o", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")]
)
def test_input_tokens_equal_tiktokens_count_for_openai_models(
    session, policy, ann, clock, tiktoken_reference, kind, model, encoding
):
    text = TEXTS[kind]
    result = estimate(session, policy, ann, text, model, now=clock())

    expected = len(tiktoken_reference[encoding].encode(text, disallowed_special=()))
    assert result.model.input_tokens == expected
    assert result.encoding == encoding
    assert result.model.approximate is False


def test_the_default_model_is_the_policys(session, policy, ann, clock):
    assert policy.estimate.default_model == "gpt-4o"
    assert estimate(session, policy, ann, "hello world", now=clock()).model.name == "gpt-4o"
    other = replace(policy, estimate=replace(policy.estimate, default_model="gpt-4.1"))
    assert estimate(session, other, ann, "hello world", now=clock()).model.name == "gpt-4.1"


# --- models without a public tokenizer --------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "encoding", "calibration"),
    [
        ("claude-sonnet-4", "cl100k_base", 1.15),
        ("claude-haiku-3.5", "cl100k_base", 1.15),
        ("claude-opus-4", "cl100k_base", 1.15),
        ("gemini-2.5-pro", "o200k_base", 1.1),
    ],
)
def test_claude_and_gemini_are_a_proxy_count_times_calibration_marked_approximate(
    session, policy, ann, clock, tiktoken_reference, model, encoding, calibration
):
    text = TEXTS["english prose"]
    result = estimate(session, policy, ann, text, model, now=clock())

    proxy = len(tiktoken_reference[encoding].encode(text, disallowed_special=()))
    assert result.model.input_tokens == math.ceil(proxy * Decimal(str(calibration)))
    assert (
        result.model.input_tokens == estimate_tokens(text, encoding, calibration, proxy=True).tokens
    )
    assert result.model.approximate is True
    assert result.encoding == encoding
    assert result.calibration == Decimal(str(calibration))


# --- chat format ------------------------------------------------------------------------------


def test_chat_messages_count_the_per_message_overhead(
    session, policy, ann, clock, tiktoken_reference
):
    messages = [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "name": "ann", "content": "Summarise the Q3 report in five bullets."},
        {"role": "assistant", "content": None},
    ]
    result = estimate(session, policy, ann, messages, "gpt-4o", now=clock())

    enc = tiktoken_reference["o200k_base"]
    values = [v for m in messages for v in m.values() if v is not None]
    # 3 per message, 1 for a name, 3 to prime the reply (the OpenAI cookbook's accounting).
    expected = sum(len(enc.encode(v)) for v in values) + 3 * 3 + 1 + 3
    assert result.model.input_tokens == expected
    assert result.chat_format is True
    assert result.messages == 3


def test_chat_messages_cost_more_than_the_same_text_alone(session, policy, ann, clock):
    text = "Summarise the Q3 report in five bullets."
    alone = estimate(session, policy, ann, text, now=clock())
    as_chat = estimate(session, policy, ann, [{"role": "user", "content": text}], now=clock())
    assert as_chat.model.input_tokens == alone.model.input_tokens + 3 + 1 + 3


# --- money and budget, hand-computed from the catalog -----------------------------------------


@pytest.mark.parametrize(
    ("model", "input_tokens", "output_tokens", "cost_micros", "budget_tokens"),
    [
        # 50,000 input tokens and, at the policy's default ratio 0.5, 25,000 output tokens.
        # gpt-4o: 50,000 x $2.50/M + 25,000 x $10/M = $0.125 + $0.25 = $0.375; weight 1.
        ("gpt-4o", 50_000, 25_000, 375_000, 75_000),
        # gpt-4o-mini: 50,000 x $0.15/M + 25,000 x $0.60/M = $0.0075 + $0.015; weight 0.1.
        ("gpt-4o-mini", 50_000, 25_000, 22_500, 7_500),
        # gpt-4.1: 50,000 x $2/M + 25,000 x $8/M = $0.10 + $0.20; weight 0.8.
        ("gpt-4.1", 50_000, 25_000, 300_000, 60_000),
        # gpt-3.5-turbo (cl100k): 50,000 x $0.50/M + 25,000 x $1.50/M; weight 0.2.
        ("gpt-3.5-turbo", 50_000, 25_000, 62_500, 15_000),
        # claude-sonnet-4: 50,000 x 1.15 = 57,500 in, 28,750 out;
        # 57,500 x $3/M + 28,750 x $15/M = $0.1725 + $0.43125; weight 1.3 -> 112,125.
        ("claude-sonnet-4", 57_500, 28_750, 603_750, 112_125),
        # claude-opus-4: 57,500 x $15/M + 28,750 x $75/M = $0.8625 + $2.15625; weight 6.
        ("claude-opus-4", 57_500, 28_750, 3_018_750, 517_500),
        # gemini-2.5-pro: 50,000 x 1.1 = 55,000 in, 27,500 out;
        # 55,000 x $1.25/M + 27,500 x $10/M = $0.06875 + $0.275; weight 0.8.
        ("gemini-2.5-pro", 55_000, 27_500, 343_750, 66_000),
    ],
)
def test_cost_and_budget_match_the_catalog_to_the_micro_dollar(
    session, policy, ann, clock, model, input_tokens, output_tokens, cost_micros, budget_tokens
):
    result = estimate(session, policy, ann, hello_tokens(50_000), model, now=clock())
    assert (result.model.input_tokens, result.model.output_tokens) == (input_tokens, output_tokens)
    assert result.model.cost_micros == cost_micros
    assert result.model.budget_tokens == budget_tokens


def test_the_reply_shows_the_cost_to_the_cent(services, ann):
    from bot.core.commands.estimate import estimate_reply

    reply = estimate_reply(
        services, ann, hello_tokens(50_000), "claude-opus-4", None, services.clock()
    )
    text = services.renderer.text(reply)
    assert "Cost:    ≈$3.02" in text  # 3,018,750 micro-dollars
    assert "≈517,500 budget tokens (weight 6)" in text


def test_the_use_cases_output_ratio_sets_expected_output(session, policy, ann, clock):
    result = estimate(session, policy, ann, hello_tokens(1_000), "gpt-4o", "seo-brief", now=clock())
    assert result.output_ratio.source == "use_case"
    assert result.output_ratio.ratio == Decimal("0.8")
    assert result.model.output_tokens == 800
    # 1,000 x $2.50/M + 800 x $10/M = $0.0025 + $0.008
    assert result.model.cost_micros == 10_500


def test_share_of_the_remaining_personal_balance(session, policy, ann, clock):
    result = estimate(session, policy, ann, hello_tokens(50_000), "claude-opus-4", now=clock())
    # The org fixture grants the default tier's 2,000,000 baseline for this period.
    assert result.personal_remaining == 2_000_000
    assert result.balance_share == Decimal(517_500) / 2_000_000


def test_no_share_when_nothing_is_left(session, policy, clock, org):
    from storage.models import GrantBalance

    session.query(GrantBalance).update({GrantBalance.remaining: 0})
    result = estimate(session, policy, org["ann@acme.test"], "hello", now=clock())
    assert result.personal_remaining == 0
    assert result.balance_share is None


def test_the_remaining_balance_is_balances_personal_remaining_whatever_grants_are_around(
    session, policy, clock, org
):
    """The estimate reads the personal remaining with its own driver-level statement; it must
    say what budgets.balances.personal_remaining says."""
    now = clock()
    ann, mia = org["ann@acme.test"], org["mia@acme.test"]
    period = period_for(policy.periods, now)
    day = timedelta(days=1)

    def spec(key, owner_type, owner_id, amount, effective_at, expires_at, kind="manual"):
        return GrantSpec(
            key=f"test:{key}",
            kind=kind,
            token_class="operational",
            owner_type=owner_type,
            owner_id=owner_id,
            amount=amount,
            period=period.key,
            effective_at=effective_at,
            expires_at=expires_at,
            source="admin",
        )

    issue_grants(
        session,
        [
            spec("active", "person", ann.id, 700, now - day, now + day),
            spec("burst", "person", ann.id, 300, now - day, now + day, kind="burst"),
            spec("not-yet", "person", ann.id, 5_000, now + day, now + 2 * day),
            spec("expired", "person", ann.id, 9_000, now - 2 * day, now - day),
            spec("ends-now", "person", ann.id, 4_000, now - day, now),
            spec("someone-else", "person", mia.id, 11_000, now - day, now + day),
            spec("team", "team", ann.team_id, 13_000, now - day, now + day, kind="team_pool"),
        ],
        now,
    )
    session.commit()

    for moment in (now, now + day + timedelta(hours=1), now - timedelta(hours=1)):
        for person in org.values():
            result = estimate(session, policy, person, "hello", now=moment)
            assert result.personal_remaining == personal_remaining(session, person, moment)
    assert estimate(session, policy, ann, "hello", now=now).personal_remaining == 2_001_000


# --- the cheapest allowed model ---------------------------------------------------------------


def test_the_cheapest_model_in_the_catalog_when_the_use_case_allows_every_model(
    session, policy, ann, clock
):
    result = estimate(session, policy, ann, hello_tokens(1_000), "gpt-4o", "coding", now=clock())
    assert result.cheapest.name == "gpt-4o-mini"
    assert result.models_compared == len(policy.models)
    # 1,000 x $0.15/M + 300 x $0.60/M at coding's ratio 0.3
    assert result.cheapest.cost_micros == 330
    assert result.cheapest_saving_micros == result.model.cost_micros - 330
    assert not result.is_cheapest


def test_the_cheapest_model_among_those_the_use_case_allows(session, policy, ann, clock):
    narrow = replace(
        policy,
        use_cases={
            **policy.use_cases,
            "support-reply": replace(
                policy.use_cases["support-reply"], allowed_models=("gpt-4.1", "claude-haiku-3.5")
            ),
        },
    )
    text = hello_tokens(1_000)
    result = estimate(session, narrow, ann, text, "gpt-4.1", "support-reply", now=clock())

    assert result.models_compared == 2
    assert result.cheapest.name == "claude-haiku-3.5"
    # Priced on its own proxy count: cl100k_base x 1.15, not gpt-4.1's o200k_base count.
    assert result.cheapest.input_tokens == estimate_tokens(text, "cl100k_base", 1.15).tokens
    assert result.cheapest.approximate is True
    assert result.model_allowed


def test_a_model_the_use_case_does_not_allow_is_flagged(session, policy, ann, clock):
    result = estimate(session, policy, ann, "hello", "claude-opus-4", "support-reply", now=clock())
    assert not result.model_allowed
    assert result.cheapest.name == "gpt-4o-mini"


def test_the_cheapest_model_asked_for_is_said_to_be_the_cheapest(services, ann):
    from bot.core.commands.estimate import estimate_reply

    reply = estimate_reply(services, ann, "hello", "gpt-4o-mini", "support-reply", services.clock())
    assert reply.context["estimate"].is_cheapest
    text = services.renderer.text(reply)
    assert "gpt-4o-mini is already the cheapest model allowed for support-reply." in text
