"""The outbox: proactive messages committed with the effect they announce, sent exactly once.

A job (or a command) that changes something and tells someone about it calls `enqueue` in the
same unit of work as the change, so both commit or neither does. The key is the exactly-once
key (`reminder:2026-11:person:12`, `alert:2026-11:person:12:0.8`): enqueueing a key that is
already there does nothing, so a job that runs twice, or in two processes, announces once.

`deliver_pending` sends what is due through the platform deliverers (`bot.delivery`). Each row
is claimed first with a conditional update (`UPDATE ... WHERE delivered_at IS NULL AND the row
is due`), committed, then sent, then marked delivered: two senders racing never send a row
twice. A sender that dies between claim and send leaves a claim that lapses after
`CLAIM_SECONDS`, when the row is retried (at least once beats never for a crashed send). A
row no platform could take is retried with backoff up to `MAX_ATTEMPTS` times, its last error
kept for admins. A message in several parts (text, then a chart upload) is sent part by part:
the notice carries the row's key, under which the deliverer remembers each part it sent, so a
retry after a partial failure sends only what was not sent.

A direct message due in its recipient's quiet hours (`/tokens settings`, or the policy's
default) is held, not sent and not dropped: its row is released unsent, its attempt not
counted, and due again when the quiet hours end. Channel posts are never held.

Contexts must be JSON-safe (dates as ISO strings; templates format them with `|from_iso`), so a
row renders the same after a restart as it would have before.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot.core.messages import Attachment, Button, Notice, Reply
from bot.core.presenters.unreached import unreached_notices
from bot.delivery import Deliverer, LogDeliverer, deliver_first, platform_deliverers
from budgets.settings import quiet_until
from storage.database import upsert_insert
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 300
BATCH = 200


def is_json_safe(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def enqueue(session: Session, key: str, notice: Notice, now: datetime) -> bool:
    """Add a notice to the outbox under `key` unless that key is already there; True when this
    call added it. The caller commits, together with the change the notice announces."""
    reply = notice.reply
    if reply.form is not None or reply.notices or reply.replace_original:
        raise ValueError(f"outbox {key}: a proactive notice cannot carry forms or further notices")
    if not is_json_safe(reply.context):
        raise TypeError(
            f"outbox {key}: the context of {reply.template!r} is not JSON-safe; pass plain "
            "values (ISO strings for dates, ints for amounts)"
        )
    row = {
        "key": key,
        "to_person_id": notice.to_person_id,
        "to_channel": notice.to_channel,
        "to_team": notice.to_team,
        "template": reply.template,
        "context": reply.context,
        "buttons": [
            {"label": b.label, "action_id": b.action_id, "value": b.value, "style": b.style}
            for b in reply.buttons
        ],
        "private": reply.private,
        "attachments": [asdict(a) for a in reply.attachments],
        "ref": notice.ref,
        "attempts": 0,
        "next_attempt_at": None,
        "created_at": now,
    }
    table = OutboxMessage.__table__
    stmt = (
        upsert_insert(session, table)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.id)
    )
    return session.execute(stmt).first() is not None


def enqueue_all(session: Session, notices: Sequence[tuple[str, Notice]], now: datetime) -> int:
    """Enqueue (key, notice) pairs; returns how many were new."""
    return sum(enqueue(session, key, notice, now) for key, notice in notices)


def deliver_or_queue(
    services: Any, deliverers: Sequence[Deliverer], notices: Sequence[Notice]
) -> int:
    """Send a command's notices now, each through the first platform that reaches its
    recipient. A notice for a person no platform reaches yet (not linked to Slack or Teams)
    is not dropped: it waits in the outbox, retried as every row is, and whoever must know is
    told (an approval: the requester and the admins, `unreached_notices`); linking the person
    later makes it due at once (`wake`). Returns how many wait."""
    waiting = [n for n in notices if not deliver_first(list(deliverers), n)]
    if not waiting:
        return 0
    now = services.clock()
    told: list[Notice] = []
    with services.db.unit_of_work() as uow:
        for notice in waiting:
            log.warning("notice %s reached no platform: queued", notice.reply.template)
            enqueue(uow.session, _waiting_key(notice, now), notice, now)
            told += unreached_notices(uow.session, notice)
        uow.commit()
    unreached = [n for n in told if not deliver_first(list(deliverers), n)]
    if unreached:
        with services.db.unit_of_work() as uow:
            for notice in unreached:
                enqueue(uow.session, _waiting_key(notice, now), notice, now)
            uow.commit()
    return len(waiting) + len(unreached)


def wake(session: Session, person_id: int) -> int:
    """Tokenbot can reach this person now (just linked to a platform): what waits for them,
    even rows given up after `MAX_ATTEMPTS`, is due again with a fresh count of attempts, so
    a queued approval reaches its approver however late they arrive. The caller commits."""
    table = OutboxMessage.__table__
    woken = session.execute(
        update(table)
        .where(
            table.c.to_person_id == person_id,
            table.c.to_channel.is_(None),
            table.c.delivered_at.is_(None),
            table.c.claimed_by.is_(None),
        )
        .values(attempts=0, next_attempt_at=None)
    )
    return int(woken.rowcount or 0)


def _waiting_key(notice: Notice, now: datetime) -> str:
    """An approval's ref names its request and step, so it waits once; other notices are
    distinct by their time and a random part."""
    if notice.ref is not None and notice.to_channel is None:
        return f"waiting:{notice.ref}"
    return f"waiting:{notice.reply.template}:{notice.to_person_id}:{now.isoformat()}:{uuid.uuid4().hex}"


def to_notice(row: OutboxMessage) -> Notice:
    reply = Reply(
        row.template,
        dict(row.context),
        buttons=tuple(Button(**button) for button in row.buttons),
        private=row.private,
        attachments=tuple(Attachment(**a) for a in row.attachments or ()),
    )
    return Notice(
        row.to_person_id,
        reply,
        to_channel=row.to_channel,
        ref=row.ref,
        to_team=row.to_team,
        key=row.key,
    )


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    # Rows another sender claimed between our look and our claim: theirs to send.
    skipped: int = 0
    # Direct messages due in their recipient's quiet hours: due again when those end.
    held: int = 0


def sender_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _due(now: datetime) -> Any:
    table = OutboxMessage.__table__
    return (
        table.c.delivered_at.is_(None),
        table.c.attempts < MAX_ATTEMPTS,
        or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
    )


def deliver_pending(
    services: Any, deliverers: Sequence[Deliverer] | None = None, limit: int = BATCH
) -> DeliveryReport:
    """Send every due outbox row through the deliverers (default: `default_deliverers`).

    A row counts as delivered when at least one platform took it. Time comes from
    `services.clock`, so tests and `jobs run --at` see retries when they move the clock."""
    deliverers = list(deliverers) if deliverers is not None else default_deliverers(services)
    me = sender_id()
    table = OutboxMessage.__table__
    delivered = failed = skipped = held = 0
    after = 0
    while True:
        now = services.clock()
        with services.db.read() as session:
            ids = list(
                session.scalars(
                    select(table.c.id)
                    .where(table.c.id > after, *_due(now))
                    .order_by(table.c.id)
                    .limit(limit)
                )
            )
        if not ids:
            break
        after = ids[-1]
        for row_id in ids:
            outcome = _deliver_one(services, deliverers, me, row_id)
            delivered += outcome == "delivered"
            failed += outcome == "failed"
            skipped += outcome == "skipped"
            held += outcome == "held"
    return DeliveryReport(delivered=delivered, failed=failed, skipped=skipped, held=held)


def _deliver_one(services: Any, deliverers: Sequence[Deliverer], me: str, row_id: int) -> str:
    """Claim, send and settle one row: "delivered", "failed", "skipped" (another sender
    claimed or delivered it first) or "held" (its recipient's quiet hours)."""
    table = OutboxMessage.__table__
    now = services.clock()
    with services.db.unit_of_work() as uow:
        claimed = uow.session.execute(
            update(table)
            .where(table.c.id == row_id, *_due(now))
            .values(
                claimed_by=me,
                attempts=table.c.attempts + 1,
                next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS),
            )
        ).rowcount
        if claimed != 1:
            return "skipped"
        row = uow.session.get(OutboxMessage, row_id)
        assert row is not None
        notice, attempts = to_notice(row), row.attempts
        if row.to_person_id is not None and row.to_channel is None:
            ends = quiet_until(uow.session, services.policy, row.to_person_id, now)
            if ends is not None:
                # Released unsent at once (same transaction as the claim): not an attempt.
                uow.session.execute(
                    update(table)
                    .where(table.c.id == row_id, table.c.claimed_by == me)
                    .values(claimed_by=None, attempts=table.c.attempts - 1, next_attempt_at=ends)
                )
                uow.commit()
                return "held"
        uow.commit()
    error = _send(deliverers, notice)
    now = services.clock()
    if error is None:
        values: dict[str, Any] = {"delivered_at": now, "claimed_by": None, "last_error": None}
    else:
        log.warning("outbox row %s (attempt %s) not delivered: %s", row_id, attempts, error)
        values = {
            "claimed_by": None,
            "last_error": error[:2000],
            "next_attempt_at": now + retry_delay(attempts),
        }
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(table).where(table.c.id == row_id, table.c.claimed_by == me).values(**values)
        )
        uow.commit()
    return "delivered" if error is None else "failed"


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes after each failed attempt, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def _send(deliverers: Sequence[Deliverer], notice: Notice) -> str | None:
    """None when at least one platform took the notice, otherwise what went wrong."""
    problems = []
    for deliverer in deliverers:
        try:
            if deliverer.deliver(notice):
                return None
            problems.append(f"{deliverer.platform}: cannot reach the recipient")
        except Exception as exc:
            log.exception("delivery through %s failed", deliverer.platform)
            problems.append(f"{deliverer.platform}: {type(exc).__name__}: {exc}")
    return "; ".join(problems) or "no deliverer is configured"


def default_deliverers(services: Any) -> list[Deliverer]:
    """The platforms configured for this process: every configured chat platform (Slack,
    Teams: see `bot.delivery.platform_deliverers`, which imports them late so the outbox itself
    knows no chat SDK), else the log (single-machine setups, demos)."""
    return platform_deliverers(services) or [LogDeliverer(services.renderer)]


@dataclass(frozen=True)
class OutboxCounts:
    pending: int
    given_up: int


def outbox_counts(session: Session) -> OutboxCounts:
    """Undelivered rows still being tried, and rows given up after MAX_ATTEMPTS (for admins)."""
    table = OutboxMessage.__table__
    undelivered = table.c.delivered_at.is_(None)
    pending = session.scalar(
        select(func.count()).where(undelivered, table.c.attempts < MAX_ATTEMPTS)
    )
    given_up = session.scalar(
        select(func.count()).where(undelivered, table.c.attempts >= MAX_ATTEMPTS)
    )
    return OutboxCounts(pending=int(pending or 0), given_up=int(given_up or 0))
