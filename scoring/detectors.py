"""Gaming detectors: patterns that make AI use look bigger or better than the work behind it.

Each detector is a pure function over a person's aggregates for one ISO week (and a use
case's baseline) that returns its evidence, a dict of plain numbers, or None. The SQL that
feeds them aggregates usage and outcomes per person (and use case, conversation, fingerprint or
burst); nothing here loops over single events in Python. A person's distinct fingerprints are
compared pairwise in numpy (`close_pairs`), and only the few close pairs are joined in Python.

Misconduct detectors (a flag the person sees, can dispute, and that bars that week's
recognition while it is not cleared):
- context inflation: the typical task's context (input tokens per request; a task is a
  conversation) far above its use case's median, pooled over the person's use cases; or
  jumping to a multiple of the person's own weeks before, or rising week after week, while
  acceptance does not improve;
- chat loops: long conversations (many turns, many tokens) that end with no accepted artifact,
  several in a week and a good share of its tokens;
- output spam: many near-duplicate artifacts (content fingerprints a few bits apart) made for
  a fraction of a normal task's tokens (an answer given again with a task's work is not one);
- prompt spam: the same prompt (prompt fingerprints a few bits apart) sent over and over;
- task splitting: bursts of results minutes apart that between them cost about one task each
  couple of results, several in a week or one holding a good share of the week's results.
Reports (findings for managers and finance, never flags): overspend against plan and underuse.

A use case's baseline is the median person-week of the `baseline_weeks` weeks up to and
including the one judged, over person-weeks with at least `min_tasks` tasks: medians, so the
few who game do not move it, and the judged week counts so a new use case has a baseline in
its first week. A pattern flagged, and not cleared, in one of the weeks just before is judged
with eased thresholds (`continuing_factor`): a gamer does not drop out of view by gaming a
little less for a week.

The SQL that reads a week's aggregates for them is `scoring.detector_data` (`detect_week`); the
flags written from the findings live in `scoring.flags` (`run_detectors`). Thresholds live in
the policy's `[governance]` section.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from budgets.windows import Window
from scoring.governance import (
    ChatLoops,
    ContextInflation,
    GovernanceSettings,
    OutputSpam,
    PromptSpam,
    TaskSplitting,
)

# --- what a detector sees ------------------------------------------------------------------


@dataclass(frozen=True)
class UseCaseWeek:
    """One person's work in one use case in one week. A task is a conversation (calls that
    share a conversation id; a call without one is a task on its own). Context is measured per
    request of a task (its input tokens over its calls), and the week by its median task: how
    many turns a task took, or one long working session, does not make a week look inflated."""

    week: str
    use_case: str
    tasks: int  # conversations
    median_input: float  # input tokens per request of the median task
    median_tokens: float  # budget tokens of the median task
    tokens: int  # budget tokens in all
    artifacts: int
    accepted: int
    task_inputs: tuple[float, ...] = ()  # input tokens per request of each task

    @property
    def tokens_per_task(self) -> float | None:
        return self.tokens / self.artifacts if self.artifacts else None

    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.artifacts if self.artifacts else None


@dataclass(frozen=True)
class ContextWeek:
    """One person's week across their use cases: each task's context (input per request)
    against its use case's median, and the median of those ratios; the main use case (most
    tasks) gives the figures a person recognises."""

    week: str
    tasks: int
    ratio: float  # the median task's context against its use case's median
    artifacts: int
    accepted: int
    use_case: str
    median_input: float  # in the main use case
    baseline_input: float  # the main use case's median
    task_ratios: tuple[float, ...] = ()  # each task's context against its use case's median

    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.artifacts if self.artifacts else None


def context_weeks(
    by_use_case: dict[str, list[UseCaseWeek]], baselines: dict[str, UseCaseBaseline]
) -> list[ContextWeek]:
    """A person's weeks, oldest first, from their use-case weeks (use cases with a baseline)."""
    weeks: dict[str, list[UseCaseWeek]] = defaultdict(list)
    for uc, rows in by_use_case.items():
        if uc in baselines and baselines[uc].input_per_task > 0:
            for row in rows:
                weeks[row.week].append(row)
    out = []
    for week in sorted(weeks):
        rows = weeks[week]
        ratios = [
            value / baselines[row.use_case].input_per_task
            for row in rows
            for value in row.task_inputs
        ]
        if not ratios:
            continue
        main = max(rows, key=lambda r: (r.tasks, r.use_case))
        out.append(
            ContextWeek(
                week=week,
                tasks=len(ratios),
                ratio=statistics.median(ratios),
                artifacts=sum(r.artifacts for r in rows),
                accepted=sum(r.accepted for r in rows),
                use_case=main.use_case,
                median_input=main.median_input,
                baseline_input=baselines[main.use_case].input_per_task,
                task_ratios=tuple(ratios),
            )
        )
    return out


