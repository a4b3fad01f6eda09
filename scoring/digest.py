"""The weekly digest: for each person who wants it, their balance, their score trend over the
last two complete weeks, and the one change worth most to their score (the tip).

Facts only (`WeeklyDigest`); `bot.core.presenters.digest` words them. Who gets one is decided
by their settings (`budgets.settings`: `digest` on, or the policy's default); scores are the
same `build_scoreboard` the `score` command shows, so the digest's figures match `score` and
`balance` for the same week and moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from budgets.balances import BalanceView, balance_for
from budgets.policy import Policy
from budgets.settings import effective_settings
from budgets.windows import Window, previous_week
from scoring.rollups import CurrentWeeks
from scoring.score import Improvement, best_improvement, build_scoreboard
from storage.models import Person


@dataclass(frozen=True)
class WeeklyDigest:
    person_id: int
    week: str  # the last complete week, 2026-W47
    previous_week: str
    balance: BalanceView
    score: Decimal | None  # None: not scored that week (no scored work)
    previous_score: Decimal | None
    improvement: Improvement | None

    @property
    def key(self) -> str:
        return f"digest:{self.week}:person:{self.person_id}"


def digest_recipients(session: Session, policy: Policy) -> list[int]:
    """Active people whose settings (or the policy's default) ask for the digest."""
    return sorted(pid for pid, s in effective_settings(session, policy).items() if s.digest)


def weekly_digests(
    session: Session,
    policy: Policy,
    week: Window,
    now: datetime,
    person_ids: Iterable[int] | None = None,
    current: CurrentWeeks | None = None,
) -> list[WeeklyDigest]:
    """A digest for each recipient (default: `digest_recipients`) for `week`, scored as
    `score` scores it; balances as of `now`. `current`: what is stored for `week` and its
    baseline weeks (`scoring.spotlight.prepare_spotlight`), when the caller stored it."""
    ids = list(person_ids) if person_ids is not None else digest_recipients(session, policy)
    if not ids:
        return []
    before = previous_week(policy.periods.zone, week)
    board = build_scoreboard(session, policy, week, now, person_ids=ids, current=current)
    earlier = build_scoreboard(session, policy, before, now, person_ids=ids)
    people = session.scalars(select(Person).where(Person.id.in_(ids)).order_by(Person.id))
    digests = []
    for person in people:
        scored = board.scores.get(person.id)
        previous = earlier.scores.get(person.id)
        digests.append(
            WeeklyDigest(
                person_id=person.id,
                week=week.key,
                previous_week=before.key,
                balance=balance_for(session, person, policy, now),
                score=scored.score if scored else None,
                previous_score=previous.score if previous else None,
                improvement=best_improvement(scored, board) if scored else None,
            )
        )
    return digests
