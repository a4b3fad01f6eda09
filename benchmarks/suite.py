"""`python -m benchmarks` (or `tokenbot bench`): every speed goal in one run, one table.

    python -m benchmarks [--small] [--database-url URL] [--output-dir bench-results] [--keep]
                         [--parts history,import,server,scoring,estimate]

Builds the synthetic org of benchmarks/org.py (10,000 people in 200 teams, 5 million usage
events over a quarter, outcomes for 30% of them; `--small`: 1,000 people, 100,000 events) in a
fresh SQLite file, or in the PostgreSQL database named by `--database-url` or
TOKENBOT_DATABASE_URL (it must be empty: the run refuses a database that has people), and
measures, each figure beside a baseline measured in the same run on the same machine:

- balance read and authorize in-process (one read session each): at 10,000 events of history
  and again at the full size (the projections must keep them flat);
- `tokenbot import` of a CSV (benchmarks/ingest.py's file) into the full database, against a
  raw `sqlite3` executemany of the same rows into a plain table;
- `tokenbot serve` in its own process, load from this one: POST /api/v1/usage (1,000-event
  batches, against the same work called in-process; one event per request from 1 and 16
  clients, against the bare app with the same bodies, every acknowledged event checked to be
  stored once; 16 clients against `serve --workers 2`, then `ledger verify`),
  POST /api/v1/authorize (1 and 4
  connections, against a bare aiohttp app answering `{}` with the same client), and signed
  `/tokens balance` slash commands through the real Slack path (fake Web API from
  tests/adapters/slack_fakes.py), whose acknowledgement time is measured;
- the Monday spotlight job (`bot.jobs.run_spotlight`: everyone's scores, every category,
  org-wide and per team) cold (no rollups stored) and weekly (the earlier weeks stored),
  against one GROUP BY over the week's events;
- an estimate of a 100 KB text against a bare tiktoken encode (benchmarks/estimate.py);
- the server's resident memory after all of that, against right after it started.

The table goes to stdout (Markdown, for the README); the numbers also go to
`bench-results/<time>-<database>-<size>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from benchmarks import org
from benchmarks.serving import (
    LoadResult,
    Request,
    ServerProcess,
    bare_server,
    closed_loop,
    percentile,
    slack_env,
    slack_fakes,
)
from bot.bootstrap import Services, Settings, bootstrap
from storage.database import normalise_url, upgrade_schema
from storage.models import Person

MS = 1000.0


@dataclass(frozen=True)
class Scale:
    """How much load each part sends, by size."""

    import_events: int
    usage_batches: int
    authorize_seconds: float
    slack_commands: int
    reads: int
    estimate_repeats: int


FULL_SCALE = Scale(200_000, 50, 10.0, 500, 3_000, 31)
SMALL_SCALE = Scale(20_000, 10, 2.0, 100, 500, 5)


@dataclass
class Row:
    """One line of the table."""

    measure: str
    result: str
    baseline: str
    ratio: str
    goal: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "**missed**")


@dataclass
class Run:
    database: str  # sqlite | postgresql
    size: org.OrgSize
    scale: Scale
    rows: list[Row]
    numbers: dict[str, float]
    notes: list[str]

    def add(self, row: Row, **numbers: float) -> None:
        self.rows.append(row)
        self.numbers.update(numbers)
        print(f"  {row.measure}: {row.result} (baseline {row.baseline})", file=sys.stderr)


def step(name: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {name}", file=sys.stderr, flush=True)


# --- the database ---------------------------------------------------------------------------


def database_url(args: argparse.Namespace, workdir: Path) -> str:
    url = args.database_url or os.environ.get("TOKENBOT_DATABASE_URL")
    return url or f"sqlite:///{workdir / 'bench.db'}"


def refuse_unless_empty(url: str) -> None:
    upgrade_schema(url)
    services = bootstrap(Settings(database_url=url))
    try:
        with services.db.read() as session:
            people = session.scalar(select(func.count()).select_from(Person))
    finally:
        services.close()
    if people:
        raise SystemExit(
            f"error: {safe(url)} already holds {people:,} people; the benchmark writes "
            "millions of rows, so it needs an empty database (create a fresh one)"
        )


def safe(url: str) -> str:
    """The URL without its password."""
    password = urllib.parse.urlsplit(url).password
    return url.replace(f":{password}@", ":***@") if password else url


# --- in-process reads at two history sizes --------------------------------------------------


def time_reads(services: Services, size: org.OrgSize, calls: int) -> dict[str, float]:
    """Balance (`balance_for`) and authorize, each in a read session of its own as a command
    or an API call has it: p50 and p99 in seconds."""
    from benchmarks.ingest import time_authorize
    from budgets.balances import balance_for

    rng = random.Random(17)
    now = services.clock()
    latencies, cpu = [], []
    for n in range(calls + 100):
        who = org.email(rng.randrange(size.people))
        wall, started_cpu = time.perf_counter(), time.process_time()
        with services.db.read() as session:
            person = session.scalars(select(Person).where(Person.email == who)).one()
            balance_for(session, person, services.policy, now)
        if n >= 100:
            latencies.append(time.perf_counter() - wall)
            cpu.append(time.process_time() - started_cpu)
    latencies.sort()
    _p50, _p99, authorize_with_session = time_authorize(services, calls)
    return {
        "balance_p50": percentile(latencies, 50),
        "balance_p99": percentile(latencies, 99),
        "balance_cpu": statistics.median(cpu),
        "authorize": authorize_with_session,
    }


def bench_history(run: Run, url: str, now: datetime) -> None:
    size = run.size
    step("generating the org and 10,000 events")
    org.generate_org(url, size, now)
    org.add_usage(url, size, now, 0, 10_000)
    org.derive_projections(url, now)
    services = bootstrap(Settings(database_url=url), clock=lambda: now)
    small = time_reads(services, size, run.scale.reads)
    services.close()

    step(f"adding events up to {size.events:,}")
    started = time.perf_counter()
    org.add_usage(url, size, now, 10_000, size.events)
    org.derive_projections(url, now)
    run.notes.append(
        f"generated {size.events:,} events in {time.perf_counter() - started:.0f} s "
        "(INSERT ... SELECT, indexes rebuilt after)"
    )
    services = bootstrap(Settings(database_url=url), clock=lambda: now)
    large = time_reads(services, size, run.scale.reads)
    services.close()
    history = f"{size.events / 1e6:g}M" if size.events >= 1e6 else f"{size.events:,}"
    ratio = large["balance_p50"] / small["balance_p50"]
    run.add(
        Row(
            f"balance read in-process at {history} events: p50 / p99 (median CPU)",
            f"{large['balance_p50'] * MS:.2f} / {large['balance_p99'] * MS:.2f} ms "
            f"({large['balance_cpu'] * MS:.2f} ms)",
            f"at 10k events: {small['balance_p50'] * MS:.2f} / {small['balance_p99'] * MS:.2f} ms "
            f"({small['balance_cpu'] * MS:.2f} ms)",
            f"{ratio:.2f}x",
            "flat (<= 1.5x)",
            ratio <= 1.5,
        ),
        balance_p50_10k=small["balance_p50"],
        balance_p99_10k=small["balance_p99"],
        balance_cpu_10k=small["balance_cpu"],
        balance_p50=large["balance_p50"],
        balance_p99=large["balance_p99"],
        balance_cpu=large["balance_cpu"],
    )
    ratio = large["authorize"] / small["authorize"]
    run.add(
        Row(
            f"authorize in-process at {history} events (median, with its connection)",
            f"{large['authorize'] * MS:.3f} ms",
            f"at 10k events: {small['authorize'] * MS:.3f} ms",
            f"{ratio:.2f}x",
            "< 0.5 ms, flat",
            large["authorize"] < 0.0005 and ratio <= 1.5,
        ),
        authorize_inprocess_10k=small["authorize"],
        authorize_inprocess=large["authorize"],
    )


# --- import ---------------------------------------------------------------------------------


def bench_import(run: Run, url: str, workdir: Path, now: datetime) -> None:
    from benchmarks.ingest import raw_executemany, raw_into_usage_table, write_csv
    from ingest.formats import read_file
    from ingest.importer import import_file

    events = run.scale.import_events
    step(f"importing {events:,} events")
    export = write_csv(workdir / "export.csv", events, now)
    with export.open("rb") as stream:
        parsed = [row.usage for row in read_file("csv", stream, now)]
    # Baselines first: the same rows into the full database's own table (rolled back), and
    # into a plain table of a new SQLite file.
    same_table = raw_into_usage_table(url, parsed, now)
    cpu = time.process_time()
    raw = raw_executemany(workdir / "raw.db", parsed, now)
    raw_cpu = time.process_time() - cpu
    services = bootstrap(Settings(database_url=url), clock=lambda: now)
    wall, cpu = time.perf_counter(), time.process_time()
    summary = import_file(services.db, services.policy, "csv", lambda: export.open("rb"), now)
    imported, imported_cpu = time.perf_counter() - wall, time.process_time() - cpu
    services.close()
    assert summary.recorded == events, summary
    rate, raw_rate, same_rate = events / imported, events / raw, events / same_table
    # On SQLite the database works in this process, so CPU time counts all of it.
    cpu_rate, raw_cpu_rate = events / imported_cpu, events / raw_cpu
    run.add(
        Row(
            f"`tokenbot import` (CSV, {events:,} events, into the full database)",
            f"{rate:,.0f} events/s ({cpu_rate:,.0f} per CPU second)",
            f"raw driver executemany of the same rows into this database's usage_events (its "
            f"indexes, rolled back): {same_rate:,.0f} events/s; raw sqlite3 executemany into a "
            f"plain table: {raw_rate:,.0f} events/s ({raw_cpu_rate:,.0f} per CPU second)",
            f"{rate / same_rate:.2f}x same table; {rate / raw_rate:.2f}x plain table",
            ">= 0.5x and >= 50,000/s",
            rate >= 0.5 * same_rate and rate >= 50_000,
        ),
        import_rate=rate,
        import_same_table_rate=same_rate,
        import_raw_rate=raw_rate,
        import_cpu_rate=cpu_rate,
        import_raw_cpu_rate=raw_cpu_rate,
    )


# --- the server: usage API, authorize, Slack, memory ----------------------------------------


def api_key(url: str, now: datetime) -> str:
    from budgets.apikeys import create_api_key

    services = bootstrap(Settings(database_url=url))
    with services.db.unit_of_work() as uow:
        key = create_api_key(uow.session, f"bench-{now:%H%M%S%f}", now).plaintext
        uow.commit()
    services.close()
    return key


def usage_bodies(batches: int, prefix: str, now: datetime, size: org.OrgSize) -> list[bytes]:
    from benchmarks.ingest import usage_row

    rng = random.Random(11)
    bodies = []
    for b in range(batches):
        events = []
        for n in range(1000):
            event = usage_row(b * 1000 + n, now, rng, prefix)
            event["user"] = org.email(rng.randrange(size.people))
            events.append(event)
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def authorize_request(key: str, size: org.OrgSize) -> Callable[[int], Request]:
    from benchmarks.ingest import MODELS, USE_CASES

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def make(n: int) -> Request:
        body = {
            "user": org.email((n * 7) % size.people),
            "model": MODELS[n % len(MODELS)],
            "estimated_tokens": 2000,
            "use_case": USE_CASES[n % len(USE_CASES)],
        }
        return Request("/api/v1/authorize", json.dumps(body).encode(), headers)

    return make


def slash_request(fake: Any, size: org.OrgSize) -> Callable[[int], Request]:
    fakes = slack_fakes()

    def make(n: int) -> Request:
        fields = fakes.slash_command(
            "balance",
            user_id=org.slack_id((n * 13) % size.people),
            response_url=fake.response_url(f"bench-{n}"),
            trigger_id=f"bench.{n}.{time.time_ns()}",
        )
        body = fakes.form_body(fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **fakes.sign(body)}
        return Request("/slack/events", body.encode(), headers)

    return make


def bench_server(run: Run, url: str, workdir: Path, now: datetime) -> None:
    from bot.api import ingest_usage

    scale, size = run.scale, run.size
    key = api_key(url, now)
    fakes = slack_fakes()
    fake = fakes.FakeSlack().start()
    server = ServerProcess(url, workdir / "server.log", env=slack_env(fake.api_url))
    bare = bare_server(workdir / "bare.log")
    try:
        step("starting tokenbot serve and the bare aiohttp app")
        server.start()
        bare.start()
        started_rss = server.rss_bytes()

        step(f"POST /api/v1/usage: {scale.usage_batches} batches of 1,000 events")
        bodies = usage_bodies(scale.usage_batches, "api", now, size)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        over_http = asyncio.run(
            closed_loop(
                server.url,
                lambda n: Request("/api/v1/usage", bodies[n], headers),
                count=len(bodies),
                warm_up=0,
            )
        )
        check(over_http, "usage batches")
        services = bootstrap(Settings(database_url=url))
        in_process = []
        for body in usage_bodies(scale.usage_batches, "inproc", now, size):
            started = time.perf_counter()
            answer = ingest_usage(services, key, body)
            in_process.append(time.perf_counter() - started)
            assert answer.status == 200 and answer.body["recorded"] == 1000, answer
        services.close()
        http_rate = 1000 * over_http.rate
        local_rate = 1000 * len(in_process) / sum(in_process)
        run.add(
            Row(
                "POST /api/v1/usage, 1,000-event batches (1 connection)",
                f"{http_rate:,.0f} events/s; p50 / p99 {over_http.percentile(50) * MS:.0f} / "
                f"{over_http.percentile(99) * MS:.0f} ms per batch",
                f"the same work in-process (bot.api.ingest_usage): {local_rate:,.0f} events/s",
                f"{http_rate / local_rate:.2f}x",
            ),
            usage_http_rate=http_rate,
            usage_inprocess_rate=local_rate,
            usage_http_p50=over_http.percentile(50),
            usage_http_p99=over_http.percentile(99),
        )

        bench_one_event(run, url, server, bare, key, now)

        make = authorize_request(key, size)
        for connections in (1, 4):
            step(f"POST /api/v1/authorize: {connections} connection(s)")
            ours, ours_cpu = under_load(server, make, scale.authorize_seconds, connections)
            check(ours, "authorize")
            floor, floor_cpu = under_load(bare, make, scale.authorize_seconds, connections)
            check(floor, "bare server")
            p99 = ours.percentile(99)
            run.add(
                Row(
                    f"POST /api/v1/authorize, {connections} connection(s): p50 / p99, req/s "
                    "(server CPU per request)",
                    f"{ours.percentile(50) * MS:.2f} / {p99 * MS:.2f} ms, {ours.rate:,.0f} req/s "
                    f"({ours_cpu * MS:.2f} ms: {1 / ours_cpu:,.0f} req/s per core)",
                    f"bare aiohttp app: {floor.percentile(50) * MS:.2f} / "
                    f"{floor.percentile(99) * MS:.2f} ms, {floor.rate:,.0f} req/s "
                    f"({floor_cpu * MS:.2f} ms)",
                    f"{ours.percentile(50) / floor.percentile(50):.2f}x p50",
                    # "on one core": the server's own CPU per request, not the closed
                    # loop's rate, which the one client process caps (see the bare app's).
                    "p99 < 5 ms, > 1,000 req/s on one core",
                    p99 < 0.005 and 1 / ours_cpu > 1000,
                ),
                **{
                    f"authorize_http_p50_{connections}": ours.percentile(50),
                    f"authorize_http_p99_{connections}": p99,
                    f"authorize_http_rate_{connections}": ours.rate,
                    f"authorize_http_cpu_{connections}": ours_cpu,
                    f"bare_http_p50_{connections}": floor.percentile(50),
                    f"bare_http_p99_{connections}": floor.percentile(99),
                    f"bare_http_rate_{connections}": floor.rate,
                    f"bare_http_cpu_{connections}": floor_cpu,
                },
            )

        make_slash = slash_request(fake, size)
        expected = 0
        for connections in (1, 4):
            step(
                f"Slack: {scale.slack_commands} signed /tokens balance commands, "
                f"{connections} connection(s)"
            )
            acks = asyncio.run(
                closed_loop(
                    server.url,
                    make_slash,
                    count=scale.slack_commands,
                    connections=connections,
                    warm_up=10,
                )
            )
            check(acks, "slash commands")
            expected += scale.slack_commands + 10
            # Each command's answer reaches response_url before the next round starts.
            answered = wait_for_answers(fake, expected)
            floor = asyncio.run(
                closed_loop(
                    bare.url, make_slash, count=scale.slack_commands, connections=connections
                )
            )
            p99 = acks.percentile(99)
            run.add(
                Row(
                    f"Slack `/tokens balance` ack, signed, {connections} connection(s): p50 / p99",
                    f"{acks.percentile(50) * MS:.1f} / {p99 * MS:.1f} ms "
                    f"({answered:,} answers reached response_url so far)",
                    f"bare aiohttp app, same bodies: {floor.percentile(50) * MS:.1f} / "
                    f"{floor.percentile(99) * MS:.1f} ms",
                    f"{acks.percentile(50) / floor.percentile(50):.2f}x p50",
                    "p99 < 3,000 ms (Slack's limit)",
                    p99 < 3.0,
                ),
                **{
                    f"slack_ack_p50_{connections}": acks.percentile(50),
                    f"slack_ack_p99_{connections}": p99,
                    f"slack_bare_p50_{connections}": floor.percentile(50),
                    f"slack_bare_p99_{connections}": floor.percentile(99),
                },
            )

        rss = server.rss_bytes()
        growth = rss / started_rss
        run.add(
            Row(
                "server resident memory after the run (RSS, /proc)",
                f"{rss / 2**20:.0f} MB",
                f"right after start: {started_rss / 2**20:.0f} MB",
                f"{growth:.2f}x",
            ),
            server_rss=rss,
            server_rss_started=started_rss,
        )
        errors = [line for line in server.output().splitlines() if "Traceback" in line]
        if errors:
            run.notes.append(f"the server logged {len(errors)} traceback(s): see {server.log}")
    finally:
        server.stop()
        bare.stop()
        fake.stop()


def one_event_request(
    key: str, size: org.OrgSize, now: datetime, prefix: str
) -> Callable[[int], Request]:
    """POST /api/v1/usage with one event, as a gateway hook sends one per LLM call; the
    warm-up's negative numbers give ids of their own too."""
    from benchmarks.ingest import usage_row

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def make(n: int) -> Request:
        rng = random.Random(n)
        event = usage_row(n, now, rng, prefix)
        event["user"] = org.email(rng.randrange(size.people))
        return Request("/api/v1/usage", json.dumps({"events": [event]}).encode(), headers)

    return make


