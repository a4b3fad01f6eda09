"""Baselines are medians per use case; small samples are shrunk toward them; comparisons are
capped multiples of the baseline."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scoring.baselines import compare, index_against, medians, shrink
from scoring.metrics import Totals
from scoring.rollups import (
    MEDIANS,
    UseCaseValues,
    merge_values,
    pack_values,
    person_week_values,
    unpack_values,
    values_by_use_case,
)
from tests.unit.scoring.test_score import SEO as SEO_WITH_TEMPLATES


def ratios(use_case: str, **values: float | None) -> tuple:
    """A person-week: its use case and each metric's value (None: undefined that week)."""
    return (use_case, *(values.get(name) for name in MEDIANS))


def medians_from_ratios(rows: list[tuple]) -> dict:
    found: dict[str, UseCaseValues] = {}
    for use_case, *values in rows:
        person_weeks, columns = found.get(use_case, (0, tuple([] for _ in MEDIANS)))
        for column, value in zip(columns, values, strict=True):
            if value is not None:
                column.append(value)
        found[use_case] = UseCaseValues(person_weeks + 1, columns)
    return medians(found)


def test_a_baseline_is_the_median_person_week_of_its_use_case():
    baselines = medians_from_ratios(
        [
            ratios("seo-brief", tokens_per_task=3_000, acceptance_rate=1.0),
            ratios("seo-brief", tokens_per_task=3_000, acceptance_rate=0.5),
            ratios("seo-brief", tokens_per_task=900_000, acceptance_rate=0.75),  # an outlier
            ratios("coding", tokens_per_task=500),
        ]
    )
    seo = baselines["seo-brief"]
    assert seo.person_weeks == 3
    assert seo.tokens_per_task == 3_000
    assert seo.acceptance_rate == 0.75
    assert baselines["coding"].tokens_per_task == 500


def test_a_metric_no_person_week_defines_has_no_baseline():
    (seo,) = medians_from_ratios(
        [ratios("seo-brief", accepted_per_1k_tokens=0.0, accepted_per_week=0.0)]
    ).values()
    assert seo.tokens_per_task is None and seo.acceptance_rate is None
    assert seo.accepted_per_1k_tokens == 0


def test_a_person_week_defines_only_the_metrics_it_has_a_denominator_for():
    week = person_week_values(Totals(tokens=0, artifacts=2, accepted=1))
    values = dict(zip(MEDIANS, week, strict=True))
    assert values["tokens_per_task"] is None  # no tokens: not a task cost of zero
    assert values["acceptance_rate"] == 0.5
    assert values["revision_burden"] is None and values["first_draft_seconds"] is None
    assert values["accepted_per_1k_tokens"] is None
    assert values["accepted_per_week"] == 1.0 and values["verified_minutes_per_week"] == 0.0


def test_uncategorised_work_and_empty_person_weeks_give_no_baseline_values():
    found = values_by_use_case(
        [
            ("", Totals(tokens=500, artifacts=1, accepted=1)),
            ("seo-brief", Totals()),
            ("seo-brief", Totals(tokens=900, artifacts=3, accepted=2)),
        ]
    )
    assert list(found) == ["seo-brief"]
    assert found["seo-brief"].person_weeks == 1


def test_weeks_merged_from_stored_values_give_the_medians_of_all_their_person_weeks():
    weeks = [
        [("seo-brief", Totals(tokens=t, artifacts=a, accepted=a // 2)) for t, a in week]
        for week in ([(3_000, 1), (4_000, 2), (9_000, 3)], [(1_000, 1)], [(2_500, 5), (7, 1)])
    ]
    together = medians(values_by_use_case(pair for week in weeks for pair in week))
    stored = []
    for week in weeks:  # each week packed as the summaries keep it, then read back
        (found,) = values_by_use_case(week).values()
        columns = tuple(list(unpack_values(pack_values(c))) for c in found.values)
        stored.append({"seo-brief": UseCaseValues(found.person_weeks, columns)})
    assert medians(merge_values(stored)) == together
    assert together["seo-brief"].person_weeks == 6
    assert together["seo-brief"].tokens_per_task == (1_000 + 2_000) / 2  # 6 weeks: the mean of two


def test_packed_values_come_back_sorted_and_exact():
    values = [0.1 + 0.2, 1 / 3, 2.5e-300, 7.0, -0.0]
    assert list(unpack_values(pack_values(values))) == sorted(values)
    assert unpack_values(pack_values([])).tolist() == []


def test_shrinkage_adds_k_tasks_at_the_baseline():
    assert shrink(1, 1, baseline=0.5, prior=5) == pytest.approx((1 + 2.5) / 6)
    assert shrink(0, 0, baseline=0.5, prior=5) == 0.5  # no evidence: the baseline
    assert shrink(900, 1000, baseline=0.5, prior=5) == pytest.approx(902.5 / 1005)
    assert shrink(0, 0, baseline=0.5, prior=0) is None


def test_an_index_is_a_capped_multiple_of_the_baseline_whichever_way_the_metric_points():
    assert index_against(2.0, 1.0, True, 0, cap=3) == 2.0
    assert index_against(2.0, 1.0, False, 0, cap=3) == 0.5
    assert index_against(10.0, 1.0, True, 0, cap=2) == 2.0
    assert index_against(None, 1.0, True, 0, cap=2) == 1.0
    assert index_against(0.0, 0.0, True, 0, cap=2) == 1.0
    assert index_against(5.0, 0.0, True, 0, cap=2) == 2.0
    # smoothing keeps a tiny baseline from turning a small value into a huge multiple
    assert index_against(30.0, 0.0, True, 30.0, cap=5) == 2.0


SEO = replace(SEO_WITH_TEMPLATES, template_reuse_rate=0)


def test_one_lucky_artifact_moves_efficiency_less_than_a_steady_record():
    lucky = Totals(tokens=300, artifacts=1, accepted=1)
    steady = Totals(tokens=8_000, artifacts=8, accepted=8)
    lucky_efficiency = compare(lucky, SEO, 5, 1, 3)["efficiency"]
    steady_efficiency = compare(steady, SEO, 5, 1, 3)["efficiency"]
    assert lucky_efficiency.raw > steady_efficiency.raw  # raw: the lucky one looks best
    assert steady_efficiency.index > lucky_efficiency.index  # shrunk: the steady record wins


def test_heavy_spend_without_accepted_work_is_not_shrunk_back_to_the_baseline():
    spender = Totals(tokens=96_000, artifacts=8, accepted=0)
    assert compare(spender, SEO, 5, 1, 2)["efficiency"].index < 0.2


def test_with_no_evidence_every_ratio_sits_at_its_baseline():
    nothing = compare(Totals(), SEO, 5, 1, 2)
    ratios = {name: c for name, c in nothing.items() if name not in ("adoption", "savings")}
    assert all(c.index == 1.0 and c.raw is None for c in ratios.values())
    assert nothing["adoption"].index < 1  # no accepted work is a count of zero, not unknown


def test_counts_are_compared_with_the_weekly_baseline_times_the_window_length():
    adoption = compare(Totals(accepted=12), SEO, 5, weeks=2, cap=2)["adoption"]
    assert (adoption.value, adoption.baseline, adoption.index) == (12, 12, 1.0)
