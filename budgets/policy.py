"""The company's token policy: periods, tiers, pools, model catalog, use cases, approvals.

A policy is loaded from TOML (`TOKENBOT_POLICY`, or the built-in `default_policy.toml`) and
validated as a whole: `load_policy` either returns a complete, consistent `Policy` or raises
`PolicyInvalid` carrying every problem with the dotted key it concerns, so an admin fixes them
all in one pass. Policy objects are immutable; amounts are integer tokens, prices Decimal
USD per million tokens.

The `[scoring]` and `[governance]` sections are owned by `scoring` (which budgets never
imports): the policy keeps them as raw tables, and their owners' readers are handed in as
`sections` (`scoring.sections.POLICY_SECTIONS`, wired by the composition root and
`tokenbot policy check`). They read with the same public `PolicyReader`, so their problems are
reported in the same pass, under their dotted keys.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from budgets.models import ModelResolver, ResolvedModel

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")

PHASES = ("baseline", "incentives", "optimize")
CADENCES = ("monthly", "quarterly")
TOKEN_CLASSES = ("operational", "exploration")
USE_CASE_STATUSES = ("approved", "capped", "prohibited")
LIMIT_MODES = ("soft", "hard")
PROJECT_STATUSES = ("open", "closed")
ROLES = ("member", "manager", "finance", "admin", "executive")


def is_time_zone(name: str) -> bool:
    """True for an IANA time zone name zoneinfo can load (not a path, not a directory)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory
        return False
    return True


# Every number of a policy ends up in BIGINT columns (grants, balances, totals), multiplied
# by weights and summed over people and periods: 10^15 is far above any real budget and far
# enough below BIGINT's 9.2 x 10^18 that those products and sums still fit.
MAX_POLICY_NUMBER = 10**15


@dataclass(frozen=True)
class PolicyError:
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


