"""Scoring benchmark: a week's scores and spotlight for a large org, on SQLite.

    python -m benchmarks.scoring [--people N] [--events N] [--outcome-share S] [--weeks W]
                                 [--keep PATH]

Generates the synthetic org of benchmarks/org.py (the one every benchmark shares): N people in
N/100 teams and E usage events spread over W weeks ending with the week scored (2026-W46), plus
outcomes for a share of the events, a few templates and flags, straight into the tables with
`INSERT ... SELECT` (5 million events in a few minutes).

Then it times, on the app's own engine and settings (WAL, the migrations' indexes):
- cold: `weekly_spotlight` with no rollups stored: it builds the rollups of the scored week and
  of the 8 baseline weeks from the events, scores everyone, ranks every category org-wide and
  per team, and returns the posts (one org-wide, one per team channel), which are rendered too;
- weekly: the steady state of the Monday job, where the baseline weeks' rollups were stored by
  the previous runs and only the week that just ended is summed from the events;
- the read path of the chat commands: `leaderboard` (everyone's scores, rollups current) and
  `score` for one person.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from benchmarks.org import OrgSize, build
from bot.bootstrap import Settings, bootstrap
from budgets.policy import Channels, load_policy
from scoring.categories import recognise
from scoring.score import best_improvement, build_scoreboard
from scoring.spotlight import weekly_spotlight
from scoring.windows import week_by_key
from storage.database import upgrade_schema
from storage.models import Outcome, ScoringRollup, ScoringWeek, UsageEvent

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
SCORED_WEEK = "2026-W46"


def timed(label: str, results: list[tuple[str, float, float]], call: Callable[[], Any]) -> Any:
    """Run `call`, noting wall-clock and CPU seconds (CPU: this process alone, so what other
    work on the machine costs it shows as the difference)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    results.append((label, time.perf_counter() - wall, time.process_time() - cpu))
    return value


def forget_rollups(services: Any, week_keys: list[str]) -> None:
    """Drop stored rollups: of these weeks, or of every week when none is named."""
    with services.db.unit_of_work() as uow:
        weeks = delete(ScoringWeek)
        rollups = delete(ScoringRollup)
        if week_keys:
            weeks = weeks.where(ScoringWeek.week.in_(week_keys))
            rollups = rollups.where(ScoringRollup.week.in_(week_keys))
        uow.session.execute(weeks)
        uow.session.execute(rollups)
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
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="tokenbot-scoring-"))
    path = args.reuse or args.keep or directory / "scoring.db"
    url = f"sqlite:///{path}"
    generated = 0.0
    if args.reuse is None:
        upgrade_schema(url)
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
    else:
        forget_rollups(bootstrap(Settings(database_url=url)), [])

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

    results: list[tuple[str, float, float]] = []
    load = os.getloadavg()

    def spotlight() -> list[Any]:
        with services.db.unit_of_work() as uow:
            notices = weekly_spotlight(uow.session, policy, week.start.date(), NOW)
            uow.commit()
        for _key, notice in notices:  # what the delivery would render
            services.renderer.text(notice.reply)
            json.loads(services.renderer.channel("slack", notice.reply))
        return notices

    notices = timed(
        "cold: weekly_spotlight, no rollups stored (builds 9 weeks)", results, spotlight
    )
    forget_rollups(services, [SCORED_WEEK])
    timed("weekly: weekly_spotlight, the week that ended is new", results, spotlight)
    timed("again: weekly_spotlight, everything stored", results, spotlight)

    def leaderboard() -> Any:
        with services.db.read() as session:
            board = build_scoreboard(session, policy, week, NOW)
        return board, recognise(board)

    board, _results = timed(
        "read: leaderboard (everyone's scores, categories)", results, leaderboard
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

    timed("read: score for one person", results, one_score)

    print(f"database: {path}")
    made = f"in {generated:.1f} s" if args.reuse is None else "(reused)"
    print(
        f"{args.people:,} people, {usage:,} usage events over {args.weeks} weeks "
        f"({in_week:,} in {SCORED_WEEK}), {outcomes:,} outcomes, generated {made}"
    )
    print(
        f"scored {len(board.scores):,} people; {len(notices)} spotlight posts "
        f"({sum(len(r.recognised) for r in _results)} recognitions org-wide)"
    )
    print()
    print(
        f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs"
    )
    print()
    print("| step | wall s | CPU s |")
    print("| --- | ---: | ---: |")
    for label, wall, cpu in results:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
    services.close()


if __name__ == "__main__":
    main()
