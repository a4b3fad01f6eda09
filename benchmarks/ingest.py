"""Ingestion benchmark: import throughput, the usage API, and pre-flight authorize.

    python -m benchmarks.ingest [--events N] [--history N] [--seconds S] [--memory-mb M]

Everything runs on this machine against temporary SQLite files in one run, and prints one
table (Markdown, for the README):
- import: `tokenbot import`'s service (`ingest.importer.import_file`, both passes: validate,
  then parse again and store) on a generated CSV of N events, against a raw `sqlite3`
  `executemany` of the same rows into a plain table (no secondary indexes, no ledger);
  `record_usage` alone (events already parsed) shows the storage side on its own;
- the usage API: `tokenbot serve` in its own process, 1,000-event batches posted over loopback;
- authorize over loopback: the server in its own process, load from this process
  (several connections), latency percentiles and requests/s;
- authorize in-process on a read session, at 10k events of history and at N (`--history`);
  history is added with raw inserts (usage events, ledger entries, and two years of past
  monthly grants for everyone), since authorize reads only projections and active grants
  through indexes, which is what the measurement is meant to show;
- peak RSS of an import process for a small and a 10x larger file (`--memory-mb`).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.bootstrap import Services, Settings, bootstrap
from budgets.apikeys import create_api_key
from budgets.authorize import authorize
from budgets.directory import import_directory
from budgets.ledger import record_usage
from ingest.formats import read_file
from ingest.importer import import_file
from storage.database import upgrade_schema

PEOPLE = 200
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gpt-4.1")
USE_CASES = ("coding", "seo-brief", "support-reply", "data-analysis", "research", "ad-copy")
CSV_HEADER = (
    "id,user,model,input_tokens,output_tokens,cached_input_tokens,use_case,project,"
    "template_id,conversation_id,timestamp\n"
)


def email(n: int) -> str:
    return f"person{n:04d}@bench.test"


def people_csv() -> str:
    lines = ["email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id"]
    lines.append(f"{email(0)},Boss,Leadership,,member;manager;admin,power-user,,")
    for n in range(1, PEOPLE):
        lines.append(f"{email(n)},Person {n},Team {n % 10},{email(0)},member,default,,")
    return "\n".join(lines) + "\n"


def new_services(folder: Path, name: str, clock: Callable[[], datetime] | None = None) -> Services:
    url = f"sqlite:///{folder / name}"
    upgrade_schema(url)
    services = bootstrap(Settings(database_url=url), clock=clock)
    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, people_csv(), services.policy, services.clock())
        assert result.ok, result.errors
        uow.commit()
    return services


def usage_row(n: int, now: datetime, rng: random.Random, prefix: str = "evt") -> dict:
    input_tokens = rng.randint(200, 4000)
    return {
        "id": f"{prefix}-{n:09d}",
        "user": email(rng.randrange(PEOPLE)),
        "model": MODELS[n % len(MODELS)],
        "input_tokens": input_tokens,
        "output_tokens": rng.randint(50, 1500),
        "cached_input_tokens": input_tokens // 4 if n % 3 == 0 else 0,
        "use_case": USE_CASES[n % len(USE_CASES)],
        "project": None,
        "template_id": f"tpl-{n % 20}",
        "conversation_id": f"conv-{n // 5}",
        "timestamp": (now - timedelta(minutes=rng.randrange(60 * 24 * 20))).isoformat(),
    }


def write_csv(path: Path, events: int, now: datetime, seed: int = 7) -> Path:
    rng = random.Random(seed)
    with path.open("w") as out:
        out.write(CSV_HEADER)
        for n in range(events):
            e = usage_row(n, now, rng)
            out.write(
                f"{e['id']},{e['user']},{e['model']},{e['input_tokens']},{e['output_tokens']},"
                f"{e['cached_input_tokens']},{e['use_case']},,{e['template_id']},"
                f"{e['conversation_id']},{e['timestamp']}\n"
            )
    return path


# --- 1. import throughput ----------------------------------------------------------------


def bench_import(folder: Path, events: int) -> dict[str, float]:
    now = datetime.now(UTC).replace(microsecond=0)
    export = write_csv(folder / "export.csv", events, now)

    services = new_services(folder, "import.db", clock=lambda: now)
    start = time.perf_counter()
    summary = import_file(services.db, services.policy, "csv", lambda: export.open("rb"), now)
    imported = time.perf_counter() - start
    assert summary.recorded == events, summary
    services.close()

    with export.open("rb") as stream:
        parsed = [row.usage for row in read_file("csv", stream, now)]
    services = new_services(folder, "record.db", clock=lambda: now)
    start = time.perf_counter()
    for chunk in range(0, len(parsed), 5000):
        with services.db.unit_of_work() as uow:
            record_usage(uow.session, parsed[chunk : chunk + 5000], services.policy, now)
            uow.commit()
    recorded = time.perf_counter() - start
    services.close()

    raw = raw_executemany(folder / "raw.db", parsed, now)
    return {
        "import_rate": events / imported,
        "record_rate": events / recorded,
        "raw_rate": events / raw,
    }


def raw_executemany(path: Path, parsed: list, now: datetime) -> float:
    """The same rows, as stored, into a plain table with the driver alone."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE usage (id TEXT PRIMARY KEY, person_id INTEGER, identity TEXT, "
        "model TEXT, input_tokens INTEGER, output_tokens INTEGER, cached_input_tokens INTEGER, "
        "budget_tokens INTEGER, cost_micros INTEGER, use_case TEXT, project TEXT, "
        "template_id TEXT, conversation_id TEXT, prompt_fingerprint TEXT, occurred_at TEXT, "
        "period TEXT, unknown_price INTEGER, uncategorised INTEGER, recorded_at TEXT)"
    )
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = [
        (
            e.id,
            int(e.user[6:10]),
            e.user,
            e.model,
            e.input_tokens,
            e.output_tokens,
            e.cached_input_tokens,
            e.input_tokens + e.output_tokens,
            e.input_tokens * 3,
            e.use_case,
            e.project,
            e.template_id,
            e.conversation_id,
            e.prompt_fingerprint,
            e.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "2026-11",
            0,
            0,
            stamp,
        )
        for e in parsed
    ]
    start = time.perf_counter()
    connection.execute("BEGIN")
    connection.executemany(f"INSERT INTO usage VALUES ({', '.join('?' * 19)})", rows)
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def raw_into_usage_table(url: str, parsed: list, now: datetime) -> float:
    """The same rows with the driver alone into the database's own `usage_events` (its
    primary key and secondary indexes, at the database's current size, with the page cache
    `tokenbot import` uses), in one transaction that is then rolled back: what storing
    these rows costs before any of tokenbot's work."""
    from sqlalchemy.engine import make_url

    from storage.database import SQLITE_BULK_CACHE_KIB, normalise_url

    target = make_url(normalise_url(url))
    sqlite = target.get_backend_name() == "sqlite"
    columns = (
        "id, person_id, identity, model, input_tokens, output_tokens, cached_input_tokens, "
        "budget_tokens, cost_micros, use_case, project, template_id, conversation_id, "
        "prompt_fingerprint, occurred_at, period, unknown_price, uncategorised, recorded_at"
    )

    def stamp(moment: datetime) -> object:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else moment

    rows = [
        (
            f"raw-{e.id}",
            int(e.user[6:10]) if e.user[6:10].isdigit() else None,
            e.user,
            e.model,
            e.input_tokens,
            e.output_tokens,
            e.cached_input_tokens,
            e.input_tokens + e.output_tokens,
            e.input_tokens * 3,
            e.use_case,
            e.project,
            e.template_id,
            e.conversation_id,
            e.prompt_fingerprint,
            stamp(e.timestamp),
            e.timestamp.strftime("%Y-%m"),
            False,
            False,
            stamp(now),
        )
        for e in parsed
    ]
    if sqlite:
        connection = sqlite3.connect(target.database, isolation_level=None)
        connection.execute(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")
        marks = ", ".join("?" * 19)
        start = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(f"INSERT INTO usage_events ({columns}) VALUES ({marks})", rows)
        elapsed = time.perf_counter() - start
        connection.execute("ROLLBACK")
        connection.close()
        return elapsed
    import psycopg

    conninfo = target.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        marks = ", ".join(["%s"] * 19)
        start = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO usage_events ({columns}) VALUES ({marks})", rows)
        elapsed = time.perf_counter() - start
        connection.rollback()
    return elapsed


# --- 2 and 3. the HTTP API over loopback ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path) -> tuple[subprocess.Popen, str, str]:
    services = new_services(folder, "api.db")
    with services.db.unit_of_work() as uow:
        key = create_api_key(uow.session, "bench", services.clock()).plaintext
        uow.commit()
    url = services.settings.database_url
    services.close()
    port = free_port()
    env = dict(os.environ, TOKENBOT_DATABASE_URL=url)
    env.pop("TOKENBOT_POLICY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        raise RuntimeError("the server did not start")
    return server, base, key


async def post_batches(base: str, key: str, batches: int) -> float:
    from aiohttp import ClientSession

    now = datetime.now(UTC)
    rng = random.Random(11)
    bodies = [
        json.dumps(
            {"events": [usage_row(b * 1000 + n, now, rng, "api") for n in range(1000)]}
        ).encode()
        for b in range(batches)
    ]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with ClientSession() as client:
        start = time.perf_counter()
        for body in bodies:
            async with client.post(f"{base}/api/v1/usage", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["recorded"] == 1000
        return batches * 1000 / (time.perf_counter() - start)


async def load_authorize(
    base: str, key: str, seconds: float, connections: int
) -> tuple[list[float], float]:
    from aiohttp import ClientSession, TCPConnector

    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    async with ClientSession(connector=TCPConnector(limit=connections)) as client:

        async def ask(n: int) -> None:
            body = {
                "user": email(n % PEOPLE),
                "model": MODELS[n % len(MODELS)],
                "estimated_tokens": 2000,
                "use_case": USE_CASES[n % len(USE_CASES)],
            }
            start = time.perf_counter()
            async with client.post(f"{base}/api/v1/authorize", json=body, headers=headers) as r:
                await r.read()
                assert r.status == 200
            latencies.append(time.perf_counter() - start)

        for n in range(200):  # warm up
            await ask(n)
        latencies.clear()
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()

        async def worker(offset: int) -> None:
            n = offset
            while time.perf_counter() < deadline:
                await ask(n)
                n += connections

        await asyncio.gather(*(worker(i) for i in range(connections)))
        elapsed = time.perf_counter() - started
    return latencies, len(latencies) / elapsed


def bench_api(folder: Path, batches: int, seconds: float) -> dict[str, float]:
    server, base, key = start_server(folder)
    try:
        usage_rate = asyncio.run(post_batches(base, key, batches))
        results = {"api_usage_rate": usage_rate}
        for connections in (1, 4):
            latencies, rate = asyncio.run(load_authorize(base, key, seconds, connections))
            latencies.sort()
            results[f"authorize_http_p50_{connections}"] = percentile(latencies, 50)
            results[f"authorize_http_p99_{connections}"] = percentile(latencies, 99)
            results[f"authorize_http_rate_{connections}"] = rate
        return results
    finally:
        server.terminate()
        server.wait(timeout=20)


def percentile(sorted_values: list[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


# --- 4. authorize in-process at two history sizes -----------------------------------------


def time_authorize(services: Services, calls: int = 3000) -> tuple[float, float, float]:
    """p50 and p99 of one call in an open read session, and the p50 including opening and
    closing the read connection the API uses for it."""
    now = services.clock()
    latencies = []
    with services.db.read() as session:
        for n in range(calls + 200):
            start = time.perf_counter()
            authorize(
                session,
                services.policy,
                email(n % PEOPLE),
                MODELS[n % len(MODELS)],
                2000,
                USE_CASES[n % len(USE_CASES)],
                None,
                now,
            )
            if n >= 200:
                latencies.append(time.perf_counter() - start)
    with_session = []
    for n in range(500):
        start = time.perf_counter()
        # The connection the API's authorize call opens (bot.api.authorize_call).
        with services.db.read_connection() as connection:
            authorize(
                connection,
                services.policy,
                email(n % PEOPLE),
                "gpt-4o",
                2000,
                "research",
                None,
                now,
            )
        with_session.append(time.perf_counter() - start)
    latencies.sort()
    return percentile(latencies, 50), percentile(latencies, 99), statistics.median(with_session)


def add_history(services: Services, total: int, already: int) -> None:
    """Raw-insert usage events (and one ledger debit per 50 events) up to `total` rows, and
    two years of past monthly grants (used up or lapsed) for everyone."""
    now = services.clock()
    rng = random.Random(3)
    stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    connection = sqlite3.connect(services.db.engine.url.database, isolation_level=None)
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("BEGIN")
    for months_ago in range(1, 25):
        start = (now.replace(day=1) - timedelta(days=31 * months_ago)).replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        period = start.strftime("%Y-%m")
        for person in range(1, PEOPLE + 1):
            for token_class in ("operational", "exploration"):
                grant = connection.execute(
                    "INSERT INTO grants (idempotency_key, kind, token_class, owner_type, "
                    "owner_id, use_case, amount, period, effective_at, expires_at, priority, "
                    "source, created_at) VALUES (?, 'baseline', ?, 'person', ?, NULL, 1000000, "
                    "?, ?, ?, 0, 'history', ?)",
                    (
                        f"history:{period}:{person}:{token_class}",
                        token_class,
                        person,
                        period,
                        start.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
                        end.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
                        stamp,
                    ),
                ).lastrowid
                connection.execute(
                    "INSERT INTO grant_balances (grant_id, remaining, used, expired) "
                    "VALUES (?, 0, 600000, 400000)",
                    (grant,),
                )
    connection.execute("COMMIT")
    batch = 50_000
    for start in range(already, total, batch):
        rows, entries = [], []
        for n in range(start, min(start + batch, total)):
            person = rng.randrange(1, PEOPLE + 1)
            when = (now - timedelta(minutes=rng.randrange(60 * 24 * 700))).replace(tzinfo=None)
            rows.append(
                (
                    f"hist-{n:010d}",
                    person,
                    email(person - 1),
                    "gpt-4o",
                    1000,
                    200,
                    0,
                    1200,
                    4500,
                    "coding",
                    None,
                    None,
                    f"c{n // 7}",
                    None,
                    when.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    when.strftime("%Y-%m"),
                    0,
                    0,
                    stamp,
                )
            )
            if n % 50 == 0:
                entries.append(
                    ("debit", None, person, when.strftime("%Y-%m"), 60_000, "history", stamp)
                )
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO usage_events (id, person_id, identity, model, input_tokens, "
            "output_tokens, cached_input_tokens, budget_tokens, cost_micros, use_case, project, "
            "template_id, conversation_id, prompt_fingerprint, occurred_at, period, "
            "unknown_price, uncategorised, recorded_at) VALUES "
            f"({', '.join('?' * 19)})",
            rows,
        )
        connection.executemany(
            "INSERT INTO ledger_entries (entry_type, grant_id, person_id, period, amount, "
            "reference, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            entries,
        )
        connection.execute("COMMIT")
    connection.close()


def bench_authorize_in_process(folder: Path, history: int) -> dict[str, float]:
    now = datetime.now(UTC)
    services = new_services(folder, "history.db", clock=lambda: now)
    rng = random.Random(5)
    small = 10_000
    parsed = [usage_row(n, now, rng) for n in range(small)]
    from ingest.events import parse_usage_event

    events = [parse_usage_event(e, n, now=now) for n, e in enumerate(parsed)]
    with services.db.unit_of_work() as uow:
        record_usage(uow.session, events, services.policy, now)
        uow.commit()
    results = {}
    p50, p99, with_session = time_authorize(services)
    results.update(small_p50=p50, small_p99=p99, small_session=with_session)
    add_history(services, history, small)
    p50, p99, with_session = time_authorize(services)
    results.update(large_p50=p50, large_p99=p99, large_session=with_session)
    services.close()
    return results


# --- 5. memory ------------------------------------------------------------------------------


def bench_memory(folder: Path, megabytes: int) -> dict[str, float]:
    now = datetime.now(UTC).replace(microsecond=0)
    per_row = len(CSV_HEADER) // 1 + 20  # rough; refined below
    sample = write_csv(folder / "sample.csv", 1000, now)
    per_row = sample.stat().st_size / 1000
    results = {}
    for label, size in (("small", megabytes / 10), ("large", megabytes)):
        rows = int(size * 1024 * 1024 / per_row)
        export = write_csv(folder / f"memory-{label}.csv", rows, now, seed=13)
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.ingest", "--memory-child", str(export)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent.parent,
        )
        results[f"{label}_mb"] = export.stat().st_size / 1024 / 1024
        results[f"{label}_rss_mb"] = float(child.stdout.strip().splitlines()[-1])
    return results


def memory_child(path: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tokenbot-memory-"))
    now = datetime.now(UTC).replace(microsecond=0)
    services = new_services(folder, "memory.db", clock=lambda: now)
    summary = import_file(
        services.db, services.policy, "csv", functools.partial(Path(path).open, "rb"), now
    )
    assert summary.stored and summary.rejected == 0
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


# --- the table --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest")
    parser.add_argument("--events", type=int, default=200_000, help="events in the import")
    parser.add_argument("--history", type=int, default=2_000_000, help="large history size")
    parser.add_argument("--seconds", type=float, default=10.0, help="authorize load duration")
    parser.add_argument("--batches", type=int, default=50, help="1,000-event API batches")
    parser.add_argument("--memory-mb", type=int, default=50, help="size of the large file")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0

    folder = Path(tempfile.mkdtemp(prefix=f"tokenbot-bench-{uuid.uuid4().hex[:6]}-"))
    print(f"working in {folder} (SQLite files), {os.cpu_count()} CPUs", file=sys.stderr)
    r: dict[str, float] = {}
    steps = [
        ("import", lambda: bench_import(folder, args.events)),
        ("api", lambda: bench_api(folder, args.batches, args.seconds)),
        ("authorize in-process", lambda: bench_authorize_in_process(folder, args.history)),
        ("memory", lambda: bench_memory(folder, args.memory_mb)),
    ]
    for name, step in steps:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        r.update(step())

    ms = 1000
    print(
        f"\n| measure ({args.events:,} events imported; history {args.history:,}) | result | goal |"
    )
    print("| --- | --- | --- |")
    print(
        f"| raw `sqlite3` executemany, same rows, plain table | {r['raw_rate']:,.0f} events/s | |"
    )
    print(
        f"| `tokenbot import` (csv: validate + parse again + record) | {r['import_rate']:,.0f} "
        f"events/s ({r['import_rate'] / r['raw_rate']:.2f} x raw) | >= 0.5 x raw, >= 50,000/s |"
    )
    print(
        f"| `record_usage` alone (events already parsed) | {r['record_rate']:,.0f} events/s "
        f"({r['record_rate'] / r['raw_rate']:.2f} x raw) | |"
    )
    print(f"| POST /api/v1/usage, 1,000-event batches | {r['api_usage_rate']:,.0f} events/s | |")
    for c in (1, 4):
        print(
            f"| POST /api/v1/authorize, {c} connection(s): p50 / p99 | "
            f"{r[f'authorize_http_p50_{c}'] * ms:.2f} / {r[f'authorize_http_p99_{c}'] * ms:.2f} ms, "
            f"{r[f'authorize_http_rate_{c}']:,.0f} req/s | p99 < 5 ms, > 1,000 req/s |"
        )
    for label, size in (("small", 10_000), ("large", args.history)):
        print(
            f"| authorize in-process, {size:,} events of history: p50 / p99 (with session) | "
            f"{r[f'{label}_p50'] * ms:.3f} / {r[f'{label}_p99'] * ms:.3f} ms "
            f"({r[f'{label}_session'] * ms:.3f} ms) | < 0.5 ms |"
        )
    print(
        f"| peak RSS importing {r['small_mb']:.0f} MB vs {r['large_mb']:.0f} MB of CSV | "
        f"{r['small_rss_mb']:.0f} MB vs {r['large_rss_mb']:.0f} MB | flat |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
