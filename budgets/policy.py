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
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from budgets.models import ModelResolver, ResolvedModel
from budgets.setting_values import (
    SettingInvalid,
    SettingsDefaults,
    parse_alerts,
    parse_quiet_hours,
    parse_switch,
)

T = TypeVar("T")

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")

PHASES = ("baseline", "incentives", "optimize")
CADENCES = ("monthly", "quarterly")
TOKEN_CLASSES = ("operational", "exploration")
USE_CASE_STATUSES = ("approved", "capped", "prohibited")
LIMIT_MODES = ("soft", "hard")
PROJECT_STATUSES = ("open", "closed")
ROLES = ("member", "manager", "finance", "admin", "executive")
REVIEW_CADENCES = ("monthly", "quarterly", "half-yearly", "yearly")
OWNER_DUTIES = {
    "spend": "who monitors spend",
    "exceptions": "who approves exceptions",
    "rules": "who updates the rules",
}
EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
TEAM_NAME_MAX = 200  # the directory's teams.name column
AUTO_RULE_NAME_MAX = 100  # burst_requests.auto_rule
UNDO_HOURS_MAX = 24 * 366  # an Undo window of at most a year


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


def is_email(value: str) -> bool:
    return bool(EMAIL.match(value))


@dataclass(frozen=True)
class Members:
    """Who may draw a project budget or a reserved pool: people by email (lower case) and
    directory teams (compared ignoring case). Naming nobody leaves it open to everyone."""

    emails: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    @property
    def is_open(self) -> bool:
        return not self.emails and not self.teams

    def admits(self, email: str | None, team: str | None) -> bool:
        return (
            self.is_open
            or (email or "").strip().lower() in self.emails
            or (team or "").strip().casefold() in self.teams
        )


EVERYONE = Members()


@dataclass(frozen=True)
class ProjectBudget:
    name: str
    owner: str
    budget: int
    status: str
    members: Members = EVERYONE


