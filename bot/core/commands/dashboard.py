"""`dashboard`: a private one-time link that signs the asker in to the web dashboard.

The link is the asker's own (nobody can ask for someone else's), good once for 15 minutes;
the reply is private (ephemeral on Slack, a 1:1 chat on Teams), never posted to a channel.
"""

from __future__ import annotations

from bot.core.context import CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Reply
from bot.core.registry import registry
from bot.core.signin import LINK_LIFETIME, issue_link, public_url

USAGE = "dashboard"


@registry.command(
    "dashboard",
    summary="A private sign-in link to the web dashboard",
    usage=USAGE,
    order=85,
)
def dashboard(ctx: CommandContext) -> Reply:
    if ctx.words:
        raise UsageError("dashboard takes no arguments: the link is always your own", USAGE)
    base = public_url(ctx.services)
    if base is None:
        return Reply("dashboard_link", {"url": None}, private=True)
    with ctx.services.db.unit_of_work() as uow:
        link = issue_link(uow.session, ctx.person, base, ctx.now)
        uow.commit()
    return Reply(
        "dashboard_link",
        {
            "url": link.url,
            "expires_at": link.expires_at,
            "minutes": int(LINK_LIFETIME.total_seconds() // 60),
            "zone": ctx.policy.periods.timezone,
        },
        private=True,
    )
