"""The scheduler: the database lease (one holder, take-over when it lapses), cron triggers in
the policy's time zone across daylight-saving changes, the job store keeping schedules across
restarts, the `tokenbot jobs` commands, and two real `tokenbot scheduler` processes against
the same database running each job's effect once.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.jobs import JOBS
from bot.scheduler import (
    LeasedScheduler,
    SchedulerSettings,
    acquire_lease,
    current_lease,
    holds_lease,
    release_lease,
    sync_jobs,
    trigger_for,
)
from budgets.ledger import ensure_period_grants, verify
from budgets.periods import period_for
from storage.models import OutboxMessage, PeriodRun
from tests.integration.jobs_support import import_org, policy_with, spend

REPO = Path(__file__).resolve().parents[2]
PARIS = policy_with({"timezone": "Europe/Paris"})


# --- the lease -----------------------------------------------------------------------------


def take(services, holder: str, at: datetime, seconds: float = 30) -> bool:
    with services.db.unit_of_work() as uow:
        taken = acquire_lease(uow.session, holder, at, seconds)
        uow.commit()
    return taken


def test_the_lease_has_one_holder_until_it_lapses_or_is_released(services, clock):
    t0 = clock()
    assert take(services, "a", t0)
    assert not take(services, "b", t0 + timedelta(seconds=1))
    assert take(services, "a", t0 + timedelta(seconds=20))  # renewed until t0 + 50 s
    assert not take(services, "b", t0 + timedelta(seconds=40))
    assert take(services, "b", t0 + timedelta(seconds=50))  # a stopped renewing
    with services.db.read() as session:
        assert not holds_lease(session, "a", t0 + timedelta(seconds=50))
        assert holds_lease(session, "b", t0 + timedelta(seconds=50))
    assert not take(services, "a", t0 + timedelta(seconds=51))
    with services.db.unit_of_work() as uow:
        release_lease(uow.session, "b")
        uow.commit()
    assert take(services, "a", t0 + timedelta(seconds=52))


def test_processes_asking_for_the_lease_at_the_same_moment_get_one_holder(services, clock):
    contenders = 6
    start = threading.Barrier(contenders)
    won: list[str] = []

    def contend(name: str) -> None:
        start.wait()
        if take(services, name, clock()):
            won.append(name)

    threads = [threading.Thread(target=contend, args=(f"p{n}",)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with services.db.read() as session:
        lease = current_lease(session)
    assert len(won) == 1 and lease is not None and lease.holder == won[0]


# --- triggers ------------------------------------------------------------------------------


def next_run(policy, name: str, after: datetime) -> datetime:
    return trigger_for(JOBS[name], policy).get_next_fire_time(None, after)


@pytest.mark.parametrize(
    ("name", "after", "expected"),
    [
        # Monday 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
        ("spotlight", datetime(2026, 3, 17, tzinfo=UTC), datetime(2026, 3, 23, 8, tzinfo=UTC)),
        ("spotlight", datetime(2026, 3, 24, tzinfo=UTC), datetime(2026, 3, 30, 7, tzinfo=UTC)),
        ("spotlight", datetime(2026, 10, 13, tzinfo=UTC), datetime(2026, 10, 19, 7, tzinfo=UTC)),
        ("spotlight", datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 26, 8, tzinfo=UTC)),
        # The reset is Paris midnight on the 1st, on either side of a change.
        ("expire", datetime(2026, 3, 15, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC)),
        ("expire", datetime(2026, 10, 15, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC)),
        ("review", datetime(2026, 10, 15, tzinfo=UTC), datetime(2026, 11, 1, 8, tzinfo=UTC)),
        # The hourly reminders skip the hour that does not exist on 29 March (02:00 -> 03:00).
        (
            "reminders",
            datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
            datetime(2026, 3, 29, 1, tzinfo=UTC),
        ),
    ],
)
def test_jobs_fire_at_local_times_in_the_policy_zone_across_daylight_saving_changes(
    name, after, expected
):
    assert next_run(PARIS, name, after) == expected


def test_weekly_and_daily_jobs_at_local_midnight_survive_the_clock_changes():
    """APScheduler 3.11's own CronTrigger skips these (it lands an hour off across the change):
    the wall-clock trigger fires on every matching local day."""
    from bot.scheduler import WallClockCronTrigger

    zone = PARIS.periods.zone
    for fields, step in (({"day_of_week": "mon", "hour": 0}, 7), ({"hour": 0}, 1)):
        trigger = WallClockCronTrigger(timezone=zone, minute=0, **fields)
        fire = trigger.get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC))
        days = []
        while fire.year == 2026:
            local = fire.astimezone(zone)
            assert (local.hour, local.minute) == (0, 0)
            days.append(local.date())
            fire = trigger.get_next_fire_time(fire, fire)
        assert all((b - a).days == step for a, b in zip(days, days[1:], strict=False))


def test_the_hourly_job_fires_once_per_real_hour_through_both_changes():
    from bot.scheduler import WallClockCronTrigger

    trigger = WallClockCronTrigger(timezone=PARIS.periods.zone, minute=0)
    for night in (datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 10, 24, 22, tzinfo=UTC)):
        fire, fires = night, []
        for _ in range(6):
            fire = trigger.get_next_fire_time(fire if fires else None, fire)
            fires.append(fire)
        gaps = {b - a for a, b in zip(fires, fires[1:], strict=False)}
        # 02:00 does not exist in March; in October the repeated 02:00 runs once.
        assert gaps <= {timedelta(hours=1), timedelta(hours=2)}
        assert len({f.astimezone(UTC) for f in fires}) == 6


@pytest.mark.parametrize(
    "periods",
    [
        {},
        {"timezone": "Europe/Paris"},
        {"cadence": "quarterly", "reset_day": 5, "timezone": "America/New_York"},
        {"reset_day": 15, "timezone": "Australia/Sydney"},
    ],
)
def test_the_reset_fires_exactly_when_a_period_ends(periods):
    policy = policy_with(periods)
    moment = datetime(2026, 1, 20, tzinfo=UTC)
    for _ in range(8):
        period = period_for(policy.periods, moment)
        assert next_run(policy, "expire", moment) == period.end
        moment = period.end + timedelta(hours=1)


# --- the job store -------------------------------------------------------------------------


def stored_scheduler(services):
    scheduler = LeasedScheduler(services, SchedulerSettings()).scheduler
    scheduler.start(paused=True)
    return scheduler


def test_a_restart_keeps_stored_schedules_so_a_missed_run_is_caught_up_once(services):
    first = stored_scheduler(services)
    assert sync_jobs(first, services.policy) == list(JOBS)
    missed = datetime(2026, 11, 23, 9, tzinfo=UTC)  # a Monday 09:00 nobody was up for
    first.modify_job("spotlight", next_run_time=missed)
    first.shutdown(wait=False)

    restarted = stored_scheduler(services)
    try:
        assert sync_jobs(restarted, services.policy) == []
        job = restarted.get_job("spotlight")
        # Still due in the past: the scheduler runs it once when it resumes (coalesced, no
        # grace limit), then moves on to the next Monday.
        assert job.next_run_time == missed
        assert job.coalesce is True and job.misfire_grace_time is None and job.max_instances == 1
        # A changed calendar (the policy's time zone) reschedules every job.
        assert sync_jobs(restarted, PARIS) == list(JOBS)
        assert restarted.get_job("spotlight").next_run_time > missed
    finally:
        restarted.shutdown(wait=False)


# --- tokenbot jobs -------------------------------------------------------------------------


@pytest.fixture
def cli_env(services, monkeypatch):
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    monkeypatch.delenv("TOKENBOT_POLICY", raising=False)


def test_jobs_list_shows_every_job_with_its_next_run_in_the_policy_zone(cli_env, capsys):
    assert main(["jobs", "list", "--at", "2026-11-18T10:00"]) == 0
    out = capsys.readouterr().out
    assert "expire     next Tue 2026-12-01 00:00 UTC" in out
    assert "spotlight  next Mon 2026-11-23 09:00 UTC" in out
    assert "alerts     next Wed 2026-11-18 10:00 UTC" in out
    assert all(f"  {name} " in out for name in JOBS)
    assert "no process holds the lease" in out
    assert "outbox: 0 message(s) waiting, 0 given up" in out


def test_jobs_run_at_a_pinned_time_closes_the_period_once(cli_env, org, capsys):
    assert main(["jobs", "run", "expire", "--at", "2026-12-01T00:05"]) == 0
    assert capsys.readouterr().out.startswith("expire: closed 2026-11 (")
    assert main(["jobs", "run", "expire", "--at", "2026-12-01T00:06"]) == 0
    assert "every finished period is closed already" in capsys.readouterr().out


def test_jobs_run_refuses_an_unknown_job_and_reports_a_missing_one(cli_env, capsys):
    assert main(["jobs", "run", "payroll"]) == 2
    assert "no job named 'payroll'; jobs: expire, reminders" in capsys.readouterr().err


# --- two real scheduler processes ----------------------------------------------------------

STARTED = re.compile(r"scheduler (\S+) started")
LEADS = re.compile(r"scheduler (\S+) holds the lease")
RAN = re.compile(r"scheduler (\S+) ran (\w+):")


class SchedulerProcess:
    """`tokenbot scheduler` (or another command running the scheduler) in a subprocess, with
    a short lease and a fast test cadence."""

    def __init__(self, database_url: str, log: Path, *command: str):
        env = {k: v for k, v in os.environ.items() if k != "TOKENBOT_POLICY"}
        env.update(
            TOKENBOT_DATABASE_URL=database_url,
            TOKENBOT_SCHEDULER_LEASE_SECONDS="2",
            TOKENBOT_SCHEDULER_EVERY_SECONDS="1",
        )
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from bot.cli import main; sys.exit(main())",
                *(command or ("scheduler",)),
            ],
            env=env,
            cwd=REPO,
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def holder(self) -> str | None:
        found = STARTED.search(self.output())
        return found.group(1) if found else None

    def leaders(self) -> set[str]:
        return set(LEADS.findall(self.output()))

    def names_run_since_it_last_took_the_lease(self) -> set[str]:
        output = self.output()
        taken = [m.end() for m in LEADS.finditer(output)]
        return {name for _, name in RAN.findall(output[taken[-1] :])} if taken else set()

    def runs(self) -> list[tuple[str, str]]:
        return RAN.findall(self.output())

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
        self.process.wait(timeout=20)
        self._file.close()


def wait_for(condition, what: str, limit: float = 120.0) -> None:
    """Poll until `condition()` holds; `limit` only stops a broken run from hanging."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_two_scheduler_processes_run_each_effect_once_and_the_standby_takes_over(
    services, people_csv, tmp_path
):
    policy = services.policy
    now = datetime.now(UTC)
    current = period_for(policy.periods, now)
    # The org arrived two periods ago and no clock process has run since: two periods to close.
    joined = current.start - timedelta(days=45)
    org = import_org(services, people_csv, joined)
    with services.db.unit_of_work() as uow:
        ensure_period_grants(uow.session, policy, current, now)
        uow.commit()
    missed, period = [], period_for(policy.periods, joined)
    while period.key != current.key:
        missed.append(period.key)
        period = period_for(policy.periods, period.end)
    spend(services, "ann@acme.test", 1_900_000, at=now)  # an 80% alert is due
    alert_key = f"alert:{current.key}:person:{org['ann@acme.test'].id}:0.8"

    def period_runs() -> list[str]:
        with services.db.read() as session:
            return sorted(session.scalars(select(PeriodRun.period)))

    def alert() -> OutboxMessage | None:
        with services.db.read() as session:
            return session.scalar(select(OutboxMessage).where(OutboxMessage.key == alert_key))

    def lease_holder() -> str | None:
        with services.db.read() as session:
            lease = current_lease(session)
        return lease.holder if lease else None

    url = services.settings.database_url
    processes = [SchedulerProcess(url, tmp_path / f"{name}.log") for name in ("a", "b")]
    try:
        wait_for(
            lambda: (
                period_runs() == missed
                and (row := alert()) is not None
                and row.delivered_at is not None
                and sum(name == "alerts" for p in processes for _, name in p.runs()) >= 2
            ),
            "the missed periods closed, the alert sent and a few more rounds of jobs",
        )
        # A second process leads only after the first lost the lease (a stall past it).
        leaders = set().union(*(p.leaders() for p in processes))
        assert len(leaders) == 1 or any("lost the lease" in p.output() for p in processes)

        holder = lease_holder()
        (leader,) = [p for p in processes if p.holder() == holder]
        (survivor,) = [p for p in processes if p is not leader]
        leader.stop(kill=True)  # no clean hand-over: the lease has to lapse
        wait_for(lambda: lease_holder() == survivor.holder(), "the standby to take the lease")
        wait_for(
            lambda: {"expire", "alerts"} <= survivor.names_run_since_it_last_took_the_lease(),
            "the new leader to run the jobs",
        )
        survivor.stop()
    finally:
        for process in processes:
            process.stop(kill=True)

    assert period_runs() == missed
    row = alert()
    assert row.attempts == 1 and row.delivered_at is not None
    logs = "".join(p.output() for p in processes)
    assert logs.count("You have used 80% of your") == 1  # the log deliverer sent it once
    with services.db.read() as session:
        assert verify(session) == []
    assert lease_holder() is None  # the survivor handed the lease back on SIGTERM


