"""Detectors benchmark: the daily gaming detectors job over one busy week, on SQLite.

    python -m benchmarks.detectors [--people N] [--events N] [--keep PATH | --reuse PATH]
                                   [--repeat R]

Generates the synthetic org of benchmarks/org.py (N people in N/100 teams) with all E usage
events in the week judged (2026-W46; the issue's goal: 10,000 people and a week of 5 million
events under a minute), outcomes for 30% of them, and prompt and content fingerprints on every
event and outcome (each person's distinct fingerprints are compared pairwise, in numpy). Then it
times `tokenbot jobs run detectors --week 2026-W46` (`bot.jobs.run_detectors_job`: every SQL
aggregate, every detector for everyone, the flags written and their messages queued) on the
app's own engine and settings, cold (no scoring rollups stored) and again (a rerun changes
nothing), beside a baseline measured in the same run: one GROUP BY over the week's events.
On a shared machine, build a smaller org with the same events per person (say 1,000 people
and 500,000 events) and scale: the work grows with the events and the people, not faster.
CPU time (this process) is shown beside wall time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from benchmarks.org import OrgSize, build
from benchmarks.scoring import Samples, _figure, forget_rollups, timed
from bot.bootstrap import Settings, bootstrap
from bot.jobs import run_detectors_job
from budgets.policy import load_policy
from budgets.windows import week_by_key
from storage.database import upgrade_schema
from storage.models import Flag, Outcome, UsageEvent

WEEK = "2026-W46"
NOW = week_by_key(UTC, WEEK).end + timedelta(hours=30)  # the week has settled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--keep", type=Path, help="keep the database at this path")
    parser.add_argument("--reuse", type=Path, help="time a database made with --keep")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the job, again")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="tokenbot-detectors-"))
    path = args.reuse or args.keep or directory / "detectors.db"
    url = f"sqlite:///{path}"
    generated = 0.0
    if args.reuse is None:
        upgrade_schema(url)
        started = time.perf_counter()
        size = OrgSize(
            people=args.people, teams=max(args.people // 100, 1), events=args.events, weeks=1
        )
        build(url, size, week_by_key(UTC, WEEK).end)
        generated = time.perf_counter() - started

    policy = load_policy()
    services = bootstrap(Settings(database_url=url), clock=lambda: NOW, policy=policy)
    week = week_by_key(policy.periods.zone, WEEK)
    with services.db.read() as session:
        in_week = session.scalar(
            select(func.count())
            .select_from(UsageEvent)
            .where(UsageEvent.occurred_at >= week.start, UsageEvent.occurred_at < week.end)
        )
        outcomes = session.scalar(select(func.count()).select_from(Outcome))
    forget_rollups(services, [])
    results: list[Samples] = []
    load = os.getloadavg()

    def group_by() -> int:
        with services.db.read() as session:
            return len(
                session.execute(
                    text(
                        "SELECT person_id, use_case, SUM(budget_tokens), COUNT(*) FROM usage_events "
                        "WHERE occurred_at >= :start AND occurred_at < :end "
                        "GROUP BY person_id, use_case"
                    ),
                    {"start": week.start, "end": week.end},
                ).all()
            )

    timed("baseline: one GROUP BY over the week's events", results, group_by)
    first = timed(
        f"cold: jobs run detectors --week {WEEK}",
        results,
        lambda: run_detectors_job(services, [], WEEK),
    )
    timed(
        "again: the same week (changes nothing)",
        results,
        lambda: run_detectors_job(services, [], WEEK),
        args.repeat,
    )
    with services.db.read() as session:
        flags = session.scalar(select(func.count()).select_from(Flag).where(Flag.week == WEEK))

    print(f"database: {path}")
    made = f"in {generated:.1f} s" if args.reuse is None else "(reused)"
    print(
        f"{args.people:,} people, {in_week:,} usage events in {WEEK}, {outcomes:,} outcomes, "
        f"generated {made}; {flags:,} flags; first run: {first.summary}"
    )
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
