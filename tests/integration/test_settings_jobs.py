"""Every job honours a person's settings: reminders and alerts skip whoever turned them off
(alerts from a share: only thresholds from it), quiet hours hold a due direct message in the
outbox until they end (held, never dropped, channel posts never held), the policy's
`[settings.defaults]` hold for whoever has not chosen, and the weekly digest (balance, score
trend, one tip) goes once a week to whoever wants it.

The built-in policy and the conftest org (see test_jobs.py): November 2026 ends Tue 1 Dec
00:00 UTC, Mon 30 Nov is the reminders' only weekday; the policy's time zone is UTC."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingMessage, Notice, Reply
from bot.delivery import LogDeliverer
from bot.jobs import run_job
from bot.outbox import deliver_pending, enqueue
from budgets.balances import balance_for
from budgets.setting_values import QuietHours
from budgets.settings import change_settings
from storage.models import AuditEntry, OutboxMessage, Person, PersonSettings
from tests.conftest import run_together
from tests.integration.jobs_support import outbox, spend
from tests.integration.scoring_support import seed_org

MON_NOV_30 = datetime(2026, 11, 30, 10, tzinfo=UTC)


@pytest.fixture
def sent(services) -> LogDeliverer:  # noqa: ANN001
    return LogDeliverer(services.renderer)


def choose(services, email: str, **values: str) -> None:  # noqa: ANN001
    with services.db.unit_of_work() as uow:
        person = uow.session.scalar(select(Person).where(Person.email == email))
        change_settings(uow.session, services.policy, person, values, services.clock())
        uow.commit()


def templates_to(sent: LogDeliverer, person_id: int) -> list[str]:
    return [notice.reply.template for notice, _ in sent.sent if notice.to_person_id == person_id]


def test_reminders_skip_whoever_turned_them_off(services, org, clock, sent):
    choose(services, "ann@acme.test", reminders="off")
    clock.set(MON_NOV_30)

    result = run_job(services, "reminders", [sent])

    assert result.enqueued == 4
    assert templates_to(sent, org["ann@acme.test"].id) == []
    assert templates_to(sent, org["bob@acme.test"].id) == ["expiry_reminder"]


def test_alerts_off_send_none_and_a_share_sends_only_thresholds_from_it(services, org, clock, sent):
    ann, bob = org["ann@acme.test"].id, org["bob@acme.test"].id
    choose(services, "ann@acme.test", alerts="off")
    choose(services, "bob@acme.test", alerts="95%")
    spend(services, "ann@acme.test", 1_700_000)
    spend(services, "bob@acme.test", 1_700_000)  # 85%: under Bob's 95%
    spend(services, "fin@acme.test", 1_700_000)  # the default: every threshold

    run_job(services, "alerts", [sent])
    assert templates_to(sent, ann) == [] and templates_to(sent, bob) == []
    assert templates_to(sent, org["fin@acme.test"].id) == ["budget_alert_person"]

    spend(services, "bob@acme.test", 300_000)  # 100%
    run_job(services, "alerts", [sent])
    assert set(outbox(services)) >= {f"alert:2026-11:person:{bob}:1"}
    assert f"alert:2026-11:person:{bob}:0.8" not in outbox(services)
    assert templates_to(sent, bob) == ["budget_alert_person"]
    assert templates_to(sent, ann) == []


def test_a_message_due_in_quiet_hours_is_held_until_they_end_then_sent_once(
    services, org, clock, sent
):
    ann = org["ann@acme.test"].id
    choose(services, "ann@acme.test", quiet_hours="19:00-08:00")
    clock.set(datetime(2026, 11, 18, 21, 30, tzinfo=UTC))
    spend(services, "ann@acme.test", 1_700_000)
    spend(services, "bob@acme.test", 1_700_000)

    run_job(services, "alerts", [sent])

    assert templates_to(sent, ann) == []  # held ...
    assert templates_to(sent, org["bob@acme.test"].id) == ["budget_alert_person"]
    held = outbox(services)[f"alert:2026-11:person:{ann}:0.8"]
    assert (held.delivered_at, held.attempts, held.claimed_by) == (None, 0, None)
    assert held.next_attempt_at == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)

    clock.set(datetime(2026, 11, 19, 7, 59, tzinfo=UTC))
    assert deliver_pending(services, [sent]).delivered == 0
    clock.set(datetime(2026, 11, 19, 8, 0, tzinfo=UTC))
    report = deliver_pending(services, [sent])
    assert (report.delivered, report.held) == (1, 0)
    assert templates_to(sent, ann) == ["budget_alert_person"]  # ... not dropped
    assert deliver_pending(services, [sent]).delivered == 0


def test_quiet_hours_are_read_on_the_persons_own_clock_and_never_hold_channel_posts(
    services, org, clock, sent
):
    ann = org["ann@acme.test"]
    with services.db.unit_of_work() as uow:
        uow.session.get(Person, ann.id).timezone = "Asia/Tokyo"
        uow.commit()
    choose(services, "ann@acme.test", quiet_hours="22:00-07:00")
    clock.set(datetime(2026, 11, 18, 14, 0, tzinfo=UTC))  # 23:00 in Tokyo
    with services.db.unit_of_work() as uow:
        enqueue(uow.session, "test:dm", Notice(ann.id, Reply("error", {"message": "hi"})), clock())
        enqueue(
            uow.session,
            "test:post",
            Notice(None, Reply("error", {"message": "all"}, private=False), to_channel="#ai-wins"),
            clock(),
        )
        uow.commit()

    report = deliver_pending(services, [sent])

    assert (report.delivered, report.held) == (1, 1)
    assert [n.to_channel for n, _ in sent.sent] == ["#ai-wins"]
    with services.db.read() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.key == "test:dm"))
    assert row.next_attempt_at == datetime(2026, 11, 18, 22, 0, tzinfo=UTC)  # 07:00 in Tokyo


def test_the_policys_defaults_hold_for_whoever_has_not_chosen(services, org, clock, sent):
    services.policy = replace(
        services.policy,
        settings_defaults=replace(
            services.policy.settings_defaults,
            reminders=False,
            quiet_hours=QuietHours(time(19), time(8)),
        ),
    )
    choose(services, "ann@acme.test", reminders="on", quiet_hours="off")
    clock.set(MON_NOV_30)

    run_job(services, "reminders", [sent])

    assert [n.to_person_id for n, _ in sent.sent] == [org["ann@acme.test"].id]


# --- the weekly digest ----------------------------------------------------------------------


@pytest.fixture
def ids(services) -> dict[str, int]:  # noqa: ANN001
    return seed_org(services)


def test_the_weekly_digest_goes_once_to_whoever_wants_it_with_figures_score_shows(
    services, ids, sent
):
    choose(services, "bob@acme.test", digest="off")

    result = run_job(services, "digest", [sent])
    again = run_job(services, "digest", [sent])

    assert again.enqueued == 0
    got = {n.to_person_id for n, _ in sent.sent}
    assert ids["bob"] not in got and ids["ann"] in got
    assert result.enqueued == len(got) == len(ids) - 1
    assert all(n.reply.template == "weekly_digest" for n, _ in sent.sent)
    assert set(outbox(services)) >= {f"digest:2026-W46:person:{ids['ann']}"}

    (text,) = [t for n, t in sent.sent if n.to_person_id == ids["ann"]]
    assert text.startswith("Your week in tokens (2026-W46).")
    with services.db.read() as session:
        ann = session.get(Person, ids["ann"])
        balance = balance_for(session, ann, services.policy, services.clock())
    assert (
        f"Balance: {balance.personal_remaining:,} of your {balance.personal_total:,} 2026-11 "
        f"tokens left ({balance.used:,} used)"
    ) in text
    score_page = services.renderer.text(
        Dispatcher(services).handle_message(
            IncomingMessage("console", "ann@acme.test", "score --week 2026-W46")
        )
    )
    score_line = next(line for line in text.splitlines() if line.startswith("Score: "))
    shown = score_line.split()[1].rstrip(",")
    assert f"{shown}" in score_page  # the same score `score` shows for that week
    assert "from " in score_line and "in 2026-W45" in score_line
    assert "`settings digest off` stops this message." in text


def test_someone_with_no_scored_work_gets_their_balance_and_a_general_tip(services, ids, sent):
    run_job(services, "digest", [sent])
    (text,) = [t for n, t in sent.sent if n.to_person_id == ids["ceo"]]
    assert "Score: no scored work in 2026-W46." in text
    assert text.splitlines()[3].startswith("Tip: a prompt that works well is worth sharing")


# --- races ------------------------------------------------------------------------------------


def test_changes_racing_on_threads_each_count_once_in_the_revision_and_the_audit(services, org):
    """Run with TOKENBOT_TEST_DATABASE_URL for PostgreSQL: the row lock orders the changes."""
    shares = iter(["81%", "82%", "83%", "84%", "85%", "86%"])

    def one_change() -> None:
        with services.db.unit_of_work() as uow:
            person = uow.session.get(Person, org["ann@acme.test"].id)
            change_settings(
                uow.session, services.policy, person, {"alerts": next(shares)}, services.clock()
            )
            uow.commit()

    run_together(one_change, 6)

    with services.db.read() as session:
        row = session.get(PersonSettings, org["ann@acme.test"].id)
        changes = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "settings.change")
        ).all()
    assert row.revision == 6 == len(changes)
    assert sorted(c.detail["revision"] for c in changes) == list(range(1, 7))
    # Each change saw the one before it: the chain of from -> to values is unbroken.
    by_revision = sorted(changes, key=lambda c: c.detail["revision"])
    assert by_revision[0].detail["changes"]["alerts"]["from"] is None
    for before, after in zip(by_revision, by_revision[1:], strict=False):
        assert after.detail["changes"]["alerts"]["from"] == before.detail["changes"]["alerts"]["to"]
    assert row.alerts == by_revision[-1].detail["changes"]["alerts"]["to"]
