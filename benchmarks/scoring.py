"""Scoring benchmark: a week's scores and spotlight for a large org, on SQLite.

    python -m benchmarks.scoring [--people N] [--events N] [--outcome-share S] [--weeks W]
                                 [--keep PATH | --reuse PATH] [--repeat R]

Generates the synthetic org of benchmarks/org.py (the one every benchmark shares): N people in
N/100 teams and E usage events spread over W weeks ending with the week scored (2026-W46), plus
outcomes for a share of the events, a few templates and flags, straight into the tables with
`INSERT ... SELECT` (5 million events in a few minutes). `--keep` keeps the file; `--reuse`
times one made earlier (its stored rollups are dropped first, so the cold run is cold).

Then it times, on the app's own engine and settings (WAL, the migrations' indexes), beside a
baseline measured in the same run (one GROUP BY over the scored week's events):
- cold: the Monday spotlight job (`bot.jobs.run_spotlight`) with no rollups stored: it builds
  the rollups and summaries of the scored week and of the 8 baseline weeks from the events,
  scores everyone, ranks every category org-wide and per team, and queues the posts (one
  org-wide, one per team channel with someone recognised);
- weekly: the steady state of the Monday job, where the baseline weeks were stored by the
  previous runs and only the week that just ended is summed from the events (`--repeat` times);
- again: the job once everything is stored (a rerun queues nothing);
- rendering the posts the way delivery does (text and Slack blocks);
- the read paths of the chat commands: `leaderboard` (everyone's scores and the categories),
  the best improvement for everyone, and `score` (also the App Home) for one person.
CPU time (this process) is shown beside wall time: on a shared machine the difference is the
wait for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text

from benchmarks.org import OrgSize, build
from bot.bootstrap import Settings, bootstrap
from bot.jobs import run_spotlight
from bot.outbox import to_notice
from budgets.policy import Channels, load_policy
from budgets.windows import week_by_key
from scoring.categories import recognise
from scoring.score import best_improvement, build_scoreboard
from storage.database import upgrade_schema
from storage.models import (
    OutboxMessage,
    Outcome,
    ScoringRollup,
    ScoringSpendRollup,
    ScoringTemplateWeek,
    ScoringWeek,
    ScoringWeekValues,
    UsageEvent,
)

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
SCORED_WEEK = "2026-W46"


Samples = tuple[str, list[float], list[float]]  # label, wall seconds, CPU seconds


def timed(
    label: str,
    results: list[Samples],
    call: Callable[[], Any],
    repeat: int = 1,
    before: Callable[[], Any] | None = None,
) -> Any:
    """Run `call` `repeat` times (after `before`, untimed, each time), noting wall-clock and CPU
    seconds (CPU: this process alone, so what other work on the machine costs it shows as the
    difference); returns the last call's value."""
    walls, cpus = [], []
    value = None
    for _ in range(repeat):
        if before is not None:
            before()
        wall, cpu = time.perf_counter(), time.process_time()
        value = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    results.append((label, walls, cpus))
    return value


def _figure(samples: list[float]) -> str:
    """One sample as it is; several as their median and (the least) minimum."""
    if len(samples) == 1:
        return f"{samples[0]:.2f}"
    return f"{statistics.median(samples):.2f} (min {min(samples):.2f})"


