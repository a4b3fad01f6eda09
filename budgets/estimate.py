"""What a prompt will cost before it is sent: tokens, money, budget, and the cheaper way.

`estimate()` counts the input with the model's own tokenizer (or a proxy encoding times the
policy's calibration, marked approximate), predicts the output from the use case's recent
output/input ratio, prices both from the catalog, and compares with the cheapest model the use
case allows and with the use case's approved templates.

Invariants:

* The text is never stored, logged or put in an error message: only counts leave this module.
  A sensitive-data finding carries a kind and a count, never the matched text.
* History is read with one bounded aggregate: the latest `HISTORY_SAMPLE` events of the use case
  within `HISTORY_WINDOW`, found through the (use_case, occurred_at) index, summed per template
  with the name of each approved template of the use case. Cost does not grow with the size of
  the usage history. The share of the balance needs only the personal remaining: one aggregate
  over the person's active grants (`budgets.balances.personal_remaining`'s, which a test holds
  equal). Both are read in one fixed statement run on the driver's cursor
  (`storage.database.DriverQuery`): SQLAlchemy's per-statement work would add a fifth to the
  history read, and more than the aggregate itself to the balance.
* Each encoding is counted at most once per estimate. Another model's encoding is counted only
  when that model would be the cheapest on the asked model's count; the cheapest model reported
  is always priced on its own exact (or calibrated) count.
* A vocabulary is loaded once per process, even when the first estimates arrive together
  (`budgets.tokenizer.load_encoding`, which the composition root hands in as `encodings`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy.orm import Session

from budgets.policy import ModelPrice, Policy, UseCase
from budgets.sensitive import SensitiveFinding, find_sensitive
from budgets.tokenizer import EncodingCache, count_chat_tokens, count_tokens
from storage.database import DriverQuery
from storage.models import Grant, GrantBalance, Person, PromptTemplate, UsageEvent, UTCDateTime

__all__ = [
    "HISTORY_SAMPLE",
    "HISTORY_SQL",
    "HISTORY_WINDOW",
    "MIN_HISTORY_EVENTS",
    "PERSONAL_REMAINING_SQL",
    "REMAINING_AND_HISTORY_SQL",
    "ChatMessages",
    "Estimate",
    "InvalidEstimateInput",
    "ModelCost",
    "OutputRatio",
    "TemplateSaving",
    "estimate",
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
    encodings: EncodingCache | None = None,
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

    raw_counts = {price.encoding: _raw_count(text_or_messages, price.encoding, encodings)}
    sensitive = tuple(find_sensitive(scanned))
    remaining, history = _database_reads(session, person, use, now)
    ratio = _output_ratio(history, use, settings.default_output_ratio)

    asked = _model_cost(price, raw_counts[price.encoding], ratio.ratio)
    candidates = [policy.models[name] for name in (use.allowed_models if use else ())] or list(
        policy.models.values()
    )
    cheapest = _cheapest(
        candidates, text_or_messages, raw_counts, price.encoding, ratio.ratio, encodings
    )
    saving = _template_saving(history, asked, price)
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
    """The catalog model `name` resolves to (a dated id or alias is its catalog model)."""
    price = policy.models.get(name)
    if price is None:
        resolved = policy.resolve_model(name)
        if resolved.source != "catalog":
            raise InvalidEstimateInput(
                f"unknown model {name!r}; known models: {', '.join(sorted(policy.models))}"
            )
        price = resolved.price
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


def _raw_count(
    text_or_messages: str | ChatMessages, encoding: str, encodings: EncodingCache | None
) -> int:
    if isinstance(text_or_messages, str):
        return count_tokens(text_or_messages, encoding, encodings)
    return count_chat_tokens(text_or_messages, encoding, encodings)


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
    encodings: EncodingCache | None,
) -> ModelCost:
    """The lowest-cost candidate, priced on its own encoding's count.

    Candidates on an encoding not counted yet are ranked on the asked encoding's count; when
    one of them wins, its encoding is counted and the ranking is redone (at most once per
    encoding), so the winner's price is never a stand-in.
    """
    # Candidates on one count and calibration share their token figures.
    tokens: dict[tuple[int, Decimal], tuple[int, int]] = {}

    def rank(price: ModelPrice) -> tuple[Decimal, int, str]:
        """The unrounded cost (so that models costing under a micro-dollar still rank by
        price), then budget tokens, then the name: `_model_cost`'s figures."""
        raw = raw_counts.get(price.encoding, raw_counts[asked_encoding])
        figures = tokens.get((raw, price.calibration))
        if figures is None:
            input_tokens = _calibrated(raw, price)
            output_tokens = int((input_tokens * ratio).to_integral_value(ROUND_HALF_UP))
            figures = tokens[raw, price.calibration] = (input_tokens, output_tokens)
        input_tokens, output_tokens = figures
        exact = input_tokens * price.input_per_1m + output_tokens * price.output_per_1m
        return exact, price.budget_tokens(input_tokens, output_tokens), price.name

    while True:
        best = min(candidates, key=rank)
        if best.encoding in raw_counts:
            return _model_cost(best, raw_counts[best.encoding], ratio)
        raw_counts[best.encoding] = _raw_count(text_or_messages, best.encoding, encodings)


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
    approved: Mapping[str, str] = field(default_factory=dict)  # template id -> name

    @property
    def events(self) -> int:
        return sum(g.events for g in self.groups.values())

    @property
    def input_tokens(self) -> int:
        return sum(g.input_tokens for g in self.groups.values())

    @property
    def output_tokens(self) -> int:
        return sum(g.output_tokens for g in self.groups.values())


