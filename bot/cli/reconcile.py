"""`tokenbot usage reconcile --format FORMAT FILE`: an export set against the ledger, for finance.

`ingest.reconcile.reconcile_file` finds the facts (nothing is written); this module prints them:
the export's coverage, then one table row per (day, person, model) where the export and the
ledger disagree, with tokens and money on both sides, and the totals.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.bootstrap import Services
from ingest.formats import FORMATS
from ingest.reconcile import Amounts, Reconciliation, reconcile_file
from message_templates import format_money, format_tokens, plural


def register(usage) -> None:  # noqa: ANN001 - the `usage` sub-command's subparsers
    reconcile = usage.add_parser(
        "reconcile",
        help="what an export has that the ledger lacks and the other way round, per day, "
        "person and model, in tokens and money (writes nothing)",
    )
    reconcile.add_argument("--format", dest="fmt", required=True, choices=sorted(FORMATS))
    reconcile.add_argument("file")
    reconcile.set_defaults(run=run_reconcile)


def run_reconcile(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    path = Path(args.file)
    try:
        path.open("rb").close()
    except OSError as exc:
        raise CommandFailed(f"cannot read {args.file}: {exc.strerror}") from exc
    result = reconcile_file(
        services.db, services.policy, args.fmt, lambda: path.open("rb"), now=services.clock()
    )
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    print_reconciliation(console, args.file, result)
    return 0


def print_reconciliation(console: Console, name: str, r: Reconciliation) -> None:
    console.print(f"Reconciling {name} ({r.format}) with the ledger; nothing was written.")
    if r.problems_total:
        console.print(
            f"{r.rejected:,} of {plural(r.rows, 'row')} would be rejected by `tokenbot import` "
            f"({plural(r.problems_total, 'problem')}) and are left out:"
        )
        for problem in r.problems:
            console.print(f"  line {problem.index}: {problem.field} {problem.reason}")
        if r.problems_total > len(r.problems):
            console.print(f"  ... and {r.problems_total - len(r.problems):,} more")
    if r.span is None:
        console.print("The export holds no usage to compare.")
        return
    first, last = r.span
    in_ledger = r.in_ledger
    console.print(
        f"Export: {r.export.events:,} usage rows from {first:%Y-%m-%d %H:%M} to "
        f"{last:%Y-%m-%d %H:%M} UTC, {format_tokens(r.export.tokens)} tokens, "
        f"{_money(r.export)}; {in_ledger.events:,} of them already in the ledger."
    )
    if r.sources:
        prefixes = ", ".join(f'"{source}:"' for source in r.sources)
        console.print(f"Ledger side: stored usage with ids starting {prefixes} in that span.")
    if r.unsourced_ids:
        console.print(
            f"{r.unsourced_ids:,} export ids carry no source prefix (text before a ':'): stored "
            "usage cannot be told to come from this export for them, so it is not compared."
        )
    if r.reconciled:
        console.print("Reconciled: the ledger has every row of the export, and no other.")
        return
    console.print(_table(r))
    if r.missing_from_ledger.events:
        console.print(
            f"`tokenbot import --format {r.format} {name}` records exactly the "
            f"{r.missing_from_ledger.events:,} rows missing from the ledger."
        )


def _table(r: Reconciliation) -> Table:
    table = Table(title="Differences per UTC day, person and model", show_footer=True)
    table.add_column("day", footer="total")
    table.add_column("person")
    table.add_column("model")
    for side, amounts in (
        ("missing from ledger", r.missing_from_ledger),
        ("not in export", r.not_in_export),
    ):
        table.add_column(f"{side}\nevents", justify="right", footer=f"{amounts.events:,}")
        table.add_column("tokens", justify="right", footer=format_tokens(amounts.tokens))
        table.add_column("cost", justify="right", footer=_money(amounts))
    for line in r.lines:
        person = line.person if line.attributed else f"{line.person} (unattributed)"
        cells = [f"{line.day:%Y-%m-%d}", person, line.model]
        for amounts in (line.missing_from_ledger, line.not_in_export):
            cells += (
                [f"{amounts.events:,}", format_tokens(amounts.tokens), _money(amounts)]
                if amounts.events
                else ["", "", ""]
            )
        table.add_row(*cells)
    return table


def _money(amounts: Amounts) -> str:
    money = format_money(amounts.cost_micros)
    if amounts.unknown_price_events:
        return f"{money} + {amounts.unknown_price_events:,} at unknown price"
    return money