def forget_rollups(services: Any, week_keys: list[str]) -> None:
    """Drop stored rollups and their summaries: of these weeks, or of every week when none is
    named."""
    with services.db.unit_of_work() as uow:
        for model in (
            ScoringWeek,
            ScoringRollup,
            ScoringSpendRollup,
            ScoringWeekValues,
            ScoringTemplateWeek,
        ):
            statement = delete(model)
            if week_keys:
                statement = statement.where(model.week.in_(week_keys))
            uow.session.execute(statement)
        uow.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--outcome-share", type=float, default=0.3)
    parser.add_argument("--weeks", type=int, default=13, help="weeks of history, >= 9")
    parser.add_argument("--keep", type=Path, help="keep the database at this path")
    parser.add_argument(
        "--reuse", type=Path, help="time an existing database made with --keep (no generating)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the weekly job and of each read"
    )
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="tokenbot-scoring-"))
    path = args.reuse or args.keep or directory / "scoring.db"
    url = f"sqlite:///{path}"
    generated = 0.0
    upgrade_schema(url)
    if args.reuse is None:
        started = time.perf_counter()
        size = OrgSize(
            people=args.people,
            teams=max(args.people // 100, 1),
            events=args.events,
            weeks=args.weeks,
            outcome_share=args.outcome_share,
        )
        build(url, size, week_by_key(UTC, SCORED_WEEK).end)
        generated = time.perf_counter() - started

    base = load_policy()
    policy = replace(
        base,
        channels=Channels(
            org_wide="#ai-wins",
            teams={f"Team {t:03d}": f"#team-{t:03d}" for t in range(max(args.people // 100, 1))},
        ),
    )
    services = bootstrap(Settings(database_url=url), clock=lambda: NOW, policy=policy)
    week = week_by_key(policy.periods.zone, SCORED_WEEK)
    with services.db.read() as session:
        usage = session.scalar(select(func.count()).select_from(UsageEvent))
        outcomes = session.scalar(select(func.count()).select_from(Outcome))
        in_week = session.scalar(
            select(func.count())
            .select_from(UsageEvent)
            .where(UsageEvent.occurred_at >= week.start, UsageEvent.occurred_at < week.end)
        )

    results: list[Samples] = []
    load = os.getloadavg()
    forget_rollups(services, [])

    def group_by() -> int:
        """The baseline: one GROUP BY over the scored week's events (as the suite's)."""
        with services.db.read() as session:
            return len(
                session.execute(
                    text(
                        "SELECT person_id, use_case, template_id, SUM(budget_tokens), COUNT(*) "
                        "FROM usage_events WHERE occurred_at >= :start AND occurred_at < :end "
                        "GROUP BY person_id, use_case, template_id"
                    ),
                    {"start": week.start, "end": week.end},
                ).all()
            )

    groups = timed("baseline: one GROUP BY over the week's events", results, group_by)

    def job() -> Any:
        return run_spotlight(services, [])

    first = timed("cold: spotlight job, nothing stored (builds 9 weeks)", results, job)
    timed(
        "weekly: spotlight job, the week that ended is new",
        results,
        job,
        args.repeat,
        before=lambda: forget_rollups(services, [SCORED_WEEK]),
    )
    timed("again: spotlight job, everything stored", results, job)

    def render() -> int:
        """The queued posts rendered as delivery renders them: text and Slack blocks."""
        with services.db.read() as session:
            rows = session.scalars(
                select(OutboxMessage).where(OutboxMessage.key.like(f"spotlight:{week.key}:%"))
            ).all()
            notices = [to_notice(row) for row in rows]
        for notice in notices:
            services.renderer.text(notice.reply)
            json.loads(services.renderer.channel("slack", notice.reply))
        return len(notices)

    posts = timed("render: the posts (text and Slack blocks)", results, render)

    def leaderboard() -> Any:
        with services.db.read() as session:
            board = build_scoreboard(session, policy, week, NOW)
        return board, recognise(board)

    board, _results = timed(
        "read: leaderboard (everyone's scores, categories)", results, leaderboard, args.repeat
    )
    timed(
        "read: best improvement for everyone",
        results,
        lambda: [best_improvement(s, board) for s in board.scores.values()],
    )
    someone = next(iter(board.scores))

    def one_score() -> Any:
        with services.db.read() as session:
            return build_scoreboard(session, policy, week, NOW, person_ids=[someone])

    timed("read: score (and App Home) for one person", results, one_score, args.repeat)

    print(f"database: {path}")
    made = f"in {generated:.1f} s" if args.reuse is None else "(reused)"
    print(
        f"{args.people:,} people, {usage:,} usage events over {args.weeks} weeks "
        f"({in_week:,} in {SCORED_WEEK}), {outcomes:,} outcomes, generated {made}"
    )
    print(
        f"scored {len(board.scores):,} people; {posts} spotlight posts "
        f"({sum(len(r.recognised) for r in _results)} recognitions org-wide); "
        f"{groups:,} groups in the baseline GROUP BY"
    )
    print(f"first job run: {first.summary}")
    print()
    print(
        f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs"
    )
    print()
    print("| step | wall s | CPU s |")
    print("| --- | ---: | ---: |")
    for label, walls, cpus in results:
        print(f"| {label} | {_figure(walls)} | {_figure(cpus)} |")
    services.close()


if __name__ == "__main__":
    main()
