"""Recognition: who is recognised in which category and tier, org-wide and within each team.

Categories come from the policy (`[scoring.categories]`, see scoring.config), each ranking by
one measure: a score component's index (efficiency champion: accepted output per token against
the baseline), `prompt_to_result` (the mean of the acceptance and revision indices),
`workflow_builder` (other people's accepted artifacts made with your templates),
`knowledge_contribution` (the tokens your templates saved colleagues who reused them, with the
verified minutes their work with them saved),
`verified_savings` (minutes saved that a manager verified) or the overall `score`.

Ranked: the people eligible for the category (`scoring.eligibility`, the one rule every screen
applies: active, no flag that is not cleared in the window, at least the category's minimum of
artifacts), so flagged people are dropped before ranking and no list shows or hints at them,
whose measure is at or above the category's `min_value`.

Ranking is by the measure, best first; ties go to the higher overall score, then by name. No
ranking uses tokens or money spent. The first `gold` people get gold, the next `silver` silver,
and so on; the team view ranks each team's people with the category's `team_tiers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from scoring.config import CategorySpec
from scoring.eligibility import is_eligible
from scoring.score import COMPONENT_UNITS, PersonScore, Scoreboard

HALF = Decimal("0.5")
WHOLE_MINUTE = Decimal(1)


@dataclass(frozen=True)
class Figure:
    """One comparison behind a recognition: a component in one use case, the person's value as
    counted (shrunk toward the baseline for ratios: the one the multiple is computed from), the
    raw value beside it, the baseline and the multiple. Accepted output per token is shown as
    tokens per accepted artifact, whose baseline-to-value ratio is the same multiple."""

    component: str
    unit: str
    value: float | None  # as counted
    baseline: float | None
    raw: float | None = None
    index: float = 1.0
    use_case: str | None = None
    share: float = 1.0  # of the person's task-equivalents (the weight of `index`)


@dataclass(frozen=True)
class Reason:
    """What put someone in a category, as plain numbers (JSON-safe)."""

    measure: str
    value: float  # the measure itself: an index, a count of artifacts, minutes, a score
    use_case: str | None = None  # their main use case, for index measures
    figures: tuple[Figure, ...] = ()
    accepted_by_others: int = 0
    colleagues: int = 0
    tokens_saved: int = 0
    template: str | None = None  # their most reused template
    minutes_saved: float = 0.0  # verified minutes on colleagues' work with their templates


@dataclass(frozen=True)
class Recognition:
    category: str
    label: str
    tier: str
    person_id: int
    name: str
    team: str | None
    reason: Reason


@dataclass(frozen=True)
class CategoryResult:
    spec: CategorySpec
    recognised: tuple[Recognition, ...]


@dataclass(frozen=True)
class BuilderCredit:
    accepted_by_others: int
    colleagues: int
    tokens_saved: int
    template: str | None
    minutes_saved: float = 0.0


def builder_credits(board: Scoreboard) -> dict[int, BuilderCredit]:
    """Author id -> what other people accepted in the window with the author's templates, the
    tokens that saved (the template's tokens per task over the baseline weeks vs the use
    case's untemplated work) and the minutes of that work verified as saved."""
    totals: dict[int, list[tuple[int, int, int, str, float]]] = {}
    for template_id, used in board.templates_in_window.items():
        if used.author_id is None or not used.reuse.accepted:
            continue
        overall = board.templates.get(template_id, used)
        saved = overall.tokens_saved(used.reuse.artifacts)
        totals.setdefault(used.author_id, []).append(
            (used.reuse.accepted, used.reusers, saved, used.name, used.reuse.verified_minutes)
        )
    return {
        author: BuilderCredit(
            accepted_by_others=sum(r[0] for r in rows),
            colleagues=sum(r[1] for r in rows),
            tokens_saved=sum(r[2] for r in rows),
            template=max(rows, key=lambda r: (r[0], r[3]))[3],
            minutes_saved=sum(r[4] for r in rows),
        )
        for author, rows in totals.items()
    }


def _per_accepted(value: float | None) -> float | None:
    return 1000 / value if value else None


def _figures(score: PersonScore, components: tuple[str, ...]) -> tuple[Figure, ...]:
    """Each component's comparison in each scored use case: the values the measure is
    computed from (a component's index is the share-weighted mean of these multiples)."""
    figures = []
    for name in components:
        for u in score.use_cases:
            c = u.comparisons[name]
            value, raw, baseline, unit = c.value, c.raw, c.baseline, COMPONENT_UNITS[name]
            if name == "efficiency":
                value, raw, baseline = map(_per_accepted, (value, raw, baseline))
                unit = "tokens_per_accepted"
            figures.append(
                Figure(name, unit, value, baseline, raw, round(c.index, 2), u.use_case, u.share)
            )
    return tuple(figures)


def measure_of(
    board: Scoreboard, spec: CategorySpec, person_id: int, credits: dict[int, BuilderCredit]
) -> Decimal | None:
    """The person's value for the category's measure; None when they have none."""
    measure = spec.measure
    if measure == "workflow_builder":
        credit = credits.get(person_id)
        return Decimal(credit.accepted_by_others) if credit is not None else None
    if measure == "knowledge_contribution":
        credit = credits.get(person_id)
        return Decimal(credit.tokens_saved) if credit is not None else None
    if measure == "verified_savings":
        totals = board.person_totals.get(person_id)
        if totals is None or not totals.verified_minutes:
            return None
        return Decimal(totals.verified_minutes).quantize(WHOLE_MINUTE)
    score = board.scores.get(person_id)
    if score is None:
        return None
    if measure == "score":
        return score.score
    if measure == "prompt_to_result":
        return (score.component("acceptance").index + score.component("revision").index) * HALF
    return score.component(measure).index


def reason_for(
    board: Scoreboard,
    spec: CategorySpec,
    person_id: int,
    value: Decimal,
    credits: dict[int, BuilderCredit],
) -> Reason:
    """The numbers behind a recognition, for its one-line reason."""
    measure = spec.measure
    if measure in ("workflow_builder", "knowledge_contribution"):
        credit = credits[person_id]
        return Reason(
            measure,
            float(value),
            accepted_by_others=credit.accepted_by_others,
            colleagues=credit.colleagues,
            tokens_saved=credit.tokens_saved,
            template=credit.template,
            minutes_saved=credit.minutes_saved,
        )
    if measure == "verified_savings":
        return Reason(measure, float(value))
    score = board.scores[person_id]
    use_case = score.main_use_case.use_case
    if measure == "score":
        return Reason(measure, float(value), use_case=use_case)
    shown = ("acceptance", "revision") if measure == "prompt_to_result" else (measure,)
    return Reason(measure, float(value), use_case=use_case, figures=_figures(score, shown))


# (measure, overall score, name, person id): the sort key, best first, never spend.
Candidate = tuple[Decimal, Decimal, str, int]


def candidates(
    board: Scoreboard, spec: CategorySpec, credits: dict[int, BuilderCredit]
) -> list[Candidate]:
    """Everyone eligible for the category with a measure at or above its minimum, best first:
    by the measure, then the overall score, then the name."""
    found = []
    for pid in board.person_totals.keys() | credits.keys():
        if not is_eligible(board, pid, spec):
            continue
        value = measure_of(board, spec, pid, credits)
        if value is None or value < spec.min_value:
            continue
        overall = board.scores[pid].score if pid in board.scores else Decimal(0)
        found.append((value, overall, board.people[pid].name, pid))
    found.sort(key=lambda c: (-c[0], -c[1], c[2], c[3]))
    return found


def _tiered(
    board: Scoreboard,
    spec: CategorySpec,
    ranked: list[Candidate],
    tiers: tuple[tuple[str, int], ...],
    credits: dict[int, BuilderCredit],
) -> CategoryResult:
    places = [tier for tier, count in tiers for _ in range(count)]
    return CategoryResult(
        spec,
        tuple(
            Recognition(
                category=spec.key,
                label=spec.label,
                tier=tier,
                person_id=pid,
                name=board.people[pid].name,
                team=board.people[pid].team,
                reason=reason_for(board, spec, pid, value, credits),
            )
            for tier, (value, _overall, _name, pid) in zip(places, ranked, strict=False)
        ),
    )


def recognise(
    board: Scoreboard, team_id: int | None = None, category: str | None = None
) -> list[CategoryResult]:
    """Every category's recognised people (org-wide, or within one team), in policy order.
    Nothing is recognised in the `baseline` phase."""
    if board.phase == "baseline":
        return []
    credits = builder_credits(board)
    results = []
    for spec in board.settings.categories:
        if category is not None and spec.key != category:
            continue
        ranked = candidates(board, spec, credits)
        if team_id is not None:
            ranked = [c for c in ranked if board.people[c[3]].team_id == team_id]
        results.append(
            _tiered(
                board,
                spec,
                ranked,
                spec.team_tiers if team_id is not None else spec.tiers,
                credits,
            )
        )
    return results


def recognise_every_team(
    board: Scoreboard,
) -> tuple[list[CategoryResult], dict[int, list[CategoryResult]]]:
    """The org-wide recognition and every team's, ranking each category once (what the weekly
    spotlight needs: one org post and one per team)."""
    if board.phase == "baseline":
        return [], {}
    credits = builder_credits(board)
    org: list[CategoryResult] = []
    teams: dict[int, list[CategoryResult]] = {team_id: [] for team_id in board.teams}
    for spec in board.settings.categories:
        ranked = candidates(board, spec, credits)
        org.append(_tiered(board, spec, ranked, spec.tiers, credits))
        by_team: dict[int, list[Candidate]] = {team_id: [] for team_id in teams}
        for candidate in ranked:
            team_id = board.people[candidate[3]].team_id
            if team_id in by_team:
                by_team[team_id].append(candidate)
        for team_id, ranked_in_team in by_team.items():
            teams[team_id].append(_tiered(board, spec, ranked_in_team, spec.team_tiers, credits))
    return org, teams


@dataclass(frozen=True)
class TeamStanding:
    team_id: int
    team: str
    people: int  # eligible people whose scores the standing averages
    efficiency: float  # mean efficiency index of those people (1 = the baseline)
    score: float  # their mean score
    # Each of those people's efficiency index, best first: shown beside the mean so it can be
    # recomputed (the people stay unnamed: not all of them are recognised).
    indexes: tuple[float, ...] = ()


def team_standings(board: Scoreboard, minimum_people: int = 3) -> list[TeamStanding]:
    """Teams by the mean efficiency index of their eligible people (min_tasks, no open flag),
    best first; teams with fewer than `minimum_people` such people are left out."""
    members: dict[int, list[PersonScore]] = {}
    for pid, score in board.scores.items():
        person = board.people.get(pid)
        if person is None or person.team_id is None or not is_eligible(board, pid):
            continue
        members.setdefault(person.team_id, []).append(score)
    standings = [
        TeamStanding(
            team_id=team_id,
            team=board.teams.get(team_id, str(team_id)),
            people=len(scores),
            efficiency=sum(float(s.component("efficiency").index) for s in scores) / len(scores),
            score=sum(float(s.score) for s in scores) / len(scores),
            indexes=tuple(
                sorted((float(s.component("efficiency").index) for s in scores), reverse=True)
            ),
        )
        for team_id, scores in members.items()
        if len(scores) >= minimum_people
    ]
    standings.sort(key=lambda t: (-t.efficiency, -t.score, t.team))
    return standings
