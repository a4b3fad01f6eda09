"""A score is the sum of its components' contributions (weight x index, to 0.1 point), and the
best improvement points at the component worth the most points."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budgets.policy import load_policy
from budgets.windows import Window
from scoring.baselines import Baseline
from scoring.config import COMPONENTS, scoring_settings
from scoring.metrics import Totals
from scoring.score import Scoreboard, best_improvement, score_person
from scoring.templates import TemplateReport

POLICY = load_policy()
SETTINGS = scoring_settings(POLICY)
WEEK = Window(
    "2026-W46", "week", datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)
)
SEO = Baseline(
    "seo-brief",
    40,
    tokens_per_task=3_000,
    acceptance_rate=0.75,
    revision_burden=0.2,
    first_draft_seconds=600,
    cost_per_accepted=10_000,
    accepted_per_1k_tokens=0.25,
    accepted_per_week=6,
    verified_minutes_per_week=0,
    template_reuse_rate=0.1,
)
CODING = replace(SEO, use_case="coding", tokens_per_task=20_000, accepted_per_1k_tokens=0.04)
BASELINES = {"seo-brief": SEO, "coding": CODING}
TYPICAL = Totals(
    tokens=24_000,
    cost_micros=60_000,
    events=8,
    artifacts=8,
    accepted=6,
    edited=6,
    edit_distance_sum=1.2,
    drafts=8,
    first_draft_seconds_sum=4_800,
)


def score(by_use_case, phase="incentives"):
    return score_person(1, by_use_case, BASELINES, SETTINGS, SETTINGS.weights_for(phase), WEEK)


def test_someone_at_the_baseline_gets_an_index_of_one_and_loses_reuse_points_without_templates():
    result = score({"seo-brief": TYPICAL._replace(template_artifacts=0)})
    assert result is not None
    assert {c.name for c in result.components} == set(COMPONENTS)
    reuse = result.component("reuse")
    assert reuse.index < 1  # no templates against a 10% baseline
    others = [c for c in result.components if c.name != "reuse"]
    assert all(c.index == Decimal("1.00") for c in others)


def test_contributions_are_weight_times_index_and_add_up_to_the_score():
    result = score({"seo-brief": TYPICAL, "coding": TYPICAL._replace(tokens=300_000)})
    assert result is not None
    for c in result.components:
        assert c.contribution == (c.weight * c.index).quantize(Decimal("0.1"))
    assert result.score == sum(c.contribution for c in result.components)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["seo-brief", "coding", "", "unknown"]),
            st.integers(0, 10**7),
            st.integers(0, 50),
            st.integers(0, 50),
            st.floats(0, 50),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["baseline", "incentives", "optimize"]),
)
def test_any_record_scores_the_exact_sum_of_its_components(records, phase):
    by_use_case: dict[str, Totals] = {}
    for use_case, tokens, artifacts, accepted, edits, minutes in records:
        accepted = min(accepted, artifacts)
        by_use_case[use_case] = Totals(
            tokens=tokens,
            artifacts=artifacts,
            accepted=accepted,
            edited=accepted,
            edit_distance_sum=min(edits, accepted),
            verified_minutes=float(minutes),
        )
    result = score(by_use_case, phase)
    if result is None:
        return
    assert result.score == sum(c.contribution for c in result.components)
    assert all(Decimal(0) <= c.index <= SETTINGS.index_cap for c in result.components)


def test_work_without_a_baseline_is_measured_but_not_scored():
    assert score({"": TYPICAL, "unknown": TYPICAL}) is None


def test_use_cases_weigh_by_task_equivalents_so_spend_without_outcomes_counts():
    wasteful = Totals(tokens=200_000)  # ten coding tasks' worth of tokens, nothing accepted
    result = score({"seo-brief": TYPICAL, "coding": wasteful})
    assert result is not None
    shares = {u.use_case: u.share for u in result.use_cases}
    assert shares["coding"] > shares["seo-brief"]
    assert result.component("efficiency").index < Decimal("0.7")


def test_the_weights_follow_the_rollout_phase():
    efficient = TYPICAL._replace(tokens=8_000, accepted=8)
    early, late = score({"seo-brief": efficient}), score({"seo-brief": efficient}, "optimize")
    assert early is not None and late is not None
    assert late.component("efficiency").weight > early.component("efficiency").weight
    assert late.score > early.score


def board_for(result, templates=None) -> Scoreboard:
    return Scoreboard(
        window=WEEK,
        phase="incentives",
        settings=SETTINGS,
        weights=SETTINGS.weights_for("incentives"),
        baselines=BASELINES,
        scores={1: result},
        person_totals={1: result.totals},
        people={},
        flagged=frozenset(),
        templates=templates or {},
        templates_in_window={},
    )


def template_report(**changes: object) -> TemplateReport:
    """SEO brief v3 by Tia (person 7): 20 artifacts, 15 of them by 3 colleagues."""
    values: dict[str, object] = dict(
        template_id="seo-brief-v3",
        name="SEO brief v3",
        use_case="seo-brief",
        author_id=7,
        author_name="Tia Template",
        totals=Totals(tokens=40_000, artifacts=20, accepted=16),
        reuse=Totals(tokens=30_000, artifacts=15, accepted=12),
        users=4,
        reusers=3,
        non_template_tokens_per_task=3_200,
    )
    values.update(changes)
    return TemplateReport(**values)  # type: ignore[arg-type]


V3 = template_report()


def test_the_best_improvement_names_the_costliest_gap_with_its_numbers_and_a_template():
    bloated = TYPICAL._replace(tokens=8 * 6_300, cost_micros=6 * 21_000, template_artifacts=1)
    result = score({"seo-brief": bloated})
    assert result is not None
    improvement = best_improvement(result, board_for(result, {"seo-brief-v3": V3}))
    assert improvement is not None
    assert improvement.component == "efficiency"
    assert improvement.unit == "tokens_per_accepted"
    assert improvement.value == 8 * 6_300 / 6
    assert improvement.baseline == 4_000
    assert round(improvement.ratio, 1) == 2.1
    assert improvement.template is V3
    assert round(V3.saving_share, 2) == 0.38
    assert improvement.points > 0 and not improvement.stretch


def test_someone_above_the_baseline_everywhere_is_pointed_at_a_stretch_that_can_still_improve():
    star = TYPICAL._replace(
        tokens=8_000, accepted=8, edited=8, edit_distance_sum=0.4, template_artifacts=8
    )
    result = score({"seo-brief": star})
    assert result is not None
    improvement = best_improvement(result, board_for(result))
    assert improvement is not None and improvement.stretch
    # 100% acceptance and 100% template reuse cannot improve: never suggested
    assert improvement.component not in ("acceptance", "reuse")
    assert improvement.target is not None


def test_acceptance_rewards_work_accepted_as_drafted_where_everything_is_accepted_after_edits():
    # In this use case everything is accepted in the end, a fifth of it rewritten: counting
    # revised work as accepted would make the baseline 100%, which nobody could beat.
    everyone_accepts = replace(SEO, acceptance_rate=1.0, revision_burden=0.2)
    clean = TYPICAL._replace(accepted=8, edited=8, edit_distance_sum=0.0)
    result = score_person(
        1,
        {"seo-brief": clean},
        {"seo-brief": everyone_accepts},
        SETTINGS,
        SETTINGS.weights_for("incentives"),
        WEEK,
    )
    assert result is not None
    acceptance = result.component("acceptance")
    assert acceptance.baseline == pytest.approx(0.8)  # 100% accepted, 80% of it kept
    assert acceptance.index > 1 and acceptance.contribution > acceptance.weight
    heavily_revised = TYPICAL._replace(accepted=8, edited=8, edit_distance_sum=4.0)
    revised = score_person(
        1,
        {"seo-brief": heavily_revised},
        {"seo-brief": everyone_accepts},
        SETTINGS,
        SETTINGS.weights_for("incentives"),
        WEEK,
    )
    assert revised is not None and revised.component("acceptance").index < 1
