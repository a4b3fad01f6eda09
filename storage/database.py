"""Engines, the unit of work, and schema migrations.

SQLite runs in WAL mode with foreign keys on, and write transactions start with
`BEGIN IMMEDIATE` so two writers queue on the lock instead of failing on upgrade; read-only
units of work use a plain deferred BEGIN so readers never wait for writers. PostgreSQL runs
READ COMMITTED; code that must not lose an update locks rows (`FOR UPDATE`) or uses
conditional updates.

A unit of work rolls back unless the service commits explicitly.
"""

from __future__ import annotations

import json
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, create_engine, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import JSON

from storage.models import UTCDateTime

DEFAULT_DATABASE_URL = "sqlite:///tokenbot.db"
# A database that accepts connections but never answers must fail fast, so that callers hear
# "retry later" (the API's 503) within seconds instead of hanging: libpq's connect timeout
# covers the whole start-up exchange; the pool gives up waiting for a free connection.
PG_CONNECT_TIMEOUT_SECONDS = 3
POOL_TIMEOUT_SECONDS = 5
SQLITE_BUSY_TIMEOUT_SECONDS = 30
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_CACHE_KIB = 8 * 1024
SQLITE_BULK_CACHE_KIB = 64 * 1024


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the operator wrote."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_database_engine(
    url: str, *, statement_timeout_seconds: float | None = None, **kwargs: Any
) -> Engine:
    """The engine for `url`. On PostgreSQL: connect timeout, pool timeout and, when given, a
    server-side statement timeout (for the web process; long imports and jobs run without).
    On SQLite: a busy timeout, the wait for another writer's lock."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    ping_idle = not kwargs.pop("pool_pre_ping", False)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT_SECONDS)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_SECONDS)
    if statement_timeout_seconds:
        milliseconds = int(statement_timeout_seconds * 1000)
        connect_args.setdefault("options", f"-c statement_timeout={milliseconds}")
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    if ping_idle:
        _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 30.0
"""A pooled PostgreSQL connection idle for longer is pinged before it is handed out."""


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping costs a round trip on every checkout: a quarter of an
    authorize call. Instead, a connection is pinged before it is handed out only when it has
    been idle for over PING_AFTER_IDLE_SECONDS, or when its socket has something to read
    while no query is outstanding: a server that ended the backend (a restart, an admin's
    pg_terminate_backend) has sent its goodbye and closed the socket, which a zero-timeout
    poll sees without a round trip. A dead connection is replaced before use
    (DisconnectionError: the pool connects afresh), as with pool_pre_ping."""

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if (
            idle_since is not None
            and time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS
            and not _has_input(dbapi_connection)
        ):
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as problem:
            raise exc.DisconnectionError(str(problem)) from problem
        if not alive:
            raise exc.DisconnectionError("the ping found the connection closed")


