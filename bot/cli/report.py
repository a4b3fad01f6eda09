"""`tokenbot report --month YYYY-MM --format csv|html [--output FILE]`: the monthly governance
review for finance tools (the same figures the review job sends in chat), and
`tokenbot report --quarter YYYY-Qn`: the quarterly team scorecard.

CSV is long and flat so a spreadsheet or BI tool can pivot it: each row is one figure, each
column keeps one meaning (section, period, status, team, person, template, use case, measure,
value, unit). Money is in dollars to the cent (unit USD), never micro-dollars; shares are
fractions (unit share). HTML is one self-contained page with the chart embedded as a base64 PNG.

A month or quarter that has not ended is refused (its figures would change), unless
`--partial` asks for the figures so far: every CSV row and the page then say so.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.bootstrap import Services
from bot.core.presenters.review import chart_attachment, review_context, scorecard_context
from bot.web.chargeback import neutralise
from message_templates import build_template_env
from scoring.review import (
    MonthlyReview,
    TeamScorecard,
    build_review,
    month_window,
    quarter_window,
    quarterly_scorecard,
)

COLUMNS = (
    "section",
    "period",
    "status",
    "team",
    "person",
    "template",
    "use_case",
    "measure",
    "value",
    "unit",
)

# The unit of each measure (by its name without _this_month, _last_month, _before, _change).
UNITS = {
    "tokens": "tokens",
    "planned": "tokens",
    "used": "tokens",
    "tokens_per_task": "tokens",
    "cost": "USD",
    "variance": "share",
    "acceptance": "share",
    "revision_burden": "share",
    "usage_change": "share",
    "accepted_change": "share",
    "minutes_change": "share",
    "value_change": "share",
    "verified_minutes": "minutes",
    "artifacts": "count",
    "accepted": "count",
    "edited": "count",
    "flags": "count",
    "verdict": "",
    "value_measure": "",
}


def dollars(micros: int | float) -> Decimal:
    """Micro-dollars as dollars to the cent: a number (never a text cell that the formula
    guard would prefix, as it would "-1.00")."""
    return (Decimal(int(micros)) / Decimal(1_000_000)).quantize(Decimal("0.01"))


def unit_of(measure: str, section: str) -> str:
    if section == "flags":
        return "count"
    for suffix in ("_this_month", "_last_month", "_before"):
        measure = measure.removesuffix(suffix)
    return UNITS.get(measure, "")


def register(sub) -> None:  # noqa: ANN001
    report = sub.add_parser(
        "report", help="the monthly governance review (CSV or HTML), or the quarterly scorecard"
    )
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--month", help="the calendar month to review, YYYY-MM")
    which.add_argument("--quarter", help="the quarter for the team scorecard, YYYY-Qn")
    report.add_argument("--format", choices=("csv", "html"), default="csv")
    report.add_argument(
        "--partial",
        action="store_true",
        help="report a month or quarter that has not ended (its figures so far, marked so)",
    )
    report.add_argument("--output", help="write here instead of standard output")
    report.set_defaults(run=run_report)


def review_rows(review: MonthlyReview) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(section: str, measure: str, value: Any, **where: Any) -> None:
        if measure.startswith("cost_micros"):  # money as money
            measure, value = measure.replace("cost_micros", "cost"), dollars(value)
        rows.append(
            {
                "section": section,
                "period": review.month,
                "measure": measure,
                "value": value,
                "unit": unit_of(measure, section),
                **where,
            }
        )

    for change in review.trend:
        add("trend", f"{change.measure}_this_month", change.this)
        add("trend", f"{change.measure}_last_month", change.last)
    for t in review.teams:
        for measure in ("tokens", "cost_micros", "planned", "variance", "artifacts", "accepted"):
            add("team", measure, getattr(t, measure), team=t.team)
    for section, people in (("over_plan", review.over_users), ("under_plan", review.under_users)):
        for p in people:
            for measure in ("used", "planned", "variance", "acceptance"):
                add(section, measure, getattr(p, measure), team=p.team, person=p.name)
    for w in review.workflows:
        name = w.template or w.template_id or ""
        for measure in ("artifacts", "accepted", "acceptance", "tokens_per_task"):
            add("workflow", measure, getattr(w, measure), use_case=w.use_case, template=name)
    for h in review.hot_spots:
        add(
            "revision_hot_spot",
            "revision_burden",
            h.revision_burden,
            team=h.team,
            use_case=h.use_case,
        )
        add("revision_hot_spot", "edited", h.edited, team=h.team, use_case=h.use_case)
    for f in review.flags:
        for status in ("pending", "disputed", "upheld", "cleared"):
            add("flags", f"{f.detector}_{status}", getattr(f, status))
    return rows


def scorecard_rows(cards: list[TeamScorecard]) -> list[dict[str, Any]]:
    return [
        {
            "section": "scorecard",
            "period": card.quarter,
            "team": card.team,
            "measure": name,
            "value": value,
            "unit": unit_of(name, "scorecard"),
        }
        for card in cards
        for name, value in asdict(card).items()
        if name not in ("team", "team_id", "quarter")
    ]


def period_status(end: datetime, now: datetime, partial: bool, what: str, key: str) -> str:
    """`final` for a period that has ended; for one that has not, refused unless `partial`,
    then `unfinished, through <today>`."""
    from bot.cli import CommandFailed

    if now >= end:
        return "final"
    if not partial:
        raise CommandFailed(
            f"{what} {key} has not ended (it ends {end:%Y-%m-%d %H:%M %Z}), so its figures "
            "would still change; add --partial for the figures so far, marked unfinished"
        )
    return f"unfinished, through {now:%Y-%m-%d}"


def to_csv(rows: list[dict[str, Any]], status: str = "final") -> str:
    """The rows as CSV, formula-safe: any text cell a spreadsheet would evaluate (names, teams
    and use cases come from the directory and from any gateway key) starts with a quote
    (`neutralise`, as the chargeback CSV does); numbers stay numbers."""
    out = io.StringIO()
    # CRLF (RFC 4180): the writer then quotes any cell holding a CR or an LF, which "\n"
    # alone left bare, so a name with a CR could start a row of its own.
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        cells = {c: _cell(row.get(c)) for c in COLUMNS}
        cells["status"] = _cell(status)
        writer.writerow(cells)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    return neutralise(value) if isinstance(value, str) else value


def run_report(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    now = services.clock()
    env = build_template_env()
    partial = getattr(args, "partial", False)
    try:
        with services.db.read() as session:
            if args.month:
                end = month_window(services.policy, args.month).end
                status = period_status(end, now, partial, "the month", args.month.strip())
                review = build_review(session, services.policy, args.month, now)
                if args.format == "csv":
                    text = to_csv(review_rows(review), status)
                else:
                    text = env.get_template("reports/monthly_review.html.j2").render(
                        **review_context(review),
                        chart=chart_attachment(review).content_base64,
                        status=status,
                    )
            else:
                end = quarter_window(services.policy, args.quarter).end
                key = args.quarter.strip().upper()
                status = period_status(end, now, partial, "the quarter", key)
                cards = quarterly_scorecard(session, services.policy, args.quarter, now)
                if args.format == "csv":
                    text = to_csv(scorecard_rows(cards), status)
                else:
                    text = env.get_template("reports/quarterly_scorecard.html.j2").render(
                        **scorecard_context(services.policy, args.quarter, cards), status=status
                    )
    except ValueError as exc:
        raise CommandFailed(str(exc)) from exc
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
