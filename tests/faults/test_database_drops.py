"""PostgreSQL dropping the API's connections (a restart, a failover, an admin's
pg_terminate_backend): a request whose connection dies answers 503 with Retry-After and stores
nothing; the pool replaces dead connections (pinged before use when idle long or when their
socket was closed: storage.database._ping_when_idle), so the retry succeeds, once.

The connection is dropped by the server side (pg_terminate_backend from another session) at a
chosen statement through an engine event, the way tests/adapters/slack_fakes.hold_database
slows the database: the handlers run unchanged. A whole-cluster restart under load is in
`python -m benchmarks.faults --restart-postgres` (it would cut every other test's connections).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, create_engine, event, func, select, text

from bot.bootstrap import Services
from bot.server import build_app
from budgets.apikeys import create_api_key
from budgets.ledger import verify
from storage.database import is_sqlite
from storage.models import UsageEvent

pytestmark = pytest.mark.faults


@pytest.fixture
def postgres(services: Services) -> Services:
    if is_sqlite(services.db.engine):
        pytest.skip("PostgreSQL drops connections; SQLite has none to drop")
    return services


@pytest.fixture
def admin(postgres: Services) -> Iterator[Engine]:
    """A connection of its own, to terminate the API's backends from outside."""
    engine = create_engine(postgres.db.engine.url)
    yield engine
    engine.dispose()


@pytest.fixture
def api_key(postgres: Services) -> str:
    with postgres.db.unit_of_work() as uow:
        key = create_api_key(uow.session, "gateway", postgres.clock()).plaintext
        uow.commit()
    return key


@pytest.fixture
async def client(postgres: Services) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(build_app(postgres), host="127.0.0.1", port=0))
    await client.start_server()
    yield client
    await client.close()


class DropConnection:
    """Terminates the backend of the connection about to run the first statement that
    contains `marker`, once."""

    def __init__(self, engine: Engine, admin: Engine, marker: str):
        self.engine, self.admin, self.marker = engine, admin, marker
        self.dropped = 0
        event.listen(engine, "before_cursor_execute", self.before)

    def before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.dropped or self.marker not in statement:
            return
        pid = conn.connection.dbapi_connection.info.backend_pid
        with self.admin.connect() as own:
            own.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        self.dropped += 1

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.before)


@pytest.fixture
def drop_during_the_insert(postgres: Services, admin: Engine) -> Iterator[DropConnection]:
    drop = DropConnection(postgres.db.engine, admin, "INSERT INTO usage_events")
    yield drop
    drop.remove()


def batch(services: Services) -> dict[str, Any]:
    return {
        "events": [
            {
                "id": f"drop-{n}",
                "user": "ann@acme.test",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 200,
                "timestamp": (services.clock() - timedelta(minutes=n)).isoformat(),
            }
            for n in range(20)
        ]
    }


def stored(services: Services) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(UsageEvent))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_batch_whose_connection_is_dropped_answers_503_and_the_retry_stores_it_once(
    client, postgres, org, api_key, drop_during_the_insert
):
    body = batch(postgres)
    first = await client.post("/api/v1/usage", json=body, headers=auth(api_key))
    assert drop_during_the_insert.dropped == 1
    assert first.status == 503
    assert first.headers["Retry-After"] == "5"
    assert (await first.json())["error"] == "unavailable"
    assert stored(postgres) == 0

    again = await client.post("/api/v1/usage", json=body, headers=auth(api_key))
    assert again.status == 200
    assert (await again.json())["recorded"] == 20
    assert stored(postgres) == 20
    with postgres.db.read() as session:
        assert verify(session) == []


async def test_idle_connections_the_database_dropped_are_replaced_without_an_error(
    client, postgres, admin, org, api_key
):
    backends: set[int] = set()

    def note(dbapi_connection: Any, *_args: Any) -> None:
        backends.add(dbapi_connection.info.backend_pid)

    event.listen(postgres.db.engine, "checkout", note)
    warm = {"user": "ann@acme.test", "model": "gpt-4o", "estimated_tokens": 100}
    try:
        response = await client.post("/api/v1/authorize", json=warm, headers=auth(api_key))
        assert response.status == 200
    finally:
        event.remove(postgres.db.engine, "checkout", note)
    with admin.connect() as own:  # the API's pooled connections, now idle
        for pid in backends:
            assert own.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        # pg_terminate_backend only signals the backend: wait until they are gone (their
        # sockets closed), as after a restart, before asking again.
        for _ in range(500):
            alive = own.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": list(backends)},
            ).scalar()
            if not alive:
                break
            time.sleep(0.01)

    answer = await client.post("/api/v1/authorize", json=warm, headers=auth(api_key))
    assert answer.status == 200
    assert (await answer.json())["allow"] is True


def test_a_driver_level_read_on_a_dropped_connection_fails_as_a_retryable_error(postgres, admin):
    """The hot paths (authorize, the key check) read on the driver's cursor: a connection the
    server dropped must still fail as SQLAlchemy's OperationalError (the API answers 503 to
    it) and be invalidated, so the next call gets a fresh connection."""
    from sqlalchemy import exc

    from storage.database import DriverQuery

    one = DriverQuery("SELECT 1")
    with postgres.db.read_connection() as conn:
        pid = conn.connection.dbapi_connection.info.backend_pid
        with admin.connect() as own:
            own.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(exc.OperationalError):
            one.rows(conn, {})
        assert conn.invalidated
    with postgres.db.read_connection() as conn:
        assert one.rows(conn, {}) == [(1,)]