@dataclass(frozen=True)
class Burst:
    """Artifacts of one use case less than `gap_minutes` apart, and the tokens spent from
    `gap_minutes` before the first to the last."""

    artifacts: int
    tokens: int


@dataclass(frozen=True)
class UseCaseBaseline:
    use_case: str
    person_weeks: int
    input_per_task: float  # median over person-weeks of their median task's input per request
    tokens_per_task: float  # the same for budget tokens: what a normal task costs


@dataclass(frozen=True)
class Conversation:
    turns: int
    tokens: int
    accepted: bool


@dataclass(frozen=True)
class Finding:
    """What one detector saw for one person in one week; `misconduct` findings become flags."""

    person_id: int
    week: str
    detector: str
    evidence: dict[str, Any]
    misconduct: bool = True


@dataclass
class WeekData:
    """Everything the detectors read for one week, fetched once."""

    week: Window
    history: dict[int, dict[str, list[UseCaseWeek]]] = field(default_factory=dict)
    baselines: dict[str, UseCaseBaseline] = field(default_factory=dict)
    conversations: dict[int, list[Conversation]] = field(default_factory=dict)
    artifact_fingerprints: dict[int, dict[str, int]] = field(default_factory=dict)
    # Per fingerprint, each artifact's use case and the budget tokens of the task that made it.
    artifact_costs: dict[int, dict[str, list[tuple[str, int]]]] = field(default_factory=dict)
    artifacts: dict[int, int] = field(default_factory=dict)
    prompt_fingerprints: dict[int, dict[str, int]] = field(default_factory=dict)
    fingerprinted_calls: dict[int, int] = field(default_factory=dict)
    bursts: dict[int, dict[str, list[Burst]]] = field(default_factory=dict)
    spend: dict[int, int] = field(default_factory=dict)
    tasks: dict[int, int] = field(default_factory=dict)  # conversations in the week
    plans: dict[int, int] = field(default_factory=dict)
    people: set[int] = field(default_factory=set)
    # (person, detector) flagged and not cleared in one of the weeks just before this one.
    continuing: set[tuple[int, str]] = field(default_factory=set)
    # The counts (conversations, fingerprints, bursts, spend) of the weeks just before, newest
    # first: evidence a pattern shows this week may be pooled with (`evidence_weeks`).
    earlier: list[WeekData] = field(default_factory=list)


def pooled(weeks: Sequence[WeekData], person: int | None = None) -> WeekData:
    """The counts of several weeks as one (the first one's week, history and baselines): what
    the count detectors judge when a pattern's evidence accumulates over weeks; `person`: only
    theirs (the judge pools a person's weeks when a pattern of theirs shows)."""
    first = weeks[0]
    out = WeekData(
        week=first.week,
        history=first.history,
        baselines=first.baselines,
        people=set(first.people),
        plans=first.plans,
        continuing=first.continuing,
    )

    def mine(table: Mapping[int, Any]) -> Iterable[tuple[int, Any]]:
        if person is None:
            return table.items()
        return [(person, table[person])] if person in table else []

    for data in weeks:
        for pid, rows in mine(data.conversations):
            out.conversations.setdefault(pid, []).extend(rows)
        for ours, theirs in (
            (out.artifact_fingerprints, data.artifact_fingerprints),
            (out.prompt_fingerprints, data.prompt_fingerprints),
        ):
            for pid, counts in mine(theirs):
                merged = ours.setdefault(pid, {})
                for key, n in counts.items():
                    merged[key] = merged.get(key, 0) + n
        for total, theirs_total in (
            (out.artifacts, data.artifacts),
            (out.fingerprinted_calls, data.fingerprinted_calls),
            (out.spend, data.spend),
            (out.tasks, data.tasks),
        ):
            for pid, n in mine(theirs_total):
                total[pid] = total.get(pid, 0) + n
        for pid, by_fingerprint in mine(data.artifact_costs):
            mine_costs = out.artifact_costs.setdefault(pid, {})
            for key, made in by_fingerprint.items():
                mine_costs.setdefault(key, []).extend(made)
        for pid, by_use_case in mine(data.bursts):
            mine_bursts = out.bursts.setdefault(pid, {})
            for uc, bursts in by_use_case.items():
                mine_bursts.setdefault(uc, []).extend(bursts)
    return out