def bench_one_event(
    run: Run, url: str, server: ServerProcess, bare: ServerProcess, key: str, now: datetime
) -> None:
    """One-event POSTs (1 and 16 clients) against the bare app with the same bodies, then 16
    clients against `serve --workers 2`; every acknowledged event must be stored once, and
    `ledger verify` must find nothing after the load."""
    from benchmarks.faults import ledger_problems, stored

    seconds = run.scale.authorize_seconds
    postgres = run.database == "postgresql"
    rates: dict[int, float] = {}
    for clients in (1, 16):
        step(f"POST /api/v1/usage, one event per request: {clients} client(s)")
        prefix = f"one{clients}"
        make = one_event_request(key, run.size, now, prefix)
        ours, ours_cpu = under_load(server, make, seconds, clients)
        check(ours, "one-event usage")
        acknowledged = len(ours.latencies) + 100  # and the warm-up's
        kept = stored(url, prefix + "-")
        if kept != acknowledged:
            raise RuntimeError(f"{acknowledged:,} events acknowledged, {kept:,} stored")
        floor, _floor_cpu = under_load(bare, make, seconds, clients)
        check(floor, "bare server")
        p99 = ours.percentile(99)
        rates[clients] = ours.rate
        goal = clients == 16 and postgres
        run.add(
            Row(
                f"POST /api/v1/usage, one event per request, {clients} client(s): events/s, "
                "p50 / p99 (server CPU per event)",
                f"{ours.rate:,.0f} events/s, {ours.percentile(50) * MS:.1f} / {p99 * MS:.1f} ms "
                f"({ours_cpu * MS:.2f} ms); every one of {acknowledged:,} acknowledged "
                "events stored once",
                f"bare aiohttp app, same bodies: {floor.rate:,.0f} req/s, "
                f"{floor.percentile(50) * MS:.1f} / {floor.percentile(99) * MS:.1f} ms",
                f"{ours.rate / floor.rate:.2f}x",
                ">= 1,000 events/s, p99 < 50 ms" if goal else "",
                (ours.rate >= 1000 and p99 < 0.05) if goal else None,
            ),
            **{
                f"one_event_rate_{clients}": ours.rate,
                f"one_event_p50_{clients}": ours.percentile(50),
                f"one_event_p99_{clients}": p99,
                f"one_event_cpu_{clients}": ours_cpu,
                f"one_event_bare_rate_{clients}": floor.rate,
                f"one_event_bare_p99_{clients}": floor.percentile(99),
            },
        )

    step("POST /api/v1/usage, one event per request: 16 clients, serve --workers 2")
    command = [*server.command, "--workers", "2"]
    workers = ServerProcess(url, server.log.with_name("workers.log"), command=command)
    with workers:
        make = one_event_request(key, run.size, now, "workers2")
        two = asyncio.run(closed_loop(workers.url, make, seconds=seconds, connections=16))
    check(two, "one-event usage, 2 workers")
    acknowledged = len(two.latencies) + 100
    kept = stored(url, "workers2-")
    if kept != acknowledged:
        raise RuntimeError(f"2 workers: {acknowledged:,} events acknowledged, {kept:,} stored")
    problems = ledger_problems(url)
    run.add(
        Row(
            "POST /api/v1/usage, one event per request, 16 clients, `serve --workers 2`",
            f"{two.rate:,.0f} events/s, {two.percentile(50) * MS:.1f} / "
            f"{two.percentile(99) * MS:.1f} ms; `ledger verify` after all one-event loads: "
            f"{len(problems)} problem(s)",
            f"1 worker (above): {rates[16]:,.0f} events/s",
            f"{two.rate / rates[16]:.2f}x",
        ),
        one_event_rate_workers2=two.rate,
        one_event_p99_workers2=two.percentile(99),
        ledger_problems_after_load=len(problems),
    )
    if problems:
        run.notes.append("ledger verify after the one-event loads: " + "; ".join(problems[:5]))


