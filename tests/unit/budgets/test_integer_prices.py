"""record_usage prices events in integer arithmetic; it must agree with ModelPrice's Decimals."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from budgets.policy import ModelPrice
from budgets.usage_ledger import IntegerPrices

prices = st.decimals(min_value=0, max_value=200, places=3, allow_nan=False, allow_infinity=False)
weights = st.decimals(min_value=Decimal("0.001"), max_value=20, places=3)
tokens = st.integers(min_value=0, max_value=100_000_000)


@given(prices, prices, prices, weights, tokens, tokens, tokens)
def test_integer_prices_equal_the_decimal_ones(
    input_price, cached_price, output_price, weight, input_tokens, output_tokens, cached
):
    model = ModelPrice(
        name="m",
        input_per_1m=input_price,
        output_per_1m=output_price,
        cached_input_per_1m=cached_price,
        encoding="o200k_base",
        weight=weight,
    )
    cached = min(cached, input_tokens)
    fast = IntegerPrices(model)
    assert fast.budget_tokens(input_tokens, output_tokens) == model.budget_tokens(
        input_tokens, output_tokens
    )
    assert fast.cost_micros(input_tokens, output_tokens, cached) == model.cost_micros(
        input_tokens, output_tokens, cached
    )
