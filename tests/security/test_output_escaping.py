"""What tokenbot writes for other programs and people to open: CSV reports a spreadsheet will
read, Slack text a client will format. Text that any gateway key or chat user supplied
(names, teams, templates, use cases, reasons) must stay text there."""

from __future__ import annotations

import csv
import io

import pytest

from bot.cli.report import to_csv

FORMULAS = ['=HYPERLINK("http://evil.test","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_report_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(cell):
    """Threat: CSV formula injection. A use case or team name sent by any gateway key
    (`=HYPERLINK(...)`, `@SUM(...)`, ...) is written raw into `tokenbot report --format csv`
    and runs when finance opens the file. OWASP: prefix such cells with a single quote."""
    rows = [{"section": "usage", "team": cell, "use_case": cell, "measure": cell, "value": cell}]
    written = list(csv.DictReader(io.StringIO(to_csv(rows), newline="")))[0]
    for column in ("team", "use_case", "measure", "value"):
        assert written[column] == "'" + cell


def test_report_csv_numbers_stay_numbers():
    """The other side: a negative number is a number, not text to neutralise."""
    rows = [{"section": "usage", "team": "Marketing", "measure": "change", "value": -12}]
    written = list(csv.DictReader(io.StringIO(to_csv(rows), newline="")))[0]
    assert (written["team"], written["value"]) == ("Marketing", "-12")