def under_load(
    server: ServerProcess, make: Callable[[int], Request], seconds: float, connections: int
) -> tuple[LoadResult, float]:
    """The load's result, and the server's CPU seconds per answered request (the server's own
    cost, whatever else the machine is doing: 1 / it is what one core could answer)."""
    cpu = server.cpu_seconds()
    result = asyncio.run(closed_loop(server.url, make, seconds=seconds, connections=connections))
    # The warm-up requests count too: they cost the server the same.
    answered = len(result.latencies) + 100
    return result, (server.cpu_seconds() - cpu) / answered


def check(result: LoadResult, what: str) -> None:
    if result.errors:
        raise RuntimeError(f"{what}: {len(result.errors)} error(s), first: {result.errors[0]}")


def wait_for_answers(fake: Any, expected: int, limit: float = 120.0) -> int:
    """Slash command answers that reached response_url (they follow the acks)."""
    deadline = time.monotonic() + limit
    while True:
        answered = len(fake.calls_to("response_url"))
        if answered >= expected or time.monotonic() > deadline:
            return answered
        time.sleep(0.1)


# --- scoring --------------------------------------------------------------------------------


def bench_scoring(run: Run, url: str, now: datetime) -> None:
    from benchmarks.scoring import forget_rollups
    from bot.jobs import run_spotlight
    from budgets.policy import Channels, load_policy
    from budgets.windows import last_complete_week

    base = load_policy()
    teams = {f"Team {t:03d}": f"#team-{t:03d}" for t in range(run.size.teams)}
    policy = replace(base, channels=Channels(org_wide="#ai-wins", teams=teams))
    services = bootstrap(Settings(database_url=url), clock=lambda: now, policy=policy)
    week = last_complete_week(policy.periods.zone, now)
    try:
        step("GROUP BY over the scored week's events (baseline)")
        started = time.perf_counter()
        with services.db.read() as session:
            groups = session.execute(
                text(
                    "SELECT person_id, use_case, template_id, SUM(budget_tokens), COUNT(*) "
                    "FROM usage_events WHERE occurred_at >= :start AND occurred_at < :end "
                    "GROUP BY person_id, use_case, template_id"
                ),
                {"start": week.start, "end": week.end},
            ).all()
        group_by = time.perf_counter() - started
        timings = {}
        for label in ("cold", "weekly"):
            step(f"spotlight job, {label}")
            if label == "weekly":
                forget_rollups(services, [week.key])
            wall, cpu = time.perf_counter(), time.process_time()
            result = run_spotlight(services, [])
            timings[label] = time.perf_counter() - wall
            timings[f"{label}_cpu"] = time.process_time() - cpu
        run.notes.append(f"spotlight job: {result.summary}")
        for label, what in (
            ("weekly", "the week that ended is new, earlier weeks stored"),
            ("cold", "no rollups stored: builds 9 weeks"),
        ):
            seconds = timings[label]
            # The goal (issue #8) is one week's scores; the cold run (a new install, once)
            # builds nine weeks, so it is judged per week built.
            weeks_built = 9 if label == "cold" else 1
            per_week = seconds / weeks_built
            goal = "< 10 s on SQLite" + (" per week built" if weeks_built > 1 else "")
            run.add(
                Row(
                    f"Monday spotlight job, whole org ({what})",
                    f"{seconds:.1f} s ({timings[f'{label}_cpu']:.1f} s CPU in this process)",
                    f"one GROUP BY over the week's events ({len(groups):,} groups): "
                    f"{group_by:.1f} s",
                    f"{seconds / group_by:.1f}x",
                    goal if run.database == "sqlite" else "",
                    per_week < 10 if run.database == "sqlite" else None,
                ),
                **{
                    f"spotlight_{label}": seconds,
                    f"spotlight_{label}_cpu": timings[f"{label}_cpu"],
                    "scoring_group_by": group_by,
                },
            )
    finally:
        services.close()


