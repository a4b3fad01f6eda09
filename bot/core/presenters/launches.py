"""The launch pool report (`budgets.launches.LaunchReport`) as a keyed notice to the pool's
owner: the window's tokens and accepted artifacts beside the same number of days before it,
each ratio computed from the figures shown with it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.messages import Notice, Reply
from budgets.launches import LaunchReport, Span


def span_context(span: Span) -> dict[str, Any]:
    return {
        "starts": span.starts.isoformat(),
        "ends": span.ends.isoformat(),
        "tokens": span.tokens,
        "accepted": span.accepted,
        # Whole tokens per accepted artifact, rounded half up; None without accepted work.
        "per_accepted": (2 * span.tokens + span.accepted) // (2 * span.accepted)
        if span.accepted
        else None,
    }


def launch_report_context(report: LaunchReport) -> dict[str, Any]:
    return {
        "pool": report.pool,
        "use_case": report.use_case,
        "amount": report.amount,
        "drawn": report.drawn,
        "lapsed": report.lapsed,
        "members": report.members,
        "days": (report.window.ends - report.window.starts).days + 1,
        "window": span_context(report.window),
        "before": span_context(report.before),
    }


def launch_report_notices(reports: Sequence[LaunchReport]) -> list[tuple[str, Notice]]:
    """One notice per report whose owner the directory knows (the others are the job's to
    name in its summary)."""
    return [
        (
            report.key,
            Notice(report.owner_id, Reply("launch_report", launch_report_context(report))),
        )
        for report in reports
        if report.owner_id is not None
    ]
