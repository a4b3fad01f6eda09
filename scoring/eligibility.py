"""Who may be recognised: the one rule that `score`, every leaderboard category, the team
standings, the weekly spotlight and the App Home apply, so no screen tells a person one thing
while another ranks them.

Eligible for a category in a window, all of:
- known and active in the directory;
- no flag that is not cleared (pending, disputed or upheld) in the window (`Scoreboard.flagged`);
- at least the category's minimum of artifacts (outcomes) in the window: the category's own
  `min_tasks` when the policy gives it one, else `[scoring] min_tasks`. The team standings and
  any screen asking about recognition in general use `[scoring] min_tasks`.

A category's `min_value` is a threshold on its measure (a multiple, a count, minutes), not part
of eligibility: someone eligible whose measure falls short is simply not ranked. Any further
rule (another reason to keep someone out of a week's recognition) belongs here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from budgets.policy import Policy
from budgets.windows import Window, week_keys_between
from scoring.config import CategorySpec, ScoringSettings
from scoring.metrics import OPEN_FLAG_STATUSES
from scoring.score import Scoreboard
from storage.models import Flag


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    # None when eligible; else "unknown", "inactive", "flagged" or "too_few_artifacts"
    why: str | None
    artifacts: int  # the person's artifacts in the window
    min_tasks: int  # the minimum that applies


def min_tasks_for(spec: CategorySpec | None, settings: ScoringSettings) -> int:
    """The artifacts a category needs in the window: its own minimum, else the policy's."""
    if spec is not None and spec.min_tasks is not None:
        return spec.min_tasks
    return settings.min_tasks


def eligibility(board: Scoreboard, person_id: int, spec: CategorySpec | None = None) -> Eligibility:
    """Whether `person_id` may be recognised in `spec` (None: in general) for the board's
    window, and if not, the first reason why."""
    totals = board.person_totals.get(person_id)
    artifacts = totals.artifacts if totals is not None else 0
    minimum = min_tasks_for(spec, board.settings)
    person = board.people.get(person_id)
    why: str | None = None
    if person is None:
        why = "unknown"
    elif not person.active:
        why = "inactive"
    elif person_id in board.flagged:
        why = "flagged"
    elif artifacts < minimum:
        why = "too_few_artifacts"
    return Eligibility(why is None, why, artifacts, minimum)


def is_eligible(board: Scoreboard, person_id: int, spec: CategorySpec | None = None) -> bool:
    return eligibility(board, person_id, spec).eligible


def flag_statuses(session: Session, policy: Policy, window: Window, person_id: int) -> list[str]:
    """The statuses of the person's flags that are not cleared in the weeks `window` overlaps
    (what keeps them out of its recognition), for wording: an upheld flag is final."""
    weeks = week_keys_between(policy.periods.zone, window.start, window.end)
    return sorted(
        session.scalars(
            select(Flag.status).where(
                Flag.person_id == person_id,
                Flag.week.in_(weeks),
                Flag.status.in_(OPEN_FLAG_STATUSES),
            )
        )
    )
