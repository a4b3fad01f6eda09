"""The clock: APScheduler 3 runs the jobs of `bot.jobs` on their calendars, in one process at
a time.

- Triggers are CronTriggers in the policy's time zone (zoneinfo), so "Monday 09:00" stays
  09:00 local across daylight-saving changes and the reset stays at local midnight.
- Job state lives in the database (APScheduler's SQLAlchemyJobStore on table `scheduler_jobs`,
  created by our migrations): a restart keeps each job's next run time. A job whose trigger is
  unchanged keeps its stored next run, so a run missed while no scheduler was up runs once on
  start (coalesce=True, misfire_grace_time=None). `expire` also runs once whenever a process
  becomes the leader, because it closes every missed period itself, in order.
- One leader: a process runs jobs only while it holds the database lease (`scheduler_leases`,
  taken or renewed by a single conditional upsert). The others stand by, paused, and take over
  when the leader's lease lapses. A job re-checks the lease just before it runs, and every
  job's effects are idempotent by key anyway, so a leader that stalls past its lease still
  cannot double an effect.

The clock process (`tokenbot scheduler`) and `tokenbot serve --with-scheduler` run the same
`LeasedScheduler` on a BackgroundScheduler: jobs are synchronous database work, and threads
keep them off the web server's event loop.

Tests speed it up through the environment: `TOKENBOT_SCHEDULER_LEASE_SECONDS` (default 60)
and `TOKENBOT_SCHEDULER_EVERY_SECONDS` (every job on that interval instead of its calendar).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.delivery import Deliverer
from bot.jobs import JOBS, JobSpec, run_job
from bot.outbox import default_deliverers, sender_id
from budgets.policy import Policy
from storage.database import upsert_insert
from storage.models import ScheduledJob, SchedulerLease

log = logging.getLogger(__name__)

LEASE_NAME = "jobs"
# Run once by a new leader: it catches up every missed period close on its own.
CATCH_UP_ON_LEAD = ("expire",)


@dataclass(frozen=True)
class SchedulerSettings:
    lease_seconds: float = 60.0
    # Test cadence: every job on this interval instead of its calendar.
    every_seconds: float | None = None

    @property
    def renew_every(self) -> float:
        return self.lease_seconds / 3

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SchedulerSettings:
        env = dict(os.environ if env is None else env)
        every = env.get("TOKENBOT_SCHEDULER_EVERY_SECONDS")
        return cls(
            lease_seconds=float(env.get("TOKENBOT_SCHEDULER_LEASE_SECONDS") or 60),
            every_seconds=float(every) if every else None,
        )


# --- the lease -----------------------------------------------------------------------------


def acquire_lease(
    session: Session, holder: str, now: datetime, seconds: float, name: str = LEASE_NAME
) -> bool:
    """Take the lease if it is free or lapsed, or renew it if `holder` has it; True when
    `holder` holds it afterwards. One statement, so two processes cannot both win."""
    table = SchedulerLease.__table__
    insert = upsert_insert(session, table).values(
        name=name, holder=holder, expires_at=now + timedelta(seconds=seconds)
    )
    stmt = insert.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
        where=or_(table.c.holder == holder, table.c.expires_at <= now),
    ).returning(table.c.holder)
    return session.execute(stmt).first() is not None


def holds_lease(session: Session, holder: str, now: datetime, name: str = LEASE_NAME) -> bool:
    lease = session.get(SchedulerLease, name)
    return lease is not None and lease.holder == holder and lease.expires_at > now


def release_lease(session: Session, holder: str, name: str = LEASE_NAME) -> None:
    """Give the lease up on a clean stop, so a standby takes over at once."""
    table = SchedulerLease.__table__
    session.execute(delete(table).where(table.c.name == name, table.c.holder == holder))


def current_lease(session: Session, name: str = LEASE_NAME) -> SchedulerLease | None:
    return session.scalar(select(SchedulerLease).where(SchedulerLease.name == name))


# --- triggers and the job store ------------------------------------------------------------


class WallClockCronTrigger(CronTrigger):
    """A CronTrigger that does its arithmetic on the local wall clock.

    APScheduler 3.11's CronTrigger adds wall-clock differences in UTC when it rolls a field
    over, so across a daylight-saving change it lands an hour off and skips the match: in
    Europe/Paris, "day 1 at 00:00" after 15 March fires on 1 May, and "daily at 06:00" skips
    the day of the change. This trigger finds the next matching wall-clock time with the same
    fields on a clock without DST (UTC), then places it in the real zone: a wall time that does
    not exist (the spring gap) is skipped, as cron does, and a repeated one (the autumn
    overlap) fires once, at its first occurrence that is not in the past.
    """

    __slots__ = ()

    def _wall_clock(self) -> CronTrigger:
        twin = object.__new__(CronTrigger)
        twin.timezone, twin.fields, twin.jitter = UTC, self.fields, None
        twin.start_date = twin.end_date = None
        return twin

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        zone = self.timezone
        earliest = (
            now
            if previous_fire_time is None
            else min(now, previous_fire_time + timedelta(microseconds=1))
        )

        def to_wall(moment: datetime) -> datetime:
            return moment.astimezone(zone).replace(tzinfo=UTC, fold=0)

        wall = self._wall_clock()
        candidate = wall.get_next_fire_time(
            to_wall(previous_fire_time) if previous_fire_time else None, to_wall(now)
        )
        while candidate is not None:
            naive = candidate.replace(tzinfo=None)
            for fold in (0, 1):
                real = naive.replace(tzinfo=zone, fold=fold)
                exists = real.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive
                if exists and real >= earliest:
                    return real
            candidate = wall.get_next_fire_time(candidate, candidate + timedelta(microseconds=1))
        return None


def trigger_for(spec: JobSpec, policy: Policy, every_seconds: float | None = None) -> BaseTrigger:
    if every_seconds:
        return IntervalTrigger(seconds=every_seconds, timezone=policy.periods.zone)
    return WallClockCronTrigger(timezone=policy.periods.zone, **spec.cron(policy))


def _signature(trigger: BaseTrigger) -> str:
    """What makes two triggers the same schedule (an interval's repr holds its start time)."""
    if isinstance(trigger, IntervalTrigger):
        return f"interval {trigger.interval} {trigger.timezone}"
    return repr(trigger)


def next_run_times(policy: Policy, now: datetime) -> list[tuple[JobSpec, datetime | None]]:
    """Each job with its next run after `now`, from its trigger in the policy's time zone."""
    return [
        (spec, trigger_for(spec, policy).get_next_fire_time(None, now)) for spec in JOBS.values()
    ]


def sync_jobs(scheduler: Any, policy: Policy, every_seconds: float | None = None) -> list[str]:
    """Make the job store hold exactly the jobs of `bot.jobs`. A job whose schedule is
    unchanged is left alone, keeping its stored next run (a missed run is then caught up);
    returns the names added or rescheduled."""
    changed = []
    for spec in JOBS.values():
        trigger = trigger_for(spec, policy, every_seconds)
        try:
            existing = scheduler.get_job(spec.name)
        except Exception:  # a stored job that no longer unpickles: replace it
            log.exception("stored job %s is unreadable; rescheduling it", spec.name)
            existing = None
        if existing is not None and _signature(existing.trigger) == _signature(trigger):
            continue
        scheduler.add_job(
            run_scheduled,
            trigger=trigger,
            args=(spec.name,),
            id=spec.name,
            name=spec.name,
            replace_existing=True,
        )
        changed.append(spec.name)
    for job in scheduler.get_jobs():
        if job.id not in JOBS:
            job.remove()
    return changed


# --- the leader ----------------------------------------------------------------------------


class LeaderOnlyScheduler(BackgroundScheduler):
    """A BackgroundScheduler that touches the job store only while running.

    APScheduler 3 processes due jobs once more if its thread wakes while the scheduler goes
    from paused to shut down; a standby doing that would advance the shared job store's next
    run times (a run "consumed" by a process that never ran it). Only a running scheduler,
    that is the lease holder, processes jobs here."""

    def _process_jobs(self) -> float | None:
        if self.state != STATE_RUNNING:
            return None
        return super()._process_jobs()


_ACTIVE: LeasedScheduler | None = None


def run_scheduled(name: str) -> None:
    """What the job store calls (by reference, so it survives restarts): run one job in the
    process's scheduler, if this process still leads."""
    if _ACTIVE is None:
        log.error("job %s fired with no scheduler running in this process", name)
        return
    _ACTIVE.run(name)


class LeasedScheduler:
    """A BackgroundScheduler that processes jobs only while this process holds the lease."""

    def __init__(
        self,
        services: Services,
        settings: SchedulerSettings | None = None,
        deliverers: Sequence[Deliverer] | None = None,
        holder: str | None = None,
    ):
        self.services = services
        self.settings = settings or SchedulerSettings.from_env()
        self.deliverers = deliverers
        self.holder = holder or sender_id()
        self.leading = False
        self._stopping = threading.Event()
        self._lease_thread: threading.Thread | None = None
        self.scheduler = LeaderOnlyScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(
                    engine=services.db.engine, tablename=ScheduledJob.__tablename__
                )
            },
            # One job at a time: jobs share the database and are short.
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=services.policy.periods.zone,
        )

    def start(self) -> None:
        global _ACTIVE
        if _ACTIVE is not None and _ACTIVE is not self:
            raise RuntimeError("a scheduler is already running in this process")
        _ACTIVE = self
        # Build the deliverers now (importing the adapters' SDKs), so taking over is quick.
        default_deliverers(self.services)
        self.scheduler.start(paused=True)
        self._lease_thread = threading.Thread(
            target=self._keep_lease, name="tokenbot-scheduler-lease", daemon=True
        )
        self._lease_thread.start()
        log.info("scheduler %s started; waiting for the lease", self.holder)

    def _keep_lease(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler %s could not check its lease; standing by", self.holder)
                self._stand_by()
            self._stopping.wait(self.settings.renew_every)

    def tick(self) -> bool:
        """Take or renew the lease, and lead or stand by accordingly; True when leading."""
        now = self.services.clock()
        with self.services.db.unit_of_work() as uow:
            held = acquire_lease(uow.session, self.holder, now, self.settings.lease_seconds)
            uow.commit()
        before = self.services.policy_version
        self.services.refresh_policy()
        if self.leading and before is not None and self.services.policy_version != before:
            # A policy applied elsewhere may move the schedule (reset day, cadence, time zone).
            changed = sync_jobs(self.scheduler, self.services.policy, self.settings.every_seconds)
            log.info(
                "policy %s in force; rescheduled: %s",
                self.services.policy_version,
                ", ".join(changed) or "none",
            )
        if held and not self.leading and not self._stopping.is_set():
            self._lead()
        elif not held and self.leading:
            log.warning("scheduler %s lost the lease; standing by", self.holder)
            self._stand_by()
        return self.leading

    def _lead(self) -> None:
        changed = sync_jobs(self.scheduler, self.services.policy, self.settings.every_seconds)
        for name in CATCH_UP_ON_LEAD:
            self.scheduler.modify_job(name, next_run_time=datetime.now(UTC))
        self.leading = True
        self.scheduler.resume()
        log.info(
            "scheduler %s holds the lease and runs jobs (rescheduled: %s)",
            self.holder,
            ", ".join(changed) or "none",
        )

    def _stand_by(self) -> None:
        if self.scheduler.running:
            self.scheduler.pause()
        self.leading = False

    def run(self, name: str) -> None:
        with self.services.db.read() as session:
            leading = holds_lease(session, self.holder, self.services.clock())
        if not leading:
            log.warning("scheduler %s skipped %s: it no longer holds the lease", self.holder, name)
            return
        result = run_job(self.services, name, self.deliverers)
        log.info("scheduler %s ran %s: %s", self.holder, name, result.summary)

    def stop(self) -> None:
        global _ACTIVE
        self._stopping.set()
        if self._lease_thread is not None:
            self._lease_thread.join()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.leading:
            with self.services.db.unit_of_work() as uow:
                release_lease(uow.session, self.holder)
                uow.commit()
            self.leading = False
        if _ACTIVE is self:
            _ACTIVE = None
        log.info("scheduler %s stopped", self.holder)


def run_clock_process(services: Services, settings: SchedulerSettings | None = None) -> int:
    """`tokenbot scheduler`: run until SIGTERM or Ctrl-C, then hand the lease back. The
    caller (the CLI's `main`) owns the services and closes them."""
    logging.getLogger("bot").setLevel(
        min(logging.getLogger("bot").getEffectiveLevel(), logging.INFO)
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    runner = LeasedScheduler(services, settings)
    runner.start()
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
    return 0


def attach_to_app(app: Any, services: Services) -> LeasedScheduler:
    """Run the scheduler inside `tokenbot serve` (single-machine setups): started with the
    aiohttp app, stopped before the services close. The lease still decides, so a separate
    clock process or a second replica never runs a job at the same time."""
    runner = LeasedScheduler(services)

    async def start(_app: Any) -> None:
        await asyncio.to_thread(runner.start)

    async def stop(_app: Any) -> None:
        await asyncio.to_thread(runner.stop)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return runner
