"""Dashboard benchmark: each page's server time at the large org.

    python -m benchmarks.dashboard [--people N] [--events N] [--weeks W] [--repeat R]
                                   [--keep PATH | --reuse PATH] [--database-url URL]

Generates the synthetic org of benchmarks/org.py (10,000 people in 200 teams, 5 million events
over 13 weeks by default; `--reuse` times a file made earlier with `--keep`), then serves the
real aiohttp app in this process and requests every dashboard page signed in as finance (the
whole org) and as a team lead (their team), the way a browser would. The weekly rollups are
built first, once, as the Monday job and `score` leave them (timed apart as "prepare"): pages
read closed weeks from them. Each page is timed cold (first request: charts drawn) and warm
(median of `--repeat` more); the goal is 300 ms of server time per page. CPU time of this
process is shown beside wall time: on a shared machine the difference is the wait for a core.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from benchmarks.org import OrgSize, build, email
from bot.bootstrap import Settings, bootstrap
from bot.core.signin import issue_link
from bot.server import build_app
from bot.web.config import WebSettings
from budgets.directory import find_person
from budgets.windows import week_by_key
from scoring.overview import store_rollups, window_by_key
from storage.database import upgrade_schema

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
GOAL_MS = 300.0
PAGES = (
    ("overview (last 4 weeks)", "/dashboard"),
    ("overview, last 13 weeks", "/dashboard?period=13W"),
    ("teams (last 4 weeks)", "/dashboard/teams"),
    ("workflows (last 4 weeks)", "/dashboard/workflows"),
    ("finance (last 4 weeks)", "/dashboard/finance"),
    ("chargeback CSV (4 weeks)", "/dashboard/finance/chargeback.csv"),
    ("overview, this month", "/dashboard?period=2026-11"),
    ("overview, last week", "/dashboard?period=2026-W46"),
    ("overview, this quarter", "/dashboard?period=2026-Q4"),
    ("teams, this month", "/dashboard/teams?period=2026-11"),
    ("workflows, this month", "/dashboard/workflows?period=2026-11"),
    ("finance, this month", "/dashboard/finance?period=2026-11"),
    ("chargeback CSV, this month", "/dashboard/finance/chargeback.csv?period=2026-11"),
    ("people", "/dashboard/people"),
    ("a person's page", "/dashboard/people/{own}"),
)


async def time_pages(services, viewer: str, repeat: int) -> list[tuple[str, float, float, float]]:  # noqa: ANN001
    """(page, cold ms, warm median ms, warm CPU ms) for `viewer`."""
    rows = []
    async with TestClient(TestServer(build_app(services))) as client:
        with services.db.unit_of_work() as uow:
            person = find_person(uow.session, viewer)
            link = issue_link(uow.session, person, "http://bench", NOW)
            uow.commit()
        response = await client.get(
            link.url.replace("http://bench", ""),
            allow_redirects=False,
            headers={"Sec-Fetch-Mode": "navigate"},  # as a browser opening the link
        )
        assert response.status == 303, response.status
        for label, path in PAGES:
            path = path.format(own=person.id)
            samples, cpu = [], []
            for _ in range(repeat + 1):
                started, started_cpu = time.perf_counter(), time.process_time()
                response = await client.get(path)
                await response.read()
                samples.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
                assert response.status == 200, (label, response.status)
            rows.append(
                (label, samples[0], statistics.median(samples[1:]), statistics.median(cpu[1:]))
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per page")
    parser.add_argument("--keep", type=Path, help="keep the SQLite database at this path")
    parser.add_argument("--reuse", type=Path, help="time a database made with --keep")
    parser.add_argument("--database-url", help="an empty, migrated-or-not PostgreSQL database")
    args = parser.parse_args()

    if args.database_url:
        url = args.database_url
    else:
        directory = Path(tempfile.mkdtemp(prefix="tokenbot-dashboard-"))
        url = f"sqlite:///{args.reuse or args.keep or directory / 'dashboard.db'}"
    upgrade_schema(url)
    if args.reuse is None:
        started = time.perf_counter()
        size = OrgSize(
            people=args.people,
            teams=max(args.people // 100, 1),
            events=args.events,
            weeks=args.weeks,
        )
        build(url, size, week_by_key(UTC, "2026-W46").end)
        print(
            f"generated {args.people:,} people, {args.events:,} events in {time.perf_counter() - started:.0f} s"
        )

    services = bootstrap(Settings(database_url=url), clock=lambda: NOW)
    services.web_settings = WebSettings(public_url="http://bench")
    started = time.perf_counter()
    with services.db.unit_of_work() as uow:
        for key in ("4W", "13W", "2026-11", "2026-W46", "2026-Q4"):
            window = window_by_key(services.policy, key, NOW)
            store_rollups(uow.session, services.policy, window, NOW)
        uow.commit()
    print(
        f"prepare (weekly rollups, once, as the Monday job leaves them): {time.perf_counter() - started:.1f} s"
    )

    failed = 0
    for who, viewer in (("finance (whole org)", email(0)), ("team lead (their team)", email(1))):
        print(
            f"\n{who}: page, cold ms, warm ms (median of {args.repeat}), warm CPU ms, goal {GOAL_MS:.0f} ms"
        )
        for label, cold, warm, cpu in asyncio.run(time_pages(services, viewer, args.repeat)):
            verdict = "ok" if warm <= GOAL_MS else "OVER"
            failed += verdict == "OVER"
            print(f"  {label:<28} {cold:8.0f} {warm:8.0f} {cpu:8.0f}  {verdict}")
    services.close()
    print(
        f"\n{failed} page(s) over the {GOAL_MS:.0f} ms goal (warm)"
        if failed
        else "\nevery page within the goal (warm)"
    )


if __name__ == "__main__":
    main()
