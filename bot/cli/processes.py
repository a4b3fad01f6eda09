"""`tokenbot serve` and `tokenbot scheduler`: the web and clock processes of the Procfile."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from bot.bootstrap import Services


def register(sub) -> None:  # noqa: ANN001
    serve = sub.add_parser("serve", help="run the HTTP server (usage API, Slack, Teams)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="serve from N processes sharing the port (SO_REUSEPORT; each with its own "
        "database pool; the scheduler lease still lets one run jobs). Default 1",
    )
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


def positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def run_server(args, services: Services) -> int:  # noqa: ANN001
    """Run the one aiohttp app until interrupted; a bad policy stops it before it listens
    (bootstrap raises PolicyInvalid, which `main` reports with every problem, exit 2). `main`
    closes the services after the app has stopped (and its scheduler, if attached).

    With `--workers N` (N > 1) this process forks N workers, each serving the app on the same
    port (SO_REUSEPORT: the kernel spreads connections among them) with a database pool of
    its own, and stays as their supervisor: SIGTERM or SIGINT is passed on to every worker,
    and when one worker exits the others are stopped and the exit status is the first
    worker's (a process manager then restarts the whole server)."""
    if args.workers > 1:
        return _supervise(args, services)
    return _serve(args, services)


def _supervise(args, services: Services) -> int:  # noqa: ANN001
    import secrets
    import signal

    # One dashboard signing key for all workers (a session must work on whichever answers);
    # without TOKENBOT_SECRET_KEY it is made here, for this server's lifetime, as one
    # process would make its own.
    os.environ.setdefault("TOKENBOT_SECRET_KEY", secrets.token_urlsafe(32))
    workers: list[int] = []
    for number in range(args.workers):
        pid = os.fork()
        if pid == 0:  # the worker: a pool of its own, never the parent's connections
            code = 1
            try:
                services.db.engine.dispose(close=False)
                code = _serve(args, services, worker=number + 1)
            finally:
                os._exit(code)
        workers.append(pid)

    def relay(signum: int, _frame: Any) -> None:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, relay)
    signal.signal(signal.SIGINT, relay)
    first: int | None = None
    while workers:
        pid, status = os.wait()
        if pid not in workers:
            continue
        workers.remove(pid)
        if first is None:
            first = os.waitstatus_to_exitcode(status)
            relay(signal.SIGTERM, None)  # one worker gone: stop the rest
    services.db.engine.dispose(close=False)
    if first is None or first in (0, -signal.SIGTERM, -signal.SIGINT):
        return 0
    return first if first > 0 else 128 - first  # killed by a signal: 128 + its number


def _serve(args, services: Services, worker: int | None = None) -> int:  # noqa: ANN001
    from aiohttp import web

    from bot.server import build_app, server_options

    app = build_app(services)
    if args.with_scheduler or services.settings.run_scheduler_in_web:
        from bot.scheduler import attach_to_app

        attach_to_app(app, services)  # stopped on the app's cleanup

    who = f" (worker {worker}, pid {os.getpid()})" if worker else ""
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=lambda _: print(
            f"tokenbot serving on http://{args.host}:{args.port}{who}", flush=True
        ),
        access_log=None,
        reuse_port=worker is not None,
        **server_options(services.settings),
    )
    return 0


def run_scheduler(args, services: Services) -> int:  # noqa: ANN001
    """The clock process: runs the scheduled jobs while it holds the database lease, stands
    by otherwise (see bot/scheduler.py); SIGTERM hands the lease back."""
    from bot.scheduler import run_clock_process

    return run_clock_process(services)
