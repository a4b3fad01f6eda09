"""A database that accepts TCP connections but never answers (a hung server, a black-holing
proxy, a full backlog): the API and /healthz must still answer, quickly, with 503 and
Retry-After, instead of holding every caller (and their connections) for minutes."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestClient, TestServer

from bot.bootstrap import Settings, bootstrap
from bot.server import build_app


@pytest.fixture
def silent_database() -> Iterator[str]:
    """A PostgreSQL URL whose server accepts every connection and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    yield f"postgresql://postgres@127.0.0.1:{port}/silent"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.fixture
async def client(silent_database, policy, clock):
    services = bootstrap(Settings(database_url=silent_database), clock=clock, policy=policy)
    client = TestClient(TestServer(build_app(services), host="127.0.0.1", port=0))
    await client.start_server()
    yield client
    await client.close()
    services.close()


async def test_healthz_answers_503_within_two_seconds_when_the_database_never_answers(client):
    """Threat: a hung database makes /healthz hang (130 s seen), so the load balancer cannot
    tell, and every probe holds a connection."""
    start = time.monotonic()
    response = await client.get("/healthz", timeout=ClientTimeout(total=10))
    assert response.status == 503
    assert response.headers["Retry-After"]
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("path", ["/api/v1/usage", "/api/v1/authorize"])
async def test_the_api_answers_503_with_retry_after_within_seconds(client, path):
    """Threat: a hung database holds every gateway call (authorize took over 45 s), and the
    gateway's own calls pile up behind it."""
    start = time.monotonic()
    response = await client.post(
        path,
        json={"events": []},
        headers={"Authorization": "Bearer tbk_0123456789_whatever"},
        timeout=ClientTimeout(total=30),
    )
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert (await response.json())["error"] == "unavailable"
    assert time.monotonic() - start < 5


async def test_many_calls_at_once_are_all_answered_within_seconds(client):
    """Threat: callers beyond the API's worker threads queue behind hung ones indefinitely."""
    start = time.monotonic()
    async with ClientSession(str(client.make_url("/"))) as session:

        async def call() -> int:
            async with session.post(
                "/api/v1/authorize",
                json={},
                headers={"Authorization": "Bearer tbk_0123456789_whatever"},
                timeout=ClientTimeout(total=30),
            ) as response:
                return response.status

        statuses = await asyncio.gather(*(call() for _ in range(30)))
    assert set(statuses) == {503}
    assert time.monotonic() - start < 8
