"""Shared fixtures: a real database per test run (SQLite by default, PostgreSQL when
TOKENBOT_TEST_DATABASE_URL points at a server), a pinned clock, and the services.

On PostgreSQL each test run creates its own database (so parallel runs never collide) and
drops it at the end. Each test starts with empty tables.
"""

from __future__ import annotations

import functools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.bootstrap import Services, Settings, bootstrap
from bot.platforms import chat_platforms
from budgets.policy import Policy, load_policy
from storage.database import normalise_url, upgrade_schema
from storage.models import Base

TEST_URL_ENV = "TOKENBOT_TEST_DATABASE_URL"


class Clock:
    """A controllable clock: tests move time explicitly, never sleep."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


@contextmanager
def empty_database(tmp_dir: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file in `tmp_dir`, or, when TOKENBOT_TEST_DATABASE_URL
    names a PostgreSQL server, a database of its own there (dropped afterwards)."""
    server_url = os.environ.get(TEST_URL_ENV)
    if not server_url:
        yield f"sqlite:///{tmp_dir / f'tokenbot-{uuid.uuid4().hex[:10]}.db'}"
        return
    server = make_url(normalise_url(server_url))
    name = f"tokenbot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        _maintenance_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with empty_database(tmp_path_factory.mktemp("db")) as url:
        upgrade_schema(url)
        yield url


@functools.cache
def _maintenance_engine(url: str) -> Engine:
    # One per database for the whole run: connecting to PostgreSQL costs more than emptying a
    # few rows. SQLite connects for free, and an idle pooled connection would keep tests that
    # need the file to themselves (e.g. to leave WAL mode) from getting it.
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return create_engine(url, poolclass=NullPool)
    return create_engine(url)


def empty_all_tables(url: str) -> None:
    """Delete every row and restart id sequences. DELETE, not TRUNCATE: on the few rows a test
    leaves, TRUNCATE of every table costs ~0.4 s on PostgreSQL, DELETE a few milliseconds."""
    deletes = [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
    with _maintenance_engine(url).begin() as conn:
        if conn.dialect.name == "postgresql":
            # One round trip: the deletes (children before parents), then every id sequence
            # back to 1 (nextval gives 1 again, as TRUNCATE ... RESTART IDENTITY would).
            restart = (
                "SELECT setval(c.oid, 1, false) FROM pg_class c "
                "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
            )
            conn.exec_driver_sql("; ".join([*deletes, restart]))
        else:
            for statement in deletes:
                conn.exec_driver_sql(statement)


def row_counts(services: Services) -> dict[str, int]:
    """Rows per table: compare before and after to prove something wrote nothing."""
    with services.db.read() as s:
        return {
            t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
        }


T = TypeVar("T")


def run_together(function: Callable[[], T], times: int) -> list[T]:
    """Call `function` on `times` threads released at once; what each returned (or raise)."""
    start = threading.Barrier(times)

    def when_all_are_ready() -> T:
        start.wait()
        return function()

    with ThreadPoolExecutor(times) as threads:
        calls = [threads.submit(when_all_are_ready) for _ in range(times)]
        return [call.result() for call in calls]


@pytest.fixture
def clean_database(database_url: str) -> str:
    empty_all_tables(database_url)
    return database_url


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 18, 10, 0, tzinfo=UTC))


@pytest.fixture
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def services(clean_database: str, clock: Clock, policy: Policy) -> Iterator[Services]:
    built = bootstrap(
        Settings(database_url=clean_database),
        clock=clock,
        policy=policy,
        platforms=chat_platforms(),  # as every entry point does
    )
    yield built
    built.close()


@pytest.fixture
def session(services: Services):
    with services.db.unit_of_work() as uow:
        yield uow.session


FIXTURES = Path(__file__).parent / "fixtures"

PEOPLE_CSV = """email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id
ceo@acme.test,Cleo Chief,Leadership,,member;manager;admin,power-user,UCEO,
mia@acme.test,Mia Manager,Marketing,ceo@acme.test,member;manager,power-user,UMIA,29:mia
fin@acme.test,Finn Finance,Finance,ceo@acme.test,member;finance,default,UFIN,29:fin
ann@acme.test,Ann Analyst,Marketing,mia@acme.test,member,default,UANN,29:ann
bob@acme.test,Bob Builder,Marketing,mia@acme.test,member,default,UBOB,29:bob
"""


@pytest.fixture
def people_csv() -> str:
    return PEOPLE_CSV


@pytest.fixture
def org(services: Services, people_csv: str):
    """A small org imported through the real directory import; returns email -> Person."""
    from budgets.directory import import_directory
    from storage.models import Person

    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, people_csv, services.policy, services.clock())
        assert result.ok, result.errors
        uow.commit()
    with services.db.read() as s:
        return {p.email: p for p in s.query(Person).all()}
