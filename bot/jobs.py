"""Scheduled jobs: thin wrappers that call the budget and scoring services, once per period.

Names: `expire`, `reminders`, `alerts`, `nudges`, `spotlight`, `review`, `detectors`,
`digest`, `launches`. Jobs that tell a person something honour their settings (`budgets.settings`):
reminders, alerts (off, or only from their own share) and the digest are skipped for whoever
turned them off; quiet hours hold a due direct message in the outbox until they end. Each job
reads `now` from `services.clock` (tests and `tokenbot jobs run --at` pin it), does its work
and enqueues its announcements in one unit of work, and is idempotent by key: a period close
is guarded by `PeriodRun`, every notice by its outbox key (`reminder:2026-11:person:12`), so
running a job twice, or from two processes, changes nothing and sends nothing the second time.
`run_job` delivers the outbox after every job.

The schedule of each job is a set of cron fields read in the policy's time zone (`JOBS`);
`bot.scheduler` turns them into APScheduler triggers.

A job is thin: it calls a domain function (`budgets.*`, `scoring.*`) and hands what it returns
to a presenter (`bot.core.presenters`), which makes the keyed notices the outbox sends.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core.messages import Notice, Reply
from bot.core.presenters.digest import digest_notices
from bot.core.presenters.flags import explain, flag_notice
from bot.core.presenters.launches import launch_report_notices
from bot.core.presenters.quota_changes import auto_applied_notices
from bot.core.presenters.requests import expiry_notices, reminder_notices
from bot.core.presenters.review import monthly_review_notices
from bot.core.presenters.spotlight import spotlight_notices
from bot.delivery import Deliverer
from bot.outbox import default_deliverers, deliver_pending, enqueue_all
from budgets.alerts import ThresholdCrossed, thresholds_crossed
from budgets.launches import (
    REPORT_KEY_PREFIX,
    issue_launch_pools,
    lapse_launch_pools,
    launch_reports,
)
from budgets.ledger import expire
from budgets.periods import Period, next_period, period_for
from budgets.policy import Policy
from budgets.quota_changes import admin_ids, auto_apply_quotas
from budgets.reminders import ExpiryReminder, reminders_due
from budgets.requests import expire_stale, nudges_due
from budgets.settings import effective_settings
from budgets.windows import Window, week_starting
from scoring.digest import weekly_digests
from scoring.flags import mark_judged, run_detectors, week_named, weeks_to_judge
from scoring.governance import governance_settings
from scoring.review import monthly_review
from scoring.rollups import CurrentWeeks
from scoring.spotlight import prepare_spotlight, weekly_spotlight
from storage.models import Grant, OutboxMessage, PeriodRun

log = logging.getLogger(__name__)

# A database that has been down (or without a clock process) for longer than this is not
# caught up automatically: closing 20 years of periods is a decision for an operator.
MAX_CATCH_UP_PERIODS = 240


@dataclass(frozen=True)
class JobResult:
    name: str
    summary: str
    enqueued: int = 0
    delivered: int = 0


JobRun = Callable[[Services, Sequence[Deliverer]], JobResult]


@dataclass(frozen=True)
class JobSpec:
    name: str
    run: JobRun
    # APScheduler CronTrigger fields, read in the policy's time zone.
    cron: Callable[[Policy], dict[str, Any]]
    description: str


# --- expire --------------------------------------------------------------------------------


def unclosed_periods(session: Session, policy: Policy, now: datetime) -> list[Period]:
    """Finished periods with no `PeriodRun`, oldest first, from the period of the first grant
    ever issued (an empty ledger has nothing to close) up to the last finished one."""
    calendar = policy.periods
    first_grant = session.scalar(select(func.min(Grant.effective_at)))
    if first_grant is None:
        return []
    period = period_for(calendar, first_grant)
    closed = set(session.scalars(select(PeriodRun.period)))
    unclosed = []
    while period.end <= now and len(unclosed) < MAX_CATCH_UP_PERIODS:
        if period.key not in closed:
            unclosed.append(period)
        period = next_period(calendar, period)
    return unclosed


def run_expire(services: Services, deliverers: Sequence[Deliverer]) -> JobResult:
    """Close every finished period not closed yet, in order, each in its own transaction (a
    process that was down at the reset catches up on start, once per missed period). In the
    optimize phase with `[quotas] auto_apply`, each close first applies the quota changes due
    (once per period: `budgets.quotas.auto_apply_quotas`) and tells who they concern."""
    now = services.clock()
    with services.db.read() as session:
        due = unclosed_periods(session, services.policy, now)
    closed = []
    rules = governance_settings(services.policy).recommendations
    for period in due:
        with services.db.unit_of_work() as uow:
            # Quota changes first: the next period's allotments are issued at their tiers.
            changes = auto_apply_quotas(uow.session, services.policy, period, rules, now)
            if changes:
                enqueue_all(uow.session, auto_applied_notices(changes, admin_ids(uow.session)), now)
            result = expire(uow.session, services.policy, period, now)
            uow.commit()
        if not result.already_done:
            closed.append(
                f"{result.period} ({result.expired_tokens:,} tokens expired, "
                f"{result.rolled_over_tokens:,} rolled over, {result.issued_grants} new allotments)"
            )
    if not closed:
        return JobResult("expire", "every finished period is closed already")
    return JobResult("expire", "closed " + "; ".join(closed))


# --- reminders and alerts ------------------------------------------------------------------


def reminder_notice(reminder: ExpiryReminder) -> Notice:
    return Notice(
        reminder.person_id,
        Reply(
            "expiry_reminder",
            {
                "period": reminder.period,
                "expires_at": reminder.expires_at.isoformat(),
                "expiring": reminder.expiring,
                "carry_over": reminder.carry_over,
                "lapsing": reminder.lapsing,
                "zone": reminder.zone,
            },
        ),
    )


def alert_notice(alert: ThresholdCrossed) -> Notice:
    return Notice(
        alert.recipient_id,
        Reply(
            f"budget_alert_{alert.subject}",
            {
                "name": alert.subject_name,
                "threshold": float(alert.threshold),
                "used": alert.used,
                "amount": alert.amount,
                "remaining": max(alert.amount - alert.used, 0),
                "period": alert.period,
                "period_end": alert.period_end.isoformat(),
                "zone": alert.zone,
            },
        ),
    )


def _queue(
    services: Services, name: str, notices: list[tuple[str, Notice]], what: str
) -> JobResult:
    """Enqueue keyed notices built from the same read, in one transaction."""
    with services.db.unit_of_work() as uow:
        added = enqueue_all(uow.session, notices, services.clock())
        uow.commit()
    return JobResult(
        name,
        f"{added} {what} queued ({len(notices) - added} already sent earlier)",
        enqueued=added,
    )


def run_reminders(services: Services, deliverers: Sequence[Deliverer]) -> JobResult:
    """Expiry reminders for people in their working hours with tokens that would lapse."""
    now = services.clock()
    with services.db.read() as session:
        due = reminders_due(session, services.policy, now)
        wanted = effective_settings(session, services.policy, [r.person_id for r in due])
    due = [r for r in due if r.person_id in wanted and wanted[r.person_id].reminders]
    return _queue(services, "reminders", [(r.key, reminder_notice(r)) for r in due], "reminder(s)")


def run_alerts(services: Services, deliverers: Sequence[Deliverer]) -> JobResult:
    """Threshold alerts for people, team pools and projects; once per threshold per period."""
    now = services.clock()
    with services.db.read() as session:
        crossed = thresholds_crossed(session, services.policy, now)
        wanted = effective_settings(session, services.policy, [a.recipient_id for a in crossed])
    # Off: none; a share (0.9): only thresholds from it. Not queued, so turning alerts back on
    # brings the alert still true then.
    crossed = [
        a
        for a in crossed
        if a.recipient_id in wanted and wanted[a.recipient_id].wants_alert(a.threshold)
    ]
    return _queue(services, "alerts", [(a.key, alert_notice(a)) for a in crossed], "alert(s)")


def run_launches(services: Services, deliverers: Sequence[Deliverer]) -> JobResult:
    """Launch pools (`budgets.launches`): issue those whose window is not over, lapse what
    ended ones hold (once, whatever the retries and races), then report each window to its
    pool's owner a day after it ended (once, by the outbox key)."""
    policy, now = services.policy, services.clock()
    with services.db.unit_of_work() as uow:
        issued = issue_launch_pools(uow.session, policy, now)
        lapsed = lapse_launch_pools(uow.session, policy, now)
        uow.commit()
    with services.db.read() as session:
        # Reports already in the outbox are not computed again (their key would refuse them).
        sent = session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.key.startswith(REPORT_KEY_PREFIX))
        )
        reports = launch_reports(
            session, policy, now, {key.removeprefix(REPORT_KEY_PREFIX) for key in sent}
        )
    queued = _queue(services, "launches", launch_report_notices(reports), "report(s)")
    unknown = sorted({r.owner for r in reports if r.owner_id is None})
    summary = (
        f"{issued} pool(s) issued, {len(lapsed)} lapsed "
        f"({sum(x.lapsed for x in lapsed):,} tokens); {queued.summary}"
    )
    if unknown:
        summary += f"; owners not in the directory (no report): {', '.join(unknown)}"
    return replace(queued, summary=summary)


