"""`tokenbot jobs list | run NAME [--at ISO-DATETIME]`: the scheduled jobs, for operators.

`run detectors --week 2026-W47` judges that week (again: it is idempotent).
`run` runs one job now in this process (then delivers the outbox), whatever the scheduler is
doing: jobs are idempotent by key, so running one by hand next to the clock process changes
nothing twice. `--at` pins the clock the job sees (a naive time is read in the policy's time
zone), for replaying a missed day or testing.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from bot.bootstrap import Services
from budgets.windows import week_by_key

UTC_ZONE = ZoneInfo("UTC")  # only to check the form of --week; the job reads the policy's


def register(sub) -> None:  # noqa: ANN001
    jobs = sub.add_parser("jobs", help="scheduled jobs: list them, run one now").add_subparsers(
        dest="jobs_command", required=True
    )
    listing = jobs.add_parser("list", help="each job with its schedule and next run")
    listing.add_argument("--at", help="list next runs after this moment instead of now")
    listing.set_defaults(run=list_jobs)
    run = jobs.add_parser("run", help="run one job now, then deliver queued messages")
    run.add_argument("name", help="expire, reminders, alerts, nudges, spotlight, review, detectors")
    run.add_argument("--at", help="the time the job sees, e.g. 2026-12-01T00:05 (policy time zone)")
    run.add_argument("--week", help="detectors only: judge this ISO week, e.g. 2026-W47")
    run.set_defaults(run=run_one_job)


def _moment(text: str | None, zone) -> datetime | None:  # noqa: ANN001
    from bot.cli import CommandFailed

    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandFailed(
            f"--at {text!r} is not an ISO date-time (e.g. 2026-12-01T00:05)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _pin_clock(services: Services, at: str | None) -> None:
    """`--at`: run as if it were that moment (the policy's time zone when none is given)."""
    pinned = _moment(at, services.policy.periods.zone)
    if pinned is not None:
        services.clock = lambda: pinned


def list_jobs(args, services: Services) -> int:  # noqa: ANN001
    from bot.outbox import outbox_counts
    from bot.scheduler import current_lease, next_run_times

    _pin_clock(services, args.at)
    policy = services.policy
    zone = policy.periods.zone
    now = services.clock()
    print(f"jobs (times in {policy.periods.timezone}, the policy's time zone):")
    for spec, next_run in next_run_times(policy, now):
        when = next_run.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z") if next_run else "never"
        print(f"  {spec.name:<10} next {when:<26} {spec.description}")
    try:
        with services.db.read() as session:
            lease = current_lease(session)
            counts = outbox_counts(session)
    except SQLAlchemyError as exc:
        print(
            f"scheduler: cannot read the database ({type(exc).__name__}); run `tokenbot db upgrade`?"
        )
        return 1
    if lease is None or lease.expires_at <= now:
        print("scheduler: no process holds the lease (no clock process running)")
    else:
        print(f"scheduler: {lease.holder} holds the lease until {lease.expires_at:%H:%M:%S} UTC")
    print(f"outbox: {counts.pending} message(s) waiting, {counts.given_up} given up")
    return 0


def run_one_job(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed
    from bot.jobs import JOBS, run_job

    if args.name not in JOBS:
        raise CommandFailed(f"no job named {args.name!r}; jobs: {', '.join(JOBS)}")
    week = getattr(args, "week", None)
    if week is not None:
        if args.name != "detectors":
            raise CommandFailed("--week is for the detectors job")
        try:
            week_by_key(UTC_ZONE, week)
        except ValueError as exc:
            raise CommandFailed(str(exc)) from exc
    _pin_clock(services, args.at)
    result = run_job(services, args.name, week=week)
    print(f"{result.name}: {result.summary}; {result.delivered} message(s) delivered")
    return 0
