"""The weekly digest as keyed notices (JSON-safe contexts: they wait in the outbox)."""

from __future__ import annotations

from bot.core.messages import Notice, Reply
from bot.core.presenters.spotlight import improvement_context
from scoring.digest import WeeklyDigest


def digest_notices(
    digests: list[WeeklyDigest], zone_of: dict[int, str]
) -> list[tuple[str, Notice]]:
    """One DM per digest, keyed per person and week so a rerun sends nothing twice."""
    notices = []
    for d in digests:
        balance = d.balance
        context = {
            "week": d.week,
            "previous_week": d.previous_week,
            "remaining": balance.personal_remaining,
            "total": balance.personal_total,
            "used": balance.used,
            "period": balance.period.key,
            "period_end": balance.period.end.isoformat(),
            "score": None if d.score is None else float(d.score),
            "previous_score": None if d.previous_score is None else float(d.previous_score),
            "improvement": improvement_context(d.improvement),
            "zone": zone_of.get(d.person_id, "UTC"),
        }
        notices.append((d.key, Notice(d.person_id, Reply("weekly_digest", context))))
    return notices
