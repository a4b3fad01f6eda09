"""The built-in chat commands. Importing this package registers them all."""

from bot.core.commands import balance, estimate, help, pending, policy  # noqa: F401