def _has_input(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket is readable (closed, or a message is waiting)."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError, AttributeError):
        return True  # cannot tell: ping
    return bool(readable)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Every pooled connection has its own page cache (SQLite's default is 2 MB); bulk
        # writers raise theirs with `use_bulk_cache`.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("tokenbot_read_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def use_bulk_cache(session: Session) -> None:
    """Give this session's SQLite connection a 64 MB page cache: index inserts into a usage
    table of millions of rows stop rereading pages (raw executemany of usage rows: 22k ->
    31k rows/s). For bulk writers such as `tokenbot import` (a process of its own), not for
    the server's pool, where every connection would keep one."""
    if is_sqlite(session):
        session.connection().exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")


def is_sqlite(engine_or_session: Engine | Session) -> bool:
    bind = (
        engine_or_session.get_bind()
        if isinstance(engine_or_session, Session)
        else engine_or_session
    )
    return bind.dialect.name == "sqlite"


def upsert_insert(session: Session, table: Any) -> Any:
    """The dialect's INSERT that supports ON CONFLICT (SQLite and PostgreSQL share the syntax)."""
    return sqlite.insert(table) if is_sqlite(session) else postgresql.insert(table)


def insert_new_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], key: str = "id"
) -> set[Any]:
    """Insert the rows whose `key` is not stored yet; returns the keys actually inserted.

    Rows must have distinct keys and the same columns. PostgreSQL copies them into a staging
    table and inserts from it with ON CONFLICT DO NOTHING RETURNING (`_copy_new_rows`), so
    concurrent inserts of one key queue on its lock and exactly one wins. SQLite serialises write transactions (BEGIN IMMEDIATE), so the driver's executemany
    of INSERT ... ON CONFLICT DO NOTHING is as safe and several times faster (no RETURNING
    round trips, no per-row statement compilation); when it inserted fewer rows than given,
    the inserted keys are the rows past the table's largest rowid before the insert (rowids of
    new rows grow, and no other writer runs meanwhile). The common all-new batch costs no
    lookup at all.
    """
    if not rows:
        return set()
    column = table.c[key]
    if not is_sqlite(session):
        if len(rows) <= SMALL_INSERT_ROWS:
            return _insert_new_rows(session, table, rows, key)
        return _copy_new_rows(session, table, rows, key)
    connection = session.connection()
    before = connection.exec_driver_sql(f'SELECT max(rowid) FROM "{table.name}"').scalar()
    dialect = session.get_bind().dialect
    names = list(rows[0])
    # (position, converter, cache of converted values or None for uncached)
    converters: list[tuple[int, Callable[[Any], Any], dict[Any, Any] | None]] = []
    for position, name in enumerate(names):
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            converters.append((position, UTCDateTime.sqlite_text, None))
            continue
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            converters.append((position, process, {}))
    values = []
    for row in rows:
        value = [row[name] for name in names]
        for position, convert, seen in converters:
            raw = value[position]
            if raw is None:
                continue
            if seen is None:
                value[position] = convert(raw)
                continue
            # Batches repeat values (one `now`, bucket timestamps): convert each once.
            try:
                converted = seen.get(raw, _MISSING)
                if converted is _MISSING:
                    converted = seen[raw] = convert(raw)
            except TypeError:  # unhashable (a JSON list or dict): convert it every time
                converted = convert(raw)
            value[position] = converted
        values.append(tuple(value))
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    inserted = connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks}) '
        f'ON CONFLICT ("{column.name}") DO NOTHING',
        values,
    ).rowcount
    if inserted == len(rows):
        return {row[key] for row in rows}
    if inserted == 0:
        return set()
    return set(
        connection.exec_driver_sql(
            f'SELECT "{column.name}" FROM "{table.name}" WHERE rowid > ?', (before or 0,)
        ).scalars()
    )


SMALL_INSERT_ROWS = 64
"""Up to this many rows (a group commit of single events), PostgreSQL takes one INSERT ...
VALUES ... ON CONFLICT DO NOTHING RETURNING: one round trip instead of the staging table's four."""


def _insert_new_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], key: str
) -> set[Any]:
    """PostgreSQL, a few rows: one multi-row INSERT in the rows' order (the caller sorts them
    by key, so concurrent inserts lock shared keys in the same order)."""
    column = table.c[key]
    statement = (
        postgresql.insert(table).on_conflict_do_nothing(index_elements=[column]).returning(column)
    )
    # An executemany with RETURNING: SQLAlchemy sends it as one multi-row INSERT (its
    # "insertmanyvalues"), and the statement is compiled once, not per group.
    return set(session.connection().execute(statement, rows).scalars())


def _copy_new_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], key: str
) -> set[Any]:
    """PostgreSQL: COPY the rows into a temporary staging table, then INSERT ... SELECT ...
    ORDER BY key ON CONFLICT DO NOTHING RETURNING key. One statement of fixed text instead of
    multi-row VALUES statements tens of thousands of parameters long (which the driver must
    parse and the server plan afresh for every batch); concurrent batches sharing keys lock
    them in the same order and exactly one inserts each. The staging table lives in the
    connection's session and empties at commit (rolled back with the transaction otherwise)."""
    names = list(rows[0])
    stage = f"stage_{table.name}"
    columns = ", ".join(f'"{name}"' for name in names)
    as_json = [n for n, name in enumerate(names) if isinstance(table.c[name].type, JSON)]
    connection = session.connection()
    # The statements go through SQLAlchemy (its events, error translation, invalidation of a
    # dead connection); only COPY needs the driver's cursor, under `driver_errors`.
    connection.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" '
        f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
    )
    connection.exec_driver_sql(f'TRUNCATE "{stage}"')
    copy_statement = f'COPY "{stage}" ({columns}) FROM STDIN'
    with driver_errors(connection, copy_statement):
        driver: Any = connection.connection.dbapi_connection  # psycopg's, with COPY
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(copy_statement) as copy:
            for row in rows:
                values = [row[name] for name in names]
                for position in as_json:
                    if values[position] is not None:
                        values[position] = json.dumps(values[position])
                copy.write_row(values)
    inserted = connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {stage} "
        f'ORDER BY "{key}" ON CONFLICT ("{key}") DO NOTHING RETURNING "{key}"'
    )
    return set(inserted.scalars())


