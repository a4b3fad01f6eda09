"""Load and fault runs against real processes on loopback: nothing lost, nothing doubled.

    python -m benchmarks.faults [--minutes 3] [--database-url URL] [--restart-postgres]

Each scenario is a function returning a report (`problems` empty when it passed); the script
runs them at length, and tests/faults/ runs each for seconds so CI exercises them:

- `mixed_load`: `tokenbot serve` in its own process under usage batches, authorize calls,
  `/tokens balance` and `/tokens request` slash commands and the managers' Approve clicks
  (signed, through the real Slack path; fake Web API from tests/adapters/slack_fakes.py), with
  the server's resident memory sampled. Afterwards: no error anywhere (HTTP, Slack answers,
  server log), every event stored once, one grant per approved request, `ledger verify` clean;
- `kill_mid_import`: `tokenbot import` SIGKILLed while it holds the write lock after some
  chunks were committed; then nothing half-written (whole chunks only, verify clean), and
  importing the file again completes it exactly once;
- `kill_mid_usage_batch`: `tokenbot serve` SIGKILLed while it writes a usage batch; after a
  restart the batch is stored wholly or not at all, and re-sending it completes it once;
- `kill_mid_group_commit`: `tokenbot serve` SIGKILLed while 16 clients send one event per
  request (group commit: requests share transactions); after a restart every acknowledged
  event is stored, nothing twice, `ledger verify` is clean, and re-sending everything stores
  each event once;
- `slack_retries`: an event, a slash command and a click delivered again with
  X-Slack-Retry-Num: one home tab, one burst request, one grant, one message to the requester;
- `restart_postgres_under_load` (script only, `--restart-postgres`: it restarts the whole
  PostgreSQL cluster, dropping every other client's connections too, so never in CI): requests
  fail cleanly (503 with Retry-After) while it is down and succeed after; a client that re-sends
  on 503 loses and doubles nothing.

"The write lock is held" is read from the database: on SQLite a `BEGIN IMMEDIATE` that cannot
start; on PostgreSQL a RowExclusiveLock on usage_events held by another backend.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from benchmarks import org
from benchmarks.serving import ROOT, ServerProcess, rss_bytes, slack_env, slack_fakes
from storage.database import Database, normalise_url
from storage.models import BurstRequest, Grant, UsageEvent

POLL_SECONDS = 0.002
LIMIT_SECONDS = 120.0  # how long anything may take before the run gives up
INTERNAL_ERROR = "something went wrong on my side"  # the internal_error template's words


@dataclass
class Report:
    name: str
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def __str__(self) -> str:
        facts = ", ".join(f"{k} {v}" for k, v in self.facts.items())
        verdict = "ok" if self.ok else "FAILED: " + "; ".join(self.problems)
        return f"{self.name}: {verdict}\n  {facts}"


# --- what the database says ------------------------------------------------------------------


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def writer_active(url: str) -> bool:
    """Another connection holds the database's write lock (SQLite) or is writing usage events
    (PostgreSQL)."""
    if is_sqlite(url):
        connection = sqlite3.connect(make_url(url).database, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            connection.close()
    with org.raw_connection(url) as (connection, _sql):
        row = connection.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'usage_events' AND l.mode = 'RowExclusiveLock' AND l.granted "
            "AND l.pid <> pg_backend_pid() "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        return bool(row[0])


@functools.cache
def database(url: str) -> Database:
    """One engine per database for the checks (polling must not cost the server its CPU)."""
    return Database(url)


def stored(url: str, prefix: str) -> int:
    """Usage events whose id starts with `prefix` (a range on the primary key)."""
    after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    with database(url).read() as session:
        return session.scalar(
            select(func.count())
            .select_from(UsageEvent)
            .where(UsageEvent.id >= prefix, UsageEvent.id < after)
        )


def ledger_problems(url: str) -> list[str]:
    """What `tokenbot ledger verify` would report."""
    from budgets.ledger import verify

    with database(url).read() as session:
        return [str(d) for d in verify(session)]


def wait_until(condition: Callable[[], bool], what: str, limit: float = LIMIT_SECONDS) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(POLL_SECONDS)


def prepare(url: str, size: org.OrgSize, now: datetime) -> str:
    """The synthetic org in `url` and an API key for it."""
    from benchmarks.suite import api_key

    org.build(url, size, now)
    return api_key(url, now)


def post_json(url: str, body: bytes, key: str, timeout: float = LIMIT_SECONDS) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def usage_batch(prefix: str, count: int, size: org.OrgSize, now: datetime) -> bytes:
    from benchmarks.suite import usage_bodies

    events = json.loads(usage_bodies(1, prefix, now, size)[0])["events"]
    while len(events) < count:  # usage_bodies makes batches of 1,000
        more = json.loads(usage_bodies(1, f"{prefix}{len(events)}-", now, size)[0])["events"]
        events.extend(more)
    return json.dumps({"events": events[:count]}).encode()


# --- SIGKILL in the middle of an import ------------------------------------------------------

SUMMARY = re.compile(r"([\d,]+) usage events recorded, ([\d,]+) duplicates")


def tokenbot(url: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENBOT_")}
    env["TOKENBOT_DATABASE_URL"] = url
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def import_counts(process: subprocess.Popen[str]) -> tuple[int, int]:
    output, _ = process.communicate(timeout=LIMIT_SECONDS * 5)
    found = SUMMARY.search(output)
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"tokenbot import failed ({process.returncode}):\n{output[-2000:]}")
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


def kill_mid_import(url: str, workdir: Path, events: int, now: datetime) -> Report:
    """Needs the org (ingest's CSV names person0000..person0199)."""
    from benchmarks.ingest import write_csv
    from ingest.importer import CHUNK_ROWS

    report = Report("SIGKILL during `tokenbot import`")
    export = write_csv(workdir / "kill-import.csv", events, now)
    prefix = "evt-"
    importing = tokenbot(url, "import", "--format", "csv", str(export))
    wait_until(
        lambda: importing.poll() is not None or (writer_active(url) and stored(url, prefix) > 0),
        "the import to commit a chunk and start the next",
    )
    if importing.poll() is not None:
        report.problems.append("the import finished before it could be killed: use more events")
        return report
    importing.kill()
    importing.wait()
    before = stored(url, prefix)
    report.facts["killed after"] = f"{before:,} of {events:,} events"
    report.expect(before % CHUNK_ROWS == 0, f"{before:,} stored: not whole chunks of {CHUNK_ROWS}")
    report.expect(before < events, "everything was stored before the kill")
    report.problems.extend(f"after the kill: {p}" for p in ledger_problems(url))

    recorded, duplicates = import_counts(tokenbot(url, "import", "--format", "csv", str(export)))
    report.facts["re-import"] = f"{recorded:,} recorded, {duplicates:,} duplicates"
    report.expect(
        (recorded, duplicates) == (events - before, before),
        f"re-import recorded {recorded:,} and skipped {duplicates:,}; expected "
        f"{events - before:,} and {before:,}",
    )
    report.expect(stored(url, prefix) == events, "the events are not all stored exactly once")
    report.problems.extend(f"after the re-import: {p}" for p in ledger_problems(url))
    return report


# --- SIGKILL in the middle of a usage batch -------------------------------------------------


def kill_mid_usage_batch(
    url: str, workdir: Path, key: str, events: int, size: org.OrgSize, now: datetime
) -> Report:
    report = Report("SIGKILL of `tokenbot serve` during a usage batch")
    prefix = f"kill{time.time_ns()}-"
    body = usage_batch(prefix, events, size, now)
    server = ServerProcess(
        url,
        workdir / "kill-server.log",
        env={"TOKENBOT_MAX_BODY_BYTES": str(len(body) + 1024)},
    ).start()
    try:
        answers: list[Any] = []
        sender = threading.Thread(
            target=lambda: answers.append(_send_ignoring_resets(server.url, body, key)),
            daemon=True,
        )
        sender.start()
        wait_until(
            lambda: writer_active(url) or not sender.is_alive(), "the server to start writing"
        )
        report.expect(sender.is_alive(), f"the batch was answered before the kill: {answers}")
        server.kill()
        sender.join(LIMIT_SECONDS)
        server.restart()
        before = stored(url, prefix)
        report.facts["stored after the kill"] = f"{before:,} of {events:,}"
        report.expect(before in (0, events), f"half a batch stored: {before:,} of {events:,}")
        report.problems.extend(f"after the kill: {p}" for p in ledger_problems(url))

        status, answer = post_json(f"{server.url}/api/v1/usage", body, key)
        report.facts["re-sent"] = answer
        report.expect(
            status == 200
            and (answer["recorded"], answer["duplicates"]) == (events - before, before),
            f"re-sending answered {status} {answer}",
        )
        status, answer = post_json(f"{server.url}/api/v1/usage", body, key)
        report.expect(status == 200 and answer["recorded"] == 0, f"a third send recorded {answer}")
        report.expect(stored(url, prefix) == events, "the batch is not stored exactly once")
        report.problems.extend(f"after re-sending: {p}" for p in ledger_problems(url))
    finally:
        server.stop()
    return report


def kill_mid_group_commit(
    url: str,
    workdir: Path,
    key: str,
    size: org.OrgSize,
    now: datetime,
    clients: int = 16,
    seconds: float = 2.0,
) -> Report:
    from aiohttp import ClientSession

    from benchmarks.suite import one_event_request

    report = Report(f"SIGKILL of `tokenbot serve` under one-event POSTs from {clients} clients")
    prefix = f"group{time.time_ns()}"
    make = one_event_request(key, size, now, prefix)
    server = ServerProcess(url, workdir / "group-kill-server.log").start()
    sent: list[int] = []
    acknowledged: list[int] = []

    async def load() -> None:
        counter = itertools.count()
        async with ClientSession() as client:

            async def one_client() -> None:
                for n in counter:
                    request = make(n)
                    sent.append(n)
                    try:
                        async with client.post(
                            server.url + request.path, data=request.body, headers=request.headers
                        ) as response:
                            answer = await response.json()
                    except Exception:  # the server died under it: expected, the client stops
                        return
                    if response.status == 200 and answer["recorded"] == 1:
                        acknowledged.append(n)

            tasks = [asyncio.create_task(one_client()) for _ in range(clients)]
            await asyncio.sleep(seconds)
            server.kill()
            await asyncio.gather(*tasks)

    try:
        asyncio.run(load())
        server.restart()
        with database(url).read() as session:
            after = prefix + "."  # just past "<prefix>-..."
            kept = set(
                session.scalars(
                    select(UsageEvent.id).where(UsageEvent.id >= prefix, UsageEvent.id < after)
                )
            )
        ids = {n: make(n).body for n in sent}
        missing = [n for n in acknowledged if f"{prefix}-{n:09d}" not in kept]
        report.facts["sent"] = f"{len(sent):,}"
        report.facts["acknowledged"] = f"{len(acknowledged):,}"
        report.facts["stored after the kill"] = f"{len(kept):,}"
        report.expect(len(acknowledged) > 0, "nothing was acknowledged before the kill")
        report.expect(
            not missing, f"{len(missing)} acknowledged event(s) not stored: {missing[:5]}"
        )
        report.expect(len(kept) <= len(sent), "more events stored than sent")
        report.problems.extend(f"after the kill: {p}" for p in ledger_problems(url))

        recorded = 0
        for n, body in ids.items():
            status, answer = post_json(f"{server.url}/api/v1/usage", body, key)
            report.expect(status == 200, f"re-sending {n} answered {status} {answer}")
            recorded += answer.get("recorded", 0) if status == 200 else 0
        report.expect(
            recorded == len(sent) - len(kept),
            f"re-sending recorded {recorded:,}, expected {len(sent) - len(kept):,}",
        )
        report.expect(stored(url, prefix + "-") == len(sent), "not every event stored once")
        report.problems.extend(f"after re-sending: {p}" for p in ledger_problems(url))
    finally:
        server.stop()
    return report


def _send_ignoring_resets(base: str, body: bytes, key: str) -> Any:
    try:
        return post_json(f"{base}/api/v1/usage", body, key)
    except (OSError, urllib.error.URLError) as exc:  # the server died under it: expected
        return f"{type(exc).__name__}"


# --- Slack: signed requests as Slack sends them ----------------------------------------------


class SlackClient:
    """Signed Slack requests to a tokenbot server, answered through the fake."""

    def __init__(self, events_url: str, fake: Any):
        self.events_url = events_url
        self.fake = fake
        self.fakes = slack_fakes()
        self.sequence = itertools.count(1)

    def _post(self, body: str, content_type: str, retry: int | None) -> int:
        headers = {"Content-Type": content_type, **self.fakes.sign(body)}
        if retry is not None:
            headers.update(
                {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            )
        return self.fakes.post(self.events_url, body, headers).status

    def command(self, text: str, user: str) -> tuple[dict[str, str], str]:
        """The fields of a `/tokens TEXT` invocation, and its response_url name."""
        name = f"command-{next(self.sequence)}-{time.time_ns()}"
        fields = self.fakes.slash_command(
            text,
            user_id=user,
            response_url=self.fake.response_url(name),
            trigger_id=f"trigger.{name}",
        )
        return fields, name

    def send_command(self, fields: dict[str, str], retry: int | None = None) -> int:
        return self._post(self.fakes.form_body(fields), "application/x-www-form-urlencoded", retry)

    def click(self, message: Any, label: str, user: str) -> tuple[dict[str, Any], str]:
        """The payload of a press on the button `label` of a DM the fake received."""
        for block in message.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("text", {}).get("text") == label:
                    name = f"click-{next(self.sequence)}-{time.time_ns()}"
                    payload = self.fakes.block_actions(
                        element["action_id"],
                        element["value"],
                        user_id=user,
                        response_url=self.fake.response_url(name),
                        channel_id=message["channel"],
                        is_ephemeral=False,
                        trigger_id=f"trigger.{name}",
                    )
                    return payload, name
        raise LookupError(f"no button {label!r} in the message")

    def send_click(self, payload: dict[str, Any], retry: int | None = None) -> int:
        return self._post(
            self.fakes.payload_body(payload), "application/x-www-form-urlencoded", retry
        )

    def send_event(self, event: dict[str, Any], event_id: str, retry: int | None = None) -> int:
        body = json.dumps(self.fakes.event_callback(event, event_id=event_id))
        return self._post(body, "application/json", retry)

    def answers(self, name: str) -> list[Any]:
        return [c for c in self.fake.calls_to("response_url") if c.path == name]

    def wait_answer(self, name: str) -> Any:
        return self.fake.wait_for("response_url", where=lambda c: c.path == name)


def dm_channel(slack_user: str) -> str:
    """The DM channel the fake opens for a user (conversations.open)."""
    return "D" + slack_user.lstrip("UW")


def settle(fake: Any, quiet: float = 2.0, limit: float = LIMIT_SECONDS) -> None:
    """Until the fake Slack has had no call for `quiet` seconds: the server in its own process
    has finished (or given up) the work it acknowledged, as far as Slack can see."""
    deadline = time.monotonic() + limit
    seen, since = len(fake.calls), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = len(fake.calls)
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def slack_retries(
    events_url: str, fake: Any, url: str, member: str, manager: str, drain: Callable[[], None]
) -> Report:
    """`member` (a Slack user id) asks for a burst request that `manager` approves; `drain`
    waits until the server has finished the work it acknowledged."""
    fakes = slack_fakes()
    report = Report("Slack retries (X-Slack-Retry-Num)")
    slack = SlackClient(events_url, fake)

    def counts() -> tuple[int, int]:
        with database(url).read() as session:
            requests = session.scalar(select(func.count()).select_from(BurstRequest))
            grants = session.scalar(
                select(func.count()).select_from(Grant).where(Grant.kind == "burst")
            )
            return requests, grants

    before = counts()
    event_id = f"Ev{time.time_ns()}"
    statuses = [slack.send_event(fakes.app_home_opened(member), event_id)]
    fake.wait_for(
        "views.publish", where=lambda c: c.get("user_id") == member, timeout=LIMIT_SECONDS
    )
    drain()
    statuses += [slack.send_event(fakes.app_home_opened(member), event_id, retry=n) for n in (1, 2)]
    drain()
    homes = [c for c in fake.calls_to("views.publish") if c.get("user_id") == member]
    report.expect(len(homes) == 1, f"the home tab was published {len(homes)} times")

    fields, name = slack.command("request 20k retried launch", member)
    statuses.append(slack.send_command(fields))
    slack.wait_answer(name)
    drain()
    statuses += [slack.send_command(fields, retry=n) for n in (1, 2)]
    drain()
    report.expect(
        len(slack.answers(name)) == 1, f"{len(slack.answers(name))} answers to one command"
    )
    requests, _grants = counts()
    report.expect(requests - before[0] == 1, f"{requests - before[0]} requests from one command")

    approval = fake.wait_for(
        "chat.postMessage",
        where=lambda c: c.get("channel") == dm_channel(manager) and "retried launch" in c.text,
        timeout=LIMIT_SECONDS,
    )
    payload, name = slack.click(approval, "Approve", manager)
    statuses.append(slack.send_click(payload))
    slack.wait_answer(name)
    drain()
    statuses += [slack.send_click(payload, retry=n) for n in (1, 2)]
    drain()
    report.expect(len(slack.answers(name)) == 1, f"{len(slack.answers(name))} answers to one click")
    _requests, grants = counts()
    report.expect(grants - before[1] == 1, f"{grants - before[1]} burst grants from one approval")

    def tells(c: Any) -> bool:
        return (
            c.get("channel") == dm_channel(member) and "burst tokens are in your balance" in c.text
        )

    fake.wait_for("chat.postMessage", where=tells, timeout=LIMIT_SECONDS)
    drain()
    told = [c for c in fake.calls_to("chat.postMessage") if tells(c)]
    report.expect(len(told) == 1, f"the requester was told {len(told)} times")
    report.expect(all(s == 200 for s in statuses), f"Slack got {statuses}")
    report.problems.extend(ledger_problems(url))
    report.facts["deliveries"] = len(statuses)
    return report


# --- sustained mixed load -------------------------------------------------------------------


@dataclass
class MixedLoad:
    """Counters of one mixed-load run."""

    batches: int = 0
    events: int = 0
    authorizations: int = 0
    commands: int = 0
    requests: int = 0
    clicks: int = 0
    errors: list[str] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes)


def mixed_load(
    url: str,
    workdir: Path,
    key: str,
    size: org.OrgSize,
    now: datetime,
    seconds: float,
    sample_every: float = 1.0,
) -> Report:
    report = Report(f"sustained mixed load for {seconds:.0f} s")
    fakes = slack_fakes()
    fake = fakes.FakeSlack().start()
    server = ServerProcess(url, workdir / "load-server.log", env=slack_env(fake.api_url))
    prefix = f"load{time.time_ns()}-"
    counts = MixedLoad()
    try:
        server.start()
        slack = SlackClient(f"{server.url}/slack/events", fake)
        asyncio.run(_drive(server, slack, key, size, now, seconds, sample_every, prefix, counts))
        expected_answers = counts.commands + counts.clicks
        try:
            wait_until(
                lambda: len(fake.calls_to("response_url")) >= expected_answers,
                f"{expected_answers} Slack answers",
            )
        except TimeoutError as exc:
            report.problems.append(str(exc))
        answers = fake.calls_to("response_url")
        broken = [c for c in answers if INTERNAL_ERROR in c.text]
        report.expect(not broken, f"{len(broken)} Slack answers were internal errors")
        by_name = {c.path for c in answers}
        report.expect(
            len(by_name) == len(answers) == expected_answers,
            f"{len(answers)} Slack answers to {expected_answers} commands and clicks "
            f"({len(by_name)} distinct)",
        )
        report.facts["server RSS MB"] = " ".join(f"{b / 2**20:.0f}" for _, b in counts.rss)
        report.facts.update(_memory_growth(counts.rss))
        traces = server.output().count("Traceback")
        report.expect(traces == 0, f"the server logged {traces} traceback(s): {server.log}")
    finally:
        server.stop()
        fake.stop()
    report.problems.extend(counts.errors[:10])
    if len(counts.errors) > 10:
        report.problems.append(f"... {len(counts.errors) - 10} more errors")
    report.expect(
        stored(url, prefix) == counts.events,
        f"{stored(url, prefix):,} events stored of {counts.events:,} acknowledged",
    )
    with database(url).read() as session:
        approved = session.scalars(
            select(BurstRequest.id).where(
                BurstRequest.reason.startswith("load "), BurstRequest.state == "approved"
            )
        ).all()
        grants = session.scalar(
            select(func.count())
            .select_from(Grant)
            .where(
                Grant.kind == "burst", Grant.idempotency_key.in_([f"burst:{i}" for i in approved])
            )
        )
    report.expect(
        len(approved) == grants == counts.clicks,
        f"{len(approved)} requests approved and {grants} burst grants after {counts.clicks} clicks",
    )
    sent = {k: v for k, v in asdict(counts).items() if k not in ("errors", "rss")}
    report.facts.update(sent, approved=len(approved), burst_grants=grants)
    report.problems.extend(ledger_problems(url))
    return report


def _memory_growth(samples: list[tuple[float, int]]) -> dict[str, str]:
    """RSS of the second quarter of the run (after warm-up) against the last quarter."""
    if len(samples) < 8:
        return {}
    quarter = len(samples) // 4
    early = sum(b for _, b in samples[quarter : 2 * quarter]) / quarter
    late = sum(b for _, b in samples[-quarter:]) / quarter
    return {"RSS growth after warm-up": f"{(late - early) / 2**20:+.1f} MB ({late / early:.3f}x)"}


async def _drive(
    server: ServerProcess,
    slack: SlackClient,
    key: str,
    size: org.OrgSize,
    now: datetime,
    seconds: float,
    sample_every: float,
    prefix: str,
    counts: MixedLoad,
) -> None:
    from aiohttp import ClientSession

    from benchmarks.suite import authorize_request

    fakes = slack_fakes()
    rng = random.Random(5)
    started = time.monotonic()
    deadline = started + seconds
    api = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    members = range(size.teams, size.people)

    async with ClientSession() as client:

        async def post(path: str, body: bytes, headers: dict[str, str]) -> Any:
            try:
                async with client.post(server.url + path, data=body, headers=headers) as r:
                    answer = await r.read()
                    if r.status != 200:
                        counts.errors.append(f"{path}: HTTP {r.status}: {answer[:200]!r}")
                        return None
                    return json.loads(answer) if answer and path.startswith("/api/") else answer
            except Exception as exc:
                counts.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                return None

        async def usage() -> None:
            for batch in itertools.count():
                if time.monotonic() >= deadline:
                    return
                body = await asyncio.to_thread(usage_batch, f"{prefix}{batch}-", 100, size, now)
                answer = await post("/api/v1/usage", body, api)
                if answer is not None:
                    counts.batches += 1
                    counts.events += answer["recorded"]

        async def authorize() -> None:
            make = authorize_request(key, size)
            for n in itertools.count():
                if time.monotonic() >= deadline:
                    return
                request = make(n)
                if await post(request.path, request.body, request.headers) is not None:
                    counts.authorizations += 1

        async def commands() -> None:
            for n in itertools.count():
                if time.monotonic() >= deadline:
                    return
                member = org.slack_id(rng.choice(members))
                text = f"request 10k load {n}" if n % 4 == 0 else "balance"
                fields, _name = slack.command(text, member)
                body = fakes.form_body(fields)
                headers = {"Content-Type": "application/x-www-form-urlencoded", **fakes.sign(body)}
                if await post("/slack/events", body.encode(), headers) is not None:
                    counts.commands += 1
                    counts.requests += text.startswith("request")
                await asyncio.sleep(0.05)

        async def clicks() -> None:
            clicked: set[str] = set()
            while time.monotonic() < deadline:
                for message in slack.fake.calls_to("chat.postMessage"):
                    ts = message.response.get("ts")
                    if ts in clicked or "Approve" not in message.blocks_text:
                        continue
                    clicked.add(ts)
                    manager = "U" + message["channel"][1:]
                    try:
                        payload, _name = slack.click(message, "Approve", manager)
                    except LookupError:
                        continue
                    body = fakes.payload_body(payload)
                    headers = {
                        "Content-Type": "application/x-www-form-urlencoded",
                        **fakes.sign(body),
                    }
                    if await post("/slack/events", body.encode(), headers) is not None:
                        counts.clicks += 1
                await asyncio.sleep(0.1)

        async def memory() -> None:
            while time.monotonic() < deadline:
                counts.rss.append((time.monotonic() - started, rss_bytes(server.pid)))
                await asyncio.sleep(sample_every)

        await asyncio.gather(usage(), authorize(), commands(), clicks(), memory())


# --- PostgreSQL restarted under load --------------------------------------------------------


def postgres_cluster() -> tuple[str, str]:
    """(version, name) of the local cluster, from pg_lsclusters."""
    lines = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    version, name, *_rest = lines[0].split()
    return version, name


def restart_postgres_under_load(
    url: str, workdir: Path, key: str, size: org.OrgSize, now: datetime, seconds: float
) -> Report:
    """Usage batches and authorize calls from 2 clients that re-send on 503 (after a short
    pause rather than the full Retry-After, to keep the run short) while the cluster
    restarts; then every batch is stored exactly once."""
    report = Report("PostgreSQL restarted under load")
    version, name = postgres_cluster()
    prefix = f"pg{time.time_ns()}-"
    server = ServerProcess(url, workdir / "pg-server.log").start()
    statuses: dict[int, int] = {}
    retry_after: set[str] = set()
    sent: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        for batch in itertools.count():
            if stop.is_set():
                return
            batch_prefix = f"{prefix}{worker}-{batch}-"
            body = usage_batch(batch_prefix, 50, size, now)
            while True:  # re-send the same batch until it is acknowledged
                try:
                    request = urllib.request.Request(
                        f"{server.url}/api/v1/usage",
                        data=body,
                        headers={
                            "Authorization": f"Bearer {key}",
                            "Content-Type": "application/json",
                        },
                        method="POST",
                    )
                    with urllib.request.urlopen(request, timeout=LIMIT_SECONDS) as response:
                        status = response.status
                except urllib.error.HTTPError as error:
                    status = error.code
                    retry_after.add(error.headers.get("Retry-After", "missing"))
                except OSError:
                    status = -1
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    sent.append(batch_prefix)
                    break
                time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(2)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(seconds / 3)
        restarted = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],
            check=True,
            capture_output=True,
        )
        report.facts["restart took"] = f"{time.monotonic() - restarted:.1f} s"
        time.sleep(seconds * 2 / 3)
        stop.set()
        for thread in threads:
            thread.join(LIMIT_SECONDS)
    finally:
        stop.set()
        server.stop()
    report.facts["answers"] = dict(sorted(statuses.items()))
    report.facts["Retry-After"] = sorted(retry_after)
    report.expect(statuses.get(503, 0) > 0, "no 503 seen: the restart went unnoticed")
    report.expect(
        set(statuses) <= {200, 503}, f"answers other than 200 and 503: {sorted(statuses)}"
    )
    report.expect(retry_after <= {"5"}, f"503 without Retry-After: {sorted(retry_after)}")
    report.expect(
        stored(url, prefix) == 50 * len(sent),
        f"{stored(url, prefix):,} events stored for {len(sent)} acknowledged batches of 50",
    )
    report.problems.extend(ledger_problems(url))
    return report