# --- weekly and monthly content ---------------------------------------------------------


def last_complete_week(policy: Policy, now: datetime) -> date:
    """Monday of the last full Monday-to-Sunday week on the policy's calendar."""
    today = now.astimezone(policy.periods.zone).date()
    return today - timedelta(days=today.weekday() + 7)


def week_of_yesterday(policy: Policy, now: datetime) -> date:
    """Monday of the week holding yesterday: on Monday morning, the week that just ended."""
    yesterday = now.astimezone(policy.periods.zone).date() - timedelta(days=1)
    return yesterday - timedelta(days=yesterday.weekday())


def last_month(policy: Policy, now: datetime) -> str:
    """The previous calendar month on the policy's calendar, as YYYY-MM."""
    first = now.astimezone(policy.periods.zone).date().replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def spotlight_content(
    session: Session,
    policy: Policy,
    week_start: date,
    now: datetime,
    prepared: CurrentWeeks | None = None,
) -> list[tuple[str, Notice]]:
    return spotlight_notices(weekly_spotlight(session, policy, week_start, now, prepared))


def review_content(
    session: Session, policy: Policy, month: str, now: datetime
) -> list[tuple[str, Notice]]:
    return monthly_review_notices(policy, monthly_review(session, policy, month, now))


def detectors_content(
    session: Session, policy: Policy, week_start: date, now: datetime
) -> list[tuple[str, Notice]]:
    return [flag_notice(flag) for flag in run_detectors(session, policy, week_start, now, explain)]


