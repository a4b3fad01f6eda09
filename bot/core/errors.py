"""Errors a command expects and answers politely (never a stack trace in chat)."""


class UsageError(ValueError):
    """The person typed something the command cannot take; `usage` shows the right form."""

    def __init__(self, message: str, usage: str | None = None):
        super().__init__(message)
        self.message = message
        self.usage = usage


class NotAllowed(PermissionError):
    """The person may not do this (e.g. see someone else's balance, decide a request)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
