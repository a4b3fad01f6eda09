"""The monthly review on the real database: what it says (over/under users, workflows,
revision hot spots, team variance, flags by type, trend), the chart it carries, the keyed
notices the scheduler sends, the CSV and HTML reports, and the quarterly scorecard."""

from __future__ import annotations

import base64
import csv
import io
import re
from datetime import UTC, datetime

from sqlalchemy import select

from bot.cli import main as cli_main
from bot.core.presenters.review import chart_png, review_context
from bot.jobs import review_content, run_job
from scoring.review import build_review, quarterly_scorecard, verdict
from storage.models import Flag, OutboxMessage
from tests.integration.governance_support import Recorder, call, record, result

PNG = b"\x89PNG\r\n\x1a\n"
OCTOBER = "2026-10"


def october(day: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, 10, minute, tzinfo=UTC)


def september(day: int, minute: int = 0) -> datetime:
    return datetime(2026, 9, day, 10, minute, tzinfo=UTC)


def seed(services, org) -> None:  # noqa: ANN001
    """Bob spends 3M tokens in October (plan 2M), Ann 100k; Mia works normally. Ann's briefs
    are accepted as is; Bob's need heavy edits. One flag on Ann in October."""
    # `call` adds a quarter of the input as output: 600k in is 750k budget tokens.
    usage = [call("bob@acme.test", october(5, i), tokens=600_000) for i in range(4)]  # 3M
    usage += [call("ann@acme.test", october(6, i), tokens=16_000) for i in range(5)]  # 100k
    usage += [call("mia@acme.test", october(7, i), tokens=200_000) for i in range(5)]
    usage += [call("ann@acme.test", september(8, i), tokens=8_000) for i in range(5)]
    outcomes = [result("ann@acme.test", october(6, 30 + i)) for i in range(6)]
    outcomes += [
        result("bob@acme.test", october(5, 30 + i), status="revised", edit_distance=0.6)
        for i in range(6)
    ]
    outcomes += [result("mia@acme.test", october(7, 30 + i), status="rejected") for i in range(5)]
    outcomes += [result("ann@acme.test", september(8, 30 + i)) for i in range(2)]
    record(services, usage, outcomes)
    with services.db.unit_of_work() as uow:
        uow.session.add(
            Flag(
                person_id=org["ann@acme.test"].id,
                week="2026-W41",
                detector="prompt_spam",
                status="pending",
                evidence={},
                explanation="The same prompt was sent 40 times this week.",
                created_at=services.clock(),
            )
        )
        uow.commit()


def test_the_review_names_over_and_under_users_workflows_hot_spots_and_team_variance(services, org):
    seed(services, org)
    with services.db.read() as session:
        review = build_review(session, services.policy, OCTOBER, services.clock())
    assert [(p.name, round(p.variance, 2)) for p in review.over_users] == [("Bob Builder", 0.5)]
    under = {p.name: p.used for p in review.under_users}
    assert under == {"Ann Analyst": 100_000, "Cleo Chief": 0, "Finn Finance": 0}
    assert review.workflows[0].use_case == "seo-brief" and review.workflows[0].artifacts == 17
    (hot_spot,) = review.hot_spots  # Ann's briefs used as is, Bob's 60% rewritten
    assert (hot_spot.team, hot_spot.use_case, hot_spot.edited) == ("Marketing", "seo-brief", 12)
    assert hot_spot.revision_burden == 0.3
    marketing = next(t for t in review.teams if t.team == "Marketing")
    # Ann and Bob at 2M each, Mia (power-user) at 6M, and the 5M Marketing pool: 15M planned.
    assert marketing.planned == 15_000_000
    assert marketing.tokens == 3_000_000 + 100_000 + 1_250_000  # input and output tokens
    flags = {f.detector: f.total for f in review.flags}
    assert flags["prompt_spam"] == 1 and sum(flags.values()) == 1
    trend = {c.measure: c for c in review.trend}
    assert trend["accepted"].this == 12 and trend["accepted"].last == 2
    assert trend["tokens"].change is not None and trend["tokens"].change > 10