# --- the script -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0, help="of sustained mixed load")
    parser.add_argument(
        "--database-url", help="an empty database (default: a temporary SQLite file)"
    )
    parser.add_argument(
        "--restart-postgres",
        action="store_true",
        help="also restart the local PostgreSQL cluster under load (drops EVERY client's "
        "connections: never on a shared server)",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tokenbot-faults-"))
    url = args.database_url or f"sqlite:///{workdir / 'faults.db'}"
    from benchmarks.suite import refuse_unless_empty

    refuse_unless_empty(url)
    now = datetime.now(UTC)
    size = org.OrgSize(people=2_000, teams=40, events=200_000)
    print(f"building the org in {url} (work directory {workdir})", file=sys.stderr)
    key = prepare(url, size, now)
    reports = []

    def run(report_of: Callable[[], Report]) -> None:
        report = report_of()
        print(report, flush=True)
        reports.append(report)

    run(lambda: mixed_load(url, workdir, key, size, now, args.minutes * 60, sample_every=5.0))
    run(lambda: kill_mid_import(url, workdir, 100_000, now))
    run(lambda: kill_mid_usage_batch(url, workdir, key, 20_000, size, now))
    run(lambda: kill_mid_group_commit(url, workdir, key, size, now))

    fake = slack_fakes().FakeSlack().start()
    server = ServerProcess(url, workdir / "retry-server.log", env=slack_env(fake.api_url))
    with server:
        run(
            lambda: slack_retries(
                f"{server.url}/slack/events",
                fake,
                url,
                org.slack_id(size.teams + 1),
                org.slack_id(1),
                drain=lambda: settle(fake),
            )
        )
    fake.stop()
    if args.restart_postgres:
        if is_sqlite(url):
            print("--restart-postgres needs a PostgreSQL --database-url", file=sys.stderr)
        else:
            run(lambda: restart_postgres_under_load(url, workdir, key, size, now, 15.0))
    failed = [r.name for r in reports if not r.ok]
    print(
        f"\n{len(reports) - len(failed)} of {len(reports)} passed"
        + (f"; failed: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
