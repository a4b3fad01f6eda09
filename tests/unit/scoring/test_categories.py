"""Recognition from a hand-built scoreboard: eligibility, ranking and tiers, without a
database."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from scoring.categories import recognise, team_standings
from scoring.config import CategorySpec
from scoring.eligibility import Eligibility, eligibility, is_eligible, min_tasks_for
from scoring.metrics import Totals
from scoring.score import PersonInfo, Scoreboard, score_person
from tests.unit.scoring.test_score import BASELINES, SETTINGS, TYPICAL, WEEK, template_report

EFFICIENT = TYPICAL._replace(tokens=8_000, accepted=8)
GOOD = TYPICAL._replace(tokens=16_000, accepted=7)
WASTEFUL = TYPICAL._replace(tokens=200_000, accepted=3, cost_micros=900_000)


def board(records: dict[int, tuple[str, int, Totals]], **changes) -> Scoreboard:
    """records: person id -> (name, team id, seo-brief totals)."""
    weights = SETTINGS.weights_for("incentives")
    scores = {}
    for pid, (_name, _team, totals) in records.items():
        result = score_person(pid, {"seo-brief": totals}, BASELINES, SETTINGS, weights, WEEK)
        assert result is not None
        scores[pid] = result
    values = dict(
        window=WEEK,
        phase="incentives",
        settings=SETTINGS,
        weights=weights,
        baselines=BASELINES,
        scores=scores,
        person_totals={pid: t for pid, (_n, _t, t) in records.items()},
        people={
            pid: PersonInfo(
                pid, name, f"{name.lower()}@acme.test", team, f"team {team}", None, True
            )
            for pid, (name, team, _t) in records.items()
        },
        flagged=frozenset(),
        templates={},
        templates_in_window={},
        teams={1: "team 1", 2: "team 2"},
    )
    values.update(changes)
    return Scoreboard(**values)


def names(results, category: str) -> list[tuple[str, str]]:
    (result,) = [r for r in results if r.spec.key == category]
    return [(r.tier, r.name) for r in result.recognised]


ORG = {
    1: ("Ann", 1, EFFICIENT),
    2: ("Bob", 1, WASTEFUL),
    3: ("Cid", 2, GOOD),
    4: ("Dee", 2, GOOD),
    5: ("Eli", 2, TYPICAL),
}


def test_the_most_efficient_is_gold_and_the_heaviest_spender_is_nowhere():
    results = recognise(board(ORG))
    assert names(results, "efficiency-champion") == [
        ("gold", "Ann"),
        ("silver", "Cid"),
        ("silver", "Dee"),
    ]
    assert all(r.name != "Bob" for result in results for r in result.recognised)


def test_flagged_people_are_not_eligible_and_their_place_goes_to_the_next():
    results = recognise(board(ORG, flagged=frozenset({1})))
    assert names(results, "efficiency-champion") == [("gold", "Cid"), ("silver", "Dee")]
    assert all(r.person_id != 1 for result in results for r in result.recognised)
    (team_1,) = [s for s in team_standings(board(ORG, flagged=frozenset({1})), 1) if s.team_id == 1]
    assert team_1.people == 1  # the flagged person is left out of the team's standing too


def test_too_few_artifacts_are_not_eligible_however_good_they_look():
    lucky = Totals(
        tokens=100, artifacts=1, accepted=1, edited=1, drafts=1, first_draft_seconds_sum=10
    )
    results = recognise(board({**ORG, 6: ("Leo", 1, lucky)}))
    assert all(r.name != "Leo" for result in results for r in result.recognised)


def test_inactive_people_are_not_recognised():
    org = board(ORG)
    people = dict(org.people)
    people[1] = replace(people[1], active=False)
    results = recognise(replace(org, people=people))
    assert ("gold", "Ann") not in names(results, "efficiency-champion")


def test_ties_go_to_the_higher_score_then_the_name_never_to_spend():
    twin = GOOD._replace()
    results = recognise(board({3: ("Zed", 2, GOOD), 4: ("Amy", 2, twin)}))
    assert names(results, "efficiency-champion") == [("gold", "Amy"), ("silver", "Zed")]


def test_the_team_view_ranks_each_team_with_its_own_tiers():
    results = recognise(board(ORG), team_id=2)
    assert names(results, "efficiency-champion") == [("gold", "Cid"), ("silver", "Dee")]


def test_the_baseline_phase_recognises_nobody():
    assert recognise(board(ORG, phase="baseline")) == []


def test_workflow_builders_are_credited_for_what_colleagues_accepted_with_their_templates():
    report = template_report(
        template_id="v3",
        author_id=5,
        author_name="Eli",
        totals=Totals(tokens=20_000, artifacts=10, accepted=9),
        reuse=Totals(tokens=16_000, artifacts=8, accepted=7),
        users=3,
        reusers=2,
        non_template_tokens_per_task=3_000,
    )
    results = recognise(board(ORG, templates={"v3": report}, templates_in_window={"v3": report}))
    (builder,) = [r for r in results if r.spec.key == "workflow-builder"][0].recognised
    assert (builder.name, builder.reason.accepted_by_others, builder.reason.colleagues) == (
        "Eli",
        7,
        2,
    )
    assert builder.reason.tokens_saved == 8_000  # (3,000 - 2,000) x 8 artifacts


def test_a_category_can_recognise_by_overall_score_with_custom_tiers():
    spec = CategorySpec(
        "all-round", "All-round", "score", Decimal(100), (("top", 1), ("next", 1)), (("top", 1),)
    )
    custom = replace(SETTINGS, categories=(spec,))
    results = recognise(board(ORG, settings=custom))
    assert names(results, "all-round")[0] == ("top", "Ann")
    assert len(names(results, "all-round")) == 2


def test_team_standings_rank_teams_by_mean_efficiency_never_by_spend():
    standings = team_standings(board(ORG), minimum_people=2)
    # team 1 holds the most efficient person and the heaviest spender; team 2 is steadily good
    assert [s.team_id for s in standings] == [2, 1]
    assert standings[0].efficiency > standings[1].efficiency
    assert team_standings(board(ORG), minimum_people=3) == [standings[0]]


SAVER = TYPICAL._replace(artifacts=4, accepted=3, verified_minutes=90.0)  # 4 artifacts


def test_too_few_artifacts_keep_someone_out_of_every_category_even_verified_savings():
    results = recognise(board({**ORG, 6: ("Liam", 1, SAVER)}))
    assert all(r.name != "Liam" for result in results for r in result.recognised)
    assert eligibility(board({6: ("Liam", 1, SAVER)}), 6) == Eligibility(
        False, "too_few_artifacts", 4, 5
    )


def test_a_category_with_its_own_minimum_applies_it_and_the_others_keep_the_policy_s():
    specs = tuple(
        replace(spec, min_tasks=3) if spec.key == "verified-savings" else spec
        for spec in SETTINGS.categories
    )
    org = board({**ORG, 6: ("Liam", 1, SAVER)}, settings=replace(SETTINGS, categories=specs))
    results = recognise(org)
    assert names(results, "verified-savings") == [("gold", "Liam")]
    savings, efficiency = (
        org.settings.category(k) for k in ("verified-savings", "efficiency-champion")
    )
    assert is_eligible(org, 6, savings) and not is_eligible(org, 6, efficiency)
    assert min_tasks_for(savings, org.settings) == 3 and min_tasks_for(None, org.settings) == 5


@given(
    artifacts=st.integers(0, 12),
    active=st.booleans(),
    flagged=st.booleans(),
    own_minimum=st.one_of(st.none(), st.integers(0, 12)),
)
def test_eligibility_is_active_unflagged_and_enough_artifacts_and_ranking_obeys_it(
    artifacts, active, flagged, own_minimum
):
    totals = EFFICIENT._replace(artifacts=artifacts, accepted=min(8, artifacts))
    specs = tuple(replace(spec, min_tasks=own_minimum) for spec in SETTINGS.categories)
    org = board({**ORG, 6: ("Pat", 1, totals)}, settings=replace(SETTINGS, categories=specs))
    people = dict(org.people)
    people[6] = replace(people[6], active=active)
    org = replace(org, people=people, flagged=frozenset({6}) if flagged else frozenset())
    minimum = SETTINGS.min_tasks if own_minimum is None else own_minimum
    expected = active and not flagged and artifacts >= minimum
    for spec in specs:
        assert is_eligible(org, 6, spec) == expected
        ranked = {
            r.person_id for result in recognise(org, category=spec.key) for r in result.recognised
        }
        if not expected:
            assert 6 not in ranked


def test_knowledge_contribution_ranks_by_tokens_templates_saved_colleagues_with_their_minutes():
    def report(template_id, author_id, author_name, untemplated, minutes):
        return template_report(
            template_id=template_id,
            author_id=author_id,
            author_name=author_name,
            totals=Totals(tokens=20_000, artifacts=10, accepted=9),
            reuse=Totals(tokens=16_000, artifacts=8, accepted=7, verified_minutes=minutes),
            users=3,
            reusers=2,
            non_template_tokens_per_task=untemplated,
        )

    reports = {"v3": report("v3", 5, "Eli", 3_000, 90.0), "v9": report("v9", 3, "Cid", 5_000, 0.0)}
    results = recognise(board(ORG, templates=reports, templates_in_window=reports))
    (category,) = [r for r in results if r.spec.key == "knowledge-contribution"]
    assert category.spec.label == "Best internal knowledge contribution"
    gold, silver = category.recognised
    assert (gold.name, gold.reason.tokens_saved, gold.reason.minutes_saved) == ("Cid", 24_000, 0)
    assert (silver.name, silver.reason.tokens_saved, silver.reason.minutes_saved) == (
        "Eli",
        8_000,
        90.0,
    )


def test_one_rule_decides_eligibility_for_every_category_and_the_team_standings():
    lucky = Totals(tokens=100, artifacts=1, accepted=1, edited=1, drafts=1)
    org = board({**ORG, 6: ("Leo", 1, lucky)}, flagged=frozenset({3}))
    people = dict(org.people)
    people[4] = replace(people[4], active=False)
    org = replace(org, people=people)
    assert {pid: eligibility(org, pid).why for pid in (1, 3, 4, 6, 99)} == {
        1: None,
        3: "flagged",
        4: "inactive",
        6: "too_few_artifacts",
        99: "unknown",  # not in the directory
    }
    recognised = {r.person_id for result in recognise(org) for r in result.recognised}
    assert recognised and all(is_eligible(org, pid) for pid in recognised)
    (team_2,) = [s for s in team_standings(org, 1) if s.team_id == 2]
    assert team_2.people == 1  # Eli alone: Cid is flagged, Dee has left