@dataclass(frozen=True)
class ReservedPool:
    """A pool for one use case. A launch pool has a window (`starts` to `ends`, whole days on
    the policy's calendar, both included): it draws only inside it, lapses once after it, and
    its `owner` gets a report comparing the window with as many days before it."""

    name: str
    use_case: str
    amount: int
    members: Members = EVERYONE
    starts: date | None = None
    ends: date | None = None
    owner: str | None = None

    @property
    def is_launch(self) -> bool:
        return self.starts is not None and self.ends is not None

    @property
    def days(self) -> int:
        """Days in a launch pool's window (0 for a pool of every period)."""
        if self.starts is None or self.ends is None:
            return 0
        return (self.ends - self.starts).days + 1

    def window(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """A launch pool's window as UTC instants: midnight starting `starts` to midnight
        ending `ends`, on the policy's calendar."""
        if self.starts is None or self.ends is None:
            raise ValueError(f"reserved pool {self.name!r} is not a launch pool")
        return _midnight(self.starts, zone), _midnight(self.ends + timedelta(days=1), zone)

    def overlaps(self, other: ReservedPool) -> bool:
        """True when both are launch pools whose windows share a day."""
        if self.starts is None or self.ends is None or other.starts is None or other.ends is None:
            return False
        return self.starts <= other.ends and other.starts <= self.ends

    @property
    def grant_key(self) -> str:
        """The idempotency key of a launch pool's one grant (`launch:<starts>:<name>`)."""
        return f"launch:{self.starts}:{self.name}"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


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
class AutoApprovalRule:
    """One `[[approvals.auto]]` rule: a burst request it matches is approved at once, by the
    rule. Empty `use_cases`, `projects` or `tiers` match any. `min_acceptance` is the share of
    the use case's baseline acceptance the requester must reach over the last 4 complete weeks
    (0 admits people with no history)."""

    name: str
    max_amount: int  # per request
    max_per_period: int  # auto-approved per person per budget period
    min_acceptance: Decimal
    undo_hours: int
    use_cases: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuotaSettings:
    """`[quotas]`: whether the optimize phase applies quota recommendations itself."""

    auto_apply: bool = False


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
class PolicyOwners:
    spend: tuple[str, ...]  # who monitors spend
    exceptions: tuple[str, ...]  # who approves exceptions
    rules: tuple[str, ...]  # who updates the rules


@dataclass(frozen=True)
class PolicyCharter:
    """`[policy]`: what the policy is for, how often it is reviewed and who owns which part
    (the minimum viable policy: purpose, cadence, named owners)."""

    purpose: str
    review_cadence: str
    owners: PolicyOwners


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
    # `[policy]`: purpose, review cadence and owners; None in a file without the section.
    charter: PolicyCharter | None = None
    # `[settings.defaults]`: each person's notice settings until they choose their own.
    settings_defaults: SettingsDefaults = field(default_factory=SettingsDefaults)
    source: str = "built-in default"
    auto_approvals: tuple[AutoApprovalRule, ...] = ()
    quotas: QuotaSettings = QuotaSettings()

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
        return _named(self.use_cases, name)

    def project_named(self, name: str | None) -> ProjectBudget | None:
        """The policy's project by name, ignoring case and surrounding spaces as a fallback
        (as `use_case_named`); None for a project the policy does not name."""
        return _named(self.projects, name)

    @cached_property
    def _pools_by_grant_key(self) -> dict[str, ReservedPool]:
        """Launch pools by their grant's key, pools of every period by `reserved:*:<name>`."""
        return {
            pool.grant_key if pool.is_launch else f"reserved:*:{pool.name}": pool
            for pool in self.reserved_pools
        }

    def reserved_pool_of_grant(self, key: str) -> ReservedPool | None:
        """The reserved pool a grant (by its idempotency key) was issued for; None when the
        policy no longer names it."""
        prefix, _period, name = (key.split(":", 2) + ["", ""])[:3]
        if prefix == "reserved":  # reserved:<period>:reserved:<name> (budgets.grants)
            return self._pools_by_grant_key.get(f"reserved:*:{name.removeprefix('reserved:')}")
        return self._pools_by_grant_key.get(key) if prefix == "launch" else None

    @cached_property
    def has_members(self) -> bool:
        """True when some project or reserved pool is not open to everyone: only then does
        drawing need to know who the person is (their email and team)."""
        return any(not p.members.is_open for p in self.projects.values()) or any(
            not p.members.is_open for p in self.reserved_pools
        )

    @property
    def launch_pools(self) -> tuple[ReservedPool, ...]:
        return tuple(p for p in self.reserved_pools if p.is_launch)

    def token_class_for(self, use_case: str | None) -> str:
        uc = self.use_cases.get(use_case or "")
        return uc.token_class if uc else "operational"

    def baseline_split(self, baseline: int) -> dict[str, int]:
        """Split a baseline between token classes; integer parts that add up exactly."""
        exploration = math.floor(baseline * self.split["exploration"])
        return {"operational": baseline - exploration, "exploration": exploration}


def _named(entries: Mapping[str, T], name: str | None) -> T | None:
    """An entry by its exact name, else by the name ignoring case and surrounding spaces."""
    if not name:
        return None
    found = entries.get(name)
    if found is not None:
        return found
    wanted = name.strip().casefold()
    return next((entry for key, entry in entries.items() if key.casefold() == wanted), None)


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


def _names_known(r: PolicyReader, name: str, known: Iterable[str], where: str) -> tuple[str, ...]:
    names = r.strings(name)
    allowed = sorted(known)
    for n in names:
        if n not in allowed:
            r.fail(name, f"names {n!r}, which is not in {where} (known: {', '.join(allowed)})")
    return names


def _undo_hours(r: PolicyReader) -> int:
    hours = r.integer("undo_hours", 24, minimum=1)
    if hours > UNDO_HOURS_MAX:
        r.fail("undo_hours", f"must be at most {UNDO_HOURS_MAX:,} (a year), got {hours:,}")
        return UNDO_HOURS_MAX
    return hours


def _parse_auto_approvals(
    a: PolicyReader,
    approvals: Approvals,
    use_cases: Mapping[str, UseCase],
    tiers: Mapping[str, Tier],
) -> tuple[AutoApprovalRule, ...]:
    """`[[approvals.auto]]`: every problem under its own key (`approvals.auto[0].max_amount`)."""
    rules: list[AutoApprovalRule] = []
    seen: set[str] = set()
    for r in _parse_list_of_tables(a, "auto"):
        r.allow_only(
            "name",
            "max_amount",
            "max_per_period",
            "min_acceptance",
            "undo_hours",
            "use_cases",
            "projects",
            "tiers",
        )
        name = r.text("name").strip()
        if not name:
            r.fail("name", "is required: the audit and the messages say which rule approved")
        elif len(name) > AUTO_RULE_NAME_MAX:
            r.fail("name", f"must be at most {AUTO_RULE_NAME_MAX} characters, got {len(name)}")
        elif name in seen:
            r.fail("name", f"duplicate rule {name!r}: each rule needs its own name")
        seen.add(name)
        max_amount = r.integer("max_amount", minimum=1)
        ceiling = min(approvals.max_request, approvals.finance_threshold)
        if max_amount > ceiling:
            r.fail(
                "max_amount",
                f"must be at most {ceiling:,} (approvals.max_request and "
                f"approvals.finance_threshold: above it finance approves), got {max_amount:,}",
            )
        rules.append(
            AutoApprovalRule(
                name=name,
                max_amount=max_amount,
                max_per_period=r.integer("max_per_period", minimum=1),
                min_acceptance=r.decimal("min_acceptance", lo="0", hi="1"),
                undo_hours=_undo_hours(r),
                use_cases=_names_known(r, "use_cases", use_cases, "[use_cases]"),
                # Projects live in the directory, not only in the policy: matched by name.
                projects=r.strings("projects"),
                tiers=_names_known(r, "tiers", tiers, "[tiers]"),
            )
        )
    return tuple(rules)


def _parse_charter(r: PolicyReader) -> PolicyCharter | None:
    """`[policy]`: optional as a whole (older files), complete when present."""
    if not r.data:
        return None
    r.allow_only("purpose", "review_cadence", "owners")
    purpose = r.text("purpose")
    if "purpose" in r.data and not purpose.strip():
        r.fail("purpose", "must say what the policy is for (one sentence)")
    owners_r = r.table("owners")
    owners_r.allow_only(*OWNER_DUTIES)
    owners = {}
    for duty, meaning in OWNER_DUTIES.items():
        value = owners_r.get(duty)
        names = (value,) if isinstance(value, str) else owners_r.strings(duty)
        if value is not None and not [n for n in names if n.strip()]:
            owners_r.fail(duty, f"must name {meaning}: an email address or a #channel")
        for name in names:
            if name.strip() and "@" not in name and not name.startswith("#"):
                owners_r.fail(duty, f"names {name!r}: give an email address or a #channel")
        owners[duty] = tuple(n.strip() for n in names if n.strip())
    return PolicyCharter(
        purpose=purpose.strip(),
        review_cadence=r.text("review_cadence", choices=REVIEW_CADENCES),
        owners=PolicyOwners(**owners),
    )


def _parse_settings(r: PolicyReader) -> SettingsDefaults:
    """`[settings.defaults]`: reminders, alerts, digest and quiet hours for people who have
    not chosen (`/tokens settings`), checked by the same rules as a person's own choice."""
    r.allow_only("defaults")
    d = r.table("defaults", {})
    d.allow_only("reminders", "alerts", "digest", "quiet_hours")
    values: dict[str, Any] = {}
    readers = {
        "reminders": lambda v: parse_switch("reminders", v),
        "alerts": parse_alerts,
        "digest": lambda v: parse_switch("digest", v),
        "quiet_hours": parse_quiet_hours,
    }
    for name, read in readers.items():
        if name not in d.data:
            continue
        try:
            values[name] = read(d.data[name])
        except SettingInvalid as problem:
            d.fail(name, problem.reason)
    return replace(SettingsDefaults(), **values)


def _parse_members(r: PolicyReader) -> Members:
    """`members` (people by email) and `teams` (directory team names) of a project or pool."""
    emails = []
    for email in r.strings("members"):
        if not is_email(email.strip()):
            hint = " (directory teams go in `teams`)" if "@" not in email else ""
            r.fail("members", f"holds {email!r}, which is not an email address{hint}")
        emails.append(email.strip().lower())
    teams = []
    for team in r.strings("teams"):
        if "@" in team:
            r.fail("teams", f"holds {team!r}, an email: people go in `members`")
        elif not team.strip() or team != team.strip():
            r.fail("teams", f"holds {team!r}: a team name is not empty and has no spaces around it")
        elif len(team) > TEAM_NAME_MAX or not team.isprintable():
            r.fail(
                "teams",
                f"holds {team!r}: a team name is printable text of at most {TEAM_NAME_MAX} characters",
            )
        teams.append(team.casefold())
    return Members(frozenset(emails), frozenset(teams))


def _date(r: PolicyReader, name: str) -> date | None:
    """A whole day: a TOML date (2026-12-07) or the same as a string."""
    value = r.get(name, None)
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date | str):
        r.fail(name, f"must be a date such as 2026-12-07, got {value!r}")
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            r.fail(name, f"must be a date such as 2026-12-07, got {value!r}")
            return None
    return value


