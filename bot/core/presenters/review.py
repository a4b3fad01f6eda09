"""The monthly governance review and the quarterly scorecard in chat and reports: message
context (plain JSON values), the chart attachment, and the keyed notices of the 1st of the
month (`monthly_review_notices`). Flags appear only as counts by type: a review never names a
flagged person."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from bot.core.messages import Attachment, Button, Notice, Reply
from bot.core.presenters.charts import TeamBar, review_chart
from budgets.policy import Policy
from budgets.quotas import ACTION_APPLY, ACTION_DISMISS, recommendation_context
from scoring.config import scoring_settings
from scoring.review import MonthlyReview, MonthlyRound, TeamScorecard


def review_context(review: MonthlyReview) -> dict[str, Any]:
    """The review as message context: plain JSON values."""
    context = asdict(review)
    context["flags"] = [{**asdict(f), "total": f.total} for f in review.flags]
    context["trend"] = {
        c.measure: {"this": c.this, "last": c.last, "change": c.change} for c in review.trend
    }
    context["flags_total"] = sum(f.total for f in review.flags)
    return context


def chart_png(review: MonthlyReview) -> bytes:
    bars = [TeamBar(t.team, t.tokens, t.accepted, t.variance) for t in review.teams]
    return review_chart(bars, f"Monthly review {review.month}: {review.scope_name}")


def chart_attachment(review: MonthlyReview, png: bytes | None = None) -> Attachment:
    png = png if png is not None else chart_png(review)
    slug = (
        "org"
        if review.scope == "org"
        else re.sub(r"[^a-z0-9]+", "-", review.scope_name.lower()).strip("-")
    )
    return Attachment(
        filename=f"review-{review.month}-{slug or 'team'}.png",
        title=f"Spend, accepted output and budget variance by team, {review.month}",
        content_base64=base64.b64encode(png).decode("ascii"),
    )


def scorecard_context(
    policy: Policy, quarter: str, cards: Sequence[TeamScorecard]
) -> dict[str, Any]:
    weights = scoring_settings(policy).weights_for(policy.phase)
    return {
        "quarter": quarter,
        "phase": policy.phase,
        "weights": [
            {"component": c, "points": float(p)}
            for c, p in sorted(weights.items(), key=lambda kv: -kv[1])
            if p
        ],
        "teams": [asdict(c) for c in cards],
    }


def monthly_review_notices(policy: Policy, round_: MonthlyRound) -> list[tuple[str, Notice]]:
    """Keyed private notices: the org review (finance, admins), each manager's team review,
    quota recommendations (admins, `optimize` phase; Apply and Dismiss buttons) and, after a
    quarter's last month, the scorecard. Reviews carry their chart (PNG, attached)."""
    month = round_.month
    notices: list[tuple[str, Notice]] = []
    org_context = review_context(round_.org)
    org_chart = chart_attachment(round_.org)
    for person_id in round_.leaders:
        notices.append(
            (
                f"review:{month}:person:{person_id}",
                Notice(person_id, Reply("monthly_review", org_context, attachments=(org_chart,))),
            )
        )
    for person_id, review in round_.team_reviews:
        notices.append(
            (
                f"review:{month}:person:{person_id}",
                Notice(
                    person_id,
                    Reply(
                        "monthly_review",
                        review_context(review),
                        attachments=(chart_attachment(review),),
                    ),
                ),
            )
        )
    if round_.recommendations:
        context = {
            "month": month,
            "recommendations": [recommendation_context(r) for r in round_.recommendations],
        }
        buttons = tuple(
            button
            for r in round_.recommendations
            for button in (
                Button(f"Apply #{r.id}", ACTION_APPLY, str(r.id), style="primary"),
                Button(f"Dismiss #{r.id}", ACTION_DISMISS, str(r.id)),
            )
        )
        for person_id in round_.admins:
            notices.append(
                (
                    f"quota:{month}:person:{person_id}",
                    Notice(person_id, Reply("quota_recommendations", context, buttons=buttons)),
                )
            )
    if round_.quarter is not None:
        context = scorecard_context(policy, round_.quarter, round_.scorecards)
        for person_id in round_.leaders:
            notices.append(
                (
                    f"scorecard:{round_.quarter}:person:{person_id}",
                    Notice(person_id, Reply("quarterly_scorecard", context)),
                )
            )
    return notices
