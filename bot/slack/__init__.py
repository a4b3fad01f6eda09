"""tokenbot on Slack. The only package that imports slack_bolt or slack_sdk (tests aside).

`mount_slack(app, services)` (listed in `bot.server.MOUNTS`) serves `POST /slack/events` and,
when SLACK_APP_TOKEN is set, connects over Socket Mode while the server runs. It mounts only
when SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN are set; otherwise it logs that Slack is off.

Other code reaches Slack through `slack_deliverer(services)` (the `Deliverer` for notices) and
`refresh_home(services, person_id)` (after a change that shows on the App Home tab).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.slack.app import EVENTS_PATH, SlackSurface
from bot.slack.delivery import SlackDeliverer

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)

SLACK = web.AppKey("slack", SlackSurface)


def is_configured(services: Services) -> bool:
    settings = services.settings
    return bool(settings.slack_signing_secret and settings.slack_bot_token)


def mount_slack(app: web.Application, services: Services) -> None:
    if not is_configured(services):
        log.info("Slack is off: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN to turn it on")
        return
    surface = SlackSurface(services)
    app[SLACK] = surface
    services.slack_deliverer = surface.deliverer
    app.router.add_post(EVENTS_PATH, surface.handle_http)
    if services.settings.slack_app_token:
        app.cleanup_ctx.append(surface.socket_mode)
    app.on_shutdown.append(surface.drain)
    log.info(
        "Slack is on at %s%s",
        EVENTS_PATH,
        " and over Socket Mode" if services.settings.slack_app_token else "",
    )


def slack_deliverer(services: Services) -> SlackDeliverer | None:
    """The Slack `Deliverer` (for jobs and notices), or None when Slack is not configured."""
    if not services.settings.slack_bot_token:
        return None
    existing = services.slack_deliverer
    return existing if existing is not None else SlackDeliverer(services)


def refresh_home(services: Services, person_id: int) -> bool:
    """Publish the person's App Home tab again; False when Slack is off or they are not on it.
    Synchronous (Web API over HTTP): call it from a worker thread, not the event loop."""
    deliverer = slack_deliverer(services)
    return deliverer.refresh_home(person_id) if deliverer is not None else False


__all__ = ["SlackDeliverer", "mount_slack", "refresh_home", "slack_deliverer"]