def test_a_managers_review_covers_only_the_people_below_them(services, org):
    seed(services, org)
    with services.db.read() as session:
        review = build_review(
            session,
            services.policy,
            OCTOBER,
            services.clock(),
            [org["ann@acme.test"].id, org["bob@acme.test"].id],
            "Mia Manager's team",
        )
    assert review.scope == "team" and review.people == 2
    assert {p.name for p in review.over_users + review.under_users} <= {
        "Ann Analyst",
        "Bob Builder",
    }
    assert sum(t.tokens for t in review.teams) == 3_100_000


def test_the_review_job_sends_finance_admins_and_managers_a_private_review_with_a_chart(
    services, org
):
    seed(services, org)
    with services.db.unit_of_work() as uow:
        notices = review_content(uow.session, services.policy, OCTOBER, services.clock())
        uow.commit()
    keys = {key: notice for key, notice in notices}
    ids = {email: person.id for email, person in org.items()}
    assert set(keys) == {
        f"review:{OCTOBER}:person:{ids['ceo@acme.test']}",
        f"review:{OCTOBER}:person:{ids['fin@acme.test']}",
        f"review:{OCTOBER}:person:{ids['mia@acme.test']}",
    }
    for notice in keys.values():
        assert notice.reply.private and notice.to_channel is None
        (chart,) = notice.reply.attachments
        assert chart.content.startswith(PNG) and chart.filename.endswith(".png")
    org_review = keys[f"review:{OCTOBER}:person:{ids['fin@acme.test']}"].reply
    text = services.renderer.text(org_review)
    assert "Monthly AI review, 2026-10: the organisation" in text
    assert "Bob Builder (Marketing): 3M of 2M (+50%)" in text
    assert "prompt spam: 1 (1 pending" in text
    assert "40 times" not in text  # flags are counts, never what a person did
    team = services.renderer.text(keys[f"review:{OCTOBER}:person:{ids['mia@acme.test']}"].reply)
    assert "Mia Manager's team (2 people)" in team


def test_the_review_and_its_chart_survive_the_outbox(services, org):
    from bot.outbox import enqueue_all, to_notice

    seed(services, org)
    with services.db.unit_of_work() as uow:
        notices = review_content(uow.session, services.policy, OCTOBER, services.clock())
        assert enqueue_all(uow.session, notices, services.clock()) == 3
        assert enqueue_all(uow.session, notices, services.clock()) == 0  # once per key
        uow.commit()
    with services.db.read() as session:
        row = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        restored = to_notice(row)
    (chart,) = restored.reply.attachments
    assert chart.content.startswith(PNG)


def test_the_chart_is_a_png_even_for_a_month_without_usage(services, org):
    with services.db.read() as session:
        empty = build_review(session, services.policy, "2026-08", services.clock())
    assert chart_png(empty).startswith(PNG)
    assert review_context(empty)["flags_total"] == 0


