"""Which flags keep a person out of a week's recognition, on the real database: one not cleared
for the week itself, for the week after (pooled evidence reaches back into it) or for the weeks
the detectors still watch (`continuing_weeks`, 3 by default); a cleared flag, or one older than
that, bars nothing."""

from __future__ import annotations

from budgets.directory import import_directory
from scoring.eligibility import barred_from_recognition, barring_flags, flag_reach
from scoring.governance import governance_settings
from storage.models import Person
from tests.integration.scoring_support import PEOPLE_CSV, add_flag, scored_week

# SCORED_WEEK is 2026-W46.
FLAGS = {
    "ann": ("2026-W46", "pending"),
    "bob": ("2026-W47", "pending"),  # the week after: its evidence may be this week's work
    "fay": ("2026-W43", "upheld"),  # three weeks before: still watched
    "leo": ("2026-W45", "disputed"),
    "tia": ("2026-W46", "cleared"),
    "kim": ("2026-W42", "pending"),  # four weeks before: no longer watched
    "dan": ("2026-W48", "pending"),  # two weeks after: judged on its own weeks
}


def test_a_flag_bars_its_week_the_week_before_it_and_the_weeks_it_is_watched_unless_cleared(
    services,
):
    with services.db.unit_of_work() as uow:
        assert import_directory(uow.session, PEOPLE_CSV, services.policy, services.clock()).ok
        uow.commit()
        ids = {p.email.split("@")[0]: p.id for p in uow.session.query(Person)}
    for name, (week, status) in FLAGS.items():
        add_flag(services, ids[name], week, status)
    assert governance_settings(services.policy).continuing_weeks == 3
    with services.db.read() as session:
        barred = barred_from_recognition(session, services.policy, scored_week(services))
        flags = {
            name: barring_flags(session, services.policy, scored_week(services), ids[name])
            for name in FLAGS
        }
    assert barred == {ids["ann"], ids["bob"], ids["fay"], ids["leo"]}
    assert {name: bool(found) for name, found in flags.items()} == {
        name: ids[name] in barred for name in FLAGS
    }
    # What `score` says about where the flag lies: this week, a week next to it, or further back.
    zone = services.policy.periods.zone
    reach = {
        name: flag_reach(zone, scored_week(services), [week for week, _ in flags[name]])
        for name in ("ann", "bob", "fay", "leo")
    }
    assert reach == {"ann": "window", "bob": "adjacent", "fay": "watched", "leo": "adjacent"}