def run_nudges(services: Services, deliverers: Sequence[Deliverer]) -> JobResult:
    """Expire stale burst requests, then nudge approvers of requests pending too long.

    `budgets.requests` claims each nudge and expiry with a conditional update; the notices
    (`bot.core.presenters.requests`) are built and enqueued in the outbox in that same transaction, so a claim and its message commit together
    (a crash before delivery leaves the message in the outbox, never lost and never doubled).
    The claim is what makes them once-only, so each gets a fresh outbox key."""
    now = services.clock()
    with services.db.unit_of_work() as uow:
        expired = expiry_notices(
            uow.session, services.policy, expire_stale(uow.session, services.policy, now), now
        )
        nudges = reminder_notices(
            uow.session, services.policy, nudges_due(uow.session, services.policy, now), now
        )
        added = enqueue_all(
            uow.session, [(f"nudges:{uuid.uuid4().hex}", n) for n in expired + nudges], now
        )
        uow.commit()
    return JobResult(
        "nudges",
        f"{len(nudges)} nudge(s) and {len(expired)} expiry message(s) queued",
        enqueued=added,
    )


def _run_content(
    services: Services,
    name: str,
    scope_of: Callable[[Policy, datetime], Any],
    content: Callable[..., list[tuple[str, Notice]]],
    prepare: Callable[..., Any] | None = None,
) -> JobResult:
    """Call `content(session, policy, scope, now)` (scope: the week or month it
    covers) and enqueue the keyed notices it returns, in one transaction with whatever it
    writes itself (flags, recommendations); its keys make a rerun for the same scope send
    nothing.

    With a `prepare` function (same arguments), that one stores what the content reads in a
    short transaction of its own, and the content is then computed in a read-only one: on
    SQLite a writing transaction holds the database's write lock until it ends, which would
    block ingestion (and the scheduler's own lease) while a large org is scored. What
    `prepare` returns, when not None, is handed to the content as `prepared=` (what it found
    stored, so the content need not check again: its snapshot is taken after `prepare`
    committed, and events arriving in between are as late as those arriving while it runs)."""
    now = services.clock()
    scope = scope_of(services.policy, now)
    if prepare is not None:
        with services.db.unit_of_work() as uow:
            prepared = prepare(uow.session, services.policy, scope, now)
            uow.commit()
        handed = {} if prepared is None else {"prepared": prepared}
        with services.db.read() as session:
            notices = list(content(session, services.policy, scope, now, **handed))
        with services.db.unit_of_work() as uow:
            added = enqueue_all(uow.session, notices, now)
            uow.commit()
    else:
        with services.db.unit_of_work() as uow:
            notices = list(content(uow.session, services.policy, scope, now))
            added = enqueue_all(uow.session, notices, now)
            uow.commit()
    covered = scope.isoformat() if isinstance(scope, date) else scope
    return JobResult(
        name,
        f"{covered}: {added} message(s) queued ({len(notices) - added} already sent)",
        enqueued=added,
    )


