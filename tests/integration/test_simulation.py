"""The gaming detectors measured on a synthetic org (benchmarks.simulation), the default one of
`tokenbot simulate` (500 people, 6 weeks) on a fixed seed: each detector catches at least 90% of
the people gaming its way in the ordinary and heavy volume bands (70% in the light band) and
flags at most 2% of the honest people of each band, and no gamer is recognised in a week the
detectors had flagged them for or still watched. The README has the figures of five seeds."""

from __future__ import annotations

from datetime import UTC, timedelta

from benchmarks.simulation import BANDS, GOALS, simulate
from bot.cli import main as cli_main
from budgets.policy import load_policy
from budgets.windows import week_by_key
from scoring.governance import MISCONDUCT, governance_settings


def test_on_a_fixed_seed_every_detector_meets_its_goals_in_every_volume_band():
    report = simulate(seed=3)  # the default org: 500 people, 6 weeks
    assert [(row.detector, row.band) for row in report.rows] == [
        (d, band) for d in MISCONDUCT for band in BANDS
    ]
    for row in report.rows:
        assert row.gamers >= 10 and row.honest >= 100, row
        assert row.recall >= row.recall_goal, row
        assert row.false_positive_rate <= GOALS["false_positives"], row
    assert report.recognitions > 0  # recognition ran, and named honest people
    # No gamer is recognised in a week they were flagged for, nor in the weeks the detectors
    # still watch after a flag: what the spotlight knows when it runs, it applies.
    watched = timedelta(weeks=governance_settings(load_policy()).continuing_weeks)
    for gamer in report.recognised_gamers:
        flagged = [week_by_key(UTC, week).start for week in gamer.flagged]
        for week in gamer.weeks:
            start = week_by_key(UTC, week).start
            assert not [f for f in flagged if timedelta(0) <= start - f <= watched], gamer
    # The goal of none recognised in a week they gamed is not met yet (see the README): a few
    # gamers are first flagged two weeks or more after a week they were recognised in (9 on
    # this seed before eligibility took in the watched weeks and task splitting judged a light
    # week, 4 before the spotlight waited for the week after, 1 since copies are costed and
    # acceptance must improve beyond chance).
    assert len(report.recognised_gamers) <= 1, report.recognised_gamers


def test_tokenbot_simulate_prints_a_row_per_detector(capsys):
    status = cli_main(["simulate", "--seed", "11", "--people", "60", "--weeks", "2", "--quiet"])
    out = capsys.readouterr().out
    for detector in MISCONDUCT:
        rows = [line for line in out.splitlines() if line.startswith(detector)]
        assert [row.split()[1] for row in rows] == list(BANDS)
    assert "honest people flagged by any detector, light:" in out
    assert "gamers recognised:" in out and "goals (recall >= 0.90, >= 0.70 in the light" in out
    assert status == (0 if "goals" in out and ": met" in out else 1)
