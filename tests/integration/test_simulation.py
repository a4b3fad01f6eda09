"""The gaming detectors measured on a synthetic org (benchmarks.simulation): on a fixed seed each
detector catches at least 90% of the people gaming its way, flags at most 2% of honest people,
and no gamer reaches a recognition tier in a week they game. The org is smaller than the
default `tokenbot simulate` (200 people, 4 weeks) so the test stays quick; the full run's
numbers are in the report of issue 9."""

from __future__ import annotations

from benchmarks.simulation import GOALS, simulate
from bot.cli import main as cli_main
from scoring.governance import MISCONDUCT


def test_on_a_fixed_seed_every_detector_meets_its_goals_and_no_gamer_is_recognised():
    report = simulate(seed=3, people=200, weeks=4)
    assert [row.detector for row in report.rows] == list(MISCONDUCT)
    for row in report.rows:
        assert row.gamers >= 10, row
        assert row.recall >= GOALS["recall"], row
        assert row.false_positive_rate <= GOALS["false_positives"], row
    assert report.recognitions > 0  # recognition ran, and named honest people
    assert report.recognised_gamers == ()
    assert report.meets_goals


def test_tokenbot_simulate_prints_a_row_per_detector(capsys):
    status = cli_main(["simulate", "--seed", "11", "--people", "60", "--weeks", "2", "--quiet"])
    out = capsys.readouterr().out
    for detector in MISCONDUCT:
        line = next(line for line in out.splitlines() if line.startswith(detector))
        assert "recall " in line and "false positives " in line
    assert "gamers recognised:" in out and "goals (recall >= 0.90" in out
    assert status == (0 if "goals" in out and ": met" in out else 1)