# --- the detectors (pure) ------------------------------------------------------------------


def _rounded(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def shrunk_ratio(log_ratios: Sequence[float], prior_tasks: float) -> float:
    """The typical ratio of `log_ratios` (natural logs of each task's context against its use
    case's median), shrunk toward the use case's own (ratio 1) as if `prior_tasks` more tasks
    had sat exactly at it: the median of n tasks counts n / (n + prior_tasks) of its distance.
    A handful of tasks says less than a month of them, so a light week needs a larger ratio."""
    if not log_ratios:
        return 1.0
    n = len(log_ratios)
    return math.exp(statistics.median(log_ratios) * n / (n + prior_tasks))


def elevated_run(history: Sequence[ContextWeek], s: ContextInflation) -> list[ContextWeek]:
    """The judged week and the weeks just before it (at most `evidence_weeks` in all) whose
    typical task was also at least `rise_min_ratio` times the median: evidence of one level
    accumulates over the weeks it held, and a week back to normal ends it."""
    run = [history[-1]]
    for before in reversed(history[:-1]):
        if len(run) >= s.evidence_weeks or before.ratio < s.rise_min_ratio:
            break
        run.insert(0, before)
    return run


def _logs(weeks: Sequence[ContextWeek]) -> list[float]:
    """Each task's log ratio (a week read without them counts its median for every task)."""
    return [math.log(r) for w in weeks for r in (w.task_ratios or (w.ratio,) * w.tasks) if r > 0]


def context_inflation(history: Sequence[ContextWeek], s: ContextInflation) -> dict[str, Any] | None:
    """`history`: the person's weeks (see `context_weeks`), oldest first, the judged one last.
    Judged on the median task of the judged week and the elevated weeks just before it,
    shrunk toward the use case's median by `prior_tasks` (see `shrunk_ratio`)."""
    if not history:
        return None
    now = history[-1]
    if now.tasks < s.min_tasks or now.ratio <= 0:
        return None
    evidence: dict[str, Any] = {
        "use_case": now.use_case,
        "tasks": now.tasks,
        "ratio": round(now.ratio, 2),
        "input_per_task": round(now.median_input),
        "baseline_input_per_task": round(now.baseline_input),
        "acceptance": _rounded(now.acceptance),
        "prior_tasks": s.prior_tasks,
    }
    run = elevated_run(history, s)
    logs = _logs(run)
    weighed = shrunk_ratio(logs, s.prior_tasks)
    if weighed >= s.ratio:
        return {
            **evidence,
            "pattern": "level",
            "threshold": round(s.ratio, 2),
            "weeks": len(run),
            "from_week": run[0].week,
            "tasks_judged": len(logs),
            "median_ratio": round(math.exp(statistics.median(logs)), 2),
            "weighed_ratio": round(weighed, 2),
        }
    this_week = shrunk_ratio(_logs([now]), s.prior_tasks)
    if this_week < s.rise_min_ratio:
        return None
    jump = _jump(history, s)
    if jump is not None:
        return {**evidence, "pattern": "jump", **jump}
    rise = _sustained_rise(history, s)
    if rise is not None:
        return {**evidence, "pattern": "rising", **rise}
    return None


CHANCE_Z = 1.64  # a rise in acceptance beyond chance: one-sided, 95%


def rise_needed(
    accepted: int, artifacts: int, before: int, artifacts_before: int, margin: float
) -> float:
    """How far acceptance must rise over the weeks before to count as better: `margin`, and
    beyond chance at these numbers (1.64 standard errors of the difference of two shares, at
    the two periods' pooled acceptance). Five results against eight say little: a light
    user's acceptance moving by 15 points is noise, a heavy user's is not."""
    if not artifacts or not artifacts_before:
        return margin
    pooled_share = (accepted + before) / (artifacts + artifacts_before)
    error = math.sqrt(pooled_share * (1 - pooled_share) * (1 / artifacts + 1 / artifacts_before))
    return max(margin, CHANCE_Z * error)


def _jump(history: Sequence[ContextWeek], s: ContextInflation) -> dict[str, Any] | None:
    """Context `jump_ratio` times the person's own of the weeks before (the median task of up
    to `rise_weeks` of them, `min_tasks` tasks in all), the jump shrunk like a level (a
    handful of tasks this week says less), with acceptance no better than then."""
    now = history[-1]
    before = [w for w in history[-(s.rise_weeks + 1) : -1]]
    logs_before = _logs(before)
    logs_now = _logs([now])
    if len(logs_before) < s.min_tasks or not logs_now:
        return None
    reference = math.exp(statistics.median(logs_before))
    accepted = sum(w.accepted for w in before)
    artifacts = sum(w.artifacts for w in before)
    acceptance_before = accepted / artifacts if artifacts else 0.0
    n = len(logs_now)
    jump = math.exp((statistics.median(logs_now) - math.log(reference)) * n / (n + s.prior_tasks))
    if jump < s.jump_ratio:
        return None
    needed = rise_needed(now.accepted, now.artifacts, accepted, artifacts, s.acceptance_margin)
    if (now.acceptance or 0.0) > acceptance_before + needed:
        return None
    return {
        "weeks": len(before),
        "from_week": before[0].week,
        "ratio_before": round(reference, 2),
        "jump": round(jump, 2),
        "threshold": round(s.jump_ratio, 2),
        "acceptance_before": round(acceptance_before, 2),
        "artifacts": now.artifacts,
        "artifacts_before": artifacts,
        "rise_needed": round(needed, 2),
    }


def _sustained_rise(history: Sequence[ContextWeek], s: ContextInflation) -> dict[str, Any] | None:
    """Context up every week for `rise_weeks` weeks, by `rise_total` in all, with acceptance
    no better than `acceptance_margin` above where it started (the caller checks it ends at
    least `rise_min_ratio` times the median: rising from below it is catching up)."""
    recent = list(history[-(s.rise_weeks + 1) :])
    if len(recent) < s.rise_weeks + 1 or any(w.tasks < s.min_tasks for w in recent):
        return None
    values = [w.ratio for w in recent]
    if values[0] <= 0 or any(b <= a for a, b in zip(values, values[1:], strict=False)):
        return None
    # Where it ends, shrunk like a level (a handful of tasks in the last week says less).
    total = shrunk_ratio(_logs(recent[-1:]), s.prior_tasks) / values[0] - 1
    start, end = recent[0], recent[-1]
    first, last = start.acceptance or 0.0, end.acceptance or 0.0
    needed = rise_needed(
        end.accepted, end.artifacts, start.accepted, start.artifacts, s.acceptance_margin
    )
    if total < s.rise_total or last > first + needed:
        return None
    return {
        "weeks": s.rise_weeks,
        "from_week": recent[0].week,
        "ratio_before": round(values[0], 2),
        "rise": round(total, 2),
        "acceptance_before": round(first, 2),
        "artifacts": end.artifacts,
        "artifacts_before": start.artifacts,
        "rise_needed": round(needed, 2),
    }


def chat_loops(
    conversations: Sequence[Conversation], week_tokens: int, tasks: int, s: ChatLoops
) -> dict[str, Any] | None:
    """`conversations`: the long ones that ended in the week; `week_tokens`: all spent;
    `tasks`: all the person's conversations. Loops must be `min_loops` or more, and at least
    `min_rate` of the conversations (a heavy user's unlucky week is not a light user's habit)."""
    loops = [
        c
        for c in conversations
        if c.turns >= s.min_turns and c.tokens >= s.min_tokens and not c.accepted
    ]
    loop_tokens = sum(c.tokens for c in loops)
    share = loop_tokens / week_tokens if week_tokens else 1.0
    rate = len(loops) / max(tasks, len(loops), 1)
    if len(loops) < s.min_loops or share < s.min_share or rate < s.min_rate:
        return None
    return {
        "loops": len(loops),
        "tasks": max(tasks, len(loops)),
        "rate": round(rate, 2),
        "min_rate": s.min_rate,
        "long_conversations": sum(1 for c in conversations if c.turns >= s.min_turns),
        "median_turns": round(statistics.median(c.turns for c in loops)),
        "loop_tokens": loop_tokens,
        "share": round(min(share, 1.0), 2),
        "min_turns": s.min_turns,
        "min_loops": s.min_loops,
    }


def near_duplicate_groups(counts: dict[str, int], max_distance: int) -> list[int]:
    """Sizes (counting repeats) of the groups of fingerprints at most `max_distance` bits apart
    (single linkage), largest first."""
    linked = near_duplicates(counts, max_distance)
    grouped = {k for keys in linked for k in keys}
    sizes = [sum(counts[k] for k in keys) for keys in linked]
    return sorted(sizes + [n for k, n in counts.items() if k not in grouped], reverse=True)


def near_duplicates(fingerprints: Iterable[str], max_distance: int) -> list[list[str]]:
    """The groups of two or more of `fingerprints` at most `max_distance` bits apart (single
    linkage), each a list of fingerprints; a fingerprint near no other is in none. Every pair
    is compared, a block of rows at a time in numpy (XOR, then the set bits counted); the few
    close pairs are joined in Python."""
    keys = list(fingerprints)
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    joined: set[int] = set()
    for a, b in close_pairs([int(k, 16) for k in keys], max_distance):
        joined |= {a, b}
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, list[str]] = defaultdict(list)
    for i in sorted(joined):
        groups[root(i)].append(keys[i])
    return list(groups.values())


