"""The gaming detectors measured on a synthetic org (benchmarks.simulation): on a fixed seed each
detector catches at least 90% of the people gaming its way in the ordinary and heavy volume
bands (70% in the light band) and flags at most 2% of the honest people of each band. The org is smaller than the
default `tokenbot simulate` (200 people, 4 weeks) so the test stays quick; the full run's
numbers are in the report of issue 9."""

from __future__ import annotations

from benchmarks.simulation import BANDS, GOALS, simulate
from bot.cli import main as cli_main
from scoring.governance import MISCONDUCT


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
    # Not met yet (see the README): gamers whose first gamed week's evidence only accumulates
    # the week after can be recognised in that first week.


def test_tokenbot_simulate_prints_a_row_per_detector(capsys):
    status = cli_main(["simulate", "--seed", "11", "--people", "60", "--weeks", "2", "--quiet"])
    out = capsys.readouterr().out
    for detector in MISCONDUCT:
        rows = [line for line in out.splitlines() if line.startswith(detector)]
        assert [row.split()[1] for row in rows] == list(BANDS)
    assert "honest people flagged by any detector, light:" in out
    assert "gamers recognised:" in out and "goals (recall >= 0.90, >= 0.70 in the light" in out
    assert status == (0 if "goals" in out and ": met" in out else 1)
