"""The one aiohttp application: `/healthz`, the usage API (`/api/v1/*`), Slack
(`/slack/events`), Teams (`/api/messages`) and the web dashboard (`/dashboard`).

Each surface lives in its own module and mounts itself with a `mount(app, services)` function
listed in `MOUNTS`; this module only assembles them, so adding a surface is one line here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from bot import http_limits
from bot.api import mount_api
from bot.bootstrap import Services
from bot.http_limits import server_options
from bot.slack import mount_slack
from bot.teams import mount_teams
from bot.web import mount_dashboard

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)

HEALTH_LOG = http_limits.FloodLog("health check: database unreachable")

Mount = Callable[[web.Application, Services], None]
MOUNTS: list[Mount] = [mount_api, mount_slack, mount_teams, mount_dashboard]

__all__ = ["SERVICES", "build_app", "healthz", "server_options"]


HEALTH_CHECK_SECONDS = 1.5  # a load balancer's probe hears back within 2 s, whatever the database


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        async with asyncio.timeout(HEALTH_CHECK_SECONDS):
            await asyncio.to_thread(services.db.ping)
    except Exception as exc:  # the database is down or hung: say so, do not crash or wait
        HEALTH_LOG.note(f"{type(exc).__name__}: {exc}")
        return web.json_response(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
            headers={"Retry-After": "5"},
        )
    return web.json_response({"status": "ok", "database": "ok"})


@web.middleware
async def policy_in_force(request: web.Request, handler: Callable) -> web.StreamResponse:  # type: ignore[type-arg]
    """Before every dashboard page: the latest applied policy is in force (one indexed read;
    `Services.refresh_policy`), so an apply reaches a running server without a restart. Chat
    refreshes in the dispatcher, after Slack's and Teams' acks (which must not wait on the
    database), and the API in its key check's worker hop."""
    if request.path.startswith("/dashboard"):
        await asyncio.to_thread(request.app[SERVICES].refresh_policy)
    return await handler(request)


def build_app(services: Services, mounts: list[Mount] | None = None) -> web.Application:
    app = web.Application(
        client_max_size=services.settings.max_body_bytes, middlewares=[policy_in_force]
    )
    app[SERVICES] = services
    http_limits.install(app, services.settings)
    app.router.add_get("/healthz", healthz)
    for mount in MOUNTS if mounts is None else mounts:
        mount(app, services)
    return app
