"""`tokenbot report --month YYYY-MM --format csv|html [--output FILE]`: the monthly governance
review for finance tools (the same figures the review job sends in chat), and
`tokenbot report --quarter YYYY-Qn`: the quarterly team scorecard.

CSV is long and flat (section, team, person, use case, measure, value) so a spreadsheet or BI
tool can pivot it; HTML is one self-contained page with the chart embedded as a base64 PNG.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import asdict
from typing import Any

from bot.bootstrap import Services
from bot.core.presenters.review import chart_attachment, review_context, scorecard_context
from bot.web.chargeback import neutralise
from message_templates import build_template_env
from scoring.review import MonthlyReview, TeamScorecard, build_review, quarterly_scorecard

COLUMNS = ("section", "team", "person", "use_case", "measure", "value")


def register(sub) -> None:  # noqa: ANN001
    report = sub.add_parser(
        "report", help="the monthly governance review (CSV or HTML), or the quarterly scorecard"
    )
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--month", help="the calendar month to review, YYYY-MM")
    which.add_argument("--quarter", help="the quarter for the team scorecard, YYYY-Qn")
    report.add_argument("--format", choices=("csv", "html"), default="csv")
    report.add_argument("--output", help="write here instead of standard output")
    report.set_defaults(run=run_report)


def review_rows(review: MonthlyReview) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(section: str, measure: str, value: Any, **where: Any) -> None:
        rows.append({"section": section, "measure": measure, "value": value, **where})

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
            add("workflow", measure, getattr(w, measure), use_case=w.use_case, person=name)
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
        {"section": "scorecard", "team": card.team, "measure": name, "value": value}
        for card in cards
        for name, value in asdict(card).items()
        if name not in ("team", "team_id", "quarter")
    ]


def to_csv(rows: list[dict[str, Any]]) -> str:
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
    try:
        with services.db.read() as session:
            if args.month:
                review = build_review(session, services.policy, args.month, now)
                if args.format == "csv":
                    text = to_csv(review_rows(review))
                else:
                    text = env.get_template("reports/monthly_review.html.j2").render(
                        **review_context(review), chart=chart_attachment(review).content_base64
                    )
            else:
                cards = quarterly_scorecard(session, services.policy, args.quarter, now)
                if args.format == "csv":
                    text = to_csv(scorecard_rows(cards))
                else:
                    text = env.get_template("reports/quarterly_scorecard.html.j2").render(
                        **scorecard_context(services.policy, args.quarter, cards)
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
