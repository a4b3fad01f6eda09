"""Model-name resolution: which catalog model (and price) a name sent by a provider or gateway is.

Providers and gateways name one model many ways: dated ids (`gpt-4o-2024-08-06`,
`claude-sonnet-4-20250514`), provider prefixes (`openai/gpt-4o`, `bedrock/...`), LiteLLM model
groups (`fast-chat`). Billing must book each of them at the right price, so a name is resolved in
this order, the first match winning:

1. the policy's catalog, by name (case-insensitive);
2. the catalog's explicit `aliases` (exact names or `*`/`?` patterns, case-insensitive);
3. 1 and 2 again on the name without its provider prefix (everything up to the last `/`);
4. the genai-prices database (a maintained, offline table of model ids and public prices, which
   resolves dated and regional ids): when it names the same model as a catalog entry, that entry
   (the policy's price and weight); otherwise the model's **public price**, marked as such, with a
   budget weight derived from that price against the policy's default model;
5. unknown: weight 1, price unknown, listed by `tokenbot usage unknown` and corrected by
   `tokenbot usage reprice` once a later rule resolves it.

Invariants: resolution is a pure function of the name, the catalog and the bundled price data
(never the network: genai-prices' auto-update is not used), and it is cached per name. Public
prices can change over time (o3's did); `ResolvedModel.price_at(moment)` gives the one in effect
at the call's time, so re-importing old usage books it at its old price. Tiered public prices
(per-request token thresholds) are taken at their base tier: usage arrives aggregated, so the
tier a request crossed is not known.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from budgets.policy import ModelPrice

PriceSource = Literal["catalog", "public", "unknown"]
PRICE_SOURCES: tuple[PriceSource, ...] = ("catalog", "public", "unknown")

# Prefixes LiteLLM and cloud gateways put before a provider's own model id, mapped to the
# genai-prices provider that prices them ("bedrock/..." is priced as AWS).
_PROVIDER_HINTS = {
    "openai": "openai",
    "azure": "azure",
    "azure_ai": "azure",
    "anthropic": "anthropic",
    "bedrock": "aws",
    "aws": "aws",
    "vertex_ai": "google",
    "gemini": "google",
    "google": "google",
    "mistral": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
    "xai": "x-ai",
    "perplexity": "perplexity",
}
# Bedrock cross-region inference profiles: "us.anthropic.claude-...-v1:0".
_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|global|us-gov)\.(?=[a-z]+\.)")
# Bedrock model ids: "<vendor>.<the vendor's own id>-v1:0" names the vendor's model.
_BEDROCK_ID = re.compile(
    r"^(?:anthropic|meta|mistral|cohere|amazon|ai21|deepseek)\.(.+?)(?:-v\d+(?::\d+)?)?$"
)
# Tried in turn when a name carries no provider hint: genai-prices guesses the provider from
# the name, and these catch what the guess misses (e.g. embeddings).
_FALLBACK_PROVIDERS = ("openai", "anthropic", "google")
_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
_WEIGHT_STEP = Decimal("0.0001")


@dataclass(frozen=True)
class ResolvedModel:
    """What a model name as sent resolves to, and how (for `usage unknown` and audits)."""

    sent: str
    name: str  # the catalog name, the public model id, or the name as sent when unknown
    source: PriceSource
    via: str  # e.g. "catalog", "alias gpt-4o-2024-*", "genai-prices openai/gpt-4o"
    price: ModelPrice  # the current price (catalog and unknown models have only one)
    _public: Any = field(default=None, repr=False, compare=False)
    _reference: Any = field(default=None, repr=False, compare=False)
    _by_moment: dict[Any, ModelPrice] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_known(self) -> bool:
        return self.source != "unknown"

    def price_at(self, moment: datetime) -> ModelPrice:
        """The price in effect at `moment`: public prices follow genai-prices' dated changes."""
        if self._public is None:
            return self.price
        prices = self._public.get_prices(moment)
        found = self._by_moment.get(id(prices))
        if found is None:
            found = self._by_moment[id(prices)] = _public_price(
                self.name, prices, self._reference, self.price
            )
        return found