_USAGE = UsageEvent.__tablename__
_TEMPLATES = PromptTemplate.__tablename__
# The latest HISTORY_SAMPLE calls of a use case within HISTORY_WINDOW before `now`, read
# backwards on ix_usage_use_case_time; per template, with the template's name when it is an
# approved template of the same use case (None otherwise, and for calls without a template).
HISTORY_SQL = (
    "SELECT p.template_id, t.name, p.events, p.input_tokens, p.output_tokens FROM ("
    "SELECT recent.template_id, count(*) AS events, sum(recent.input_tokens) AS input_tokens, "
    "sum(recent.output_tokens) AS output_tokens "
    "FROM (SELECT u.template_id, u.input_tokens, u.output_tokens "
    f"FROM {_USAGE} u "
    "WHERE u.use_case = :use_case AND u.occurred_at > :since AND u.occurred_at <= :now "
    "AND u.input_tokens > 0 "
    f"ORDER BY u.occurred_at DESC LIMIT {HISTORY_SAMPLE:d}) recent "
    "GROUP BY recent.template_id) p "
    f"LEFT JOIN {_TEMPLATES} t ON t.id = p.template_id AND t.use_case = :use_case "
    "AND t.approved"
)


def history_params(use_case: str, now: datetime) -> dict[str, object]:
    """HISTORY_SQL's parameters."""
    return {"use_case": use_case, "since": now - HISTORY_WINDOW, "now": now}


# What the person has left of their own grants (not team or project pools) at `now`: what
# budgets.balances.personal_remaining says (a test holds them equal).
PERSONAL_REMAINING_SQL = (
    "SELECT coalesce(sum(b.remaining), 0) AS remaining "
    f"FROM {GrantBalance.__tablename__} b JOIN {Grant.__tablename__} g ON g.id = b.grant_id "
    "WHERE g.owner_type = 'person' AND g.owner_id = :person_id "
    "AND g.effective_at <= :now AND g.expires_at > :now"
)
# Both reads of an estimate for a use case in one statement: the remaining on every row, and
# the history's rows (none, as one row of NULLs, when the use case has no recent calls).
REMAINING_AND_HISTORY_SQL = (
    "SELECT r.remaining, h.template_id, h.name, h.events, h.input_tokens, h.output_tokens "
    f"FROM ({PERSONAL_REMAINING_SQL}) r LEFT JOIN ({HISTORY_SQL}) h ON 1 = 1"
)
_PERSONAL_REMAINING = DriverQuery(PERSONAL_REMAINING_SQL, now=UTCDateTime())
_REMAINING_AND_HISTORY = DriverQuery(
    REMAINING_AND_HISTORY_SQL, since=UTCDateTime(), now=UTCDateTime()
)


def _database_reads(
    session: Session, person: Person, use: UseCase | None, now: datetime
) -> tuple[int, _History]:
    """The person's personal remaining and, for a use case, its recent history."""
    connection = session.connection()
    if use is None:
        row = _PERSONAL_REMAINING.first(connection, {"person_id": person.id, "now": now})
        return (int(row[0]) if row is not None else 0), _History()
    params = {"person_id": person.id, **history_params(use.name, now)}
    rows = _REMAINING_AND_HISTORY.rows(connection, params)
    remaining = int(rows[0][0]) if rows else 0
    calls = [row[1:] for row in rows if row[3] is not None]
    return remaining, _History(
        groups={template: _Group(int(n), int(inp), int(out)) for template, _, n, inp, out in calls},
        approved={template: name for template, name, *_ in calls if name is not None},
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
    history: _History, asked: ModelCost, price: ModelPrice
) -> TemplateSaving | None:
    """The approved template whose calls average the fewest input tokens below untemplated ones."""
    without = history.groups.get(None)
    if without is None or without.events < MIN_HISTORY_EVENTS or not history.approved:
        return None
    baseline_average = Decimal(without.input_tokens) / without.events
    best: tuple[Decimal, str, _Group] | None = None
    for template_id in history.approved:
        group = history.groups[template_id]
        if group.events < MIN_HISTORY_EVENTS:
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
        name=history.approved[template_id],
        share=share,
        events=group.events,
        input_tokens_saved=saved,
        cost_micros_saved=price.cost_micros(saved, 0),
    )
