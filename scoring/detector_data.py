"""The SQL aggregates the gaming detectors (`scoring.detectors`) judge: per person (and use
case, conversation, fingerprint or burst) for one ISO week, a handful of grouped queries.
`detect_week` reads them and returns the week's findings; it writes nothing but the closed
weeks' scoring rollups, as scoring does."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from budgets.policy import Policy
from budgets.windows import Window, previous_week
from scoring.detectors import (
    Burst,
    Conversation,
    Finding,
    UseCaseBaseline,
    UseCaseWeek,
    WeekData,
    judge,
)
from scoring.governance import (
    ChatLoops,
    GovernanceSettings,
    TaskSplitting,
    governance_settings,
)
from scoring.metrics import ACCEPTED_STATUSES, Totals, grouped_totals
from scoring.plans import OPEN_FLAG_STATUSES, planned_tokens
from scoring.rollups import window_sums
from storage.models import Flag, Outcome, UsageEvent

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
    ).all():  # all at once: hundreds of thousands of rows, fetched faster than one by one
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
    session: Session, table: Any, column: str, week: Window, per_task: bool = False
) -> tuple[dict[int, dict[str, int]], dict[int, int]]:
    """Person -> fingerprint -> rows in the week (`per_task`: the separate conversations that
    sent it, a row outside one counting as its own), and person -> rows with a fingerprint."""
    fingerprint = table.c[column]
    if per_task:
        counted = func.count(func.distinct(func.coalesce(table.c.conversation_id, table.c.id)))
    else:
        counted = func.count()
    per_person: dict[int, dict[str, int]] = defaultdict(dict)
    totals: dict[int, int] = defaultdict(int)
    for pid, value, count, rows in session.execute(
        select(table.c.person_id, fingerprint, counted, func.count())
        .where(
            table.c.occurred_at >= week.start,
            table.c.occurred_at < week.end,
            table.c.person_id.is_not(None),
            fingerprint.is_not(None),
        )
        .group_by(table.c.person_id, fingerprint)
    ).all():
        key = value.lower()[:16]
        per_person[pid][key] = per_person[pid].get(key, 0) + count
        totals[pid] += rows
    return per_person, totals


def artifact_fingerprints(
    session: Session, week: Window
) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, list[tuple[str, int]]]]]:
    """Person -> content fingerprint -> artifacts in the week, and each one's use case and the
    budget tokens of the task that made it: its conversation's calls when it names one, else
    the call it names first (as scoring links outcomes); 0 when neither."""
    o = Outcome.__table__
    u = UsageEvent.__table__
    turns = UsageEvent.__table__.alias("turns")
    named = u.c.id == o.c.usage_ids[0].as_string()
    conversation = (
        select(func.sum(turns.c.budget_tokens))
        .where(turns.c.conversation_id == o.c.conversation_id)  # by ix_usage_conversation
        .scalar_subquery()
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    costs: dict[int, dict[str, list[tuple[str, int]]]] = defaultdict(lambda: defaultdict(list))
    for pid, value, use_case, tokens in session.execute(
        select(
            o.c.person_id,
            o.c.content_fingerprint,
            func.coalesce(o.c.use_case, ""),
            func.coalesce(conversation, u.c.budget_tokens, 0),
        )
        .select_from(o.outerjoin(u, named))
        .where(
            o.c.occurred_at >= week.start,
            o.c.occurred_at < week.end,
            o.c.person_id.is_not(None),
            o.c.content_fingerprint.is_not(None),
        )
    ).all():
        key = value.lower()[:16]
        counts[pid][key] = counts[pid].get(key, 0) + 1
        costs[pid][key].append((use_case, int(tokens)))
    return counts, costs


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


def week_counts(
    session: Session, week: Window, now: datetime, settings: GovernanceSettings
) -> WeekData:
    """The counts the count detectors judge for one week: long conversations, fingerprints,
    bursts and spend (a handful of grouped queries)."""
    artifact_fps, artifact_costs = artifact_fingerprints(session, week)
    prompt_fps, calls = _fingerprints(
        session, UsageEvent.__table__, "prompt_fingerprint", week, per_task=True
    )
    return WeekData(
        week=week,
        conversations=_conversations(session, week, now, settings.chat_loops),
        artifact_fingerprints=artifact_fps,
        artifact_costs=artifact_costs,
        artifacts=_artifact_counts(session, week),
        prompt_fingerprints=prompt_fps,
        fingerprinted_calls=calls,
        bursts=_bursts(session, week, settings.task_splitting),
        spend=_spend(session, week),
    )


def week_data(
    session: Session, policy: Policy, week: Window, now: datetime, settings: GovernanceSettings
) -> WeekData:
    """Read every aggregate the detectors need for `week` (a handful of grouped queries), and
    the counts of the `evidence_weeks - 1` weeks before it."""
    zone = policy.periods.zone
    inflation = settings.context_inflation
    span = max(settings.baseline_weeks, inflation.rise_weeks + 1, inflation.evidence_weeks)
    weeks = [week]
    while len(weeks) < span:
        weeks.insert(0, previous_week(zone, weeks[0]))
    history = _history(session, weeks, now)
    baseline_weeks = {w.key for w in weeks[-settings.baseline_weeks :]}
    earlier: list[WeekData] = []
    before = week
    for _ in range(settings.evidence_weeks - 1):
        before = previous_week(zone, before)
        earlier.append(week_counts(session, before, now, settings))
    data = week_counts(session, week, now, settings)
    data.history = history
    data.baselines = baselines_from(
        history, baseline_weeks, inflation.min_tasks, settings.min_baseline_people
    )
    data.plans = planned_tokens(session, policy, week)
    data.people = set(data.plans)  # every active person: a plan is what underuse is judged by
    data.continuing = _continuing(session, policy, week, settings.continuing_weeks)
    data.earlier = earlier
    for counts in (data, *earlier):
        counts.tasks = {
            pid: sum(
                row.tasks
                for rows in by_use_case.values()
                for row in rows
                if row.week == counts.week.key
            )
            for pid, by_use_case in history.items()
        }
    return data


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