def test_report_writes_csv_for_finance_tools(services, org, tmp_path, monkeypatch):
    seed(services, org)
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    out = tmp_path / "october.csv"
    assert cli_main(["report", "--month", OCTOBER, "--format", "csv", "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    columns = "section period status team person template use_case measure value unit"
    assert list(rows[0]) == columns.split()
    over = {r["measure"]: (r["value"], r["unit"]) for r in rows if r["section"] == "over_plan"}
    assert over["used"] == ("3000000", "tokens") and over["variance"] == ("0.5", "share")
    sections = {r["section"] for r in rows}
    assert {"trend", "team", "over_plan", "under_plan", "workflow", "flags"} <= sections
    assert {(r["period"], r["status"]) for r in rows} == {(OCTOBER, "final")}
    # money as money: dollars to the cent, never micro-dollars
    assert not any("micros" in r["measure"] for r in rows)
    costs = [r for r in rows if r["measure"] in ("cost", "cost_this_month")]
    assert costs and all(r["unit"] == "USD" for r in costs)
    assert all(re.fullmatch(r"\d+\.\d\d", r["value"]) for r in costs), costs
    with services.db.read() as session:
        review = build_review(session, services.policy, OCTOBER, services.clock())
    marketing = next(
        r
        for r in rows
        if r["section"] == "team" and r["measure"] == "cost" and r["team"] == "Marketing"
    )
    team_cost = next(t.cost_micros for t in review.teams if t.team == marketing["team"])
    assert marketing["value"] == f"{team_cost / 1_000_000:.2f}"
    # a workflow is named in its own column: no template in the person column
    workflows = [r for r in rows if r["section"] == "workflow"]
    assert workflows and all(r["person"] == "" for r in workflows)
    assert all(r["template"] or r["use_case"] for r in workflows)


def test_report_refuses_an_unfinished_month_or_quarter_unless_asked_and_then_marks_it(
    services, org, tmp_path, monkeypatch, capsys
):
    """The CLI runs on the system clock: this month and this quarter have not ended."""
    seed(services, org)
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    today = datetime.now(UTC)
    month, quarter = f"{today:%Y-%m}", f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    for which in (["--month", month], ["--quarter", quarter]):
        assert cli_main(["report", *which]) == 2
        err = capsys.readouterr().err
        assert "has not ended" in err and "--partial" in err, err
    out = tmp_path / "month.csv"
    assert cli_main(["report", "--month", month, "--partial", "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["status"] for r in rows} == {f"unfinished, through {today:%Y-%m-%d}"}
    html = tmp_path / "month.html"
    assert (
        cli_main(
            ["report", "--month", month, "--partial", "--format", "html", "--output", str(html)]
        )
        == 0
    )
    assert f"Unfinished: the figures run through {today:%Y-%m-%d}" in html.read_text()


def test_report_writes_one_html_page_with_the_chart_embedded(services, org, tmp_path, monkeypatch):
    seed(services, org)
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    out = tmp_path / "october.html"
    assert cli_main(["report", "--month", OCTOBER, "--format", "html", "--output", str(out)]) == 0
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "Bob Builder" in page
    encoded = page.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert base64.b64decode(encoded).startswith(PNG)


def test_report_refuses_a_malformed_month(services, org, monkeypatch, capsys):
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    assert cli_main(["report", "--month", "October"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err


def test_the_scorecard_compares_quarters_and_says_whether_growth_is_healthy(services, org):
    july = datetime(2026, 7, 14, 10, tzinfo=UTC)
    usage = [call("ann@acme.test", july, tokens=10_000) for _ in range(10)]
    usage += [call("ann@acme.test", october(14, i), tokens=10_000) for i in range(14)]
    usage += [call("mia@acme.test", july, tokens=10_000) for _ in range(10)]
    usage += [call("mia@acme.test", october(14, i), tokens=10_000) for i in range(14)]
    outcomes = [result("ann@acme.test", july) for _ in range(10)]
    outcomes += [result("ann@acme.test", october(14, i)) for i in range(16)]
    record(services, usage, outcomes)
    with services.db.read() as session:
        (card,) = quarterly_scorecard(session, services.policy, "2026-Q4", services.clock())
    assert card.team == "Marketing" and round(card.usage_change, 2) == 0.4
    assert round(card.accepted_change, 2) == 0.6 and card.verdict == "healthy"
    assert verdict(0.4, 0.0) == "revisit_incentives"
    assert verdict(0.4, 0.2) == "watch" and verdict(-0.2, 0.3) == "efficient"
    assert verdict(None, None) == "new"


def test_report_writes_the_quarterly_scorecard_as_csv(services, org, tmp_path, monkeypatch):
    record(services, [call("ann@acme.test", october(14, i), tokens=10_000) for i in range(4)])
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    out = tmp_path / "q4.csv"
    assert cli_main(["report", "--quarter", "2026-Q4", "--partial", "--output", str(out)]) == 0
    rows = {r["measure"]: r["value"] for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert rows["tokens"] == "50000" and rows["verdict"] == "new"
    html = tmp_path / "q4.html"
    assert (
        cli_main(
            [
                "report",
                "--quarter",
                "2026-Q4",
                "--partial",
                "--format",
                "html",
                "--output",
                str(html),
            ]
        )
        == 0
    )
    assert "AI scorecard 2026-Q4" in html.read_text()


def test_the_review_job_on_the_first_sends_last_months_reviews_once(services, org, clock):
    seed(services, org)
    clock.set(datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    recorder = Recorder()
    first = run_job(services, "review", [recorder])
    again = run_job(services, "review", [recorder])
    assert (first.delivered, again.delivered) == (3, 0)
    assert {n.reply.context["month"] for n in recorder.sent} == {OCTOBER}
    assert all(n.reply.attachments[0].content.startswith(PNG) for n in recorder.sent)