# --- estimate -------------------------------------------------------------------------------

# "  NAME   12.34 ms  1.00x ..." and, where the script shows CPU time too, "   10.00 ms 1.00x".
ESTIMATE_LINE = re.compile(
    r"^\s+(?P<name>\S.*?)\s+(?P<wall>[\d.]+) ms\s+(?P<wall_x>[\d.]+)x"
    r"(?:\s+(?P<cpu>[\d.]+) ms\s+(?P<cpu_x>[\d.]+)x)?"
)


def bench_estimate(run: Run) -> None:
    """benchmarks/estimate.py's own measurement (medians of interleaved rounds), read from what
    it prints: the estimate engineer owns how an estimate is measured."""
    from benchmarks import estimate

    bare_name = getattr(estimate, "BARE", "bare tiktoken encode (o200k_base)")
    goal_name = getattr(estimate, "GOAL", "estimate(): gpt-4o, seo-brief")
    step(f"estimate of a 100 KB text ({run.scale.estimate_repeats} rounds)")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        estimate.main(["--repeats", str(run.scale.estimate_repeats), "--kb", "100"])
    lines = {m["name"]: m for m in map(ESTIMATE_LINE.match, out.getvalue().splitlines()) if m}
    bare, ours = lines.get(bare_name), lines.get(goal_name)
    if bare is None or ours is None:
        run.notes.append(
            "estimate: could not read benchmarks.estimate's output:\n" + out.getvalue()
        )
        return
    ratio = float(ours["wall_x"])
    cpu = f"; CPU {float(ours['cpu_x']):.2f}x" if ours["cpu_x"] else ""
    run.add(
        Row(
            "estimate of a 100 KB text, gpt-4o (median of interleaved rounds)",
            f"{float(ours['wall']):.1f} ms",
            f"bare tiktoken encode (o200k_base): {float(bare['wall']):.1f} ms",
            f"{ratio:.2f}x{cpu}",
            "<= 1.3x",
            ratio <= 1.3,
        ),
        estimate=float(ours["wall"]) / MS,
        estimate_bare=float(bare["wall"]) / MS,
        **({"estimate_cpu_ratio": float(ours["cpu_x"])} if ours["cpu_x"] else {}),
    )


