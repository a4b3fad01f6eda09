"""`tokenbot` command line: one sub-command module per area, each with `register(subparsers)`.

`main` is the CLI's composition root: it builds the services once (`bootstrap()`, with the
engine options a sub-command asks for), hands them to the sub-command's `run(args, services)`
and closes them when it returns. A sub-command registered `standalone=True` (policy check,
db upgrade, simulate, bench, teams package) needs no services and is run as `run(args)`.
Expected failures (bad input, bad
policy) print a clear message on stderr and exit 2; nothing prints a stack trace.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.bootstrap import bootstrap
from bot.cli import (
    apikeys,
    audit,
    bench,
    chat,
    dashboard,
    database,
    directory,
    imports,
    jobs,
    ledger,
    policy,
    processes,
    report,
    simulate,
    teams,
    templates,
    usage,
)
from bot.platforms import chat_platforms
from budgets.policy import PolicyInvalid

MODULES = [
    database,
    policy,
    directory,
    ledger,
    chat,
    processes,
    jobs,
    apikeys,
    usage,
    imports,
    audit,
    templates,
    report,
    simulate,
    teams,
    bench,
    dashboard,
]


class CommandFailed(Exception):
    """An expected failure: the message is shown as is and the exit status is 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenbot", description="Run a company's internal AI token economy from chat."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except PolicyInvalid as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError):
        problem = database.schema_problem()
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "standalone", False):
        return int(args.run(args) or 0)
    engine_options = getattr(args, "engine_options", None)
    services = bootstrap(platforms=chat_platforms(), **(engine_options() if engine_options else {}))
    services.refresh_policy()  # the latest applied policy, once any is (budgets.policy_store)
    try:
        return int(args.run(args, services) or 0)
    finally:
        services.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