def _parse_reserved_pools(root: PolicyReader, use_cases: dict[str, UseCase]) -> list[ReservedPool]:
    """`[[reserved_pools]]`: a pool of every period per name, or launch pools (`starts` and
    `ends`) whose windows of one name do not overlap."""
    reserved: list[ReservedPool] = []
    for p in _parse_list_of_tables(root, "reserved_pools"):
        p.allow_only("name", "use_case", "amount", "members", "teams", "starts", "ends", "owner")
        starts, ends = _date(p, "starts"), _date(p, "ends")
        owner = p.text("owner", None) or None
        pool = ReservedPool(
            p.text("name"),
            p.text("use_case"),
            p.integer("amount"),
            _parse_members(p),
            starts,
            ends,
            owner.strip().lower() if owner else None,
        )
        if pool.use_case and pool.use_case not in use_cases:
            p.fail("use_case", f"names {pool.use_case!r}, which is not in [use_cases]")
        if owner is not None and not is_email(owner.strip()):
            p.fail(
                "owner", f"must be an email address (the launch report goes there), got {owner!r}"
            )
        if ("starts" in p.data) != ("ends" in p.data):
            p.fail(
                "starts" if "starts" not in p.data else "ends",
                "a launch pool needs both starts and ends",
            )
        elif starts is not None and ends is not None:
            if ends < starts:
                p.fail("ends", f"is {ends}, before starts ({starts})")
            if owner is None:
                p.fail("owner", "is required for a launch pool (its report goes to this email)")
            if pool.members.is_open:
                p.fail("members", "a launch pool names its people: members (emails) or teams")
        for other in reserved:
            if other.name != pool.name:
                continue
            if not (pool.is_launch and other.is_launch):
                p.fail("name", f"duplicate reserved pool {pool.name!r}")
            elif pool.overlaps(other):
                p.fail(
                    "starts",
                    f"launch pool {pool.name!r} from {pool.starts} to {pool.ends} overlaps "
                    f"the one from {other.starts} to {other.ends}",
                )
        reserved.append(pool)
    return reserved


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
        "quotas",
        "scoring",
        "governance",
        "policy",
        "settings",
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
        p.allow_only("name", "owner", "budget", "status", "members", "teams")
        name = p.text("name")
        if name in projects:
            p.fail("name", f"duplicate project {name!r}")
        projects[name] = ProjectBudget(
            name,
            p.text("owner"),
            p.integer("budget"),
            p.text("status", "open", PROJECT_STATUSES),
            _parse_members(p),
        )

    reserved = _parse_reserved_pools(root, use_cases)

    a = root.table("approvals", {})
    a.allow_only(
        "max_request", "finance_threshold", "nudge_after_hours", "expire_after_hours", "auto"
    )
    approvals = Approvals(
        max_request=a.integer("max_request", 1_000_000, minimum=1),
        finance_threshold=a.integer("finance_threshold", 250_000, minimum=1),
        nudge_after_hours=a.integer("nudge_after_hours", 24, minimum=1),
        expire_after_hours=a.integer("expire_after_hours", 72, minimum=1),
    )
    if approvals.expire_after_hours <= approvals.nudge_after_hours:
        a.fail("expire_after_hours", "must be later than nudge_after_hours")
    auto_approvals = _parse_auto_approvals(a, approvals, use_cases, tiers)

    q = root.table("quotas", {})
    q.allow_only("auto_apply")
    auto_apply = q.get("auto_apply", False)
    if not isinstance(auto_apply, bool):
        q.fail("auto_apply", f"must be true or false, got {auto_apply!r}")
        auto_apply = False

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

    charter = _parse_charter(root.table("policy", {}))
    settings_defaults = _parse_settings(root.table("settings", {}))

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
        charter=charter,
        settings_defaults=settings_defaults,
        source=source,
        auto_approvals=auto_approvals,
        quotas=QuotaSettings(auto_apply=auto_apply),
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
