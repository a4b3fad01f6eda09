"""Scheduled jobs on a real database with a pinned clock: the reset at period end, catch-up
after downtime, reminders to the right people at the right local time, alerts once per
threshold, and nothing done or sent twice when a job runs again.

The built-in policy: default baseline 2,000,000 (power-user 6,000,000), team pools 5,000,000,
rollover capped at 10% of the baseline, UTC, reminders 3 days before the period ends.
November 2026 ends at Tue 1 Dec 00:00 UTC; Mon 30 Nov is the reminders' only weekday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot import jobs
from bot.core.messages import Notice, Reply
from bot.delivery import LogDeliverer
from bot.jobs import JOBS, run_job
from budgets.ledger import verify
from storage.models import Grant, GrantBalance, LedgerEntry, OutboxMessage, PeriodRun, Person, Team
from tests.integration.jobs_support import import_org, outbox, policy_with, spend

DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)
FRI_NOV_27 = datetime(2026, 11, 27, 10, tzinfo=UTC)
MON_NOV_30 = datetime(2026, 11, 30, 10, tzinfo=UTC)


@pytest.fixture
def sent(services) -> LogDeliverer:
    """The log deliverer records every notice it sends, rendered."""
    return LogDeliverer(services.renderer)


def period_runs(services) -> list[str]:
    with services.db.read() as session:
        return sorted(session.scalars(select(PeriodRun.period)))


def texts_to(sent: LogDeliverer, person_id: int) -> list[str]:
    return [text for notice, text in sent.sent if notice.to_person_id == person_id]


def recipients(sent: LogDeliverer) -> list[int]:
    return sorted(notice.to_person_id for notice, _ in sent.sent)


def state(services) -> dict[str, object]:
    """Everything a job may change, to compare before and after a rerun."""
    with services.db.read() as session:
        return {
            "period_runs": sorted(session.scalars(select(PeriodRun.period))),
            "grants": session.scalar(select(func.count()).select_from(Grant)),
            "entries": session.scalar(select(func.count()).select_from(LedgerEntry)),
            "remaining": session.scalar(select(func.sum(GrantBalance.remaining))),
            "outbox": sorted(
                (row.key, row.attempts, row.delivered_at)
                for row in session.scalars(select(OutboxMessage))
            ),
        }


# --- expire --------------------------------------------------------------------------------


def test_the_period_closes_at_its_end_and_not_a_second_earlier(services, org, clock, sent):
    clock.set(DEC_1 - timedelta(seconds=1))
    early = run_job(services, "expire", [sent])
    assert early.summary == "every finished period is closed already"
    assert period_runs(services) == []

    clock.set(DEC_1)
    result = run_job(services, "expire", [sent])
    assert result.summary.startswith("closed 2026-11 (")
    assert period_runs(services) == ["2026-11"]
    ann = org["ann@acme.test"].id
    with services.db.read() as session:
        december = set(
            session.scalars(
                select(Grant.idempotency_key).where(
                    Grant.owner_type == "person", Grant.owner_id == ann, Grant.period == "2026-12"
                )
            )
        )
    assert december == {
        f"baseline:2026-12:person:{ann}:operational",
        f"baseline:2026-12:person:{ann}:exploration",
        f"rollover:2026-12:person:{ann}",
    }


def test_after_downtime_each_missed_period_is_closed_once_in_order(
    services, people_csv, clock, sent
):
    org = import_org(services, people_csv, datetime(2026, 8, 10, tzinfo=UTC))
    clock.set(datetime(2026, 11, 18, 10, tzinfo=UTC))  # nobody ran the reset for 3 months

    result = run_job(services, "expire", [sent])
    closed = [part.split(" ")[0] for part in result.summary.removeprefix("closed ").split("; ")]
    assert closed == ["2026-08", "2026-09", "2026-10"]
    assert period_runs(services) == ["2026-08", "2026-09", "2026-10"]
    ann = org["ann@acme.test"].id
    with services.db.read() as session:
        rollovers = sorted(
            session.scalars(
                select(Grant.period).where(
                    Grant.idempotency_key.like("rollover:%"), Grant.owner_id == ann
                )
            )
        )
        assert rollovers == ["2026-09", "2026-10", "2026-11"]
        assert verify(session) == []

    before = state(services)
    again = run_job(services, "expire", [sent])
    assert again.summary == "every finished period is closed already"
    assert state(services) == before


def test_running_every_job_twice_changes_nothing_and_sends_nothing_twice(
    services, org, clock, sent
):
    spend(services, "ann@acme.test", 1_700_000)  # 85% of her baseline
    for moment in (MON_NOV_30, DEC_1 + timedelta(hours=9)):
        clock.set(moment)
        for name in JOBS:
            run_job(services, name, [sent])
        first, sent_once = state(services), len(sent.sent)
        for name in JOBS:
            run_job(services, name, [sent])
        assert state(services) == first
        assert len(sent.sent) == sent_once
    assert period_runs(services) == ["2026-11"]
    templates = [notice.reply.template for notice, _ in sent.sent]
    assert templates.count("expiry_reminder") == 5
    assert templates.count("budget_alert_person") == 1  # ann's 80%
    assert all(row.attempts == 1 and row.delivered_at for row in outbox(services).values())


# --- reminders -----------------------------------------------------------------------------


def test_reminders_go_only_to_people_who_would_lose_tokens(services, org, clock, sent):
    spend(services, "bob@acme.test", 2_100_000)  # nothing left
    spend(services, "fin@acme.test", 1_850_000)  # 150,000 left: all of it rolls over
    clock.set(MON_NOV_30)
    result = run_job(services, "reminders", [sent])
    assert result.enqueued == 3
    assert recipients(sent) == sorted(
        org[e].id for e in ("ann@acme.test", "ceo@acme.test", "mia@acme.test")
    )
    (ann_text,) = texts_to(sent, org["ann@acme.test"].id)
    assert ann_text.startswith("1,800,000 of your tokens expire on Mon 30 Nov 2026")
    assert "200,000 of them carry over" in ann_text
    (ceo_text,) = texts_to(sent, org["ceo@acme.test"].id)
    assert ceo_text.startswith("5,400,000 of your tokens expire")


def test_the_app_home_names_the_expiring_tokens_the_reminder_names(services, org, clock, sent):
    """The reminder says what lapses after the rollover; the App Home's "What expires when"
    says the same figures, not the whole baseline as if nothing carried over."""
    import json

    from bot.core.dashboard import dashboard_reply

    spend(services, "ann@acme.test", 123_456)
    clock.set(MON_NOV_30)
    run_job(services, "reminders", [sent])
    (ann_text,) = texts_to(sent, org["ann@acme.test"].id)
    with services.db.read() as session:
        ann = session.get(Person, org["ann@acme.test"].id)
    home = json.loads(services.renderer.channel("slack", dashboard_reply(services, ann)))
    expiries = " ".join(
        b["text"]["text"] for b in home["blocks"] if b.get("text", {}).get("type") == "mrkdwn"
    )
    assert ann_text.startswith("1,676,544 of your tokens expire on Mon 30 Nov 2026")
    assert "You have 1,876,544 baseline tokens left; 200,000 of them carry over" in ann_text
    assert (
        "Baseline: of the 1,876,544 baseline tokens left, 200,000 carry over into the next "
        "period (the rollover cap) and 1,676,544 lapse after Mon 30 Nov 2026 unless spent"
    ) in expiries
    assert "1,876,544 tokens of Baseline" not in expiries


def test_no_reminder_before_the_window_opens_or_at_the_weekend(services, org, clock, sent):
    for moment in (
        FRI_NOV_27,  # the window opens Sat 28 Nov 00:00, three days before the end
        datetime(2026, 11, 28, 10, tzinfo=UTC),
        datetime(2026, 11, 29, 15, tzinfo=UTC),
    ):
        clock.set(moment)
        run_job(services, "reminders", [sent])
    assert sent.sent == [] and outbox(services) == {}


def test_someone_at_three_in_the_morning_is_reminded_when_their_morning_comes(
    services, org, clock, sent
):
    ann = org["ann@acme.test"].id
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person).where(Person.id == ann).values(timezone="America/Los_Angeles")
        )
        uow.commit()

    clock.set(datetime(2026, 11, 30, 11, tzinfo=UTC))  # 03:00 in Los Angeles
    run_job(services, "reminders", [sent])
    assert ann not in recipients(sent) and len(sent.sent) == 4

    clock.set(datetime(2026, 11, 30, 17, tzinfo=UTC))  # 09:00 in Los Angeles
    run_job(services, "reminders", [sent])
    (text,) = texts_to(sent, ann)
    # The period ends at midnight UTC: 16:00 on Monday in Los Angeles.
    assert text.startswith("1,800,000 of your tokens expire on Mon 30 Nov 2026")

    clock.set(datetime(2026, 11, 30, 18, tzinfo=UTC))
    run_job(services, "reminders", [sent])
    assert len(sent.sent) == 5


# --- alerts --------------------------------------------------------------------------------


def test_a_person_is_alerted_once_per_threshold_per_period(services, org, clock, sent):
    ann = org["ann@acme.test"].id
    spend(services, "ann@acme.test", 1_700_000)
    run_job(services, "alerts", [sent])
    run_job(services, "alerts", [sent])
    assert set(outbox(services)) == {f"alert:2026-11:person:{ann}:0.8"}
    assert texts_to(sent, ann) == [
        "You have used 80% of your 2026-11 baseline: 1,700,000 of 2,000,000 tokens, 300,000 "
        "left until Mon 30 Nov 2026. `balance` shows where they went."
    ]

    spend(services, "ann@acme.test", 400_000)
    run_job(services, "alerts", [sent])
    run_job(services, "alerts", [sent])
    assert set(outbox(services)) == {
        f"alert:2026-11:person:{ann}:0.8",
        f"alert:2026-11:person:{ann}:1",
    }
    assert texts_to(sent, ann)[1].startswith(
        "You have used all of your 2026-11 baseline (2,000,000 tokens)."
    )

    clock.set(DEC_1 + timedelta(hours=10))  # a new period: thresholds count again
    run_job(services, "expire", [sent])
    spend(services, "ann@acme.test", 1_600_000)
    run_job(services, "alerts", [sent])
    assert f"alert:2026-12:person:{ann}:0.8" in outbox(services)
    assert len(texts_to(sent, ann)) == 3


def test_jumping_past_several_thresholds_alerts_the_highest_only(services, org, sent):
    bob = org["bob@acme.test"].id
    spend(services, "bob@acme.test", 2_100_000)
    run_job(services, "alerts", [sent])
    run_job(services, "alerts", [sent])
    assert set(outbox(services)) == {f"alert:2026-11:person:{bob}:1"}
    assert recipients(sent) == [bob]


class TestTeamAndProjectAlerts:
    @pytest.fixture
    def policy(self):
        return policy_with(
            projects=[{"name": "Apollo", "owner": "mia@acme.test", "budget": 1_000_000}]
        )

    def test_a_team_pool_alerts_its_managers_and_a_project_its_owner(self, services, org, sent):
        spend(services, "ann@acme.test", 6_100_000)  # her 2M, then 4.1M of Marketing's 5M
        spend(services, "fin@acme.test", 6_300_000)  # 4.3M of Finance's pool
        spend(services, "bob@acme.test", 950_000, project="Apollo")  # 95% of the project
        run_job(services, "alerts", [sent])
        run_job(services, "alerts", [sent])
        with services.db.read() as session:
            teams = dict(session.execute(select(Team.name, Team.id)).all())
            apollo = session.scalar(select(Grant.owner_id).where(Grant.kind == "project"))
        ann, fin, mia, ceo = (org[f"{name}@acme.test"].id for name in ("ann", "fin", "mia", "ceo"))
        rows = outbox(services)
        assert {key: row.to_person_id for key, row in rows.items()} == {
            f"alert:2026-11:person:{ann}:1": ann,
            f"alert:2026-11:person:{fin}:1": fin,
            # Marketing has a manager among its members; Finance does not: its members' manager.
            f"alert:2026-11:team:{teams['Marketing']}:0.8:manager:{mia}": mia,
            f"alert:2026-11:team:{teams['Finance']}:0.8:manager:{ceo}": ceo,
            f"alert:2026-11:project:{apollo}:0.9": mia,
        }
        assert len(sent.sent) == 5
        assert (
            "The Marketing team pool has passed 80% for 2026-11: 4,100,000 of 5,000,000 tokens used"
            in texts_to(sent, mia)[0] + texts_to(sent, mia)[1]
        )
        assert any(
            text.startswith(
                "Project Apollo has used 90% of its 2026-11 budget: 950,000 of 1,000,000"
            )
            for text in texts_to(sent, mia)
        )


# --- the Paris calendar --------------------------------------------------------------------


class TestParisCalendar:
    @pytest.fixture
    def policy(self):
        return policy_with({"timezone": "Europe/Paris"})

    @pytest.mark.parametrize(
        ("imported", "period", "paris_midnight"),
        [
            # March holds the change to summer time: the period ends at 00:00 CEST (UTC+2).
            (datetime(2026, 3, 10, tzinfo=UTC), "2026-03", datetime(2026, 3, 31, 22, tzinfo=UTC)),
            # October holds the change back: the period ends at 00:00 CET (UTC+1).
            (datetime(2026, 10, 10, tzinfo=UTC), "2026-10", datetime(2026, 10, 31, 23, tzinfo=UTC)),
        ],
    )
    def test_a_period_closes_at_paris_midnight_across_the_clock_change(
        self, services, people_csv, clock, sent, imported, period, paris_midnight
    ):
        import_org(services, people_csv, imported)
        clock.set(paris_midnight - timedelta(seconds=1))
        run_job(services, "expire", [sent])
        assert period_runs(services) == []
        clock.set(paris_midnight)
        run_job(services, "expire", [sent])
        assert period_runs(services) == [period]


# --- jobs whose content comes from other packages ------------------------------------------


def channel_post(text: str) -> Notice:
    return Notice(
        None,
        Reply("not_available", {"command": text, "summary": "A test post"}),
        to_channel="#ai-wins",
    )


def test_the_spotlight_posts_once_per_week_however_often_it_runs(
    services, monkeypatch, clock, sent
):
    weeks = []

    def spotlight_content(session, policy, week_start, now, prepared=None):
        # what the prepare step returned is handed over
        assert prepared == f"stored for {week_start}"
        weeks.append(week_start)
        return [(f"spotlight:{week_start.isoformat()}:#ai-wins", channel_post(str(week_start)))]

    prepared = []

    def prepare_spotlight(session, policy, week_start, now):
        prepared.append(week_start)
        return f"stored for {week_start}"

    monkeypatch.setattr(jobs, "spotlight_content", spotlight_content)
    # Stores what the spotlight reads, in a transaction of its own, before it runs.
    monkeypatch.setattr(jobs, "prepare_spotlight", prepare_spotlight)
    for moment in (
        datetime(2026, 11, 23, 9, tzinfo=UTC),  # Monday 09:00
        datetime(2026, 11, 24, 15, tzinfo=UTC),  # a catch-up run on Tuesday
        datetime(2026, 11, 30, 9, tzinfo=UTC),  # next Monday
    ):
        clock.set(moment)
        run_job(services, "spotlight", [sent])
    # The week before last: the week after it is judged too before it is ranked.
    assert [w.isoformat() for w in weeks] == ["2026-11-09", "2026-11-09", "2026-11-16"]
    assert prepared == weeks
    assert set(outbox(services)) == {
        "spotlight:2026-11-09:#ai-wins",
        "spotlight:2026-11-16:#ai-wins",
    }
    assert [notice.to_channel for notice, _ in sent.sent] == ["#ai-wins", "#ai-wins"]


def test_the_review_covers_last_month_and_the_detectors_the_week_of_yesterday(
    services, monkeypatch, clock, sent
):
    seen = {}
    monkeypatch.setattr(
        jobs,
        "review_content",
        lambda session, policy, month, now: (
            seen.setdefault("month", month) and [(f"review:{month}:finance", channel_post(month))]
        ),
    )
    monkeypatch.setattr(
        jobs,
        "detectors_content",
        lambda session, policy, week_start, now: seen.setdefault("week", week_start) and [],
    )
    clock.set(datetime(2026, 12, 1, 9, tzinfo=UTC))  # Tuesday 1 December
    review = run_job(services, "review", [sent])
    detectors = run_job(services, "detectors", [sent])
    assert seen == {"month": "2026-11", "week": datetime(2026, 11, 30).date()}
    assert review.enqueued == 1 and review.delivered == 1
    assert detectors.summary == "2026-W49: 0 message(s) queued (0 already sent)"


def test_an_expired_request_names_its_deadline_not_the_hour_the_expiry_job_ran(
    services, org, clock, sent
):
    """The job runs late (here two days after the deadline): every message names the deadline
    the request had, the one `request` showed while it was pending."""
    from bot.core.dispatch import Dispatcher
    from bot.core.messages import IncomingMessage
    from budgets.requests import create_request
    from message_templates import format_moment

    zone = services.policy.periods.timezone
    with services.db.unit_of_work() as uow:
        ann = uow.session.get(Person, org["ann@acme.test"].id)
        create_request(uow.session, services.policy, ann, 100_000, "launch week", now=clock())
        uow.commit()
    deadline = clock() + timedelta(hours=services.policy.approvals.expire_after_hours)
    ran_at = clock.set(deadline + timedelta(days=2))
    run_job(services, "nudges", [sent])
    told = texts_to(sent, org["ann@acme.test"].id) + texts_to(sent, org["mia@acme.test"].id)
    assert told
    listed = services.renderer.text(
        Dispatcher(services).handle_message(
            IncomingMessage("console", "ann@acme.test", "request list")
        )
    )
    for text in [*told, listed]:
        assert format_moment(deadline, zone)[:15] in text, text
        assert format_moment(ran_at, zone)[:15] not in text, text


def test_an_approver_is_nudged_once_and_a_stale_request_expires_telling_the_requester(
    services, org, clock, sent
):
    from budgets.requests import create_request

    approvals = services.policy.approvals
    with services.db.unit_of_work() as uow:
        ann = uow.session.get(Person, org["ann@acme.test"].id)
        create_request(uow.session, services.policy, ann, 100_000, "launch week", now=clock())
        uow.commit()

    clock.advance(hours=approvals.nudge_after_hours + 1)
    first = run_job(services, "nudges", [sent])
    again = run_job(services, "nudges", [sent])
    assert first.summary == "1 nudge(s) and 0 expiry message(s) queued"
    assert (first.enqueued, first.delivered) == (1, 1)
    assert again.summary == "0 nudge(s) and 0 expiry message(s) queued"
    assert (again.enqueued, again.delivered) == (0, 0)
    assert recipients(sent) == [org["mia@acme.test"].id]

    clock.advance(hours=approvals.expire_after_hours)
    expired = run_job(services, "nudges", [sent])
    assert "0 nudge(s)" in expired.summary and "0 expiry" not in expired.summary
    assert org["ann@acme.test"].id in recipients(sent)
    assert run_job(services, "nudges", [sent]).delivered == 0
