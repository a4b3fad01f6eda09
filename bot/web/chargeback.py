"""The chargeback CSV: spend per team, project, use case and model for a window, for finance
tools. Formula-safe: a cell that a spreadsheet would read as a formula (starting with =, +, -,
@, a tab or a carriage return) is prefixed with a single quote, as OWASP advises for CSV
injection; numbers are written as numbers (a negative amount is not text to neutralise)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from budgets.spend import SpendRow

HEADER = ("period", "team", "project", "use_case", "model", "budget_tokens", "cost_usd", "calls")
MICROS = Decimal(1_000_000)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Text a spreadsheet will show, never evaluate."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def chargeback_csv(period: str, rows: Iterable[SpendRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(
            [
                neutralise(period),
                neutralise(row.team),
                neutralise(row.project),
                neutralise(row.use_case),
                neutralise(row.model),
                row.tokens,
                f"{Decimal(row.cost_micros) / MICROS:.6f}",  # exact: micro-dollars
                row.events,
            ]
        )
    return out.getvalue()
