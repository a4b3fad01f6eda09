"""`tokenbot import --format FORMAT FILE [--skip-invalid]`: load a provider or gateway export.

A file with any invalid row stores nothing and lists the bad rows with their line numbers;
`--skip-invalid` imports the good rows and lists the rest. A progress bar is shown on a
terminal only (pipes and CI logs get the summary alone).
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

from bot.bootstrap import Services
from ingest.formats import FORMATS
from ingest.importer import ImportSummary, Progress, import_file
from message_templates import plural


def register(sub) -> None:  # noqa: ANN001
    imp = sub.add_parser(
        "import", help="import usage from a provider or gateway export (all-or-nothing)"
    )
    imp.add_argument("--format", dest="fmt", required=True, choices=sorted(FORMATS))
    imp.add_argument("file")
    imp.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid rows and report the invalid ones (default: import nothing)",
    )
    imp.set_defaults(run=run_import)


def run_import(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    path = Path(args.file)
    try:
        size = path.stat().st_size
        path.open("rb").close()
    except OSError as exc:
        raise CommandFailed(f"cannot read {args.file}: {exc.strerror}") from exc
    with ExitStack() as stack:
        progress = stack.enter_context(_progress_bar(size)) if sys.stderr.isatty() else None
        summary = import_file(
            services.db,
            services.policy,
            args.fmt,
            lambda: path.open("rb"),
            services.clock(),
            skip_invalid=args.skip_invalid,
            progress=progress,
        )
    _print_summary(args.file, summary)
    return 0 if summary.stored else 2


class _progress_bar:  # noqa: N801 - used as a context manager, reads like one
    """A rich progress bar over the bytes of the file, one task per pass."""

    def __init__(self, size: int):
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.size = size
        self.bar = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> Progress:
        self.bar.__enter__()
        return self.update

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def update(self, phase: str, done: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.bar.add_task(phase, total=self.size)
        self.bar.update(self.tasks[phase], completed=done)


def _print_summary(name: str, s: ImportSummary) -> None:
    out = sys.stdout if s.stored else sys.stderr
    if s.problems_total:
        verb = "skipped" if s.stored else "rejected"
        print(
            f"{name}: {s.rejected:,} of {plural(s.rows, 'row')} {verb} "
            f"({plural(s.problems_total, 'problem')}):",
            file=out,
        )
        for problem in s.problems:
            print(f"  line {problem.index}: {problem.field} {problem.reason}", file=out)
        if s.problems_total > len(s.problems):
            print(f"  ... and {s.problems_total - len(s.problems):,} more", file=out)
    if not s.stored:
        print(
            f"{name} was not imported: nothing was stored. Fix the rows above, or rerun with "
            "--skip-invalid to import the valid rows only.",
            file=out,
        )
        return
    print(
        f"imported {name} ({s.format}): {s.recorded:,} usage events recorded, "
        f"{s.duplicates:,} duplicates, {s.unattributed:,} unattributed, {s.rejected:,} rejected; "
        f"{s.outcomes_recorded:,} outcomes recorded, {s.outcome_duplicates:,} duplicates"
    )
    if s.unattributed or s.outcomes_unattributed:
        print("  unattributed usage is kept: see `tokenbot usage unattributed`")
    if s.unknown_models:
        print(
            f"  models nothing resolves (weight 1, price unknown; see `tokenbot usage unknown`): {', '.join(sorted(s.unknown_models))}"
        )
    if s.uncategorised_use_cases:
        print(f"  use cases not in the policy: {', '.join(sorted(s.uncategorised_use_cases))}")
    if s.unknown_projects:
        print(
            "  projects not in the policy (drawn from each person's own budgets): "
            + ", ".join(sorted(s.unknown_projects))
        )
