"""budgets.estimate: every input that cannot be estimated gets a clear answer."""

from __future__ import annotations

import pytest

from budgets.estimate import InvalidEstimateInput, estimate


@pytest.fixture
def ann(org):
    return org["ann@acme.test"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t\n"])
def test_empty_text_is_refused(session, policy, ann, clock, text):
    with pytest.raises(InvalidEstimateInput, match="there is no text to estimate"):
        estimate(session, policy, ann, text, now=clock())


def test_chat_messages_without_content_are_refused(session, policy, ann, clock):
    with pytest.raises(InvalidEstimateInput, match="no text to estimate"):
        estimate(session, policy, ann, [{"role": "user", "content": ""}], now=clock())


def test_an_unknown_model_is_refused_listing_the_known_ones(session, policy, ann, clock):
    with pytest.raises(InvalidEstimateInput) as caught:
        estimate(session, policy, ann, "hello", "gpt-9", now=clock())
    message = caught.value.message
    assert message.startswith("unknown model 'gpt-9'; known models: ")
    for name in policy.models:
        assert name in message


def test_an_unknown_use_case_is_refused_listing_the_known_ones(session, policy, ann, clock):
    with pytest.raises(InvalidEstimateInput) as caught:
        estimate(session, policy, ann, "hello", None, "poetry", now=clock())
    message = caught.value.message
    assert message.startswith("unknown use case 'poetry'; known use cases: ")
    for name in policy.use_cases:
        assert name in message


def test_text_over_the_limit_is_refused_naming_the_limit(session, policy, ann, clock):
    limit = policy.estimate.max_text_chars
    assert estimate(session, policy, ann, "a" * limit, now=clock()).chars == limit
    with pytest.raises(InvalidEstimateInput) as caught:
        estimate(session, policy, ann, "a" * (limit + 1), now=clock())
    assert caught.value.message == (
        "the text is 400,001 characters long; estimates take at most 400,000 characters. "
        "Estimate it in parts."
    )


def test_chat_content_that_is_not_text_is_refused(session, policy, ann, clock):
    with pytest.raises(InvalidEstimateInput, match="field 'content' must be text, not list"):
        estimate(
            session, policy, ann, [{"role": "user", "content": [{"type": "text"}]}], now=clock()
        )
