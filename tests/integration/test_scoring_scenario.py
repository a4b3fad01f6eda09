"""A seeded org scored end to end on a real database (scoring_support.py describes who is
who): the heaviest spender is not recognised, the most efficient person is, scores add up to
their components, small samples do not win, flagged people are excluded and never named, and
the spotlight renders valid Slack blocks."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.jobs import spotlight_content
from budgets.policy import Channels
from scoring.categories import recognise
from scoring.plans import metric_table
from scoring.score import build_scoreboard
from scoring.spotlight import prepare_spotlight
from storage.models import PromptTemplate, ScoringRollup, ScoringWeek
from tests.integration.scoring_support import (
    SCORED_WEEK,
    add_flag,
    add_outcomes,
    add_usage,
    outcome,
    scored_week,
    seed_org,
    usage,
)
from tests.unit.core.payload_checks import block_kit_problems


@pytest.fixture
def policy(policy):
    channels = Channels(org_wide="#ai-wins", teams={"Marketing": "#marketing", "Sales": "#sales"})
    return replace(policy, channels=channels)


@pytest.fixture
def ids(services):
    return seed_org(services)


def recognised_people(results) -> set[str]:
    return {r.name for result in results for r in result.recognised}


def test_the_most_efficient_person_wins_and_the_heaviest_spender_is_not_recognised(services, ids):
    with services.db.read() as session:
        board = build_scoreboard(session, services.policy, scored_week(services), services.clock())
    results = recognise(board)
    champion = next(r for r in results if r.spec.key == "efficiency-champion")
    assert champion.recognised[0].name == "Ann Analyst"
    assert champion.recognised[0].tier == "gold"
    assert "Bob Builder" not in recognised_people(results)
    spend = {pid: t.tokens for pid, t in board.person_totals.items()}
    assert max(spend, key=spend.get) == ids["bob"]  # he really is the heaviest spender
    assert board.scores[ids["bob"]].score < board.scores[ids["ann"]].score


def test_every_score_adds_up_to_its_components(services, ids):
    with services.db.read() as session:
        board = build_scoreboard(session, services.policy, scored_week(services), services.clock())
    assert len(board.scores) == len(ids) - 3  # the three managers have no AI work
    for score in board.scores.values():
        assert score.score == sum(c.contribution for c in score.components)
        for c in score.components:
            assert c.contribution == (c.weight * c.index).quantize(Decimal("0.1"))


def test_one_lucky_artifact_does_not_win_even_without_a_minimum_of_tasks(services, ids):
    relaxed = replace(services.policy, scoring={"min_tasks": 1})
    with services.db.read() as session:
        board = build_scoreboard(session, relaxed, scored_week(services), services.clock())
    leo, ann = board.scores[ids["leo"]], board.scores[ids["ann"]]
    assert board.person_totals[ids["leo"]].accepted_per_1k_tokens > 3  # raw: 1 per 300 tokens
    assert leo.component("efficiency").index < ann.component("efficiency").index
    champion = next(r for r in recognise(board) if r.spec.key == "efficiency-champion")
    assert champion.recognised[0].name == "Ann Analyst"


def test_flagged_people_are_excluded_and_named_nowhere(services, ids):
    with services.db.unit_of_work() as uow:
        notices = spotlight_content(
            uow.session, services.policy, scored_week(services).start.date(), services.clock()
        )
        board = build_scoreboard(
            uow.session, services.policy, scored_week(services), services.clock()
        )
    assert ids["fay"] in board.flagged
    assert board.scores[ids["fay"]].component("efficiency").index >= Decimal("2")  # she'd win
    assert "Fay Fast" not in recognised_people(recognise(board))
    for team_id in board.teams:
        assert "Fay Fast" not in recognised_people(recognise(board, team_id=team_id))
    for _key, notice in notices:
        assert "Fay" not in services.renderer.text(notice.reply)
        assert "Fay" not in json.dumps(notice.reply.context)


def test_the_spotlight_posts_once_per_team_channel_and_org_wide_with_valid_slack_blocks(
    services, ids
):
    week = scored_week(services)
    with services.db.unit_of_work() as uow:
        notices = spotlight_content(
            uow.session, services.policy, week.start.date(), services.clock()
        )
        uow.commit()
    keys = [key for key, _notice in notices]
    marketing = next(k for k in keys if k != f"spotlight:{SCORED_WEEK}:org" and "team" in k)
    assert keys[0] == f"spotlight:{SCORED_WEEK}:org"
    assert len(keys) == 3 and marketing.startswith(f"spotlight:{SCORED_WEEK}:team:")
    channels = {notice.to_channel for _key, notice in notices}
    assert channels == {"#ai-wins", "#marketing", "#sales"}
    for _key, notice in notices:
        assert notice.reply.template == "spotlight" and not notice.reply.private
        json.dumps(notice.reply.context, allow_nan=False)  # the outbox stores it as JSON
        blocks = json.loads(services.renderer.channel("slack", notice.reply))
        assert block_kit_problems(blocks) == []
    org_text = services.renderer.text(notices[0][1].reply)
    assert "Efficiency champion" in org_text and "Gold: Ann Analyst (Marketing)" in org_text
    assert "Tia Template" in org_text  # reusable workflow builder: colleagues used her template
    assert "Hal Saver" in org_text  # verified minutes
    assert "Bob Builder" not in org_text and "Leo Lucky" not in org_text
    assert "Tip: the SEO brief v3 template" in org_text
    assert "Posted once the week after it was checked for gaming too." in org_text
    assert "the week after it was checked" in json.dumps(
        json.loads(services.renderer.channel("slack", notices[0][1].reply))
    )


def test_the_spotlight_names_the_week_s_most_reused_new_template_and_not_an_old_one(services, ids):
    week = scored_week(services)

    def org_text() -> str:
        with services.db.unit_of_work() as uow:
            notices = spotlight_content(
                uow.session, services.policy, week.start.date(), services.clock()
            )
        return services.renderer.text(notices[0][1].reply)

    new_line = re.compile(
        r"New template of the week: SEO brief v3 \[seo-brief-v3\] for seo-brief by Tia Template, "
        r"reused \d+ times by 3 colleagues\."
    )
    with services.db.unit_of_work() as uow:  # first approved before the last few weeks
        uow.session.get(PromptTemplate, "seo-brief-v3").first_approved_at = week.start - timedelta(
            weeks=6
        )
        uow.commit()
    assert "New template of the week" not in org_text()
    with services.db.unit_of_work() as uow:  # first approved the week before
        uow.session.get(PromptTemplate, "seo-brief-v3").first_approved_at = week.start - timedelta(
            days=4
        )
        uow.commit()
    assert new_line.search(org_text())


def test_a_tip_never_names_a_template_author_with_an_open_flag(services, ids):
    add_flag(services, ids["tia"], SCORED_WEEK, status="disputed")
    week = scored_week(services)
    with services.db.unit_of_work() as uow:
        notices = spotlight_content(
            uow.session, services.policy, week.start.date(), services.clock()
        )
    for _key, notice in notices:
        assert notice.reply.context["tip"]["template"] == "SEO brief v3"
        assert notice.reply.context["tip"]["author"] is None
        assert "Tia" not in services.renderer.text(notice.reply)


def test_rollups_prepared_in_their_own_transaction_leave_the_spotlight_nothing_to_write(
    services, ids
):
    week = scored_week(services)
    with services.db.unit_of_work() as uow:
        prepared = prepare_spotlight(
            uow.session, services.policy, week.start.date(), services.clock()
        )
        uow.commit()
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ScoringWeek)) == 9
        # a read-only session is enough now: every week it needs is stored and current
        notices = spotlight_content(session, services.policy, week.start.date(), services.clock())
        # and handed what was prepared, it reads the same without checking the weeks again
        handed = spotlight_content(
            session, services.policy, week.start.date(), services.clock(), prepared=prepared
        )
    assert len(notices) == 3
    assert [(k, n.reply.context) for k, n in handed] == [(k, n.reply.context) for k, n in notices]


def test_the_spotlight_posts_nothing_in_the_baseline_phase(services, ids):
    measuring = replace(services.policy, phase="baseline")
    with services.db.unit_of_work() as uow:
        notices = spotlight_content(
            uow.session, measuring, scored_week(services).start.date(), services.clock()
        )
    assert notices == []


def test_the_spotlight_refuses_a_week_that_has_not_ended(services, ids):
    running = scored_week(services).start + timedelta(weeks=1)
    with services.db.unit_of_work() as uow, pytest.raises(ValueError, match="has not ended"):
        spotlight_content(uow.session, services.policy, running.date(), services.clock())


def test_stored_rollups_give_the_same_scores_and_late_usage_is_counted(services, ids):
    week = scored_week(services)
    now = services.clock()
    with services.db.read() as session:
        live = build_scoreboard(session, services.policy, week, now)
    with services.db.unit_of_work() as uow:
        build_scoreboard(uow.session, services.policy, week, now, store=True)
        uow.commit()
    with services.db.read() as session:
        stored = build_scoreboard(session, services.policy, week, now)
        assert session.scalar(select(func.count()).select_from(ScoringWeek)) == 9
        assert session.scalar(select(func.count()).select_from(ScoringRollup)) > 0
    assert {p: s.score for p, s in stored.scores.items()} == {
        p: s.score for p, s in live.scores.items()
    }
    # usage reported late for the scored week makes its rollup stale: it is recomputed
    add_usage(services, [usage("ann@acme.test", 50_000, week.start + timedelta(days=3))])
    with services.db.read() as session:
        later = build_scoreboard(session, services.policy, week, now)
    assert later.person_totals[ids["ann"]].tokens == live.person_totals[ids["ann"]].tokens + 50_000
    assert later.scores[ids["ann"]].score < live.scores[ids["ann"]].score


def test_outcomes_without_a_use_case_take_it_from_their_usage_ids_then_their_conversation(
    services, ids
):
    week = scored_week(services)
    at = week.start + timedelta(days=4)
    add_usage(
        services,
        [
            usage("kim@acme.test", 500, at, use_case="ad-copy", id="u-ad-1"),
            usage("kim@acme.test", 700, at, use_case="ad-copy", conversation_id="ad-chat"),
        ],
    )
    add_outcomes(
        services,
        [
            outcome("o-ad-1", "kim@acme.test", at, use_case=None, usage_ids=("u-ad-1",)),
            outcome("o-ad-2", "kim@acme.test", at, use_case=None, conversation_id="ad-chat"),
            outcome("o-nothing", "kim@acme.test", at, use_case=None, status="rejected"),
        ],
    )
    with services.db.read() as session:
        table = metric_table(session, services.policy, week, "person_use_case", services.clock())
    ad_copy = table[(ids["kim"], "ad-copy")]
    assert (ad_copy.totals.artifacts, ad_copy.totals.accepted, ad_copy.totals.tokens) == (
        2,
        2,
        1200,
    )
    assert ad_copy.tokens_per_task == 600
    assert table[(ids["kim"], "")].totals.artifacts == 1  # uncategorised: measured, not scored


def test_person_and_team_metrics_carry_budget_variance_and_policy_exceptions(services, ids):
    week = scored_week(services)
    with services.db.read() as session:
        people = metric_table(session, services.policy, week, "person", services.clock())
        teams = metric_table(session, services.policy, week, "team", services.clock())
        use_cases = metric_table(session, services.policy, week, "use_case", services.clock())
    bob = people[(ids["bob"],)]
    assert bob.totals.tokens == 8 * 12_000
    # plan: the default tier's 2,000,000 a month, pro rata for 7 of November's 30 days
    assert bob.planned_tokens == round(2_000_000 * 7 / 30)
    assert bob.budget_variance == pytest.approx(96_000 / bob.planned_tokens - 1)
    assert people[(ids["fay"],)].policy_exceptions == 1
    assert people[(ids["ann"],)].policy_exceptions == 0
    marketing = next(m for m in teams.values() if m.policy_exceptions == 1)
    assert marketing.totals.tokens == sum(
        people[(ids[n],)].totals.tokens for n in ("ann", "bob", "fay", "leo", "tia", "kim")
    )
    seo = use_cases[("seo-brief",)]
    assert seo.planned_tokens is None and seo.budget_variance is None
    assert seo.acceptance_rate == pytest.approx(seo.totals.accepted / seo.totals.artifacts)
    assert seo.verified_minutes == 90