def spotlight_week(policy: Policy, now: datetime) -> date:
    """Monday of the week the spotlight ranks: the week before the last complete one, so the
    week after it has been judged too (a pattern that starts light shows in its second week,
    and a flag for that week bars the week before it: `scoring.eligibility`)."""
    return last_complete_week(policy, now) - timedelta(weeks=1)


def run_spotlight(services: Services, deliverers: Sequence[Deliverer]) -> JobResult:
    """The weekly recognition posts for the week before last (Monday, policy calendar). The
    detectors judge that week and the week after it first, whatever the schedule did:
    recognition is decided on both weeks' flags, so nobody flagged for either is named."""
    zone = services.policy.periods.zone
    week_start = spotlight_week(services.policy, services.clock())
    for start in (week_start, week_start + timedelta(weeks=1)):
        _judge_week(services, week_starting(zone, start))
    return _run_content(
        services, "spotlight", spotlight_week, spotlight_content, prepare=prepare_spotlight
    )


def digest_content(
    session: Session,
    policy: Policy,
    week_start: date,
    now: datetime,
    prepared: CurrentWeeks | None = None,
) -> list[tuple[str, Notice]]:
    week = week_starting(policy.periods.zone, week_start)
    digests = weekly_digests(session, policy, week, now, current=prepared)
    wanted = effective_settings(session, policy, [d.person_id for d in digests])
    return digest_notices(digests, {pid: s.zone for pid, s in wanted.items()})


def run_digest(services: Services, deliverers: Sequence[Deliverer]) -> JobResult:
    """The weekly digest of the last complete week to everyone whose settings ask for it:
    balance, score trend and one tip. Keyed per person and week; quiet hours hold it."""
    # The week's rollups are stored first (as for the spotlight), so scoring everyone runs in a
    # read-only transaction that does not hold SQLite's write lock.
    return _run_content(
        services, "digest", last_complete_week, digest_content, prepare=prepare_spotlight
    )


def run_review(services: Services, deliverers: Sequence[Deliverer]) -> JobResult:
    """The monthly governance review of last month."""
    return _run_content(services, "review", last_month, review_content)


