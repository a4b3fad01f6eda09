"""The built-in chat commands. Importing this package registers them all."""

from bot.core.commands import (  # noqa: F401
    balance,
    dashboard,
    estimate,
    flags,
    help,
    leaderboard,
    policy,
    quotas,
    request,
    savings,
    score,
    settings,
    team,
    templates,
)
