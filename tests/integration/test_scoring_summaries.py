"""Weekly summaries (per-week baseline values and template sums, stored with the rollup) give
exactly what the events give, and follow the changes the event counts cannot see: a template
approved or re-attributed, minutes verified (scoring_support.py describes the seeded org)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from budgets.windows import trailing_weeks
from scoring.rollups import current_weeks
from scoring.score import Scoreboard, build_scoreboard
from scoring.templates import register_template
from storage.models import (
    ScoringRollup,
    ScoringTemplateWeek,
    ScoringWeek,
    ScoringWeekValues,
)
from tests.integration.scoring_support import (
    add_outcomes,
    add_usage,
    outcome,
    scored_week,
    seed_org,
    usage,
    verify_minutes,
)


@pytest.fixture
def ids(services):
    return seed_org(services)


def board(services, *, store: bool = False) -> Scoreboard:
    with services.db.unit_of_work() as uow:
        found = build_scoreboard(
            uow.session, services.policy, scored_week(services), services.clock(), store=store
        )
        uow.commit()
    return found


def from_the_events(services) -> Scoreboard:
    """The board with nothing stored: every week summed from the events."""
    with services.db.unit_of_work() as uow:
        for table in (ScoringWeek, ScoringRollup, ScoringWeekValues, ScoringTemplateWeek):
            uow.session.execute(delete(table))
        uow.commit()
    return board(services)


def same_board(a: Scoreboard, b: Scoreboard) -> None:
    assert a.baselines == b.baselines
    assert {p: (s.score, s.components) for p, s in a.scores.items()} == {
        p: (s.score, s.components) for p, s in b.scores.items()
    }
    assert a.person_totals == b.person_totals
    for mine, theirs in (
        (a.templates, b.templates),
        (a.templates_in_window, b.templates_in_window),
    ):
        assert mine.keys() == theirs.keys()
        for template_id, report in mine.items():
            other = theirs[template_id]
            # float sums (edit distances) may be added in another order: the same to 1e-9
            assert report.totals.artifacts == other.totals.artifacts
            assert report.totals.tokens == other.totals.tokens
            assert report.reuse.accepted == other.reuse.accepted
            assert (report.users, report.reusers) == (other.users, other.reusers)
            assert report.totals.edit_distance_sum == pytest.approx(other.totals.edit_distance_sum)
            assert report.saving_share == pytest.approx(other.saving_share)


def week_states(services):
    week = scored_week(services)
    weeks = [*trailing_weeks(services.policy.periods.zone, week.start, 8), week]
    with services.db.read() as session:
        return current_weeks(session, weeks, services.clock(), store=False), weeks


def test_a_board_read_from_the_summaries_is_the_board_the_events_give(services, ids):
    stored = board(services, store=True)
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ScoringWeekValues)) == 9
        assert session.scalar(select(func.count()).select_from(ScoringTemplateWeek)) > 0
    states, weeks = week_states(services)
    assert states.summaries == {w.key for w in weeks}
    read_back = board(services)
    same_board(read_back, stored)
    same_board(read_back, from_the_events(services))
    assert read_back.baselines["seo-brief"].person_weeks == 8 * 9  # 9 people, 8 weeks
    assert read_back.templates_in_window["seo-brief-v3"].reusers == 3


def test_a_template_re_attributed_after_the_summaries_counts_at_once(services, ids):
    board(services, store=True)
    with services.db.unit_of_work() as uow:
        # dan becomes the author: his own briefs with it are no longer reuse by others
        register_template(
            uow.session,
            services.policy,
            "seo-brief-v3",
            "SEO brief v3",
            "seo-brief",
            services.clock(),
            author_email="dan@acme.test",
        )
        uow.commit()
    states, weeks = week_states(services)
    assert states.rollups == {w.key for w in weeks}  # the rollups do not depend on templates
    assert states.summaries == set()  # their summaries do
    read = board(services)
    assert read.templates_in_window["seo-brief-v3"].reusers == 2
    with services.db.read() as session:
        built = dict(session.execute(select(ScoringWeek.week, ScoringWeek.built_at)).all())
    stored = board(services, store=True)  # rebuilds the summaries only
    with services.db.read() as session:
        assert dict(session.execute(select(ScoringWeek.week, ScoringWeek.built_at)).all()) == built
    assert week_states(services)[0].summaries == {w.key for w in weeks}
    same_board(read, stored)
    same_board(board(services), from_the_events(services))


def test_a_template_approved_later_counts_as_template_reuse_in_the_baselines(services, ids):
    week = scored_week(services)
    events, outcomes = [], []
    for back in range(1, 9):  # most people brief with a template nobody registered yet
        at = week.start - timedelta(weeks=back) + timedelta(days=2)
        for name in ("kim", "dan", "eve", "gus", "hal", "tia"):
            key = f"{name}-v9-{back}"
            events.append(
                usage(f"{name}@acme.test", 3_000, at, template_id="seo-brief-v9", id=f"u-{key}")
            )
            outcomes.append(outcome(f"o-{key}", f"{name}@acme.test", at, usage_ids=(f"u-{key}",)))
    add_usage(services, events)
    add_outcomes(services, outcomes)
    before = board(services, store=True).baselines["seo-brief"].template_reuse_rate
    with services.db.unit_of_work() as uow:
        register_template(
            uow.session,
            services.policy,
            "seo-brief-v9",
            "SEO brief v9",
            "seo-brief",
            services.clock(),
        )
        uow.commit()
    after = board(services)
    assert after.baselines["seo-brief"].template_reuse_rate > before
    same_board(board(services, store=True), after)
    same_board(board(services), from_the_events(services))


def test_minutes_verified_after_the_summaries_are_counted_once_rebuilt(services, ids):
    board(services, store=True)
    week = scored_week(services)
    earlier = week.start - timedelta(weeks=2)
    verify_minutes(services, "kim@acme.test", f"brief-kim-{earlier:%Y%m%d}-0", 45)
    read = board(services)  # that week is stale now: summed from its events
    assert read.baselines["seo-brief"].verified_minutes_per_week == 0  # one person-week of 72
    stored = board(services, store=True)
    same_board(read, stored)
    same_board(board(services), from_the_events(services))


def test_usage_without_a_use_case_and_with_an_empty_one_is_one_uncategorised_group(services, ids):
    week = scored_week(services)
    at = week.start + timedelta(days=3)
    add_usage(
        services,
        [
            usage("kim@acme.test", 100, at, use_case=None, id="u-none"),
            usage("kim@acme.test", 200, at, use_case="", id="u-empty"),
        ],
    )
    with services.db.read() as session:
        live = build_scoreboard(session, services.policy, week, services.clock())
    stored = board(services, store=True)
    with services.db.read() as session:
        tokens = session.scalar(
            select(ScoringRollup.tokens).where(
                ScoringRollup.week == week.key,
                ScoringRollup.person_id == ids["kim"],
                ScoringRollup.use_case == "",
            )
        )
    assert tokens == 300
    same_board(stored, live)


def test_a_score_read_before_the_monday_job_stores_the_weeks_once(services, ids):
    """`score`, `leaderboard` and the App Home store the closed weeks they read when the job
    has not (yet): the second read finds them current and stores nothing; the board is the
    one the events give."""
    from scoring.score import store_scored_weeks

    week, now = scored_week(services), services.clock()
    expected = from_the_events(services)
    assert store_scored_weeks(services.db, services.policy, week, now).stored is True
    with services.db.read() as session:
        stored = session.scalar(select(func.count()).select_from(ScoringWeek))
    assert stored >= 1
    assert store_scored_weeks(services.db, services.policy, week, now).stored is False
    same_board(board(services), expected)
