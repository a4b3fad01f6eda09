"""The policy's `[governance]` section: the thresholds of the gaming detectors, of the
overspend and underuse reports, and of the monthly quota recommendations.

`read_governance` validates the section with the policy's own `PolicyReader`, so `load_policy`
(handed `scoring.sections.POLICY_SECTIONS` by the composition root) reports
a bad value next to every other problem under its dotted key (`governance.chat_loops.min_turns:
must be >= 2, got 1`). `governance_settings(policy)` returns the parsed, immutable settings.
Every value has a default (the built-in policy spells them out), so a policy without the
section works. Thresholds were set from what honest work looks like (see `tokenbot simulate`),
never from who is known to game.

```toml
[governance]
baseline_weeks = 4          # a use case's baseline: the median person-week of these weeks

[governance.context_inflation]
min_tasks = 5               # artifacts in a use case in the week before the ratio is judged
ratio = 2.5                 # input tokens per task >= 2.5 x the use case's median
rise_weeks = 3              # or rising this many weeks in a row ...
rise_total = 0.6            # ... by 60% or more in all, while acceptance did not improve
acceptance_margin = 0.05
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from budgets.policy import Policy, PolicyError, PolicyInvalid, PolicyReader
from budgets.quotas import Recommendations  # the rules of [governance.recommendations]

MISCONDUCT = (
    "context_inflation",
    "chat_loops",
    "output_spam",
    "prompt_spam",
    "task_splitting",
)
REPORTS = ("overspend", "underuse")  # reported to managers and finance, never flags
DETECTORS = MISCONDUCT + REPORTS


def _fewer(count: int, factor: float) -> int:
    return max(math.floor(count * factor), 1)


@dataclass(frozen=True)
class ContextInflation:
    min_tasks: int = 3
    ratio: float = 2.8  # the median task, shrunk (prior_tasks), at this many times the median
    prior_tasks: float = 1.5  # shrinkage: as if this many more tasks sat at the median
    evidence_weeks: int = 4  # the week judged and elevated weeks just before it, pooled
    jump_ratio: float = 2.0  # or up this many times on the person's own weeks before ...
    rise_weeks: int = 3  # ... or rising this many weeks in a row ...
    rise_total: float = 1.0  # ... by this much in all; either way:
    rise_min_ratio: float = 1.5  # ending at least this far above the use case's median,
    acceptance_margin: float = 0.05  # with acceptance no better than before (plus this)

    def relaxed(self, factor: float) -> ContextInflation:
        return replace(
            self,
            ratio=max(self.ratio * factor, 1.0),
            jump_ratio=max(self.jump_ratio * factor, 1.0),
        )


@dataclass(frozen=True)
class ChatLoops:
    min_turns: int = 14
    min_tokens: int = 20_000
    min_loops: int = 4
    min_rate: float = 0.1  # loops per conversation the person had: evidence scales with volume
    min_share: float = 0.3  # of the tokens spent in those loops
    settle_hours: int = 24

    def relaxed(self, factor: float) -> ChatLoops:
        return replace(
            self,
            min_loops=_fewer(self.min_loops, factor),
            min_rate=self.min_rate * factor,
            min_share=self.min_share * factor,
        )


@dataclass(frozen=True)
class OutputSpam:
    max_distance: int = 16
    min_duplicates: int = 2
    min_share: float = 0.2
    # A near-copy counts when the task that made it (its conversation, or the call it names)
    # cost under this share of a normal task of its use case.
    max_copy_cost: float = 0.25

    def relaxed(self, factor: float) -> OutputSpam:
        return replace(
            self,
            min_duplicates=max(_fewer(self.min_duplicates, factor), 2),
            min_share=self.min_share * factor,
        )


@dataclass(frozen=True)
class PromptSpam:
    max_distance: int = 3
    min_repeats: int = 5
    min_share: float = 0.25

    def relaxed(self, factor: float) -> PromptSpam:
        return replace(
            self,
            min_repeats=max(_fewer(self.min_repeats, factor), 2),
            min_share=self.min_share * factor,
        )


@dataclass(frozen=True)
class TaskSplitting:
    gap_minutes: int = 5
    min_burst: int = 4
    min_split: float = 2.5  # results per normal task's worth of tokens, in a burst
    min_bursts: int = 2  # split bursts in a week, or ...
    min_share: float = 0.3  # ... one burst holding this share of the week's results

    def relaxed(self, factor: float) -> TaskSplitting:
        return replace(
            self,
            min_bursts=_fewer(self.min_bursts, factor),
            min_split=max(self.min_split * factor, 1.0),
            min_share=self.min_share * factor,
        )


@dataclass(frozen=True)
class Overspend:
    over_plan: float = 0.25  # spend at least 25% above the pro-rata allotment


@dataclass(frozen=True)
class Underuse:
    max_used: float = 0.2  # at most 20% of the pro-rata allotment used


@dataclass(frozen=True)
class GovernanceSettings:
    baseline_weeks: int = 4
    min_baseline_people: int = 5  # person-weeks behind a baseline before anyone is judged by it
    # A pattern flagged (and not cleared) in one of the last `continuing_weeks` weeks is judged
    # with its thresholds eased by `continuing_factor`: a gamer does not drop out of view by
    # gaming a little less for a week, and people whose pattern was cleared start afresh.
    continuing_weeks: int = 3
    continuing_factor: float = 0.6
    # Evidence accumulates: a count detector's pattern that shows this week at eased thresholds
    # (continuing_factor) is judged on this week and the `evidence_weeks - 1` before it pooled.
    evidence_weeks: int = 2
    # The daily job also judges closed weeks it has not judged yet (downtime, a first install
    # on existing data), at most this many weeks back.
    catch_up_weeks: int = 8
    context_inflation: ContextInflation = ContextInflation()
    chat_loops: ChatLoops = ChatLoops()
    output_spam: OutputSpam = OutputSpam()
    prompt_spam: PromptSpam = PromptSpam()
    task_splitting: TaskSplitting = TaskSplitting()
    overspend: Overspend = Overspend()
    underuse: Underuse = Underuse()
    recommendations: Recommendations = Recommendations()


def _share(r: PolicyReader, name: str, default: float, lo: str = "0", hi: str = "1") -> float:
    return float(r.decimal(name, str(default), lo, hi))


def _count(r: PolicyReader, name: str, default: int, minimum: int = 1) -> int:
    return r.integer(name, default, minimum=minimum)


def _weeks(r: PolicyReader, name: str, default: int, most: int = 8) -> int:
    weeks = _count(r, name, default)
    if weeks > most:
        r.fail(name, f"must be at most {most}, got {weeks}")
    return weeks


def _context_inflation(r: PolicyReader) -> ContextInflation:
    d = ContextInflation()
    r.allow_only(
        "min_tasks",
        "ratio",
        "prior_tasks",
        "evidence_weeks",
        "jump_ratio",
        "rise_weeks",
        "rise_total",
        "rise_min_ratio",
        "acceptance_margin",
    )
    return ContextInflation(
        min_tasks=_count(r, "min_tasks", d.min_tasks),
        ratio=_share(r, "ratio", d.ratio, "1.1", "100"),
        prior_tasks=_share(r, "prior_tasks", d.prior_tasks, "0", "100"),
        evidence_weeks=_weeks(r, "evidence_weeks", d.evidence_weeks),
        jump_ratio=_share(r, "jump_ratio", d.jump_ratio, "1.1", "100"),
        rise_weeks=_count(r, "rise_weeks", d.rise_weeks, minimum=2),
        rise_total=_share(r, "rise_total", d.rise_total, "0.05", "100"),
        rise_min_ratio=_share(r, "rise_min_ratio", d.rise_min_ratio, "0", "100"),
        acceptance_margin=_share(r, "acceptance_margin", d.acceptance_margin),
    )


def _chat_loops(r: PolicyReader) -> ChatLoops:
    d = ChatLoops()
    r.allow_only("min_turns", "min_tokens", "min_loops", "min_rate", "min_share", "settle_hours")
    return ChatLoops(
        min_turns=_count(r, "min_turns", d.min_turns, minimum=2),
        min_tokens=_count(r, "min_tokens", d.min_tokens),
        min_loops=_count(r, "min_loops", d.min_loops),
        min_rate=_share(r, "min_rate", d.min_rate),
        min_share=_share(r, "min_share", d.min_share),
        settle_hours=_count(r, "settle_hours", d.settle_hours, minimum=0),
    )


def _output_spam(r: PolicyReader) -> OutputSpam:
    d = OutputSpam()
    r.allow_only("max_distance", "min_duplicates", "min_share", "max_copy_cost")
    distance = _count(r, "max_distance", d.max_distance, minimum=0)
    if distance > 16:
        r.fail("max_distance", f"must be at most 16 of the 64 bits, got {distance}")
    return OutputSpam(
        max_distance=distance,
        min_duplicates=_count(r, "min_duplicates", d.min_duplicates, minimum=2),
        min_share=_share(r, "min_share", d.min_share),
        max_copy_cost=_share(r, "max_copy_cost", d.max_copy_cost),
    )


def _prompt_spam(r: PolicyReader) -> PromptSpam:
    d = PromptSpam()
    r.allow_only("max_distance", "min_repeats", "min_share")
    distance = _count(r, "max_distance", d.max_distance, minimum=0)
    if distance > 16:
        r.fail("max_distance", f"must be at most 16 of the 64 bits, got {distance}")
    return PromptSpam(
        max_distance=distance,
        min_repeats=_count(r, "min_repeats", d.min_repeats, minimum=2),
        min_share=_share(r, "min_share", d.min_share),
    )


def _task_splitting(r: PolicyReader) -> TaskSplitting:
    d = TaskSplitting()
    r.allow_only("gap_minutes", "min_burst", "min_split", "min_bursts", "min_share")
    return TaskSplitting(
        gap_minutes=_count(r, "gap_minutes", d.gap_minutes),
        min_burst=_count(r, "min_burst", d.min_burst, minimum=2),
        min_split=_share(r, "min_split", d.min_split, "1", "100"),
        min_bursts=_count(r, "min_bursts", d.min_bursts),
        min_share=_share(r, "min_share", d.min_share),
    )


def _recommendations(r: PolicyReader) -> Recommendations:
    d = Recommendations()
    r.allow_only("periods", "ceiling_share", "lapse_share", "min_acceptance", "pool_step")
    settings = Recommendations(
        periods=_count(r, "periods", d.periods),
        ceiling_share=_share(r, "ceiling_share", d.ceiling_share, "0.1", "10"),
        lapse_share=_share(r, "lapse_share", d.lapse_share),
        min_acceptance=_share(r, "min_acceptance", d.min_acceptance),
        pool_step=_share(r, "pool_step", d.pool_step, "0.01", "10"),
    )
    if settings.lapse_share >= settings.ceiling_share:
        r.fail("lapse_share", "must be below ceiling_share")
    return settings


def read_governance(r: PolicyReader) -> GovernanceSettings:
    """Parse `[governance]` with the policy reader `r`; problems land in `r.errors`."""
    r.allow_only(
        "baseline_weeks",
        "min_baseline_people",
        "continuing_weeks",
        "continuing_factor",
        "evidence_weeks",
        "catch_up_weeks",
        *DETECTORS,
        "recommendations",
    )
    weeks = _count(r, "baseline_weeks", GovernanceSettings.baseline_weeks)
    if weeks > 26:
        r.fail("baseline_weeks", f"must be at most 26, got {weeks}")
    over = r.table("overspend", {})
    over.allow_only("over_plan")
    under = r.table("underuse", {})
    under.allow_only("max_used")
    return GovernanceSettings(
        baseline_weeks=weeks,
        min_baseline_people=_count(
            r, "min_baseline_people", GovernanceSettings.min_baseline_people
        ),
        continuing_weeks=_count(
            r, "continuing_weeks", GovernanceSettings.continuing_weeks, minimum=0
        ),
        continuing_factor=_share(
            r, "continuing_factor", GovernanceSettings.continuing_factor, "0.1", "1"
        ),
        evidence_weeks=_weeks(r, "evidence_weeks", GovernanceSettings.evidence_weeks, most=4),
        catch_up_weeks=_weeks(r, "catch_up_weeks", GovernanceSettings.catch_up_weeks, most=52),
        context_inflation=_context_inflation(r.table("context_inflation", {})),
        chat_loops=_chat_loops(r.table("chat_loops", {})),
        output_spam=_output_spam(r.table("output_spam", {})),
        prompt_spam=_prompt_spam(r.table("prompt_spam", {})),
        task_splitting=_task_splitting(r.table("task_splitting", {})),
        overspend=Overspend(_share(over, "over_plan", Overspend.over_plan, "0", "100")),
        underuse=Underuse(_share(under, "max_used", Underuse.max_used)),
        recommendations=_recommendations(r.table("recommendations", {})),
    )


def governance_settings(policy: Policy) -> GovernanceSettings:
    """The parsed `[governance]` section; raises PolicyInvalid (keys named) if it is invalid,
    which `load_policy` has already ruled out for policies loaded from a file."""
    errors: list[PolicyError] = []
    settings = read_governance(PolicyReader(policy.governance, "governance", errors))
    if errors:
        raise PolicyInvalid(errors, policy.source)
    return settings