async def test_serve_with_the_scheduler_leads_while_the_app_runs_and_hands_the_lease_back(
    services, org, clock
):
    """`tokenbot serve --with-scheduler` attaches the scheduler to the aiohttp app: it starts
    with the app (takes the lease, catches up the reset) and stops with it (gives it back)."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.scheduler import attach_to_app
    from bot.server import build_app

    clock.set(datetime(2026, 12, 1, 9, tzinfo=UTC))  # November ended; nobody closed it yet
    app = build_app(services, mounts=[])
    runner = attach_to_app(app, services)

    def period_runs() -> list[str]:
        with services.db.read() as session:
            return sorted(session.scalars(select(PeriodRun.period)))

    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        deadline = time.monotonic() + 60
        while period_runs() != ["2026-11"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert runner.leading and period_runs() == ["2026-11"]
        with services.db.read() as session:
            assert current_lease(session).holder == runner.holder
    assert not runner.leading
    with services.db.read() as session:
        assert current_lease(session) is None


def test_a_leading_scheduler_reschedules_when_a_policy_moving_the_calendar_is_applied(
    services, org
):
    from budgets.policy import DEFAULT_POLICY_PATH
    from budgets.policy_store import admin_named, apply

    runner = LeasedScheduler(services, SchedulerSettings(), holder="leader")
    runner.scheduler.start(paused=True)
    try:
        assert runner.tick() is True
        runner.scheduler.pause()  # read the schedule only; no job runs in this test
        before = runner.scheduler.get_job("spotlight").next_run_time
        tokyo = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
            'timezone = "UTC"', 'timezone = "Asia/Tokyo"'
        )
        apply(services.db, tokyo, admin_named(services.db, "ceo@acme.test"), services.clock())

        assert runner.tick() is True  # the next renewal sees version 1

        assert services.policy.periods.timezone == "Asia/Tokyo"
        after = runner.scheduler.get_job("spotlight").next_run_time
        # Mondays 09:00 on the new calendar: 00:00 UTC, nine hours before the old one.
        assert after.astimezone(UTC).hour == 0 and before.astimezone(UTC).hour == 9
    finally:
        runner.scheduler.shutdown(wait=False)