PAIR_BLOCK = 512  # rows compared at once: a block of 512 x n distances stays a few MB


def close_pairs(values: Sequence[int], max_distance: int) -> Iterable[tuple[int, int]]:
    """Every pair (a < b) of `values` (64-bit fingerprints) at most `max_distance` bits
    apart."""
    if len(values) < 2:
        return
    fingerprints = np.array(values, dtype=np.uint64)
    for first in range(0, len(values), PAIR_BLOCK):
        block, rest = fingerprints[first : first + PAIR_BLOCK], fingerprints[first:]
        # Row i of the block against the values from it on: only those after it (k=1) count.
        close = np.bitwise_count(block[:, None] ^ rest[None, :]) <= max_distance
        if np.count_nonzero(close) == len(block):  # each row near itself alone: most weeks
            continue
        rows, columns = np.nonzero(np.triu(close, 1))
        yield from zip((rows + first).tolist(), (columns + first).tolist(), strict=True)


def output_spam(
    counts: dict[str, int],
    artifacts: int,
    s: OutputSpam,
    groups: list[list[str]] | None = None,
    costs: Mapping[str, Sequence[tuple[str, int]]] | None = None,
    baselines: Mapping[str, UseCaseBaseline] | None = None,
) -> dict[str, Any] | None:
    """`counts`: the week's artifacts per content fingerprint; `artifacts`: all of them;
    `groups`: their `near_duplicates` at `s.max_distance`, when already at hand; `costs`: per
    fingerprint, each artifact's use case and the budget tokens of the task that made it (its
    conversation, or the call it names).

    In each group of near-copies the costliest artifact is the original and the others are
    copies. With `costs`, a copy counts only when it was made for under `s.max_copy_cost` of a
    normal task of its use case (the median task's tokens; a use case without a baseline
    cannot tell, so its copies count): a near-copy made with a normal task's work is the same
    question answered again (an FAQ), not a copy, and it does not inflate results per token.
    A group none of which took that much work has no original among the results: all count."""
    if groups is None:
        groups = near_duplicates(counts, s.max_distance)
    grouped = {k for keys in groups for k in keys}
    exact = [[k] for k, n in counts.items() if n > 1 and k not in grouped]  # the very same
    normals = baselines or {}
    copies = costly = 0
    largest = 1 if counts else 0
    copy_tokens: list[int] = []
    for keys in groups + exact:
        size = sum(counts[k] for k in keys)
        largest = max(largest, size)
        if size < 2:
            continue
        if costs is None:
            copies += size - 1
            continue
        made: list[tuple[float, int]] = []  # (share of a normal task, tokens) of each
        for key in keys:
            for use_case, tokens in costs.get(key, ()):
                normal = normals.get(use_case)
                per_task = normal.tokens_per_task if normal is not None else 0.0
                made.append((tokens / per_task if per_task > 0 else 0.0, tokens))
        made.sort(reverse=True)
        # The costliest is the original, unless it too was made for little: then none of the
        # group was the work, and every one of them is a copy.
        original = 1 if made and made[0][0] >= s.max_copy_cost else 0
        for share, tokens in made[original:]:
            if share < s.max_copy_cost:
                copies += 1
                copy_tokens.append(tokens)
            else:
                costly += 1
    if not artifacts or copies < s.min_duplicates or copies / artifacts < s.min_share:
        return None
    evidence: dict[str, Any] = {
        "artifacts": artifacts,
        "duplicates": copies,
        "share": round(copies / artifacts, 2),
        "largest_group": largest,
        "max_distance": s.max_distance,
        "min_share": s.min_share,
    }
    if costs is not None:
        evidence |= {
            "copy_tokens": round(statistics.median(copy_tokens)),
            "max_copy_cost": s.max_copy_cost,
            "answered_again": costly,
        }
    return evidence


