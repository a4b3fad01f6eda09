"""/api/v1/* (the usage API) and the server around it: authentication before work, bounded
time and memory per connection, malformed bodies answered with a 400 that names the problem.

Every test runs the real app (`bot.server.build_app`) on loopback with the server options
`tokenbot serve` uses, and talks to it over sockets, slowly when the threat is slowness.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import ClientSession, ClientTimeout, web

from bot.bootstrap import Services
from bot.server import build_app, server_options
from budgets.apikeys import create_api_key
from tests.conftest import row_counts


@pytest.fixture
def api_key(services: Services) -> str:
    with services.db.unit_of_work() as uow:
        created = create_api_key(uow.session, "gateway", services.clock())
        uow.commit()
    return created.plaintext


class Server:
    def __init__(self, runner: web.AppRunner, port: int):
        self.runner = runner
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture
async def server(services: Services) -> AsyncIterator[Server]:
    services.settings = replace(
        services.settings,
        body_read_seconds=1.0,
        header_read_seconds=1.0,
        max_unauthenticated_bodies=20,
    )
    runner = web.AppRunner(build_app(services), **server_options(services.settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield Server(runner, runner.addresses[0][1])
    await runner.cleanup()


async def slow_request(
    port: int, path: str, headers: dict[str, str], declared: int = 10_000
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send the request line and headers, declare a body, send one byte of it, and stall."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {declared}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n{").encode())
    await writer.drain()
    return reader, writer


async def status_of(reader: asyncio.StreamReader, within: float) -> int | None:
    """The status the server answered with, or None when it closed without one."""
    line = await asyncio.wait_for(reader.readline(), within)
    return int(line.split()[1]) if line else None


async def healthz_seconds(server: Server) -> float:
    start = time.monotonic()
    async with (
        ClientSession(timeout=ClientTimeout(total=5)) as client,
        client.get(f"{server.url}/healthz") as response,
    ):
        assert response.status == 200
    return time.monotonic() - start


# --- slow bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/usage", "/api/v1/outcomes", "/api/v1/authorize"])
async def test_a_request_without_a_key_is_refused_before_its_body_arrives(server, services, path):
    """Threat: strangers hold connections (and file descriptors) open forever by trickling a
    body the server waits for before it looks at the key."""
    reader, writer = await slow_request(server.port, path, {"Content-Type": "application/json"})
    try:
        assert await status_of(reader, within=2) == 401
    finally:
        writer.close()


async def test_an_authenticated_body_that_never_finishes_is_cut_off(server, api_key):
    """Threat: even a key holder (or a leaked key) cannot hold a connection open forever."""
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    reader, writer = await slow_request(server.port, "/api/v1/usage", headers)
    try:
        assert await status_of(reader, within=3) == 408
    finally:
        writer.close()


async def test_a_connection_that_never_finishes_its_headers_is_closed(server):
    """Threat: slowloris: headers trickled a byte at a time keep a connection forever."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /api/v1/usage HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    await writer.drain()
    try:
        assert await asyncio.wait_for(reader.read(), 4) == b""  # closed, nothing answered
    finally:
        writer.close()


async def test_a_flood_of_slow_unauthenticated_bodies_leaves_healthz_answering(
    server, services, caplog
):
    """Threat: a few hundred slow unauthenticated bodies (Slack and Teams must read a body to
    check its signature) exhaust connections and /healthz stops answering; and each one
    writes its own log lines (the red team saw 114 MB of log in 20 s). Concurrent
    unauthenticated bodies are capped (the rest get 503 at once) and the flood is logged
    once."""
    caplog.set_level(logging.INFO)
    before = row_counts(services)
    headers = {"Content-Type": "application/json"}
    paths = ["/api/messages", "/api/v1/usage"] * 100
    connections = [await slow_request(server.port, path, headers) for path in paths]
    try:
        assert await healthz_seconds(server) < 2
        statuses = await asyncio.gather(*(status_of(r, within=4) for r, _ in connections))
        assert set(statuses) <= {401, 408, 503}
        assert 503 in statuses
    finally:
        for _, writer in connections:
            writer.close()
    assert await healthz_seconds(server) < 2
    assert row_counts(services) == before
    flood_lines = [r for r in caplog.records if "unauthenticated" in r.getMessage()]
    assert 1 <= len(flood_lines) <= 2


# --- malformed bodies ---------------------------------------------------------------------

MALFORMED = [
    (
        "an integer of 5,000 digits",
        b'{"events": [{"input_tokens": ' + b"9" * 5000 + b"}]}",
        "digits",
    ),
    ("50,000-deep JSON", b'{"events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested"),
    ("a NUL character", json.dumps({"events": [{"id": "a\x00b"}]}).encode(), "NUL"),
    ("a lone surrogate", b'{"events": [{"id": "\\ud800"}]}', "surrogate"),
    ("NaN", b'{"events": [{"input_tokens": NaN}]}', "NaN"),
]


@pytest.mark.parametrize("path", ["/api/v1/usage", "/api/v1/outcomes", "/api/v1/authorize"])
@pytest.mark.parametrize(
    "body,named", [(b, n) for _, b, n in MALFORMED], ids=[i for i, _, _ in MALFORMED]
)
async def test_a_malformed_body_is_a_400_that_names_the_problem(
    server, services, org, api_key, path, body, named
):
    """Threat: malformed input that crashes the server (500s, PostgreSQL DataError on NUL,
    RecursionError on deep JSON, ValueError past 4,300 digits) is a probe and a denial of
    service; each is a 400 naming what is wrong, and nothing is stored."""
    before = row_counts(services)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    async with (
        ClientSession() as client,
        client.post(f"{server.url}{path}", data=body, headers=headers) as response,
    ):
        answer = await response.json()
        assert response.status == 400, answer
    assert named in answer["message"]
    assert row_counts(services) == before


@pytest.mark.parametrize("path", ["/api/v1/usage", "/api/v1/authorize"])
async def test_nothing_is_parsed_before_the_key_is_checked(server, services, path):
    """Threat: an unauthenticated caller makes the server parse a 50,000-deep document."""
    body = b'{"events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    async with (
        ClientSession() as client,
        client.post(f"{server.url}{path}", data=body) as response,
    ):
        assert response.status == 401
