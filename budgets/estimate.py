"""What a prompt will cost before it is sent: tokens, money, budget, and the cheaper way.

`estimate()` counts the input with the model's own tokenizer (or a proxy encoding times the
policy's calibration, marked approximate), predicts the output from the use case's recent
output/input ratio, prices both from the catalog, and compares with the cheapest model the use
case allows and with the use case's approved templates.

Invariants:

* The text is never stored, logged or put in an error message: only counts leave this module.
  A sensitive-data finding carries a kind and a count, never the matched text.
* History is read with one bounded aggregate: the latest `HISTORY_SAMPLE` events of the use case
  within `HISTORY_WINDOW`, found through the (use_case, occurred_at) index. Cost does not grow
  with the size of the usage history. The share of the balance needs only the personal
  remaining: one aggregate over the person's active grants. Every statement is built once.
* Each encoding is counted at most once per estimate. Another model's encoding is counted only
  when that model would be the cheapest on the asked model's count; the cheapest model reported
  is always priced on its own exact (or calibrated) count.
* A vocabulary is loaded once per process, even when the first estimates arrive together
  (`budgets.tokenizer.load_encoding`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from budgets.balances import personal_remaining
from budgets.policy import ModelPrice, Policy, UseCase
from budgets.sensitive import SensitiveFinding, find_sensitive
from budgets.tokenizer import count_chat_tokens, count_tokens
from storage.models import Person, PromptTemplate, UsageEvent

__all__ = [
    "HISTORY_SAMPLE",
    "HISTORY_WINDOW",
    "MIN_HISTORY_EVENTS",
    "ChatMessages",
    "Estimate",
    "InvalidEstimateInput",
    "ModelCost",
    "OutputRatio",
    "TemplateSaving",
    "estimate",
    "recent_calls",
]

HISTORY_WINDOW = timedelta(weeks=8)
HISTORY_SAMPLE = 1_000  # the latest calls of the window: bounds the aggregate's cost
MIN_HISTORY_EVENTS = 5  # fewer events than this say too little about a ratio or an average
MIN_TEMPLATE_SAVING = Decimal("0.01")  # below 1% a template is not worth recommending

ChatMessages = Sequence[Mapping[str, str | None]]


class InvalidEstimateInput(ValueError):
    """The text, model or use case cannot be estimated; `message` says why and what would do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ModelCost:
    """One model's price for the text: raw tokens in its own (or proxy) encoding."""

    name: str
    input_tokens: int
    output_tokens: int
    cost_micros: int
    budget_tokens: int
    approximate: bool  # a proxy encoding times a calibration, not the model's own tokenizer


@dataclass(frozen=True)
class OutputRatio:
    """Expected output tokens per input token, and where that figure comes from."""

    ratio: Decimal
    source: Literal["history", "use_case", "policy"]
    events: int = 0  # usage events behind a history ratio


@dataclass(frozen=True)
class TemplateSaving:
    """An approved template of the use case whose calls average fewer input tokens."""

    template_id: str
    name: str
    share: Decimal  # 0.38 = the template's calls average 38% fewer input tokens
    events: int  # calls made with the template in the sample
    input_tokens_saved: int  # for this estimate, at that share
    cost_micros_saved: int


@dataclass(frozen=True)
class Estimate:
    model: ModelCost
    encoding: str
    calibration: Decimal  # the proxy encoding's factor for models without a public tokenizer
    use_case: str | None
    use_case_status: str | None  # approved | capped | prohibited
    use_case_reason: str  # why a use case is capped or prohibited
    allowed_models: tuple[str, ...]  # the use case's list; empty when every model is allowed
    chat_format: bool
    messages: int  # chat messages counted (0 for plain text)
    chars: int
    output_ratio: OutputRatio
    weight: Decimal
    personal_remaining: int
    balance_share: Decimal | None  # budget tokens / personal remaining; None when nothing is left
    cheapest: ModelCost  # may be the asked model itself
    models_compared: int
    template_saving: TemplateSaving | None
    sensitive: tuple[SensitiveFinding, ...]
    redaction_rule: str  # the policy's rule, quoted whenever `sensitive` is not empty

    @property
    def model_allowed(self) -> bool:
        return not self.allowed_models or self.model.name in self.allowed_models

    @property
    def is_cheapest(self) -> bool:
        return self.cheapest.name == self.model.name

    @property
    def cheapest_saving_micros(self) -> int:
        return max(self.model.cost_micros - self.cheapest.cost_micros, 0)