def prompt_spam(
    counts: dict[str, int], calls: int, s: PromptSpam, groups: list[list[str]] | None = None
) -> dict[str, Any] | None:
    """`counts`: per prompt fingerprint, the separate tasks (conversations; a call outside one
    is a task of its own) that sent it in the week: a retry in the same conversation is one
    task, the same prompt sent afresh again and again is many; `calls`: all fingerprinted
    calls; `groups`: their `near_duplicate_groups` at `s.max_distance`, when at hand."""
    if groups is None:
        groups = near_duplicates(counts, s.max_distance)
    linked = (sum(counts[k] for k in keys) for keys in groups)
    repeats = max(max(linked, default=0), max(counts.values(), default=0))
    if not calls or repeats < s.min_repeats or repeats / calls < s.min_share:
        return None
    return {
        "calls": calls,
        "repeats": repeats,
        "share": round(repeats / calls, 2),
        "distinct_prompts": len(counts),
        "min_repeats": s.min_repeats,
    }


def task_splitting(
    bursts: Mapping[str, Sequence[Burst]],
    baselines: Mapping[str, UseCaseBaseline],
    results: int,
    s: TaskSplitting,
) -> dict[str, Any] | None:
    """`bursts`: per use case, the week's runs of >= min_burst artifacts; `results`: all the
    person's artifacts in the week. A burst is split work when it has at least `min_split`
    results for each normal task's worth of the tokens it took (a normal task: its use case's
    median). Flagged from `min_bursts` split bursts in any use cases, or from one holding
    `min_share` of the week's results: evidence scales with volume, and a light user's one
    task cut into pieces is most of their week, where a heavy user's odd quick run is not."""
    split: list[tuple[str, Burst, float]] = []  # use case, burst, its normal task's tokens
    for use_case, runs in sorted(bursts.items()):
        baseline = baselines.get(use_case)
        if baseline is None or baseline.tokens_per_task <= 0:
            continue
        normal = baseline.tokens_per_task
        split += [
            (use_case, b, normal)
            for b in runs
            if b.artifacts * normal >= s.min_split * max(b.tokens, 1)
        ]
    if not split:
        return None
    pieces = sum(b.artifacts for _uc, b, _n in split)
    share = pieces / max(results, pieces)
    if len(split) < s.min_bursts and share < s.min_share:
        return None
    by_use_case: dict[str, int] = defaultdict(int)
    for use_case, b, _normal in split:
        by_use_case[use_case] += b.artifacts
    main = max(by_use_case, key=lambda uc: (by_use_case[uc], uc))
    normal = baselines[main].tokens_per_task
    return {
        "use_case": main,
        "bursts": len(split),
        "tasks_in_bursts": pieces,
        "results": max(results, pieces),
        "share": round(share, 2),
        "median_burst": round(statistics.median(b.artifacts for _uc, b, _n in split)),
        "tokens_per_burst": round(statistics.median(b.tokens for _uc, b, _n in split)),
        "baseline_tokens_per_task": round(normal),
        "burst_cost_in_tasks": round(statistics.median(b.tokens / n for _uc, b, n in split), 2),
        "results_per_task": round(
            statistics.median(b.artifacts * n / max(b.tokens, 1) for _uc, b, n in split), 1
        ),
        "min_split": s.min_split,
        "min_bursts": s.min_bursts,
        "min_share": s.min_share,
        "gap_minutes": s.gap_minutes,
    }


