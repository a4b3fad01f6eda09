"""Scoring benchmark: a week's scores and spotlight for a large org, on SQLite.

    python -m benchmarks.scoring [--people N] [--events N] [--outcome-share S] [--weeks W]
                                 [--keep PATH]

Generates N people in N/100 teams and E usage events spread over W weeks ending with the week
scored (2026-W46), plus outcomes for a share of the events (most name their use case and
template, some only their usage, as ingestion delivers them), a few templates and flags. Rows go
straight into the tables with `INSERT ... SELECT` over a counter (deterministic arithmetic
"randomness"; the secondary indexes are dropped during the load and rebuilt after, as a bulk load
would), so generating 5 million events takes a couple of minutes rather than an hour.

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
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

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
USE_CASES = ("seo-brief", "ad-copy", "coding", "support-reply", "data-analysis", "security-review")
BASE_TOKENS = (3_000, 1_200, 9_000, 800, 5_000, 12_000)  # typical budget tokens per call


def timed(label: str, results: list[tuple[str, float, float]], call: Callable[[], Any]) -> Any:
    """Run `call`, noting wall-clock and CPU seconds (CPU: this process alone, so what other
    work on the machine costs it shows as the difference)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    results.append((label, time.perf_counter() - wall, time.process_time() - cpu))
    return value


def _case(expression: str, values: tuple[Any, ...]) -> str:
    """SQL CASE picking values[expression % len(values)]."""
    whens = " ".join(
        f"WHEN {i} THEN {v!r}" if isinstance(v, str) else f"WHEN {i} THEN {v}"
        for i, v in enumerate(values)
    ).replace('"', "'")
    return f"(CASE ({expression}) % {len(values)} {whens} END)"


def generate(path: Path, people: int, events: int, outcome_share: float, weeks: int) -> None:
    """Fill a migrated SQLite file. Person p works in team p % teams, mostly in the team's
    use case; their habit (a token multiplier from 0.5 to 3) and acceptance rate (55-95%) are
    fixed per person, so some are much more efficient than others."""
    teams = max(people // 100, 1)
    end = week_by_key(UTC, SCORED_WEEK).end
    start = end - timedelta(weeks=weeks)
    span = int((end - start).total_seconds())
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=OFF",
        "synchronous=OFF",
        "cache_size=-1000000",
        "temp_store=MEMORY",
        "locking_mode=EXCLUSIVE",
    ):
        con.execute(f"PRAGMA {pragma}")
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('usage_events', 'outcomes')"
    ).fetchall()
    con.execute("BEGIN")
    for name, _sql in indexes:
        con.execute(f"DROP INDEX {name}")
    con.executemany(
        "INSERT INTO teams (id, name) VALUES (?, ?)", [(t, f"Team {t:03d}") for t in range(teams)]
    )
    con.executemany(
        "INSERT INTO people (id, email, name, team_id, manager_id, roles, tier, active) "
        "VALUES (?, ?, ?, ?, ?, 'member', 'default', 1)",
        [
            (p, f"p{p}@bench.test", f"Person {p:05d}", p % teams, None if p < teams else p % teams)
            for p in range(people)
        ],
    )
    con.executemany(
        "INSERT INTO prompt_templates (id, name, use_case, author_id, approved, created_at) "
        "VALUES (?, ?, ?, ?, 1, '2026-08-01 00:00:00.000000')",
        [
            (f"{uc}-v{v}", f"{uc} v{v}", uc, (i * 37 + v * 11) % people)
            for i, uc in enumerate(USE_CASES)
            for v in (1, 2)
        ],
    )
    # n -> person, use case, size; all arithmetic on n so the data is the same on every run.
    person = f"((n * 7919) % {people})"
    habit = f"(0.5 + (({person} * 31) % 251) / 100.0)"
    use_case_index = (
        f"(CASE WHEN (n * 13) % 10 < 7 THEN {person} % {teams} ELSE n / 7 END) % {len(USE_CASES)}"
    )
    templated = "((n * 17) % 4 = 0)"
    con.execute(
        f"""
        WITH RECURSIVE counter(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM counter WHERE n < {events - 1}),
        drawn AS (
            SELECT n, {person} AS person_id, {use_case_index} AS uc,
                   CAST({_case(use_case_index, BASE_TOKENS)} * {habit} * (0.6 + ((n * 97) % 80) / 100.0) AS INTEGER) AS tokens
            FROM counter
        )
        INSERT INTO usage_events (id, person_id, identity, model, input_tokens, output_tokens,
            cached_input_tokens, budget_tokens, cost_micros, use_case, project, template_id,
            conversation_id, prompt_fingerprint, occurred_at, period, unknown_price,
            uncategorised, recorded_at)
        SELECT printf('u%09d', n), person_id, 'p' || person_id || '@bench.test', 'gpt-4o',
            tokens * 2 / 3, tokens / 3, 0, tokens, tokens * 5,
            {_case("uc", USE_CASES)}, NULL,
            CASE WHEN {templated} THEN {_case("uc", USE_CASES)} || '-v' || (1 + n % 2) END,
            'c' || person_id || '-' || (n / 3), NULL,
            strftime('%Y-%m-%d %H:%M:%S', '{start:%Y-%m-%d %H:%M:%S}', '+' || (n * {span} / {events}) || ' seconds') || '.000000',
            '2026-11', 0, 0, '2026-11-18 10:00:00.000000'
        FROM drawn
        """
    )
    threshold = int(outcome_share * 1000)
    acceptance = "(55 + (person_id * 13) % 41)"
    con.execute(
        f"""
        INSERT INTO outcomes (id, person_id, identity, artifact_id, use_case, status, usage_ids,
            conversation_id, edit_distance, minutes_saved, minutes_verified, first_draft_seconds,
            template_id, content_fingerprint, occurred_at, recorded_at)
        SELECT 'o' || substr(id, 2), person_id, identity, 'a' || substr(id, 2),
            CASE WHEN rowid % 10 = 0 THEN NULL ELSE use_case END,
            CASE WHEN rowid % 100 < {acceptance} - 10 THEN 'accepted'
                 WHEN rowid % 100 < {acceptance} THEN 'revised' ELSE 'rejected' END,
            json_array(id), conversation_id,
            (rowid % 30) / 100.0,
            CASE WHEN rowid % 50 = 0 THEN 15 + rowid % 120 END,
            rowid % 50 = 0,
            60 + rowid % 1800,
            CASE WHEN rowid % 10 = 1 THEN NULL ELSE template_id END,
            NULL, occurred_at, recorded_at
        FROM usage_events WHERE (rowid * 7) % 1000 < {threshold}
        """
    )
    con.executemany(
        "INSERT INTO flags (person_id, week, detector, status, evidence, explanation, created_at) "
        "VALUES (?, ?, 'benchmark', 'pending', '{}', 'generated', '2026-11-17 00:00:00.000000')",
        [(p, SCORED_WEEK) for p in range(0, people, 97)],
    )
    con.execute("COMMIT")
    for _name, sql in indexes:
        con.execute(sql)
    con.execute("PRAGMA locking_mode=NORMAL")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()


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
        generate(path, args.people, args.events, args.outcome_share, args.weeks)
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