@contextmanager
def driver_errors(connection: Connection, statement: str) -> Iterator[None]:
    """Work on the driver's own cursor fails the way SQLAlchemy's would: the driver's error
    becomes SQLAlchemy's (OperationalError and the rest, which callers map to "retry later"),
    and a connection the server dropped is invalidated so the pool replaces it."""
    dialect = connection.dialect
    try:
        yield
    except dialect.loaded_dbapi.Error as problem:
        driver = connection.connection.dbapi_connection
        gone = dialect.is_disconnect(problem, driver, None)
        if gone:
            connection.invalidate(problem)
        raise exc.DBAPIError.instance(
            statement,
            None,
            problem,
            dialect.loaded_dbapi.Error,
            connection_invalidated=gone,
            dialect=dialect,
        ) from problem


class DriverQuery:
    """A fixed read statement run on the driver's own cursor, for the hot paths (authorize, the
    API key check): SQLAlchemy's per-execute work (result metadata, events, processors) costs
    several times the indexed read itself. Written with `:name` parameters; compiled once per
    dialect into the driver's paramstyle, with the bound types' processors (aware datetimes
    become what the column stores). Rows come back as the driver returns them (no result
    processing): callers read numbers and strings, or compare values of one backend."""

    def __init__(self, sql: str, **types: Any):
        statement = text(sql)
        if types:
            statement = statement.bindparams(*(bindparam(n, type_=t) for n, t in types.items()))
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _for(self, dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=dialect)
            processors = {}
            for bind in compiled.binds.values():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    processors[bind.key] = process
            order = tuple(compiled.positiontup) if compiled.positiontup else None
            found = self._compiled[dialect.name] = (str(compiled), order, processors)
        return found

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        sql, order, processors = self._for(connection.dialect)
        if processors:
            params = {
                k: processors[k](v) if k in processors and v is not None else v
                for k, v in params.items()
            }
        if not connection.in_transaction():
            connection.begin()  # one snapshot for every read of the call (the begin event)
        with driver_errors(connection, sql):
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, [params[name] for name in order] if order else params)
                return list(cursor.fetchall())
            finally:
                cursor.close()

    def first(self, connection: Connection, params: dict[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(connection, params)
        return found[0] if found else None


_MISSING = object()


class UnitOfWork:
    """A session that rolls back unless `commit()` is called; `read_only` never takes a write lock."""

    def __init__(self, factory: sessionmaker[Session], read_only: bool = False):
        self._factory = factory
        self._read_only = read_only
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        if self._read_only:
            self.session.connection(execution_options={"tokenbot_read_only": True})
        return self

    def __exit__(self, *exc: object) -> None:
        # close() rolls back whatever was not committed without expiring loaded objects,
        # so what a read returned stays usable after the unit of work ends.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()


class Database:
    """The engine and its session factory, built once by `bootstrap()` and passed around."""

    def __init__(self, url: str, **engine_kwargs: Any):
        self.url = normalise_url(url)
        self.engine = create_database_engine(self.url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def unit_of_work(self, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.sessions, read_only=read_only)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.unit_of_work(read_only=True) as uow:
            yield uow.session

    def read_connection(self) -> Connection:
        """A read-only Core connection (no ORM session): for hot paths such as authorize.

        On PostgreSQL it runs in autocommit: no BEGIN and ROLLBACK round trips around a few
        reads (each read then sees its own snapshot, which a pre-flight check can live with).
        SQLite keeps its deferred BEGIN (local, free): one snapshot for the whole call."""
        connection = self.engine.connect()
        if connection.dialect.name == "postgresql":
            return connection.execution_options(
                tokenbot_read_only=True, isolation_level="AUTOCOMMIT"
            )
        return connection.execution_options(tokenbot_read_only=True)

    def ping(self) -> bool:
        with self.read_connection() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade_schema(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_database_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
