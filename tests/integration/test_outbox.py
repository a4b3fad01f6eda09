"""The outbox on a real database: one row per key, JSON-safe contexts, a claim before every
send so racing senders never send twice, retries with backoff, and rows that render the same
after a restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.core.messages import Button, Notice, Reply
from bot.delivery import LogDeliverer
from bot.outbox import CLAIM_SECONDS, MAX_ATTEMPTS, deliver_pending, enqueue, to_notice
from storage.models import OutboxMessage
from tests.integration.jobs_support import outbox

PERIOD_END = datetime(2026, 12, 1, tzinfo=UTC)


def reminder(person_id: int = 7, lapsing: int = 1_800_000) -> Notice:
    return Notice(
        person_id,
        Reply(
            "expiry_reminder",
            {
                "period": "2026-11",
                "expires_at": PERIOD_END.isoformat(),
                "expiring": 2_000_000,
                "carry_over": 200_000,
                "lapsing": lapsing,
                "zone": "UTC",
            },
            buttons=(Button("Show my balance", "balance.show", "7"),),
        ),
    )


def put(services, key: str, notice: Notice) -> bool:
    with services.db.unit_of_work() as uow:
        added = enqueue(uow.session, key, notice, services.clock())
        uow.commit()
    return added


class Unreachable:
    """A platform that cannot reach anyone (the person never linked their account)."""

    platform = "nowhere"

    def deliver(self, notice: Notice) -> bool:
        return False


def test_a_key_enqueued_twice_is_one_row_holding_the_first_notice(services):
    assert put(services, "reminder:2026-11:person:7", reminder(lapsing=1)) is True
    assert put(services, "reminder:2026-11:person:7", reminder(lapsing=2)) is False
    rows = outbox(services)
    assert list(rows) == ["reminder:2026-11:person:7"]
    assert rows["reminder:2026-11:person:7"].context["lapsing"] == 1


def test_a_context_that_is_not_json_is_refused_when_enqueued(services):
    notice = Notice(7, Reply("expiry_reminder", {"expires_at": PERIOD_END}))
    with services.db.unit_of_work() as uow, pytest.raises(TypeError, match="not JSON-safe"):
        enqueue(uow.session, "reminder:bad", notice, services.clock())


def test_a_stored_notice_renders_as_the_original_after_a_restart(services):
    put(services, "reminder:2026-11:person:7", reminder())
    row = outbox(services)["reminder:2026-11:person:7"]
    restored = to_notice(row)
    assert restored == replace(reminder(), key="reminder:2026-11:person:7")
    text = services.renderer.text(restored.reply)
    assert "1,800,000 of your tokens expire on Mon 30 Nov 2026" in text
    assert "200,000 of them carry over" in text


def test_pending_rows_are_sent_once_and_marked_delivered(services, clock):
    put(services, "a", reminder(1))
    put(services, "b", reminder(2))
    log = LogDeliverer(services.renderer)
    first = deliver_pending(services, [log])
    second = deliver_pending(services, [log])
    assert (first.delivered, second.delivered) == (2, 0)
    assert [notice.to_person_id for notice, _ in log.sent] == [1, 2]
    rows = outbox(services)
    assert all(r.delivered_at == clock() and r.attempts == 1 for r in rows.values())


def test_two_senders_racing_never_send_the_same_row_twice(services):
    """The first sender is mid-send when a second one starts: the second skips what the first
    has claimed and sends the rest; every row goes out exactly once."""
    for n in range(1, 4):
        put(services, f"row:{n}", reminder(n))

    class RacingDeliverer(LogDeliverer):
        def __init__(self, renderer):  # noqa: ANN001
            super().__init__(renderer)
            self.raced = False
            self.second_sender = None

        def deliver(self, notice: Notice) -> bool:
            if not self.raced:
                self.raced = True
                self.second_sender = deliver_pending(services, [self])
            return super().deliver(notice)

    racing = RacingDeliverer(services.renderer)
    first = deliver_pending(services, [racing])
    sent = sorted(notice.to_person_id for notice, _ in racing.sent)
    assert sent == [1, 2, 3]
    assert racing.second_sender.delivered == 2 and racing.second_sender.skipped == 0
    assert first.delivered == 1 and first.skipped == 2


def test_an_undeliverable_row_is_retried_with_backoff_and_then_delivered(services, clock):
    put(services, "alert:x", reminder())
    report = deliver_pending(services, [Unreachable()])
    row = outbox(services)["alert:x"]
    assert (report.failed, row.attempts, row.delivered_at) == (1, 1, None)
    assert "nowhere: cannot reach the recipient" in row.last_error

    log = LogDeliverer(services.renderer)
    assert deliver_pending(services, [log]).delivered == 0  # not due yet: backoff
    clock.advance(minutes=1)
    assert deliver_pending(services, [log]).delivered == 1
    row = outbox(services)["alert:x"]
    assert (row.attempts, row.last_error, row.delivered_at) == (2, None, clock())


def test_a_row_claimed_by_a_sender_that_died_is_sent_once_the_claim_lapses(services, clock):
    put(services, "alert:y", reminder())
    with services.db.unit_of_work() as uow:  # a sender claimed it and died before sending
        uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.key == "alert:y")
            .values(
                claimed_by="dead-sender",
                attempts=1,
                next_attempt_at=clock() + timedelta(seconds=CLAIM_SECONDS),
            )
        )
        uow.commit()
    log = LogDeliverer(services.renderer)
    assert deliver_pending(services, [log]).delivered == 0
    clock.advance(seconds=CLAIM_SECONDS)
    assert deliver_pending(services, [log]).delivered == 1
    assert len(log.sent) == 1


def test_a_row_nobody_can_take_is_given_up_after_the_last_attempt(services, clock):
    put(services, "alert:z", reminder())
    for _ in range(MAX_ATTEMPTS + 2):
        deliver_pending(services, [Unreachable()])
        clock.advance(hours=7)
    row = outbox(services)["alert:z"]
    assert row.attempts == MAX_ATTEMPTS and row.delivered_at is None