def overspend(used: int, planned: int, over_plan: float) -> dict[str, Any] | None:
    if planned <= 0 or used <= planned * (1 + over_plan):
        return None
    return {"used": used, "planned": planned, "variance": round(used / planned - 1, 2)}


def underuse(used: int, planned: int, max_used: float) -> dict[str, Any] | None:
    if planned <= 0 or used > planned * max_used:
        return None
    return {"used": used, "planned": planned, "share_used": round(used / planned, 2)}


def _checks(data: WeekData, pid: int) -> dict[str, Callable[[Any], dict[str, Any] | None]]:
    """Each misconduct detector applied to one person's data, given its thresholds."""
    week = data.week.key
    by_use_case = data.history.get(pid, {})

    context = context_weeks(by_use_case, data.baselines)
    if context and context[-1].week != week:
        context = []  # no tasks this week: nothing to judge

    def inflation(s: ContextInflation) -> dict[str, Any] | None:
        return context_inflation(context, s)

    def loops(s: ChatLoops) -> dict[str, Any] | None:
        return chat_loops(
            data.conversations.get(pid, []), data.spend.get(pid, 0), data.tasks.get(pid, 0), s
        )

    # The grouping is the costly part, and eased thresholds keep the distance: group once.
    grouped: dict[tuple[str, int], list[list[str]]] = {}

    def groups(kind: str, counts: dict[str, int], distance: int) -> list[list[str]]:
        if (kind, distance) not in grouped:
            grouped[kind, distance] = near_duplicates(counts, distance)
        return grouped[kind, distance]

    def copies(s: OutputSpam) -> dict[str, Any] | None:
        counts = data.artifact_fingerprints.get(pid, {})
        return output_spam(
            counts,
            data.artifacts.get(pid, 0),
            s,
            groups("artifacts", counts, s.max_distance),
            data.artifact_costs.get(pid, {}),
            data.baselines,
        )

    def repeats(s: PromptSpam) -> dict[str, Any] | None:
        counts = data.prompt_fingerprints.get(pid, {})
        return prompt_spam(
            counts,
            data.fingerprinted_calls.get(pid, 0),
            s,
            groups("prompts", counts, s.max_distance),
        )

    def splitting(s: TaskSplitting) -> dict[str, Any] | None:
        return task_splitting(
            data.bursts.get(pid, {}), data.baselines, data.artifacts.get(pid, 0), s
        )

    return {
        "context_inflation": inflation,
        "chat_loops": loops,
        "output_spam": copies,
        "prompt_spam": repeats,
        "task_splitting": splitting,
    }


