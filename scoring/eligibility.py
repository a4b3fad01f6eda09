"""Who may be recognised: the one rule that `score`, every leaderboard category, the team
standings, the weekly spotlight and the App Home apply, so no screen tells a person one thing
while another ranks them.

Eligible for a category in a window, all of:
- known and active in the directory;
- no flag that is not cleared (pending, disputed or upheld) for a week that bars the window
  (`barring_weeks`, computed into `Scoreboard.flagged` by `barred_from_recognition`): a week
  the window overlaps, the week after it (pooled evidence reaches back a week, so that flag may
  be about this window's work too) or one of the `[governance] continuing_weeks` weeks before
  it (the detectors still watch the pattern at eased thresholds, and a gamer who games a little
  less for a week is not celebrated for it). A cleared flag bars nothing;
- at least the category's minimum of artifacts (outcomes) in the window: the category's own
  `min_tasks` when the policy gives it one, else `[scoring] min_tasks`. The team standings and
  any screen asking about recognition in general use `[scoring] min_tasks`.

A category's `min_value` is a threshold on its measure (a multiple, a count, minutes), not part
of eligibility: someone eligible whose measure falls short is simply not ranked. Any further
rule (another reason to keep someone out of a week's recognition) belongs here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from budgets.policy import Policy
from budgets.windows import Window, week_keys_between
from scoring.config import CategorySpec, ScoringSettings
from scoring.governance import governance_settings
from scoring.metrics import Totals
from scoring.plans import OPEN_FLAG_STATUSES
from storage.models import Flag


class _Person(Protocol):
    @property
    def active(self) -> bool: ...


class Scoreboard(Protocol):
    """What the rule reads of a `scoring.score.Scoreboard`. Typed by its shape: `scoring.score`
    builds the board's `flagged` with `barred_from_recognition`, so this module cannot import
    it (no cycles between scoring's modules)."""

    @property
    def settings(self) -> ScoringSettings: ...
    @property
    def people(self) -> Mapping[int, _Person]: ...
    @property
    def person_totals(self) -> Mapping[int, Totals]: ...
    @property
    def flagged(self) -> frozenset[int]: ...


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


def barring_weeks(zone: ZoneInfo, window: Window, watched_weeks: int) -> list[str]:
    """The weeks whose flags, unless cleared, keep a person out of `window`'s recognition: the
    `watched_weeks` weeks before it, the weeks it overlaps and the week after it."""
    return week_keys_between(
        zone, window.start - timedelta(weeks=watched_weeks), window.end + timedelta(weeks=1)
    )


def _barring_weeks(policy: Policy, window: Window) -> list[str]:
    return barring_weeks(policy.periods.zone, window, governance_settings(policy).continuing_weeks)


def barred_from_recognition(session: Session, policy: Policy, window: Window) -> frozenset[int]:
    """People a flag not cleared keeps out of recognition in `window` (`Scoreboard.flagged`)."""
    return frozenset(
        int(pid)
        for (pid,) in session.execute(
            select(Flag.person_id)
            .where(
                Flag.week.in_(_barring_weeks(policy, window)),
                Flag.status.in_(OPEN_FLAG_STATUSES),
            )
            .distinct()
        )
    )


def barring_flags(
    session: Session, policy: Policy, window: Window, person_id: int
) -> list[tuple[str, str]]:
    """(week, status) of each of the person's flags that keeps them out of `window`'s
    recognition, by week."""
    return sorted(
        (str(week), str(status))
        for week, status in session.execute(
            select(Flag.week, Flag.status).where(
                Flag.person_id == person_id,
                Flag.week.in_(_barring_weeks(policy, window)),
                Flag.status.in_(OPEN_FLAG_STATUSES),
            )
        )
    )


def flag_reach(zone: ZoneInfo, window: Window, flag_weeks: list[str]) -> str:
    """Where the flags barring `window` lie, for wording: "window" (all in weeks it overlaps),
    "adjacent" (some in the week just before or after it) or "watched" (some further back)."""
    inside = set(week_keys_between(zone, window.start, window.end))
    beside = set(barring_weeks(zone, window, 1))
    if set(flag_weeks) <= inside:
        return "window"
    if set(flag_weeks) <= beside:
        return "adjacent"
    return "watched"


def flag_statuses(session: Session, policy: Policy, window: Window, person_id: int) -> list[str]:
    """The statuses of the person's flags that keep them out of `window`'s recognition (the
    same weeks as `Scoreboard.flagged`), for wording: an upheld flag is final."""
    return sorted(status for _, status in barring_flags(session, policy, window, person_id))
