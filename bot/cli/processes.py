"""`tokenbot serve` and `tokenbot scheduler`: the web and clock processes of the Procfile."""

from __future__ import annotations

import sys


def register(sub) -> None:  # noqa: ANN001
    serve = sub.add_parser("serve", help="run the HTTP server (usage API, Slack, Teams)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(run=serve_not_built)
    clock = sub.add_parser(
        "scheduler", help="run the clock process (expiry, reminders, spotlights)"
    )
    clock.set_defaults(run=run_scheduler)


def serve_not_built(args) -> int:  # noqa: ANN001
    print(
        "tokenbot serve: the HTTP server is not built yet in this version (see issue: usage ingestion).",
        file=sys.stderr,
    )
    return 3


def run_scheduler(args) -> int:  # noqa: ANN001
    """The clock process: runs the scheduled jobs while it holds the database lease, stands
    by otherwise (see bot/scheduler.py); SIGTERM hands the lease back."""
    from bot.bootstrap import bootstrap
    from bot.scheduler import run_clock_process

    return run_clock_process(bootstrap())
