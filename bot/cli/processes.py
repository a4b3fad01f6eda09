"""`tokenbot serve` and `tokenbot scheduler`: the web and clock processes of the Procfile."""

from __future__ import annotations

import os
from typing import Any

from bot.bootstrap import Services


def register(sub) -> None:  # noqa: ANN001
    serve = sub.add_parser("serve", help="run the HTTP server (usage API, Slack, Teams)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--with-scheduler",
        action="store_true",
        help="also run the scheduled jobs in this process (or set TOKENBOT_SCHEDULER_IN_WEB=1)",
    )
    serve.set_defaults(run=run_server, engine_options=web_engine_options)
    clock = sub.add_parser(
        "scheduler", help="run the clock process (expiry, reminders, spotlights)"
    )
    clock.set_defaults(run=run_scheduler)


def web_engine_options() -> dict[str, Any]:
    """Statements of the web process end after TOKENBOT_DATABASE_STATEMENT_TIMEOUT seconds
    (default 30; 0 turns it off): a request never waits on the database for longer."""
    timeout = float(os.environ.get("TOKENBOT_DATABASE_STATEMENT_TIMEOUT") or 30)
    return {"statement_timeout_seconds": timeout or None}


def run_server(args, services: Services) -> int:  # noqa: ANN001
    """Run the one aiohttp app until interrupted; a bad policy stops it before it listens
    (bootstrap raises PolicyInvalid, which `main` reports with every problem, exit 2). `main`
    closes the services after the app has stopped (and its scheduler, if attached)."""
    from aiohttp import web

    from bot.server import build_app, server_options

    app = build_app(services)
    if args.with_scheduler or services.settings.run_scheduler_in_web:
        from bot.scheduler import attach_to_app

        attach_to_app(app, services)  # stopped on the app's cleanup

    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=lambda _: print(f"tokenbot serving on http://{args.host}:{args.port}", flush=True),
        access_log=None,
        **server_options(services.settings),
    )
    return 0


def run_scheduler(args, services: Services) -> int:  # noqa: ANN001
    """The clock process: runs the scheduled jobs while it holds the database lease, stands
    by otherwise (see bot/scheduler.py); SIGTERM hands the lease back."""
    from bot.scheduler import run_clock_process

    return run_clock_process(services)
