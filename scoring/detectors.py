"""Gaming detectors: patterns that make AI use look bigger or better than the work behind it.

Each detector is a pure function over a person's aggregates for one ISO week (and a use
case's baseline) that returns its evidence, a dict of plain numbers, or None. The SQL that
feeds them aggregates usage and outcomes per person (and use case, conversation, fingerprint or
burst); nothing here loops over single events in Python except the near-duplicate grouping of a
person's distinct fingerprints.

Misconduct detectors (a flag the person sees, can dispute, and that bars that week's
recognition while it is not cleared):
- context inflation: the typical task's context (input tokens per request; a task is a
  conversation) far above its use case's median, pooled over the person's use cases; or
  jumping to a multiple of the person's own weeks before, or rising week after week, while
  acceptance does not improve;
- chat loops: long conversations (many turns, many tokens) that end with no accepted artifact,
  several in a week and a good share of its tokens;
- output spam: many near-duplicate artifacts (content fingerprints a few bits apart);
- prompt spam: the same prompt (prompt fingerprints a few bits apart) sent over and over;
- task splitting: bursts of results minutes apart that between them cost about one task each
  couple of results.
Reports (findings for managers and finance, never flags): overspend against plan and underuse.

A use case's baseline is the median person-week of the `baseline_weeks` weeks up to and
including the one judged, over person-weeks with at least `min_tasks` tasks: medians, so the
few who game do not move it, and the judged week counts so a new use case has a baseline in
its first week. A pattern flagged, and not cleared, in one of the weeks just before is judged
with eased thresholds (`continuing_factor`): a gamer does not drop out of view by gaming a
little less for a week.

`run_detectors` writes one flag per person, week and detector (the unique key makes re-runs
idempotent), refreshes the evidence of flags nobody has decided yet, clears those whose pattern
is gone (audited), and returns a keyed private notice for every open flag, so the person hears
about it once. Thresholds live in the policy's `[governance]` section.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, cast

from jinja2 import Environment
from sqlalchemy import CursorResult, Float, and_, case, func, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from bot.core.messages import Button, Notice, Reply
from budgets import audit
from budgets.policy import Policy
from message_templates import build_template_env
from scoring.governance import (
    MISCONDUCT,
    ChatLoops,
    ContextInflation,
    GovernanceSettings,
    OutputSpam,
    PromptSpam,
    TaskSplitting,
    governance_settings,
)
from scoring.metrics import (
    ACCEPTED_STATUSES,
    OPEN_FLAG_STATUSES,
    Totals,
    grouped_totals,
    planned_tokens,
    window_sums,
)
from scoring.windows import Window, previous_week, week_starting
from storage.database import upsert_insert
from storage.models import Flag, Outcome, Person, UsageEvent

FINGERPRINT_BITS = 64
SYSTEM_ACTOR = "tokenbot"
ACTION_DISPUTE = "flag.dispute"
ACTION_RESOLVE = "flag.resolve"
# Flags the detectors may still change: nobody has decided them.
UNDECIDED = ("pending", "disputed")


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
    artifacts: dict[int, int] = field(default_factory=dict)
    prompt_fingerprints: dict[int, dict[str, int]] = field(default_factory=dict)
    fingerprinted_calls: dict[int, int] = field(default_factory=dict)
    bursts: dict[int, dict[str, list[Burst]]] = field(default_factory=dict)
    spend: dict[int, int] = field(default_factory=dict)
    plans: dict[int, int] = field(default_factory=dict)
    people: set[int] = field(default_factory=set)
    # (person, detector) flagged and not cleared in one of the weeks just before this one.
    continuing: set[tuple[int, str]] = field(default_factory=set)


# --- the detectors (pure) ------------------------------------------------------------------


def _rounded(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def context_inflation(history: Sequence[ContextWeek], s: ContextInflation) -> dict[str, Any] | None:
    """`history`: the person's weeks (see `context_weeks`), oldest first, the judged one last."""
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
    }
    if now.ratio >= s.ratio:
        return {**evidence, "pattern": "level", "threshold": round(s.ratio, 2)}
    if now.ratio < s.rise_min_ratio:
        return None
    jump = _jump(history, s)
    if jump is not None:
        return {**evidence, "pattern": "jump", **jump}
    rise = _sustained_rise(history, s)
    if rise is not None:
        return {**evidence, "pattern": "rising", **rise}
    return None


