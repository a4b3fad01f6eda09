"""The policy's `[scoring]` section: baseline window, shrinkage, weights per rollout phase, and
the recognition categories with their tiers.

`read_scoring` validates the section with the policy's own reader, so a bad value is reported
by `load_policy` (handed `scoring.sections.POLICY_SECTIONS`) next to every other problem, under its dotted key (`scoring.weights.optimize.
speed: must be ...`). `scoring_settings(policy)` returns the parsed, immutable settings; every
value has a default, so a policy without a `[scoring]` section scores out of the box.

```toml
[scoring]
trailing_weeks = 8     # baselines: the org's median per use case over this many complete weeks
prior_weight = 5       # shrinkage: k pseudo-tasks at the baseline are added to everyone's record
min_tasks = 5          # artifacts in the window before someone can be recognised (any category)
index_cap = 2.0        # a component counts at most this many times its weight
hour_value_usd = 75    # an hour of verified time saved, in money (the dashboard's savings)

[scoring.savings]               # what one savings claim may ask for (refused above, limit named)
max_claim_factor = 2.0          # at most this many times the minutes the tools reported
max_minutes_per_artifact = 480  # and at most this many minutes on one artifact (a working day)

[scoring.weights.optimize]      # points per component; one table per rollout phase
efficiency = 30
...

[scoring.categories.efficiency-champion]
label = "Efficiency champion"
measure = "efficiency"          # see MEASURES
min_value = 1.1                 # 10% better than the baseline at least
tiers = { gold = 1, silver = 2, bronze = 3 }   # how many people per tier, best first
team_tiers = { gold = 1, silver = 1, bronze = 1 }
# min_tasks = 3                 # this category's own minimum of artifacts (default: the above)
```

Declaring any category replaces the five default ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from budgets.policy import PHASES, Policy, PolicyError, PolicyInvalid, PolicyReader

COMPONENTS = (
    "adoption",  # accepted artifacts
    "acceptance",  # accepted / artifacts
    "revision",  # mean edit distance of accepted work (lower is better)
    "efficiency",  # accepted artifacts per 1,000 tokens
    "cost",  # cost per accepted artifact (lower is better)
    "speed",  # time to first draft (lower is better)
    "savings",  # verified minutes saved
    "reuse",  # share of artifacts made with an approved template
)

# What a category ranks by: a component's index, the overall score, or one of these.
SPECIAL_MEASURES = (
    "prompt_to_result",
    "workflow_builder",
    "knowledge_contribution",
    "verified_savings",
    "score",
)
MEASURES = COMPONENTS + SPECIAL_MEASURES

# Adoption-heavy while people start using AI for real work, efficiency-heavy once they do.
_INCENTIVES = {
    "adoption": 25,
    "acceptance": 20,
    "reuse": 15,
    "efficiency": 15,
    "savings": 10,
    "revision": 5,
    "speed": 5,
    "cost": 5,
}
_OPTIMIZE = {
    "efficiency": 30,
    "cost": 20,
    "acceptance": 15,
    "revision": 10,
    "savings": 10,
    "reuse": 5,
    "speed": 5,
    "adoption": 5,
}
DEFAULT_WEIGHTS = {"incentives": _INCENTIVES, "optimize": _OPTIMIZE}

DEFAULT_TIERS = {"gold": 1, "silver": 2, "bronze": 3}
DEFAULT_TEAM_TIERS = {"gold": 1, "silver": 1, "bronze": 1}
DEFAULT_CATEGORIES: dict[str, dict[str, Any]] = {
    "efficiency-champion": {
        "label": "Efficiency champion",
        "measure": "efficiency",
        "min_value": 1.1,
    },
    "prompt-to-result": {
        "label": "Best prompt-to-result ratio",
        "measure": "prompt_to_result",
        "min_value": 1.05,
    },
    "workflow-builder": {
        "label": "Reusable workflow builder",
        "measure": "workflow_builder",
        "min_value": 1,
    },
    "knowledge-contribution": {
        "label": "Best internal knowledge contribution",
        "measure": "knowledge_contribution",
        "min_value": 1,
    },
    "verified-savings": {
        "label": "Highest verified savings",
        "measure": "verified_savings",
        "min_value": 1,
    },
}


@dataclass(frozen=True)
class CategorySpec:
    key: str
    label: str
    measure: str
    min_value: Decimal  # an index for components and `prompt_to_result`, else a count/minutes
    tiers: tuple[tuple[str, int], ...]  # (tier, how many people), best tier first
    team_tiers: tuple[tuple[str, int], ...]
    # Artifacts needed in the window to be eligible; None: `[scoring] min_tasks` (see
    # scoring.eligibility, the one rule every screen applies).
    min_tasks: int | None = None


@dataclass(frozen=True)
class ScoringSettings:
    trailing_weeks: int
    prior_weight: Decimal
    min_tasks: int
    index_cap: Decimal
    weights: dict[str, dict[str, Decimal]]  # phase -> component -> points
    categories: tuple[CategorySpec, ...]
    # What an hour of verified time saved is worth, for showing savings in money (dashboard).
    hour_value_usd: Decimal = Decimal(75)
    # `[scoring.savings]`: a claim may ask for at most this many times the minutes the tools
    # reported on the artifact (when they reported any), and at most this many minutes.
    max_claim_factor: Decimal = Decimal(2)
    max_minutes_per_artifact: int = 480

    def weights_for(self, phase: str) -> dict[str, Decimal]:
        return self.weights[phase]

    def category(self, key: str) -> CategorySpec | None:
        return next((c for c in self.categories if c.key == key), None)


def _tiers(r: PolicyReader, name: str, default: dict[str, int]) -> tuple[tuple[str, int], ...]:
    if name not in r.data:
        return tuple(default.items())
    value = r.data[name]
    if not isinstance(value, dict) or not value:
        r.fail(name, "must be a table of tier = number of people, e.g. { gold = 1, silver = 2 }")
        return tuple(default.items())
    table = r.table(name, {})
    tiers = tuple((tier, table.integer(tier, minimum=0)) for tier in value)
    if sum(count for _tier, count in tiers) == 0:
        r.fail(name, "must recognise at least one person")
    return tiers


def _weights(r: PolicyReader) -> dict[str, dict[str, Decimal]]:
    """Weights per phase; `baseline` (scores shown privately, nothing ranked) weighs like
    `incentives` unless it has its own table."""
    r.allow_only(*PHASES)
    weights: dict[str, dict[str, Decimal]] = {}
    for phase in sorted(PHASES, key=lambda p: p == "baseline"):
        if phase not in r.data:
            weights[phase] = (
                dict(weights["incentives"])
                if phase == "baseline"
                else {c: Decimal(v) for c, v in DEFAULT_WEIGHTS[phase].items()}
            )
            continue
        table = r.table(phase)
        table.allow_only(*COMPONENTS)
        weights[phase] = {c: table.decimal(c, 0, "0", "1000") for c in COMPONENTS}
        if sum(weights[phase].values()) <= 0:
            table.fail("", "needs at least one component with a weight above 0")
    return weights


def _categories(r: PolicyReader) -> tuple[CategorySpec, ...]:
    declared = r.data or DEFAULT_CATEGORIES
    categories = []
    for key, data in declared.items():
        c = PolicyReader(data, r.key(key), r.errors)
        c.allow_only("label", "measure", "min_value", "tiers", "team_tiers", "min_tasks")
        categories.append(
            CategorySpec(
                key=key,
                label=c.text("label", key.replace("-", " ").capitalize()),
                measure=c.text("measure", choices=MEASURES),
                min_value=c.decimal("min_value", 0, "0"),
                tiers=_tiers(c, "tiers", DEFAULT_TIERS),
                team_tiers=_tiers(c, "team_tiers", DEFAULT_TEAM_TIERS),
                min_tasks=c.integer("min_tasks", minimum=0) if "min_tasks" in c.data else None,
            )
        )
    return tuple(categories)


MAX_MINUTES_PER_ARTIFACT = 7 * 24 * 60  # a week: what ingestion accepts as minutes saved


def _minutes_per_artifact(r: PolicyReader) -> int:
    minutes = r.integer("max_minutes_per_artifact", 480, minimum=1)
    if minutes > MAX_MINUTES_PER_ARTIFACT:
        r.fail(
            "max_minutes_per_artifact",
            f"must be at most {MAX_MINUTES_PER_ARTIFACT} (a week of minutes), got {minutes}",
        )
    return minutes


def read_scoring(r: PolicyReader) -> ScoringSettings:
    """Parse `[scoring]` with the policy reader `r`; problems land in `r.errors`."""
    r.allow_only(
        "trailing_weeks",
        "prior_weight",
        "min_tasks",
        "index_cap",
        "weights",
        "categories",
        "hour_value_usd",
        "savings",
    )
    savings = r.table("savings", {})
    savings.allow_only("max_claim_factor", "max_minutes_per_artifact")
    trailing = r.integer("trailing_weeks", 8, minimum=1)
    if trailing > 52:
        r.fail("trailing_weeks", f"must be at most 52, got {trailing}")
    return ScoringSettings(
        trailing_weeks=trailing,
        prior_weight=r.decimal("prior_weight", 5, "0", "1000"),
        min_tasks=r.integer("min_tasks", 5, minimum=1),
        index_cap=r.decimal("index_cap", 2, "1", "10"),
        weights=_weights(r.table("weights", {})),
        categories=_categories(r.table("categories", {})),
        hour_value_usd=r.decimal("hour_value_usd", 75, "0", "100000"),
        max_claim_factor=savings.decimal("max_claim_factor", 2, "1", "100"),
        max_minutes_per_artifact=_minutes_per_artifact(savings),
    )


def scoring_settings(policy: Policy) -> ScoringSettings:
    """The parsed `[scoring]` section; raises PolicyInvalid (keys named) if it is invalid,
    which `load_policy` has already ruled out for policies loaded from a file."""
    errors: list[PolicyError] = []
    settings = read_scoring(PolicyReader(policy.scoring, "scoring", errors))
    if errors:
        raise PolicyInvalid(errors, policy.source)
    return settings