def estimate(
    session: Session,
    policy: Policy,
    person: Person,
    text_or_messages: str | ChatMessages,
    model: str | None = None,
    use_case: str | None = None,
    *,
    now: datetime,
) -> Estimate:
    """Estimate sending `text_or_messages` (plain text, or chat messages of role/content) to
    `model` (the policy's default when None) for `use_case`; raises InvalidEstimateInput."""
    settings = policy.estimate
    price = _model_price(policy, model or settings.default_model)
    use = _use_case(policy, use_case)
    chat_format = not isinstance(text_or_messages, str)
    scanned = _scanned_text(text_or_messages)
    if not scanned or scanned.isspace():
        raise InvalidEstimateInput(
            "there is no text to estimate: give the prompt after the command, "
            "e.g. `estimate Summarise this report in five bullet points`"
        )
    if len(scanned) > settings.max_text_chars:
        raise InvalidEstimateInput(
            f"the text is {len(scanned):,} characters long; estimates take at most "
            f"{settings.max_text_chars:,} characters. Estimate it in parts."
        )

    raw_counts = {price.encoding: _raw_count(text_or_messages, price.encoding)}
    sensitive = tuple(find_sensitive(scanned))
    history = _recent_history(session, use, now) if use else _History()
    ratio = _output_ratio(history, use, settings.default_output_ratio)
    remaining = personal_remaining(session, person, now)

    asked = _model_cost(price, raw_counts[price.encoding], ratio.ratio)
    candidates = [policy.models[name] for name in (use.allowed_models if use else ())] or list(
        policy.models.values()
    )
    cheapest = _cheapest(candidates, text_or_messages, raw_counts, price.encoding, ratio.ratio)
    saving = _template_saving(session, history, use, asked, price) if use else None
    return Estimate(
        model=asked,
        encoding=price.encoding,
        calibration=price.calibration,
        use_case=use_case,
        use_case_status=use.status if use else None,
        use_case_reason=use.reason if use else "",
        allowed_models=use.allowed_models if use else (),
        chat_format=chat_format,
        messages=0 if isinstance(text_or_messages, str) else len(text_or_messages),
        chars=len(scanned),
        output_ratio=ratio,
        weight=price.weight,
        personal_remaining=remaining,
        balance_share=Decimal(asked.budget_tokens) / remaining if remaining > 0 else None,
        cheapest=cheapest,
        models_compared=len(candidates),
        template_saving=saving,
        sensitive=sensitive,
        redaction_rule=settings.redaction_rule,
    )


# --- input ------------------------------------------------------------------------------------


def _model_price(policy: Policy, name: str) -> ModelPrice:
    price = policy.models.get(name)
    if price is None:
        raise InvalidEstimateInput(
            f"unknown model {name!r}; known models: {', '.join(sorted(policy.models))}"
        )
    return price


def _use_case(policy: Policy, name: str | None) -> UseCase | None:
    if name is None:
        return None
    use = policy.use_cases.get(name)
    if use is None:
        known = ", ".join(sorted(policy.use_cases)) or "none are defined"
        raise InvalidEstimateInput(f"unknown use case {name!r}; known use cases: {known}")
    return use


def _scanned_text(text_or_messages: str | ChatMessages) -> str:
    """The characters a person typed: the text, or every message value joined by newlines."""
    if isinstance(text_or_messages, str):
        return text_or_messages
    values = []
    for message in text_or_messages:
        for key, value in message.items():
            if value is not None and not isinstance(value, str):
                raise InvalidEstimateInput(
                    f"chat message field {key!r} must be text, not {type(value).__name__}"
                )
            if key != "role" and value:
                values.append(value)
    return "\n".join(values)


# --- counting ---------------------------------------------------------------------------------


def _raw_count(text_or_messages: str | ChatMessages, encoding: str) -> int:
    if isinstance(text_or_messages, str):
        return count_tokens(text_or_messages, encoding)
    return count_chat_tokens(text_or_messages, encoding)


def _calibrated(raw_tokens: int, price: ModelPrice) -> int:
    """Proxy counts times the model's calibration, rounded up (as tokenizer.estimate_tokens)."""
    if price.calibration == 1:
        return raw_tokens
    return int((raw_tokens * price.calibration).to_integral_value(rounding=ROUND_CEILING))


def _model_cost(price: ModelPrice, raw_tokens: int, ratio: Decimal) -> ModelCost:
    input_tokens = _calibrated(raw_tokens, price)
    output_tokens = int((input_tokens * ratio).to_integral_value(rounding=ROUND_HALF_UP))
    return ModelCost(
        name=price.name,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_micros=price.cost_micros(input_tokens, output_tokens),
        budget_tokens=price.budget_tokens(input_tokens, output_tokens),
        approximate=price.approximate or price.calibration != 1,
    )


def _cheapest(
    candidates: list[ModelPrice],
    text_or_messages: str | ChatMessages,
    raw_counts: dict[str, int],
    asked_encoding: str,
    ratio: Decimal,
) -> ModelCost:
    """The lowest-cost candidate, priced on its own encoding's count.

    Candidates on an encoding not counted yet are ranked on the asked encoding's count; when
    one of them wins, its encoding is counted and the ranking is redone (at most once per
    encoding), so the winner's price is never a stand-in.
    """
    while True:
        best_price, best = min(
            (
                (
                    price,
                    _model_cost(
                        price, raw_counts.get(price.encoding, raw_counts[asked_encoding]), ratio
                    ),
                )
                for price in candidates
            ),
            key=lambda pair: (_exact_cost(*pair), pair[1].budget_tokens, pair[0].name),
        )
        if best_price.encoding in raw_counts:
            return best
        raw_counts[best_price.encoding] = _raw_count(text_or_messages, best_price.encoding)


