"""Bounds on what one client can make the server hold: time for headers and for a body, and
how many bodies are read at once from senders not yet authenticated.

- Headers: aiohttp closes a connection that has not completed a request within its
  keep-alive timeout, from the moment it connects (`server_options`).
- Bodies: `read_body` reads a request's body within `body_read_seconds` (else 408, connection
  closed). The usage API checks the key first and reads bodies only of key holders. Slack and
  Teams must read a body to verify its signature or token, so those reads are capped at
  `max_unauthenticated_bodies` at once: beyond that, 503 with Retry-After at once, without
  reading.
- Logs: a flood of refusals is logged once, then summed up at most once a minute
  (`FloodLog`), not a line per connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class FloodLog:
    """Log the first of a kind of event at once, then at most one summary per `every`
    seconds with how many happened meanwhile."""

    def __init__(self, message: str, every: float = 60.0):
        self.message = message
        self.every = every
        self.suppressed = 0
        self.last: float | None = None

    def note(self, detail: str) -> None:
        now = time.monotonic()
        if self.last is None or now - self.last >= self.every:
            more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
            log.warning("%s: %s%s; further ones are summed up", self.message, detail, more)
            self.last, self.suppressed = now, 0
        else:
            self.suppressed += 1


class BodyGate:
    def __init__(self, body_read_seconds: float, max_unauthenticated: int):
        self.body_read_seconds = body_read_seconds
        self.slots = asyncio.Semaphore(max_unauthenticated)
        self.flood = FloodLog("slow or excess unauthenticated request bodies refused")

    async def read(self, request: web.Request, *, authenticated: bool) -> bytes | web.Response:
        """The body, or the response to send instead (408 too slow, 503 too many at once);
        a refusal closes the connection rather than draining the rest. Over the app's
        client_max_size, aiohttp's HTTPRequestEntityTooLarge propagates."""
        if authenticated:
            return await self._read(request, authenticated)
        if self.slots.locked():
            self.flood.note(f"{request.path} from {request.remote}: too many at once")
            return refused(503, "busy", "too many requests at once; retry later")
        async with self.slots:
            return await self._read(request, authenticated)

    async def _read(self, request: web.Request, authenticated: bool) -> bytes | web.Response:
        try:
            async with asyncio.timeout(self.body_read_seconds):
                return await request.read()
        except TimeoutError:
            if not authenticated:
                self.flood.note(f"{request.path} from {request.remote}: too slow")
            else:
                log.info("%s: a body took over %ss; cut off", request.path, self.body_read_seconds)
            return refused(
                408, "too_slow", f"the body did not arrive within {self.body_read_seconds:g} s"
            )


def refused(status: int, error: str, message: str) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    response = web.json_response(
        {"error": error, "message": message}, status=status, headers=headers
    )
    response.force_close()  # do not linger reading what the client still sends
    return response


BODY_GATE = web.AppKey("body_gate", BodyGate)


def install(app: web.Application, settings: Any) -> None:
    app[BODY_GATE] = BodyGate(settings.body_read_seconds, settings.max_unauthenticated_bodies)


async def read_body(request: web.Request, *, authenticated: bool) -> bytes | web.Response:
    """The request's body within the server's bounds (see the module docstring)."""
    return await request.app[BODY_GATE].read(request, authenticated=authenticated)


def server_options(settings: Any) -> dict[str, Any]:
    """Options for aiohttp's AppRunner (`tokenbot serve` and the tests use the same)."""
    return {
        # Also the time allowed from connecting to a complete request line and headers.
        "keepalive_timeout": settings.header_read_seconds,
        # A refused request's unread body is not drained for long.
        "lingering_time": 1.0,
    }