def run_detectors_job(
    services: Services, deliverers: Sequence[Deliverer], week: str | None = None
) -> JobResult:
    """The gaming detectors, daily: every settled week not judged yet (after downtime, or a
    first install on existing data; `catch_up_weeks` back at most), oldest first, then the
    week holding yesterday (so Monday's run settles the week after the one the spotlight ranks); `week`
    (`2026-W47`) judges that week alone. Each week in a transaction of its own, recorded as
    judged once settled; each open flag is told to its person once (idempotent by key)."""
    policy = services.policy
    now = services.clock()
    if week is not None:
        weeks = [week_named(policy, week)]
    else:
        with services.db.read() as session:
            weeks = weeks_to_judge(session, policy, now)
    done, added, told = [], 0, 0
    for window in weeks:
        enqueued, notices = _judge_week(services, window)
        added += enqueued
        told += notices
        done.append(window.key)
    return JobResult(
        "detectors",
        f"{', '.join(done)}: {added} message(s) queued ({told - added} already sent)",
        enqueued=added,
    )


def _judge_week(services: Services, window: Window) -> tuple[int, int]:
    """Judge one week in a transaction of its own, recording it as judged once settled; returns
    the messages enqueued and the flags told (each once, by its key)."""
    policy, now = services.policy, services.clock()
    with services.db.unit_of_work() as uow:
        start = window.start.astimezone(policy.periods.zone).date()
        notices = detectors_content(uow.session, policy, start, now)
        added = enqueue_all(uow.session, notices, now)
        mark_judged(uow.session, policy, window, now)
        uow.commit()
    return added, len(notices)


# --- the registry --------------------------------------------------------------------------


def _reset_cron(policy: Policy) -> dict[str, Any]:
    months = "1,4,7,10" if policy.periods.cadence == "quarterly" else "*"
    return {"month": months, "day": policy.periods.reset_day, "hour": 0, "minute": 0}


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec(
            "expire",
            run_expire,
            _reset_cron,
            "close finished budget periods (also catches up missed ones)",
        ),
        JobSpec(
            "reminders",
            run_reminders,
            lambda policy: {"minute": 0},
            "expiry reminders, hourly, to people in their working hours",
        ),
        JobSpec(
            "alerts",
            run_alerts,
            lambda policy: {"minute": "*/15"},
            "baseline, team pool and project threshold alerts",
        ),
        JobSpec(
            "nudges",
            run_nudges,
            lambda policy: {"minute": 30},
            "nudge approvers of pending requests; expire stale ones",
        ),
        JobSpec(
            "spotlight",
            run_spotlight,
            lambda policy: {"day_of_week": "mon", "hour": 9, "minute": 0},
            "weekly recognition spotlight for the week before last, judged with the week after",
        ),
        JobSpec(
            "review",
            run_review,
            lambda policy: {"day": 1, "hour": 9, "minute": 0},
            "monthly governance review of last month",
        ),
        JobSpec(
            "digest",
            run_digest,
            lambda policy: {"day_of_week": "mon", "hour": 8, "minute": 0},
            "weekly digest (balance, score trend, one tip) to everyone who wants it",
        ),
        JobSpec(
            "detectors",
            run_detectors_job,
            lambda policy: {"hour": 6, "minute": 0},
            "gaming detectors, daily: the week holding yesterday and any settled week missed",
        ),
        JobSpec(
            "launches",
            run_launches,
            lambda policy: {"minute": 10},
            "launch pools, hourly: issue, lapse after the window, report to the owner",
        ),
    )
}


def run_job(
    services: Services,
    name: str,
    deliverers: Sequence[Deliverer] | None = None,
    week: str | None = None,
) -> JobResult:
    """Run one job now, then deliver whatever the outbox holds that is due. `week`
    (`2026-W47`) is for `detectors` alone: judge that week instead of the days' due ones."""
    spec = JOBS.get(name)
    if spec is None:
        raise KeyError(f"no job named {name!r} (jobs: {', '.join(JOBS)})")
    services.refresh_policy()  # a policy applied since the last job is the one it runs on
    deliverers = list(deliverers) if deliverers is not None else default_deliverers(services)
    if week is not None:
        if name != "detectors":
            raise ValueError(f"--week is for the detectors job, not {name!r}")
        result = run_detectors_job(services, deliverers, week)
    else:
        result = spec.run(services, deliverers)
    report = deliver_pending(services, deliverers)
    return replace(result, delivered=result.delivered + report.delivered)