def _exact_cost(price: ModelPrice, cost: ModelCost) -> Decimal:
    """Unrounded, so that models costing under a micro-dollar still rank by price."""
    return cost.input_tokens * price.input_per_1m + cost.output_tokens * price.output_per_1m


# --- history ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    events: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class _History:
    """The use case's recent calls, grouped by template (None: no template)."""

    groups: Mapping[str | None, _Group] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(g.events for g in self.groups.values())

    @property
    def input_tokens(self) -> int:
        return sum(g.input_tokens for g in self.groups.values())

    @property
    def output_tokens(self) -> int:
        return sum(g.output_tokens for g in self.groups.values())


_RECENT_CALLS = (
    select(UsageEvent.template_id, UsageEvent.input_tokens, UsageEvent.output_tokens)
    .where(
        UsageEvent.use_case == bindparam("use_case"),
        UsageEvent.occurred_at > bindparam("since"),
        UsageEvent.occurred_at <= bindparam("now"),
        UsageEvent.input_tokens > 0,
    )
    .order_by(UsageEvent.occurred_at.desc())
    .limit(HISTORY_SAMPLE)
)
_RECENT = _RECENT_CALLS.subquery()
_HISTORY_BY_TEMPLATE = select(
    _RECENT.c.template_id,
    func.count(),
    func.sum(_RECENT.c.input_tokens),
    func.sum(_RECENT.c.output_tokens),
).group_by(_RECENT.c.template_id)
_APPROVED_TEMPLATES = select(PromptTemplate.id, PromptTemplate.name).where(
    PromptTemplate.use_case == bindparam("use_case"),
    PromptTemplate.approved.is_(True),
    PromptTemplate.id.in_(bindparam("ids", expanding=True)),
)


def _history_params(use_case: str, now: datetime) -> dict[str, object]:
    return {"use_case": use_case, "since": now - HISTORY_WINDOW, "now": now}


def recent_calls(use_case: str, now: datetime) -> Select[str | None, int, int]:
    """The latest HISTORY_SAMPLE calls of a use case within HISTORY_WINDOW before `now`:
    (template id, input tokens, output tokens), read backwards on (use_case, occurred_at)."""
    return _RECENT_CALLS.params(_history_params(use_case, now))


def _recent_history(session: Session, use: UseCase, now: datetime) -> _History:
    """One aggregate over the bounded sample, per template (None: calls without one).

    Core statements on the session's connection: the ORM layer would only add overhead here.
    """
    rows = session.connection().execute(_HISTORY_BY_TEMPLATE, _history_params(use.name, now))
    return _History(
        {template: _Group(int(n), int(inp), int(out)) for template, n, inp, out in rows}
    )


def _output_ratio(
    history: _History,
    use: UseCase | None,
    default: Decimal,
) -> OutputRatio:
    if history.events >= MIN_HISTORY_EVENTS and history.input_tokens > 0:
        return OutputRatio(
            Decimal(history.output_tokens) / Decimal(history.input_tokens),
            "history",
            history.events,
        )
    if use is not None and use.output_ratio is not None:
        return OutputRatio(use.output_ratio, "use_case")
    return OutputRatio(default, "policy")


def _template_saving(
    session: Session,
    history: _History,
    use: UseCase,
    asked: ModelCost,
    price: ModelPrice,
) -> TemplateSaving | None:
    """The approved template whose calls average the fewest input tokens below untemplated ones."""
    without = history.groups.get(None)
    with_template = {t: g for t, g in history.groups.items() if t is not None}
    if without is None or without.events < MIN_HISTORY_EVENTS or not with_template:
        return None
    params = {"use_case": use.name, "ids": list(with_template)}
    approved = dict(session.connection().execute(_APPROVED_TEMPLATES, params).all())
    baseline_average = Decimal(without.input_tokens) / without.events
    best: tuple[Decimal, str, _Group] | None = None
    for template_id, group in with_template.items():
        if template_id not in approved or group.events < MIN_HISTORY_EVENTS:
            continue
        share = 1 - (Decimal(group.input_tokens) / group.events) / baseline_average
        if share >= MIN_TEMPLATE_SAVING and (best is None or share > best[0]):
            best = (share, template_id, group)
    if best is None:
        return None
    share, template_id, group = best
    saved = min(
        int((asked.input_tokens * share).to_integral_value(rounding=ROUND_HALF_UP)),
        asked.input_tokens,
    )
    return TemplateSaving(
        template_id=template_id,
        name=approved[template_id],
        share=share,
        events=group.events,
        input_tokens_saved=saved,
        cost_micros_saved=price.cost_micros(saved, 0),
    )