# --- the table ------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    lines = [
        "| measure | result | baseline (same run) | ratio | goal | |",
        "| --- | --- | --- | ---: | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.measure} | {row.result} | {row.baseline} | {row.ratio} | {row.goal} "
            f"| {row.verdict} |"
        )
    return "\n".join(lines)


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


PARTS = ("history", "import", "server", "scoring", "estimate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--small", action="store_true", help="a CI-sized run (under a minute)")
    parser.add_argument(
        "--database-url",
        help="an empty PostgreSQL (or SQLite) database; default TOKENBOT_DATABASE_URL, "
        "else a temporary SQLite file",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("bench-results"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated parts to run (default all: " + ", ".join(PARTS) + "); without "
        "history the org is built by org.build at the chosen size",
    )
    parser.add_argument(
        "--show", type=Path, metavar="JSON", help="print the table of a saved run and stop"
    )


def show(path: Path) -> int:
    saved = json.loads(path.read_text())
    rows = [Row(**{k: v for k, v in r.items() if k != "verdict"}) for r in saved["rows"]]
    print(
        heading(saved["database"], org.OrgSize(**saved["size"]), saved["machine"], saved["minutes"])
    )
    print()
    print(table(rows))
    return 0


def heading(dialect: str, size: org.OrgSize, machine: dict[str, str], minutes: float) -> str:
    return (
        f"{dialect}, {size.people:,} people in {size.teams} teams, {size.events:,} usage events "
        f"over {size.weeks} weeks; {machine['start']} at the start, "
        f"{machine['end'].split(', ')[-1]} at the end; {minutes:.1f} min"
    )


def run_benchmarks(args: argparse.Namespace) -> int:
    if args.show:
        return show(args.show)
    workdir = Path(tempfile.mkdtemp(prefix="tokenbot-bench-"))
    url = database_url(args, workdir)
    dialect = "sqlite" if normalise_url(url).startswith("sqlite") else "postgresql"
    size = org.SMALL if args.small else org.FULL
    run = Run(dialect, size, SMALL_SCALE if args.small else FULL_SCALE, [], {}, [])
    now = datetime.now(UTC)
    before = machine()
    step(f"{dialect} at {safe(url)}; working in {workdir}; {before}")
    refuse_unless_empty(url)
    started = time.perf_counter()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"--parts: unknown {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    try:
        if "history" in parts:
            bench_history(run, url, now)
        else:
            step(f"building the org ({size.events:,} events)")
            org.build(url, size, now)
        if "import" in parts:
            bench_import(run, url, workdir, now)
        if "server" in parts:
            bench_server(run, url, workdir, now)
        if "scoring" in parts:
            bench_scoring(run, url, now)
        if "estimate" in parts:
            bench_estimate(run)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    after = machine()
    print(heading(dialect, size, {"start": before, "end": after}, elapsed / 60))
    print()
    print(table(run.rows))
    for note in filter(None, run.notes):
        print(f"\n{note}")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    name = f"{now:%Y%m%dT%H%M%S}-{dialect}-{'small' if args.small else 'full'}.json"
    (args.output_dir / name).write_text(
        json.dumps(
            {
                "database": dialect,
                "url": safe(url),
                "size": asdict(size),
                "scale": asdict(run.scale),
                "machine": {"start": before, "end": after},
                "minutes": elapsed / 60,
                "numbers": run.numbers,
                "rows": [asdict(r) | {"verdict": r.verdict} for r in run.rows],
                "notes": [n for n in run.notes if n],
            },
            indent=2,
        )
    )
    print(f"\nwritten to {args.output_dir / name}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    add_arguments(parser)
    return run_benchmarks(parser.parse_args(argv))