def _jump(history: Sequence[ContextWeek], s: ContextInflation) -> dict[str, Any] | None:
    """Context `jump_ratio` times the person's own of the weeks before (the median of up to
    `rise_weeks` of them with `min_tasks` tasks), with acceptance no better than then."""
    now = history[-1]
    before = [w for w in history[-(s.rise_weeks + 1) : -1] if w.tasks >= s.min_tasks]
    if not before:
        return None
    reference = statistics.median(w.ratio for w in before)
    accepted = sum(w.accepted for w in before)
    artifacts = sum(w.artifacts for w in before)
    acceptance_before = accepted / artifacts if artifacts else 0.0
    if reference <= 0 or now.ratio < s.jump_ratio * reference:
        return None
    if (now.acceptance or 0.0) > acceptance_before + s.acceptance_margin:
        return None
    return {
        "weeks": len(before),
        "from_week": before[0].week,
        "ratio_before": round(reference, 2),
        "jump": round(now.ratio / reference, 2),
        "acceptance_before": round(acceptance_before, 2),
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
    total = values[-1] / values[0] - 1
    first, last = recent[0].acceptance or 0.0, recent[-1].acceptance or 0.0
    if total < s.rise_total or last > first + s.acceptance_margin:
        return None
    return {
        "weeks": s.rise_weeks,
        "from_week": recent[0].week,
        "ratio_before": round(values[0], 2),
        "rise": round(total, 2),
        "acceptance_before": round(first, 2),
    }


def chat_loops(
    conversations: Sequence[Conversation], week_tokens: int, s: ChatLoops
) -> dict[str, Any] | None:
    """`conversations`: the long ones that ended in the week; `week_tokens`: all spent."""
    loops = [
        c
        for c in conversations
        if c.turns >= s.min_turns and c.tokens >= s.min_tokens and not c.accepted
    ]
    loop_tokens = sum(c.tokens for c in loops)
    share = loop_tokens / week_tokens if week_tokens else 1.0
    if len(loops) < s.min_loops or share < s.min_share:
        return None
    return {
        "loops": len(loops),
        "long_conversations": sum(1 for c in conversations if c.turns >= s.min_turns),
        "median_turns": round(statistics.median(c.turns for c in loops)),
        "loop_tokens": loop_tokens,
        "share": round(min(share, 1.0), 2),
        "min_turns": s.min_turns,
        "min_loops": s.min_loops,
    }


def near_duplicate_groups(counts: dict[str, int], max_distance: int) -> list[int]:
    """Sizes (counting repeats) of the groups of fingerprints at most `max_distance` bits apart
    (single linkage), largest first. Small sets compare every pair; larger ones only the
    candidate pairs banding finds (cheaper from about twice as many as there are bands)."""
    keys = list(counts)
    values = [int(k, 16) for k in keys]
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if len(values) <= 2 * (max_distance + 1):
        pairs: Iterable[tuple[int, int]] = (
            (a, b) for a in range(len(values)) for b in range(a + 1, len(values))
        )
    else:
        pairs = candidate_pairs(values, max_distance)
    for a, b in pairs:
        if (values[a] ^ values[b]).bit_count() <= max_distance and root(a) != root(b):
            parent[root(a)] = root(b)
    sizes: dict[int, int] = defaultdict(int)
    for i, key in enumerate(keys):
        sizes[root(i)] += counts[key]
    return sorted(sizes.values(), reverse=True)


def candidate_pairs(values: list[int], max_distance: int) -> Iterable[tuple[int, int]]:
    """Candidate pairs: split the 64 bits into more than max_distance bands; two fingerprints
    at most max_distance bits apart agree exactly on at least one band (pigeonhole)."""
    # Bands of `width` bits: at least max_distance + 1 of them, whatever the rounding.
    width = max(FINGERPRINT_BITS // (max_distance + 1), 1)
    for shift in range(0, FINGERPRINT_BITS, width):
        mask = (1 << min(width, FINGERPRINT_BITS - shift)) - 1
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, v in enumerate(values):
            buckets[(v >> shift) & mask].append(i)
        for members in buckets.values():
            for position, a in enumerate(members):
                for b in members[position + 1 :]:
                    yield a, b


def output_spam(counts: dict[str, int], artifacts: int, s: OutputSpam) -> dict[str, Any] | None:
    """`counts`: the week's artifacts per content fingerprint; `artifacts`: all of them."""
    groups = near_duplicate_groups(counts, s.max_distance)
    duplicates = sum(size - 1 for size in groups if size > 1)
    if not artifacts or duplicates < s.min_duplicates or duplicates / artifacts < s.min_share:
        return None
    return {
        "artifacts": artifacts,
        "duplicates": duplicates,
        "share": round(duplicates / artifacts, 2),
        "largest_group": groups[0],
        "max_distance": s.max_distance,
        "min_share": s.min_share,
    }


def prompt_spam(counts: dict[str, int], calls: int, s: PromptSpam) -> dict[str, Any] | None:
    """`counts`: the week's calls per prompt fingerprint; `calls`: all fingerprinted calls."""
    groups = near_duplicate_groups(counts, s.max_distance)
    repeats = groups[0] if groups else 0
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
    bursts: Sequence[Burst], baseline: UseCaseBaseline | None, s: TaskSplitting
) -> dict[str, Any] | None:
    """`bursts`: the week's runs of >= min_burst artifacts of one use case. A burst is split
    work when it has at least `min_split` results for each normal task's worth of the tokens
    it took (a normal task: the use case's median)."""
    if not bursts or baseline is None or baseline.tokens_per_task <= 0:
        return None
    normal = baseline.tokens_per_task
    split = [b for b in bursts if b.artifacts * normal >= s.min_split * max(b.tokens, 1)]
    if len(split) < s.min_bursts:
        return None
    tokens = statistics.median(b.tokens for b in split)
    return {
        "use_case": baseline.use_case,
        "bursts": len(split),
        "tasks_in_bursts": sum(b.artifacts for b in split),
        "median_burst": round(statistics.median(b.artifacts for b in split)),
        "tokens_per_burst": round(tokens),
        "baseline_tokens_per_task": round(normal),
        "burst_cost_in_tasks": round(tokens / normal, 2),
        "results_per_task": round(
            statistics.median(b.artifacts * normal / max(b.tokens, 1) for b in split), 1
        ),
        "min_split": s.min_split,
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
        return chat_loops(data.conversations.get(pid, []), data.spend.get(pid, 0), s)

    def copies(s: OutputSpam) -> dict[str, Any] | None:
        return output_spam(data.artifact_fingerprints.get(pid, {}), data.artifacts.get(pid, 0), s)

    def repeats(s: PromptSpam) -> dict[str, Any] | None:
        return prompt_spam(
            data.prompt_fingerprints.get(pid, {}), data.fingerprinted_calls.get(pid, 0), s
        )

    def splitting(s: TaskSplitting) -> dict[str, Any] | None:
        return _strongest(
            (
                task_splitting(bursts, data.baselines.get(uc), s)
                for uc, bursts in data.bursts.get(pid, {}).items()
            ),
            "tasks_in_bursts",
        )

    return {
        "context_inflation": inflation,
        "chat_loops": loops,
        "output_spam": copies,
        "prompt_spam": repeats,
        "task_splitting": splitting,
    }


def judge(data: WeekData, settings: GovernanceSettings) -> list[Finding]:
    """Every finding for the week in `data`, person by person, detector by detector. A
    pattern flagged in the weeks before (`data.continuing`) is judged again with eased
    thresholds when the usual ones do not catch it; its evidence then says so."""
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
        for detector, check in checks.items():
            thresholds = getattr(settings, detector)
            evidence = check(thresholds)
            if evidence is None and (pid, detector) in data.continuing:
                evidence = check(thresholds.relaxed(factor))
                if evidence is not None:
                    evidence = {**evidence, "continuing": True, "eased_to": factor}
            found(pid, detector, evidence)
        used, planned = data.spend.get(pid, 0), data.plans.get(pid, 0)
        found(pid, "overspend", overspend(used, planned, settings.overspend.over_plan), False)
        found(pid, "underuse", underuse(used, planned, settings.underuse.max_used), False)
    return findings


def _strongest(candidates: Iterable[dict[str, Any] | None], key: str) -> dict[str, Any] | None:
    present = [c for c in candidates if c is not None]
    return max(present, key=lambda c: c.get(key) or 0) if present else None


# --- the SQL aggregates --------------------------------------------------------------------


def _epoch_seconds(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return sql_cast(func.extract("epoch", column), Float)


def _task_sizes(session: Session, week: Window) -> dict[tuple[int, str], list[tuple[float, int]]]:
    """(person, use case) -> (input tokens per request, budget tokens) of each task
    (conversation) whose calls fell in the week."""
    usage = UsageEvent.__table__
    use_case = func.coalesce(usage.c.use_case, "")
    task = func.coalesce(usage.c.conversation_id, usage.c.id)
    sizes: dict[tuple[int, str], list[tuple[float, int]]] = defaultdict(list)
    for pid, uc, inputs, tokens, calls in session.execute(
        select(
            usage.c.person_id,
            use_case,
            func.sum(usage.c.input_tokens),
            func.sum(usage.c.budget_tokens),
            func.count(),
        )
        .where(
            usage.c.occurred_at >= week.start,
            usage.c.occurred_at < week.end,
            usage.c.person_id.is_not(None),
        )
        .group_by(usage.c.person_id, use_case, task)
    ):
        sizes[(pid, uc)].append((int(inputs or 0) / calls, int(tokens or 0)))
    return sizes


def _history(
    session: Session, weeks: Sequence[Window], now: datetime
) -> dict[int, dict[str, list[UseCaseWeek]]]:
    """Person -> use case -> their weeks among `weeks` (oldest first). Closed weeks are read
    from (and if need be stored as) scoring rollups."""
    totals: dict[tuple[Any, ...], Totals] = grouped_totals(
        session, window_sums(session, weeks, now, store=True), ("window", "person_id", "use_case")
    )
    history: dict[int, dict[str, list[UseCaseWeek]]] = defaultdict(lambda: defaultdict(list))
    for window in weeks:
        sizes = _task_sizes(session, window)
        keys = {(pid, uc) for (w, pid, uc) in totals if w == window.key} | set(sizes)
        for pid, uc in sorted(keys, key=lambda k: (k[0] or 0, k[1] or "")):
            if pid is None or not uc:
                continue
            t = totals.get((window.key, pid, uc), Totals())
            tasks = sizes.get((pid, uc), [])
            history[pid][uc].append(
                UseCaseWeek(
                    week=window.key,
                    use_case=uc,
                    tasks=len(tasks),
                    median_input=statistics.median(i for i, _ in tasks) if tasks else 0.0,
                    median_tokens=statistics.median(b for _, b in tasks) if tasks else 0.0,
                    tokens=t.tokens,
                    artifacts=t.artifacts,
                    accepted=t.accepted,
                    task_inputs=tuple(i for i, _ in tasks),
                )
            )
    return history


def baselines_from(
    history: dict[int, dict[str, list[UseCaseWeek]]],
    weeks: set[str],
    min_tasks: int,
    min_people: int,
) -> dict[str, UseCaseBaseline]:
    """Per use case, the median over person-weeks in `weeks` with `min_tasks` tasks."""
    inputs: dict[str, list[float]] = defaultdict(list)
    tokens: dict[str, list[float]] = defaultdict(list)
    for by_use_case in history.values():
        for uc, rows in by_use_case.items():
            for row in rows:
                if row.week in weeks and row.tasks >= min_tasks:
                    inputs[uc].append(row.median_input)
                    tokens[uc].append(row.median_tokens)
    return {
        uc: UseCaseBaseline(
            uc, len(values), statistics.median(values), statistics.median(tokens[uc])
        )
        for uc, values in inputs.items()
        if len(values) >= min_people
    }


def _conversations(
    session: Session, week: Window, now: datetime, s: ChatLoops
) -> dict[int, list[Conversation]]:
    """Long conversations whose last turn fell in the week, settled for `settle_hours` (turns
    count from a week before it). Accepted when an accepted or revised outcome names the
    conversation, or names a call of it first in its usage ids (as scoring links outcomes)."""
    usage = UsageEvent.__table__
    outcomes = Outcome.__table__
    first_usage = UsageEvent.__table__.alias("first_usage")
    since = week.start - timedelta(days=7)
    last_turn = func.max(usage.c.occurred_at)
    settled_before = min(week.end, now - timedelta(hours=s.settle_hours))
    long_ones = (
        select(
            usage.c.person_id,
            usage.c.conversation_id,
            func.count().label("turns"),
            func.sum(usage.c.budget_tokens).label("tokens"),
        )
        .where(
            usage.c.occurred_at >= since,
            usage.c.occurred_at < week.end,
            usage.c.conversation_id.is_not(None),
            usage.c.person_id.is_not(None),
        )
        .group_by(usage.c.person_id, usage.c.conversation_id)
        .having(last_turn >= week.start, last_turn < settled_before, func.count() >= s.min_turns)
        .subquery("long_conversations")
    )
    recent_acceptances = and_(
        outcomes.c.status.in_(ACCEPTED_STATUSES), outcomes.c.occurred_at >= since
    )
    accepted = (
        select(outcomes.c.conversation_id)
        .where(recent_acceptances, outcomes.c.conversation_id.is_not(None))
        .union(
            select(first_usage.c.conversation_id)
            .select_from(
                outcomes.join(first_usage, first_usage.c.id == outcomes.c.usage_ids[0].as_string())
            )
            .where(recent_acceptances, first_usage.c.conversation_id.is_not(None))
        )
    )
    found: dict[int, list[Conversation]] = defaultdict(list)
    for pid, turns, tokens, was_accepted in session.execute(
        select(
            long_ones.c.person_id,
            long_ones.c.turns,
            long_ones.c.tokens,
            case((long_ones.c.conversation_id.in_(accepted), True), else_=False),
        )
    ):
        found[pid].append(Conversation(int(turns), int(tokens or 0), bool(was_accepted)))
    return found


def _fingerprints(
    session: Session, table: Any, column: str, week: Window
) -> tuple[dict[int, dict[str, int]], dict[int, int]]:
    """Person -> fingerprint -> rows in the week, and person -> rows with a fingerprint."""
    fingerprint = table.c[column]
    per_person: dict[int, dict[str, int]] = defaultdict(dict)
    totals: dict[int, int] = defaultdict(int)
    for pid, value, count in session.execute(
        select(table.c.person_id, fingerprint, func.count())
        .where(
            table.c.occurred_at >= week.start,
            table.c.occurred_at < week.end,
            table.c.person_id.is_not(None),
            fingerprint.is_not(None),
        )
        .group_by(table.c.person_id, fingerprint)
    ):
        per_person[pid][value.lower()[:16]] = per_person[pid].get(value.lower()[:16], 0) + count
        totals[pid] += count
    return per_person, totals


def _artifact_counts(session: Session, week: Window) -> dict[int, int]:
    o = Outcome.__table__
    return {
        pid: int(n)
        for pid, n in session.execute(
            select(o.c.person_id, func.count())
            .where(
                o.c.occurred_at >= week.start,
                o.c.occurred_at < week.end,
                o.c.person_id.is_not(None),
            )
            .group_by(o.c.person_id)
        )
    }


def _bursts(session: Session, week: Window, s: TaskSplitting) -> dict[int, dict[str, list[Burst]]]:
    """Person -> use case -> the week's runs of >= min_burst artifacts whose gaps are under
    `gap_minutes` (window functions: LAG for the gap, a running sum numbers the runs), with the
    tokens of that use case spent from `gap_minutes` before the run's first artifact to its last."""
    o = Outcome.__table__
    gap_seconds = s.gap_minutes * 60
    use_case = func.coalesce(o.c.use_case, "").label("use_case")
    timed = (
        select(o.c.person_id, use_case, _epoch_seconds(session, o.c.occurred_at).label("t"))
        .where(
            o.c.occurred_at >= week.start, o.c.occurred_at < week.end, o.c.person_id.is_not(None)
        )
        .subquery("timed")
    )
    lane = (timed.c.person_id, timed.c.use_case)
    gap = timed.c.t - func.lag(timed.c.t).over(partition_by=lane, order_by=timed.c.t)
    starts = case((or_(gap.is_(None), gap >= gap_seconds), 1), else_=0)
    marked = select(*lane, timed.c.t, starts.label("starts")).subquery("marked")
    run = func.sum(marked.c.starts).over(
        partition_by=(marked.c.person_id, marked.c.use_case), order_by=marked.c.t
    )
    numbered = select(marked.c.person_id, marked.c.use_case, marked.c.t, run.label("run")).subquery(
        "numbered"
    )
    runs = (
        select(
            numbered.c.person_id,
            numbered.c.use_case,
            numbered.c.run,
            func.count().label("size"),
            func.min(numbered.c.t).label("first"),
            func.max(numbered.c.t).label("last"),
        )
        .group_by(numbered.c.person_id, numbered.c.use_case, numbered.c.run)
        .having(func.count() >= s.min_burst)
        .subquery("runs")
    )
    u = UsageEvent.__table__
    called = _epoch_seconds(session, u.c.occurred_at)
    spent = and_(
        u.c.person_id == runs.c.person_id,
        func.coalesce(u.c.use_case, "") == runs.c.use_case,
        u.c.occurred_at >= week.start - timedelta(seconds=gap_seconds),
        u.c.occurred_at < week.end,
        called >= runs.c.first - gap_seconds,
        called <= runs.c.last,
    )
    found: dict[int, dict[str, list[Burst]]] = defaultdict(lambda: defaultdict(list))
    for pid, uc, size, tokens in session.execute(
        select(
            runs.c.person_id,
            runs.c.use_case,
            runs.c.size,
            func.coalesce(func.sum(u.c.budget_tokens), 0),
        )
        .select_from(runs.outerjoin(u, spent))
        .group_by(runs.c.person_id, runs.c.use_case, runs.c.run, runs.c.size)
    ):
        if uc:
            found[pid][uc].append(Burst(int(size), int(tokens)))
    return found


def _spend(session: Session, week: Window) -> dict[int, int]:
    u = UsageEvent.__table__
    return {
        pid: int(total or 0)
        for pid, total in session.execute(
            select(u.c.person_id, func.sum(u.c.budget_tokens))
            .where(
                u.c.occurred_at >= week.start,
                u.c.occurred_at < week.end,
                u.c.person_id.is_not(None),
            )
            .group_by(u.c.person_id)
        )
    }


def week_data(
    session: Session, policy: Policy, week: Window, now: datetime, settings: GovernanceSettings
) -> WeekData:
    """Read every aggregate the detectors need for `week` (a handful of grouped queries)."""
    zone = policy.periods.zone
    span = max(settings.baseline_weeks, settings.context_inflation.rise_weeks + 1)
    weeks = [week]
    while len(weeks) < span:
        weeks.insert(0, previous_week(zone, weeks[0]))
    history = _history(session, weeks, now)
    baseline_weeks = {w.key for w in weeks[-settings.baseline_weeks :]}
    artifact_fps, _ = _fingerprints(session, Outcome.__table__, "content_fingerprint", week)
    prompt_fps, calls = _fingerprints(session, UsageEvent.__table__, "prompt_fingerprint", week)
    spend = _spend(session, week)
    plans = planned_tokens(session, policy, week)
    return WeekData(
        week=week,
        history=history,
        baselines=baselines_from(
            history,
            baseline_weeks,
            settings.context_inflation.min_tasks,
            settings.min_baseline_people,
        ),
        conversations=_conversations(session, week, now, settings.chat_loops),
        artifact_fingerprints=artifact_fps,
        artifacts=_artifact_counts(session, week),
        prompt_fingerprints=prompt_fps,
        fingerprinted_calls=calls,
        bursts=_bursts(session, week, settings.task_splitting),
        spend=spend,
        plans=plans,
        people=set(plans),  # every active person: a plan is what underuse is judged by
        continuing=_continuing(session, policy, week, settings.continuing_weeks),
    )


def _continuing(session: Session, policy: Policy, week: Window, weeks: int) -> set[tuple[int, str]]:
    if weeks <= 0:
        return set()
    before = [previous_week(policy.periods.zone, week)]
    while len(before) < weeks:
        before.append(previous_week(policy.periods.zone, before[-1]))
    return {
        (pid, detector)
        for pid, detector in session.execute(
            select(Flag.person_id, Flag.detector).where(
                Flag.week.in_([w.key for w in before]), Flag.status.in_(OPEN_FLAG_STATUSES)
            )
        )
    }


def detect_week(session: Session, policy: Policy, week: Window, now: datetime) -> list[Finding]:
    """Every finding for `week` (flags to be, and reports). Writes nothing but the closed
    weeks' scoring rollups, as scoring does (the caller commits or not)."""
    settings = governance_settings(policy)
    return judge(week_data(session, policy, week, now, settings), settings)


# --- flags ---------------------------------------------------------------------------------


@cache
def _templates() -> Environment:
    return build_template_env()


def explain(detector: str, evidence: dict[str, Any]) -> str:
    """The plain explanation stored with a flag (text/flag_explanation.txt.j2)."""
    template = _templates().get_template("text/flag_explanation.txt.j2")
    return template.render(detector=detector, evidence=evidence).strip()


def subject(flag_id: int) -> str:
    return f"flag:{flag_id}"


def flag_context(flag: Flag) -> dict[str, Any]:
    """A flag as message context: plain JSON values."""
    return {
        "id": flag.id,
        "week": flag.week,
        "detector": flag.detector,
        "status": flag.status,
        "evidence": dict(flag.evidence),
        "explanation": flag.explanation,
        "created_at": flag.created_at.isoformat(),
        "resolved_at": flag.resolved_at.isoformat() if flag.resolved_at else None,
    }


def dispute_button(flag: Flag) -> Button:
    return Button("Dispute", ACTION_DISPUTE, str(flag.id))


def flag_notice(flag: Flag) -> tuple[str, Notice]:
    """The private message that tells a person about a new flag, once (keyed by the flag)."""
    reply = Reply("flag_raised", {"flag": flag_context(flag)}, buttons=(dispute_button(flag),))
    return f"flag:{flag.id}:raised", Notice(flag.person_id, reply)


def write_flags(
    session: Session, week: str, findings: Sequence[Finding], now: datetime
) -> list[Flag]:
    """Store the week's misconduct findings as flags, idempotently: new ones are inserted
    (ON CONFLICT on person, week and detector does nothing), undecided ones get the latest
    evidence, and undecided ones no finding supports any more are cleared (audited). Returns
    the week's open flags from detectors, oldest first."""
    flags = Flag.__table__
    found = {(f.person_id, f.detector): f for f in findings if f.misconduct and f.week == week}
    if found:
        rows = [
            {
                "person_id": f.person_id,
                "week": week,
                "detector": f.detector,
                "status": "pending",
                "evidence": f.evidence,
                "explanation": explain(f.detector, f.evidence),
                "created_at": now,
            }
            for f in found.values()
        ]
        stmt = upsert_insert(session, flags).on_conflict_do_nothing(
            index_elements=["person_id", "week", "detector"]
        )
        session.execute(stmt, rows)
    existing = session.scalars(
        select(Flag)
        .where(Flag.week == week, Flag.detector.in_(MISCONDUCT))
        .order_by(Flag.id)
        .execution_options(populate_existing=True)
    ).all()
    open_flags = []
    for flag in existing:
        finding = found.get((flag.person_id, flag.detector))
        if flag.status in UNDECIDED and finding is None:
            changed = session.execute(
                update(flags)
                .where(flags.c.id == flag.id, flags.c.status.in_(UNDECIDED))
                .values(status="cleared", resolved_at=now, resolved_by_id=None)
            )
            cleared = cast(CursorResult[Any], changed).rowcount
            if cleared:
                audit.record(
                    session,
                    now,
                    SYSTEM_ACTOR,
                    "flag.auto_cleared",
                    subject(flag.id),
                    {"week": week, "detector": flag.detector, "was": flag.status},
                )
            continue
        if flag.status in UNDECIDED and finding is not None and flag.evidence != finding.evidence:
            session.execute(
                update(flags)
                .where(flags.c.id == flag.id, flags.c.status.in_(UNDECIDED))
                .values(
                    evidence=finding.evidence,
                    explanation=explain(flag.detector, finding.evidence),
                )
            )
        if flag.status != "cleared":
            open_flags.append(flag)
    session.flush()
    for flag in open_flags:
        session.refresh(flag)
    return open_flags


def run_detectors(
    session: Session, policy: Policy, week_start: date, now: datetime
) -> list[tuple[str, Notice]]:
    """Judge the week holding `week_start`, write its flags (the caller commits) and return
    what was found as keyed private notices: one per open flag, sent to the person flagged
    once (the outbox keeps the key). Re-running it changes nothing that was already right."""
    week = week_starting(policy.periods.zone, week_start)
    findings = detect_week(session, policy, week, now)
    active = set(session.scalars(select(Person.id).where(Person.active)))
    flags = write_flags(session, week.key, [f for f in findings if f.person_id in active], now)
    return [flag_notice(flag) for flag in flags if flag.status in UNDECIDED]