class PolicyInvalid(ValueError):
    def __init__(self, errors: list[PolicyError], source: str = "policy"):
        self.errors = errors
        self.source = source
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{source} is invalid ({len(errors)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class Periods:
    cadence: str
    reset_day: int
    timezone: str
    reminder_days_before: int
    rollover_cap: Decimal  # share of the expiring baseline that may carry over (0..1)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Tier:
    name: str
    baseline: int


@dataclass(frozen=True)
class ModelPrice:
    name: str
    input_per_1m: Decimal
    output_per_1m: Decimal
    cached_input_per_1m: Decimal
    encoding: str
    weight: Decimal
    # Models without a public tokenizer are counted with a proxy encoding times this factor.
    approximate: bool = False
    calibration: Decimal = Decimal(1)
    # Other names of this model (dated ids, gateway model groups); `*` and `?` are patterns.
    aliases: tuple[str, ...] = ()

    def cost_micros(
        self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
    ) -> int:
        """Money in micro-dollars: a price per 1M tokens is exactly micro-dollars per token."""
        uncached = max(input_tokens - cached_input_tokens, 0)
        total = (
            uncached * self.input_per_1m
            + cached_input_tokens * self.cached_input_per_1m
            + output_tokens * self.output_per_1m
        )
        return int(total.to_integral_value(rounding=ROUND_HALF_UP))

    def budget_tokens(self, input_tokens: int, output_tokens: int) -> int:
        """Budget tokens drawn: raw tokens times the model's weight, rounded up."""
        drawn = (input_tokens + output_tokens) * self.weight
        return int(drawn.to_integral_value(rounding=ROUND_CEILING))


# Used for models missing from the catalog: weight 1, price unknown (recorded as such).
UNKNOWN_MODEL = ModelPrice(
    name="unknown",
    input_per_1m=Decimal(0),
    output_per_1m=Decimal(0),
    cached_input_per_1m=Decimal(0),
    encoding="o200k_base",
    weight=Decimal(1),
    approximate=True,
)


@dataclass(frozen=True)
class UseCase:
    name: str
    status: str
    owner: str | None
    success_metric: str
    token_class: str
    description: str = ""
    cap: int | None = None  # budget tokens per person per period, for capped use cases
    reason: str = ""  # shown when refused (prohibited) or capped
    allowed_models: tuple[str, ...] = ()
    output_ratio: Decimal | None = None


@dataclass(frozen=True)
class ProjectBudget:
    name: str
    owner: str
    budget: int
    status: str


@dataclass(frozen=True)
class ReservedPool:
    name: str
    use_case: str
    amount: int


@dataclass(frozen=True)
class TeamPools:
    default: int
    overrides: dict[str, int]
    # What one member without an allocation may draw from their team's pool in a period: a
    # share of the pool (a Decimal in (0, 1]) or a number of budget tokens (an int); None: no cap.
    member_share_cap: Decimal | int | None = None

    def amount_for(self, team: str) -> int:
        return self.overrides.get(team, self.default)

    def member_cap(self, pool_amount: int) -> int | None:
        """The cap in budget tokens for a pool of `pool_amount` (a share rounds down)."""
        cap = self.member_share_cap
        if cap is None or isinstance(cap, int):
            return cap
        return math.floor(pool_amount * cap)


@dataclass(frozen=True)
class Approvals:
    max_request: int
    finance_threshold: int
    nudge_after_hours: int
    expire_after_hours: int


@dataclass(frozen=True)
class Limits:
    mode: str  # hard: refuse at zero; soft: allow an overdraft up to a share of the baseline
    soft_overdraft: Decimal


@dataclass(frozen=True)
class Alerts:
    person_thresholds: tuple[Decimal, ...]
    team_thresholds: tuple[Decimal, ...]
    project_thresholds: tuple[Decimal, ...]


@dataclass(frozen=True)
class EstimateSettings:
    default_output_ratio: Decimal
    max_text_chars: int
    redaction_rule: str
    default_model: str = "gpt-4o"  # estimated when the person names no model


@dataclass(frozen=True)
class Channels:
    org_wide: str | None
    teams: dict[str, str]


@dataclass(frozen=True)
class Policy:
    phase: str
    periods: Periods
    split: dict[str, Decimal]
    tiers: dict[str, Tier]
    team_pools: TeamPools
    projects: dict[str, ProjectBudget]
    reserved_pools: tuple[ReservedPool, ...]
    models: dict[str, ModelPrice]
    use_cases: dict[str, UseCase]
    approvals: Approvals
    limits: Limits
    alerts: Alerts
    estimate: EstimateSettings
    channels: Channels
    escalation: str
    # Sections owned by scoring and governance; validated by their own modules.
    scoring: dict[str, Any] = field(default_factory=dict)
    governance: dict[str, Any] = field(default_factory=dict)
    source: str = "built-in default"

    @property
    def is_enforcing(self) -> bool:
        """In the `baseline` phase usage is measured only: nothing is refused or ranked."""
        return self.phase != "baseline"

    @property
    def recognition_enabled(self) -> bool:
        return self.phase in ("incentives", "optimize")

    def model(self, name: str) -> ModelPrice:
        """The current price of a model name as sent (see `resolve_model`)."""
        return self.resolve_model(name).price

    def resolve_model(self, name: str) -> ResolvedModel:
        """Which catalog model, public price or unknown model `name` is (budgets.models)."""
        return self._model_resolver.resolve(name)

    @cached_property
    def _model_resolver(self) -> ModelResolver:
        return ModelResolver(
            self.models, self.models.get(self.estimate.default_model), UNKNOWN_MODEL
        )

    def use_case_named(self, name: str | None) -> UseCase | None:
        """The policy's use case by name, ignoring case and surrounding spaces as a fallback:
        gateways send "SEO-Brief" for "seo-brief", and recorded usage and authorize must
        agree on which use case that is."""
        if not name:
            return None
        found = self.use_cases.get(name)
        if found is not None:
            return found
        wanted = name.strip().casefold()
        return next((u for key, u in self.use_cases.items() if key.casefold() == wanted), None)

    def token_class_for(self, use_case: str | None) -> str:
        uc = self.use_cases.get(use_case or "")
        return uc.token_class if uc else "operational"

    def baseline_split(self, baseline: int) -> dict[str, int]:
        """Split a baseline between token classes; integer parts that add up exactly."""
        exploration = math.floor(baseline * self.split["exploration"])
        return {"operational": baseline - exploration, "exploration": exploration}


# --- loading and validation ----------------------------------------------------------------

_MISSING = object()


class PolicyReader:
    """Reads one TOML table, collecting problems under dotted keys instead of raising."""

    def __init__(self, data: Any, path: str, errors: list[PolicyError]):
        self.path = path
        self.errors = errors
        if not isinstance(data, dict):
            self.fail("", "must be a table")
            data = {}
        self.data: dict[str, Any] = data

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, reason: str) -> None:
        self.errors.append(PolicyError(self.key(name) if name else self.path or "(root)", reason))

    def allow_only(self, *names: str) -> None:
        for name in self.data:
            if name not in names:
                self.fail(name, f"unknown key (allowed: {', '.join(names)})")

    def get(self, name: str, default: Any = _MISSING) -> Any:
        if name not in self.data:
            if default is _MISSING:
                self.fail(name, "is required")
            return None if default is _MISSING else default
        return self.data[name]

    def integer(self, name: str, default: Any = _MISSING, minimum: int = 0) -> int:
        value = self.get(name, default)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, f"must be a whole number >= {minimum}, got {value!r}")
            return 0
        if value < minimum:
            self.fail(name, f"must be >= {minimum}, got {value}")
        if value > MAX_POLICY_NUMBER:
            self.fail(name, f"must be at most {MAX_POLICY_NUMBER:,}, got {value:,}")
            return 0
        return value

    def decimal(
        self, name: str, default: Any = _MISSING, lo: str = "0", hi: str | None = None
    ) -> Decimal:
        value = self.get(name, default)
        if value is None:
            return Decimal(0)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.fail(name, f"must be a number, got {value!r}")
            return Decimal(0)
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            self.fail(name, f"must be a number, got {value!r}")
            return Decimal(0)
        if not number.is_finite():  # TOML allows nan and inf; Decimal comparisons reject NaN
            self.fail(name, f"must be a finite number, got {value!r}")
            return Decimal(0)
        if number > MAX_POLICY_NUMBER:
            self.fail(name, f"must be at most {MAX_POLICY_NUMBER:,}, got {value}")
            return Decimal(0)
        if number < Decimal(lo) or (hi is not None and number > Decimal(hi)):
            bounds = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            self.fail(name, f"must be {bounds}, got {value}")
        return number

    def text(
        self, name: str, default: Any = _MISSING, choices: tuple[str, ...] | None = None
    ) -> str:
        value = self.get(name, default)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(name, f"must be a string, got {value!r}")
            return ""
        if choices and value not in choices:
            self.fail(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def table(self, name: str, default: Any = _MISSING) -> PolicyReader:
        return PolicyReader(
            self.get(name, default if default is not _MISSING else _MISSING) or {},
            self.key(name),
            self.errors,
        )

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(name, "must be a list of strings")
            return ()
        return tuple(value)


def _member_share_cap(r: PolicyReader) -> Decimal | int | None:
    """`[team_pools] member_share_cap`: a share of the pool written with a decimal point
    (0.4) or a whole number of budget tokens (400_000); absent, no cap."""
    value = r.get("member_share_cap", None)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return r.integer("member_share_cap", minimum=1)
    if isinstance(value, float):
        share = r.decimal("member_share_cap", lo="0", hi="1")
        if share == 0:
            r.fail("member_share_cap", "a share must be above 0 (remove the key for no cap)")
        return share
    r.fail(
        "member_share_cap",
        "must be a share of the pool between 0 and 1 (e.g. 0.4) or a whole number of "
        f"budget tokens (e.g. 400_000), got {value!r}",
    )
    return None


def _parse_periods(r: PolicyReader) -> Periods:
    r.allow_only("cadence", "reset_day", "timezone", "reminder_days_before", "rollover_cap")
    tz = r.text("timezone", "UTC")
    if not is_time_zone(tz):
        r.fail("timezone", f"unknown time zone {tz!r} (use an IANA name such as Europe/Paris)")
        tz = "UTC"
    day = r.integer("reset_day", 1, minimum=1)
    if day > 28:
        r.fail("reset_day", "must be between 1 and 28 so every month has it")
    return Periods(
        cadence=r.text("cadence", "monthly", CADENCES),
        reset_day=day,
        timezone=tz,
        reminder_days_before=r.integer("reminder_days_before", 3),
        rollover_cap=r.decimal("rollover_cap", 0, "0", "1"),
    )


def _parse_models(r: PolicyReader) -> dict[str, ModelPrice]:
    models = {}
    for name in r.data:
        m = r.table(name)
        m.allow_only(
            "input_per_1m",
            "output_per_1m",
            "cached_input_per_1m",
            "encoding",
            "weight",
            "approximate",
            "calibration",
            "aliases",
        )
        input_price = m.decimal("input_per_1m")
        approximate = m.get("approximate", False)
        if not isinstance(approximate, bool):
            m.fail("approximate", "must be true or false")
        weight = m.decimal("weight", 1, "0.000001")
        models[name] = ModelPrice(
            name=name,
            input_per_1m=input_price,
            output_per_1m=m.decimal("output_per_1m"),
            cached_input_per_1m=m.decimal("cached_input_per_1m", str(input_price)),
            encoding=m.text(
                "encoding", "o200k_base", ("o200k_base", "cl100k_base", "p50k_base", "r50k_base")
            ),
            weight=weight,
            approximate=bool(approximate),
            calibration=m.decimal("calibration", 1, "0.1", "10"),
            aliases=m.strings("aliases"),
        )
    if not models:
        r.fail("", "must list at least one model")
    _check_aliases(r, models)
    return models


def _check_aliases(r: PolicyReader, models: dict[str, ModelPrice]) -> None:
    """Every alias names one model: not another catalog name, not an alias of another model."""
    folded_names = {name.casefold(): name for name in models}
    owners: dict[str, str] = {}
    for name, model in models.items():
        for alias in model.aliases:
            key = f"{name}.aliases"
            folded = alias.strip().casefold()
            if not folded:
                r.fail(key, "must not hold an empty name")
            elif folded in folded_names:
                r.fail(key, f"names {alias!r}, which is a model of its own in [models]")
            elif folded in owners and owners[folded] != name:
                r.fail(key, f"names {alias!r}, which is already an alias of {owners[folded]!r}")
            elif not folded.strip("*?/"):
                r.fail(key, f"names {alias!r}, which would price every unknown model as this one")
            owners.setdefault(folded, name)


def _parse_use_cases(r: PolicyReader, models: dict[str, ModelPrice]) -> dict[str, UseCase]:
    use_cases = {}
    for name in r.data:
        u = r.table(name)
        u.allow_only(
            "status",
            "owner",
            "success_metric",
            "token_class",
            "description",
            "cap",
            "reason",
            "allowed_models",
            "output_ratio",
        )
        status = u.text("status", "approved", USE_CASE_STATUSES)
        cap = u.integer("cap", None, minimum=1) if "cap" in u.data else None
        if status == "capped" and cap is None:
            u.fail("cap", "is required for a capped use case (budget tokens per person per period)")
        if status == "prohibited" and not u.data.get("reason"):
            u.fail(
                "reason", "is required for a prohibited use case (people are shown it when refused)"
            )
        allowed = u.strings("allowed_models")
        for model in allowed:
            if model not in models:
                u.fail("allowed_models", f"names {model!r}, which is not in [models]")
        use_cases[name] = UseCase(
            name=name,
            status=status,
            owner=u.text("owner", None) or None,
            success_metric=u.text("success_metric", ""),
            token_class=u.text("token_class", "operational", TOKEN_CLASSES),
            description=u.text("description", ""),
            cap=cap,
            reason=u.text("reason", ""),
            allowed_models=allowed,
            output_ratio=u.decimal("output_ratio", None, "0", "100")
            if "output_ratio" in u.data
            else None,
        )
    return use_cases


def _parse_list_of_tables(r: PolicyReader, name: str) -> list[PolicyReader]:
    value = r.get(name, [])
    if not isinstance(value, list):
        r.fail(name, "must be an array of tables ([[...]])")
        return []
    return [PolicyReader(item, f"{r.key(name)}[{i}]", r.errors) for i, item in enumerate(value)]


def _thresholds(r: PolicyReader, name: str, default: list[float]) -> tuple[Decimal, ...]:
    value = r.get(name, default)
    if not isinstance(value, list) or not value:
        r.fail(name, "must be a non-empty list of shares, e.g. [0.8, 1.0]")
        return ()
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 2:
            r.fail(name, f"holds {v!r}; each threshold must be a share between 0 and 2")
            continue
        out.append(Decimal(str(v)))
    return tuple(sorted(out))


SectionReader = Callable[[PolicyReader], object]
"""Validates one section owned outside budgets; its problems land in the reader's errors."""

OWNED_ELSEWHERE = ("scoring", "governance")


def parse_policy(
    data: dict[str, Any],
    source: str = "policy",
    sections: Mapping[str, SectionReader] | None = None,
) -> Policy:
    """Validate the whole policy; `sections` validates the sections owned elsewhere (without
    it they are only checked to be tables, and their owners check them when they read them)."""
    errors: list[PolicyError] = []
    root = PolicyReader(data, "", errors)
    root.allow_only(
        "phase",
        "periods",
        "split",
        "tiers",
        "team_pools",
        "projects",
        "reserved_pools",
        "models",
        "use_cases",
        "approvals",
        "limits",
        "alerts",
        "estimate",
        "channels",
        "escalation",
        "scoring",
        "governance",
    )
    phase = root.text("phase", "incentives", PHASES)
    periods = _parse_periods(root.table("periods", {}))

    split_r = root.table("split", {})
    split_r.allow_only(*TOKEN_CLASSES)
    split = {
        "operational": split_r.decimal("operational", "0.8", "0", "1"),
        "exploration": split_r.decimal("exploration", "0.2", "0", "1"),
    }
    if split["operational"] + split["exploration"] != 1:
        split_r.fail("", "operational + exploration must add up to 1")

    tiers_r = root.table("tiers")
    tiers = {}
    for name in tiers_r.data:
        t = tiers_r.table(name)
        t.allow_only("baseline")
        tiers[name] = Tier(name=name, baseline=t.integer("baseline"))
    if "default" not in tiers:
        tiers_r.fail("default", "is required: people without a tier get the default tier")

    pools_r = root.table("team_pools", {})
    pools_r.allow_only("default", "overrides", "member_share_cap")
    over_r = pools_r.table("overrides", {})
    team_pools = TeamPools(
        default=pools_r.integer("default", 0),
        overrides={name: over_r.integer(name) for name in over_r.data},
        member_share_cap=_member_share_cap(pools_r),
    )

    models = _parse_models(root.table("models"))
    use_cases = _parse_use_cases(root.table("use_cases", {}), models)

    projects = {}
    for p in _parse_list_of_tables(root, "projects"):
        p.allow_only("name", "owner", "budget", "status")
        name = p.text("name")
        if name in projects:
            p.fail("name", f"duplicate project {name!r}")
        projects[name] = ProjectBudget(
            name, p.text("owner"), p.integer("budget"), p.text("status", "open", PROJECT_STATUSES)
        )

    reserved = []
    for p in _parse_list_of_tables(root, "reserved_pools"):
        p.allow_only("name", "use_case", "amount")
        pool = ReservedPool(p.text("name"), p.text("use_case"), p.integer("amount"))
        if pool.use_case and pool.use_case not in use_cases:
            p.fail("use_case", f"names {pool.use_case!r}, which is not in [use_cases]")
        reserved.append(pool)

    a = root.table("approvals", {})
    a.allow_only("max_request", "finance_threshold", "nudge_after_hours", "expire_after_hours")
    approvals = Approvals(
        max_request=a.integer("max_request", 1_000_000, minimum=1),
        finance_threshold=a.integer("finance_threshold", 250_000, minimum=1),
        nudge_after_hours=a.integer("nudge_after_hours", 24, minimum=1),
        expire_after_hours=a.integer("expire_after_hours", 72, minimum=1),
    )
    if approvals.expire_after_hours <= approvals.nudge_after_hours:
        a.fail("expire_after_hours", "must be later than nudge_after_hours")

    lim = root.table("limits", {})
    lim.allow_only("mode", "soft_overdraft")
    limits = Limits(
        mode=lim.text("mode", "soft", LIMIT_MODES),
        soft_overdraft=lim.decimal("soft_overdraft", "0.1", "0", "1"),
    )

    al = root.table("alerts", {})
    al.allow_only("person_thresholds", "team_thresholds", "project_thresholds")
    alerts = Alerts(
        person_thresholds=_thresholds(al, "person_thresholds", [0.8, 1.0]),
        team_thresholds=_thresholds(al, "team_thresholds", [0.8, 1.0]),
        project_thresholds=_thresholds(al, "project_thresholds", [0.9, 1.0]),
    )

    e = root.table("estimate", {})
    e.allow_only("default_output_ratio", "max_text_chars", "redaction_rule", "default_model")
    default_model = e.text(
        "default_model", "gpt-4o" if "gpt-4o" in models else next(iter(models), "")
    )
    if models and default_model not in models:
        e.fail("default_model", f"names {default_model!r}, which is not in [models]")
    estimate = EstimateSettings(
        default_output_ratio=e.decimal("default_output_ratio", "0.5", "0", "100"),
        max_text_chars=e.integer("max_text_chars", 400_000, minimum=1),
        redaction_rule=e.text(
            "redaction_rule", "Remove secrets and personal data before sending text to an AI model."
        ),
        default_model=default_model,
    )

    c = root.table("channels", {})
    c.allow_only("org_wide", "teams")
    teams_r = c.table("teams", {})
    channels = Channels(
        org_wide=c.text("org_wide", None) or None, teams={k: teams_r.text(k) for k in teams_r.data}
    )

    for section in OWNED_ELSEWHERE:
        if not isinstance(root.get(section, {}), dict):
            root.fail(section, "must be a table")
    for section, read in (sections or {}).items():
        if isinstance(root.get(section, {}), dict):
            read(root.table(section, {}))

    if errors:
        raise PolicyInvalid(errors, source)
    return Policy(
        phase=phase,
        periods=periods,
        split=split,
        tiers=tiers,
        team_pools=team_pools,
        projects=projects,
        reserved_pools=tuple(reserved),
        models=models,
        use_cases=use_cases,
        approvals=approvals,
        limits=limits,
        alerts=alerts,
        estimate=estimate,
        channels=channels,
        escalation=root.text("escalation", "Ask your manager, then the AI platform team."),
        scoring=dict(data.get("scoring", {})),
        governance=dict(data.get("governance", {})),
        source=source,
    )


def load_policy(
    path: str | Path | None = None, sections: Mapping[str, SectionReader] | None = None
) -> Policy:
    """Load and validate a policy file (see `parse_policy`); the built-in default when no path
    is given."""
    file = Path(path) if path else DEFAULT_POLICY_PATH
    source = str(file) if path else "built-in default"
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyInvalid(
            [PolicyError("(file)", f"cannot read {file}: {exc.strerror}")], source
        ) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyInvalid([PolicyError("(syntax)", str(exc))], source) from exc
    return parse_policy(data, source, sections)