POOLED = ("chat_loops", "output_spam", "prompt_spam", "task_splitting")


def judge(data: WeekData, settings: GovernanceSettings) -> list[Finding]:
    """Every finding for the week in `data`, person by person, detector by detector.

    Evidence accumulates over weeks: a count detector (`POOLED`) that does not fire on this
    week alone, but whose pattern shows this week at eased thresholds (`continuing_factor`),
    is judged again on this week pooled with the weeks before (`data.earlier`), at the usual
    thresholds; its evidence then names the weeks. A pattern flagged in the weeks before
    (`data.continuing`) is judged again with eased thresholds when the usual ones do not catch
    it; its evidence then says so."""
    week = data.week.key
    factor = settings.continuing_factor
    findings: list[Finding] = []

    def found(
        person_id: int, detector: str, evidence: dict[str, Any] | None, misconduct: bool = True
    ) -> None:
        if evidence is not None:
            findings.append(Finding(person_id, week, detector, evidence, misconduct))

    for pid in sorted(data.people):
        checks = _checks(data, pid)
        over_weeks: list[dict[str, Callable[[Any], dict[str, Any] | None]]] = []
        for detector, check in checks.items():
            thresholds = getattr(settings, detector)
            evidence = check(thresholds)
            eased = thresholds.relaxed(factor)
            pool = data.earlier and detector in POOLED
            if evidence is None and pool and check(eased) is not None:
                if not over_weeks:  # pooled once a pattern of theirs shows: few do
                    over_weeks.append(_checks(pooled([data, *data.earlier], pid), pid))
                evidence = over_weeks[0][detector](thresholds)
                if evidence is not None:
                    evidence = {
                        **evidence,
                        "weeks": len(data.earlier) + 1,
                        "from_week": data.earlier[-1].week.key,
                    }
            if evidence is None and (pid, detector) in data.continuing:
                evidence = check(eased)
                if evidence is not None:
                    evidence = {**evidence, "continuing": True, "eased_to": factor}
            found(pid, detector, evidence)
        used, planned = data.spend.get(pid, 0), data.plans.get(pid, 0)
        found(pid, "overspend", overspend(used, planned, settings.overspend.over_plan), False)
        found(pid, "underuse", underuse(used, planned, settings.underuse.max_used), False)
    return findings
