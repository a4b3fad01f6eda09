"""tokenbot on Microsoft Teams. The only package that imports the Bot Framework SDK
(`botbuilder`, `botframework`), tests aside.

That SDK is archived (support ended 2025-12-31); its successor is the Microsoft 365 Agents SDK.
Keeping every SDK import in this package makes the move one package's work: `app.py` (the
HTTP endpoint, authentication, turns), `delivery.py` (proactive messages, conversation
references) and `cards.py`/`package.py` (plain JSON and files, no SDK) are all there is.

`mount_teams(app, services)` (listed in `bot.server.MOUNTS`) serves `POST /api/messages`.
With MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD set (and MICROSOFT_APP_TENANT_ID for a
single-tenant app), every request must carry a valid Bot Framework token, or gets 401. With
neither set it runs in local/emulator mode, says so loudly in the log, and takes requests only
from this machine (the Bot Framework Emulator).

Other code reaches Teams through `teams_deliverer(services)` (the `Deliverer` for notices).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.teams.app import MESSAGES_PATH, TeamsSurface
from bot.teams.delivery import TeamsDeliverer, has_credentials, unreachable_people

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)

TEAMS = web.AppKey("teams", TeamsSurface)


def mount_teams(app: web.Application, services: Services) -> None:
    settings = services.settings
    surface = TeamsSurface(services)
    app[TEAMS] = surface
    services.teams_deliverer = surface.deliverer
    app.router.add_post(MESSAGES_PATH, surface.handle_http)
    if surface.local_mode:
        if settings.microsoft_app_id or settings.microsoft_app_password:
            log.warning(
                "Teams: MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD must both be set; one alone "
                "is ignored"
            )
        log.warning(
            "Teams runs in LOCAL/EMULATOR MODE at %s: NO authentication, requests are taken "
            "only from this machine. Set MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD "
            "(and MICROSOFT_APP_TENANT_ID) to serve Teams.",
            MESSAGES_PATH,
        )
    else:
        log.info(
            "Teams is on at %s for app %s (%s)",
            MESSAGES_PATH,
            settings.microsoft_app_id,
            "single-tenant" if settings.microsoft_app_tenant_id else "multi-tenant",
        )


def teams_deliverer(services: Services) -> TeamsDeliverer | None:
    """The Teams `Deliverer` (for jobs and notices), or None when this process has no Teams:
    with the app's credentials, always; in local/emulator mode, once someone has talked to the
    bot there (until then notices keep going to the other platforms, or the log)."""
    if has_credentials(services.settings):
        return services.teams_deliverer or TeamsDeliverer(services)
    mounted = services.teams_deliverer
    return mounted if mounted is not None and mounted.has_met_anyone() else None


__all__ = [
    "TeamsDeliverer",
    "mount_teams",
    "teams_deliverer",
    "unreachable_people",
]