class ModelResolver:
    """Resolves names against one catalog; thread-safe, one cached answer per name."""

    def __init__(
        self,
        catalog: dict[str, ModelPrice],
        reference: ModelPrice | None,
        unknown: ModelPrice,
    ) -> None:
        self._catalog = catalog
        self._by_folded = {name.casefold(): model for name, model in catalog.items()}
        self._exact_aliases: dict[str, tuple[str, ModelPrice]] = {}
        self._patterns: list[tuple[str, re.Pattern[str], ModelPrice]] = []
        for model in catalog.values():
            for alias in model.aliases:
                if is_pattern(alias):
                    regex = re.compile(fnmatch.translate(alias.casefold()))
                    self._patterns.append((alias, regex, model))
                else:
                    self._exact_aliases[alias.casefold()] = (alias, model)
        self._reference = reference
        self._unknown = unknown
        self._cache: dict[str, ResolvedModel] = {}
        self._public_ids: dict[tuple[str, str], ModelPrice] | None = None
        self._lock = threading.Lock()

    def resolve(self, sent: str) -> ResolvedModel:
        found = self._cache.get(sent)
        if found is None:
            found = self._resolve(sent)
            with self._lock:
                if len(self._cache) > 10_000:  # bounded: names come from outside
                    self._cache.clear()
                self._cache[sent] = found
        return found

    def _resolve(self, sent: str) -> ResolvedModel:
        name = sent.strip()
        own = self._in_catalog(sent, name)
        if own is not None:
            return own
        bare, hint = split_provider(name)
        vendor_id = _BEDROCK_ID.match(bare)
        for candidate in (bare, vendor_id[1] if vendor_id else None):
            if candidate is not None and candidate != name:
                own = self._in_catalog(sent, candidate, f" (as {candidate})")
                if own is not None:
                    return own
        public = _genai_lookup(bare, hint)
        for candidate in [public, _genai_lookup(vendor_id[1], None) if vendor_id else None]:
            if candidate is None:
                continue
            provider_id, info = candidate
            linked = self._catalog_by_public_id().get((provider_id, info.id))
            if linked is None:
                linked = self._catalog_by_public_id().get(("*", info.id))
            if linked is not None:
                via = f"genai-prices {provider_id}/{info.id}"
                return ResolvedModel(sent, linked.name, "catalog", via, linked)
        if public is not None:
            provider_id, info = public
            via = f"genai-prices {provider_id}/{info.id}"
            current = _public_price(
                info.id, info.get_prices(_FOREVER), self._reference, self._unknown
            )
            return ResolvedModel(
                sent, info.id, "public", via, current, _public=info, _reference=self._reference
            )
        return ResolvedModel(sent, name, "unknown", "nothing matched", self._unknown)

    def _in_catalog(self, sent: str, name: str, suffix: str = "") -> ResolvedModel | None:
        folded = name.casefold()
        model = self._by_folded.get(folded)
        if model is not None:
            return ResolvedModel(sent, model.name, "catalog", "catalog" + suffix, model)
        alias = self._exact_aliases.get(folded)
        if alias is not None:
            return ResolvedModel(
                sent, alias[1].name, "catalog", f"alias {alias[0]}{suffix}", alias[1]
            )
        for pattern, regex, model in self._patterns:
            if regex.match(folded):
                return ResolvedModel(sent, model.name, "catalog", f"alias {pattern}{suffix}", model)
        return None

    def _catalog_by_public_id(self) -> dict[tuple[str, str], ModelPrice]:
        """Catalog entries keyed by the genai-prices model each names (both provider-specific
        and, as ("*", id), for any provider), so a dated id finds the policy's own entry."""
        if self._public_ids is None:
            linked: dict[tuple[str, str], ModelPrice] = {}
            for model in self._catalog.values():
                for name in (model.name, *(a for a in model.aliases if not is_pattern(a))):
                    public = _genai_lookup(*split_provider(name))
                    if public is not None:
                        provider_id, info = public
                        linked.setdefault((provider_id, info.id), model)
                        linked.setdefault(("*", info.id), model)
            self._public_ids = linked
        return self._public_ids


def is_pattern(alias: str) -> bool:
    return any(char in alias for char in "*?[")


def split_provider(name: str) -> tuple[str, str | None]:
    """(the name without gateway/provider prefixes, the genai-prices provider they hint at)."""
    hint = None
    bare = name
    if "/" in name:
        prefix, _, bare = name.rpartition("/")
        hint = _PROVIDER_HINTS.get(prefix.split("/", 1)[0].casefold())
    regional = _REGION_PREFIX.sub("", bare)
    if regional != bare:
        bare, hint = regional, hint or "aws"
    return bare, hint


def _genai_lookup(name: str, provider_hint: str | None) -> tuple[str, Any] | None:
    """(provider id, genai-prices ModelInfo) for a bare model id, or None."""
    if not name:
        return None
    snapshot = _snapshot()
    for provider in (provider_hint, None, *_FALLBACK_PROVIDERS):
        try:
            found_provider, info = snapshot.find_provider_model(name, None, provider, None)
        except LookupError:
            continue
        return found_provider.id, info
    return None


_snapshot_lock = threading.Lock()
_snapshot_value: Any = None


def _snapshot() -> Any:
    """The price data bundled with genai-prices (its auto-update is never started here)."""
    global _snapshot_value
    if _snapshot_value is None:
        with _snapshot_lock:
            if _snapshot_value is None:
                from genai_prices import data_snapshot

                _snapshot_value = data_snapshot.get_snapshot()
    return _snapshot_value


def _per_mtok(value: Any) -> Decimal | None:
    if value is None:
        return None
    base = getattr(value, "base", value)  # tiered prices: the base tier
    return Decimal(str(base))


def _public_price(
    name: str, prices: Any, reference: ModelPrice | None, unknown: ModelPrice
) -> ModelPrice:
    """A ModelPrice from a genai-prices price: its per-1M prices, and a budget weight that is
    the price relative to the reference model (the policy's default), so one budget token
    stays worth the same money whichever model draws it."""
    input_price = _per_mtok(getattr(prices, "input_mtok", None)) or Decimal(0)
    output_price = _per_mtok(getattr(prices, "output_mtok", None)) or Decimal(0)
    cached_price = _per_mtok(getattr(prices, "cache_read_mtok", None))
    weight = Decimal(1)
    if reference is not None and reference.input_per_1m + reference.output_per_1m > 0:
        ratio = (input_price + output_price) / (reference.input_per_1m + reference.output_per_1m)
        weight = max(
            (ratio * reference.weight).quantize(_WEIGHT_STEP, rounding=ROUND_HALF_UP),
            _WEIGHT_STEP,
        )
    return replace(
        unknown,
        name=name,
        input_per_1m=input_price,
        output_per_1m=output_price,
        cached_input_per_1m=input_price if cached_price is None else cached_price,
        weight=weight,
        encoding="o200k_base",
        approximate=True,
        aliases=(),
    )
