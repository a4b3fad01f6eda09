"""The synthetic org every benchmark shares, on SQLite or PostgreSQL.

    url = ...                                   # a migrated database with no people yet
    generate_org(url, OrgSize(), now)           # people, teams, templates, flags, grants
    add_usage(url, OrgSize(), now, 0, 10_000)   # events 0..9,999 and their outcomes
    derive_projections(url, now)                # totals, debits, balances: `ledger verify` clean

Person p (ids 0..people-1, email `person0042@bench.test`, Slack id `U0000042`) works in team
p % teams; persons 0..teams-1 lead their team (managers, power users) and manage everyone else
in it; person 0 is also admin and finance. Grants are the policy's own allotments, issued by
`budgets.ledger.ensure_period_grants` for every period the usage spans.

Usage goes straight into the tables with `INSERT ... SELECT` over a counter (SQLite: a recursive
CTE; PostgreSQL: generate_series) with deterministic arithmetic "randomness": event n belongs to
person (n * 7919) % people, mostly in their team's use case, sized by the person's fixed habit
(a token multiplier from 0.5 to 3), spread evenly over `weeks` weeks ending at `now`. A share of
the events get an outcome (accepted, revised or rejected at a per-person rate). The secondary
indexes of the two big tables are dropped during the load and rebuilt after, as a bulk load
would, so 5 million events take a few minutes rather than an hour.

`derive_projections` then does in SQL what `record_usage` does per batch: per person and
period, the usage drawn from the operational baseline grant, then the exploration one, the rest
as overdraft, with the account and use-case totals and the grant balances to match. It assumes
every event so far was generated here (it rebuilds from scratch), so call it before any real
ingestion touches the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import make_url

from bot.bootstrap import Settings, bootstrap
from budgets.ledger import ensure_period_grants
from budgets.periods import next_period, period_for
from budgets.policy import Policy, load_policy
from budgets.windows import last_complete_week
from storage.database import normalise_url

USE_CASES = ("seo-brief", "ad-copy", "coding", "support-reply", "data-analysis", "security-review")
BASE_TOKENS = (3_000, 1_200, 9_000, 800, 5_000, 12_000)  # typical budget tokens per call


HISTORY = "bench:history"  # the reference of the ledger entries derive_projections writes


@dataclass(frozen=True)
class OrgSize:
    people: int = 10_000
    teams: int = 200
    events: int = 5_000_000
    weeks: int = 13  # a quarter; >= 9 so the scored week has its 8 baseline weeks
    outcome_share: float = 0.3


FULL = OrgSize()
SMALL = OrgSize(people=1_000, teams=20, events=100_000)


def email(person: int) -> str:
    return f"person{person:04d}@bench.test"


def slack_id(person: int) -> str:
    return f"U{person:07d}"


def scored_week(policy: Policy, now: datetime) -> str:
    """The week the benchmark scores: the last complete one (what Monday's spotlight covers)."""
    return last_complete_week(policy.periods.zone, now).key


# --- one raw connection per dialect -------------------------------------------------------


class _Sql:
    """The few expressions SQLite and PostgreSQL spell differently."""

    def __init__(self, dialect: str):
        self.dialect = dialect
        self.is_sqlite = dialect == "sqlite"

    def counter(self, first: int, last: int) -> str:
        """A CTE `counter(n)` over first..last-1."""
        if self.is_sqlite:
            return (
                f"counter(n) AS (SELECT {first} UNION ALL SELECT n + 1 FROM counter "
                f"WHERE n < {last - 1})"
            )
        # bigint: n * 7919 and the seconds arithmetic overflow a 32-bit integer.
        return (
            f"counter(n) AS (SELECT generate_series(CAST({first} AS BIGINT), "
            f"CAST({last - 1} AS BIGINT)) AS n)"
        )

    @property
    def recursive(self) -> str:
        return "WITH RECURSIVE" if self.is_sqlite else "WITH"

    def integer(self, expression: str) -> str:
        """Truncated to an integer (PostgreSQL's CAST rounds)."""
        if self.is_sqlite:
            return f"CAST({expression} AS INTEGER)"
        return f"CAST(TRUNC({expression}) AS BIGINT)"

    def padded(self, expression: str, width: int) -> str:
        if self.is_sqlite:
            return f"printf('%0{width}d', {expression})"
        # lpad cuts longer strings: pad only what is shorter.
        return (
            f"(CASE WHEN {expression} < {10**width} THEN lpad(CAST({expression} AS TEXT), "
            f"{width}, '0') ELSE CAST({expression} AS TEXT) END)"
        )

    def fingerprint(self, n: str, salt: str) -> str:
        """16 hex digits that look random, as a gateway's simhash of a text would: distinct
        per event (and salt), so the detectors group them as they would real ones (SQLite has
        no hash function: random bits; PostgreSQL: md5 of the event number)."""
        if self.is_sqlite:
            return "lower(hex(randomblob(8)))"
        return f"substr(md5('{salt}' || CAST({n} AS TEXT)), 1, 16)"

    def moment(self, moment: datetime) -> str:
        stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"'{stamp}'" if self.is_sqlite else f"TIMESTAMPTZ '{stamp}+00'"

    def plus_seconds(self, moment: datetime, seconds: str) -> str:
        if self.is_sqlite:
            start = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            return (
                f"strftime('%Y-%m-%d %H:%M:%S', '{start}', '+' || ({seconds}) || ' seconds') "
                "|| '.000000'"
            )
        return f"({self.moment(moment)} + ({seconds}) * INTERVAL '1 second')"

    def json_list(self, expression: str) -> str:
        return f"json_array({expression})" if self.is_sqlite else f"json_build_array({expression})"

    def least(self, a: str, b: str) -> str:
        return f"MIN({a}, {b})" if self.is_sqlite else f"LEAST({a}, {b})"


@contextmanager
def raw_connection(url: str) -> Iterator[tuple[Any, _Sql]]:
    """The driver's own connection (autocommit; statements carry their own BEGIN/COMMIT), and
    the dialect's spellings. SQL goes to the driver unparsed: no parameter markers to escape."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database, isolation_level=None)
        connection.execute("PRAGMA busy_timeout=30000")
        try:
            yield connection, _Sql("sqlite")
        finally:
            connection.close()
        return
    import psycopg

    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        yield connection, _Sql("postgresql")


def _case(expression: str, values: tuple[Any, ...]) -> str:
    """SQL CASE picking values[expression % len(values)]."""
    whens = " ".join(
        f"WHEN {i} THEN '{v}'" if isinstance(v, str) else f"WHEN {i} THEN {v}"
        for i, v in enumerate(values)
    )
    return f"(CASE ({expression}) % {len(values)} {whens} END)"


# --- the directory and the grants -----------------------------------------------------------


def generate_org(url: str, size: OrgSize, now: datetime, policy: Policy | None = None) -> None:
    """People, teams, templates and flags (raw inserts), then the policy's grants for every
    period from the first generated week to now (through the ledger)."""
    people, teams = size.people, size.teams
    week = scored_week(policy or load_policy(), now)
    with raw_connection(url) as (con, sql):
        cursor = con.cursor()
        cursor.execute("BEGIN")
        marks = "?" if sql.is_sqlite else "%s"

        def rows(statement: str, values: list[tuple[Any, ...]]) -> None:
            cursor.executemany(statement.replace("?", marks), values)

        rows(
            "INSERT INTO teams (id, name) VALUES (?, ?)",
            [(t, f"Team {t:03d}") for t in range(teams)],
        )
        rows(
            "INSERT INTO people (id, email, name, team_id, manager_id, roles, tier, "
            "slack_user_id, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, TRUE)",
            [
                (
                    p,
                    email(p),
                    f"Person {p:05d}",
                    p % teams,
                    None if p < teams else p % teams,
                    ("member;manager;admin;finance" if p == 0 else "member;manager")
                    if p < teams
                    else "member",
                    "power-user" if p < teams else "default",
                    slack_id(p),
                )
                for p in range(people)
            ],
        )
        rows(
            "INSERT INTO prompt_templates (id, name, use_case, author_id, approved, created_at) "
            f"VALUES (?, ?, ?, ?, TRUE, {sql.moment(now - timedelta(days=120))})",
            [
                (f"{uc}-v{v}", f"{uc} v{v}", uc, (i * 37 + v * 11) % people)
                for i, uc in enumerate(USE_CASES)
                for v in (1, 2)
            ],
        )
        rows(
            "INSERT INTO flags (person_id, week, detector, status, evidence, explanation, "
            f"created_at) VALUES (?, ?, 'benchmark', 'pending', '{{}}', 'generated', "
            f"{sql.moment(now)})",
            [(p, week) for p in range(0, people, 97)],
        )
        cursor.execute("COMMIT")
        if not sql.is_sqlite:
            for table in ("teams", "people"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
    services = bootstrap(Settings(database_url=url), clock=lambda: now, policy=policy)
    try:
        calendar = services.policy.periods
        period = period_for(calendar, now - timedelta(weeks=size.weeks))
        while period.start <= now:
            with services.db.unit_of_work() as uow:
                ensure_period_grants(uow.session, services.policy, period, now)
                uow.commit()
            period = next_period(calendar, period)
    finally:
        services.close()


# --- usage and outcomes ---------------------------------------------------------------------


def add_usage(
    url: str, size: OrgSize, now: datetime, first: int, last: int, policy: Policy | None = None
) -> None:
    """Events first..last-1 (ids `u000000042`), spread over `size.weeks` weeks ending at `now`,
    and outcomes for `size.outcome_share` of them."""
    if last <= first:
        return
    calendar = (policy or load_policy()).periods
    start = now - timedelta(weeks=size.weeks)
    span = int((now - start).total_seconds()) - 1
    count = last - first
    people, teams = size.people, size.teams
    with raw_connection(url) as (con, sql):
        cursor = con.cursor()
        if sql.is_sqlite:  # a bulk load: nothing else writes meanwhile
            for pragma in ("synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY"):
                cursor.execute(f"PRAGMA {pragma}")
            unjournaled = _without_journal(cursor)
        indexes = _drop_secondary_indexes(cursor, sql)
        # Period keys by boundary, as period_for would give them.
        boundaries = []
        period = period_for(calendar, start)
        while period.end <= now:
            boundaries.append((period.end, period.key))
            period = next_period(calendar, period)
        period_case = (
            "".join(
                f"CASE WHEN at < {sql.moment(end)} THEN '{key}' ELSE " for end, key in boundaries
            )
            + f"'{period.key}'"
            + " END" * len(boundaries)
        )
        person = f"((n * 7919) % {people})"
        habit = f"(0.5 + (({person} * 31) % 251) / 100.0)"
        use_case = (
            f"(CASE WHEN (n * 13) % 10 < 7 THEN {person} % {teams} ELSE n / 7 END) "
            f"% {len(USE_CASES)}"
        )
        tokens = sql.integer(
            f"{_case(use_case, BASE_TOKENS)} * {habit} * (0.6 + ((n * 97) % 80) / 100.0)"
        )
        templated = "((n * 17) % 4 = 0)"
        seconds = f"(n - {first}) * {span} / {count}"
        cursor.execute("BEGIN")
        cursor.execute(
            f"""
            {sql.recursive} {sql.counter(first, last)},
            drawn AS (
                SELECT n, {person} AS person_id, {use_case} AS uc, {tokens} AS tokens,
                       {sql.plus_seconds(start, seconds)} AS at
                FROM counter
            )
            INSERT INTO usage_events (id, person_id, identity, model, input_tokens,
                output_tokens, cached_input_tokens, budget_tokens, cost_micros, use_case,
                project, template_id, conversation_id, prompt_fingerprint, occurred_at, period,
                unknown_price, uncategorised, recorded_at)
            SELECT 'u' || {sql.padded("n", 9)}, person_id,
                'person' || {sql.padded("person_id", 4)} || '@bench.test', 'gpt-4o',
                tokens * 2 / 3, tokens - tokens * 2 / 3, 0, tokens, tokens * 5,
                {_case("uc", USE_CASES)}, NULL,
                CASE WHEN {templated} THEN {_case("uc", USE_CASES)} || '-v' || (1 + n % 2) END,
                'c' || person_id || '-' || (n / 3), {sql.fingerprint("n", "prompt")},
                at, {period_case},
                FALSE, FALSE, {sql.moment(now)}
            FROM drawn
            """
        )
        acceptance = "(55 + (person_id * 13) % 41)"
        n = sql.integer("substr(id, 2)") if sql.is_sqlite else "CAST(substr(id, 2) AS BIGINT)"
        cursor.execute(
            f"""
            INSERT INTO outcomes (id, person_id, identity, artifact_id, use_case, status,
                usage_ids, conversation_id, edit_distance, minutes_saved, minutes_verified,
                first_draft_seconds, template_id, content_fingerprint, occurred_at, recorded_at)
            SELECT 'o' || substr(id, 2), person_id, identity, 'a' || substr(id, 2),
                CASE WHEN n % 10 = 0 THEN NULL ELSE use_case END,
                CASE WHEN n % 100 < {acceptance} - 10 THEN 'accepted'
                     WHEN n % 100 < {acceptance} THEN 'revised' ELSE 'rejected' END,
                {sql.json_list("id")}, conversation_id,
                (n % 30) / 100.0,
                CASE WHEN n % 50 = 0 THEN 15 + n % 120 END,
                n % 50 = 0,
                60 + n % 1800,
                CASE WHEN n % 10 = 1 THEN NULL ELSE template_id END,
                {sql.fingerprint("n", "content")}, occurred_at, recorded_at
            FROM (SELECT {n} AS n, * FROM usage_events
                  WHERE id >= 'u{first:09d}' AND id < 'u{last:09d}') AS generated
            WHERE (n * 7) % 1000 < {int(size.outcome_share * 1000)}
            """
        )
        cursor.execute("COMMIT")
        for statement in indexes:
            cursor.execute(statement)
        if sql.is_sqlite:
            if unjournaled:
                cursor.execute("PRAGMA journal_mode=WAL")
        else:
            cursor.execute("ANALYZE usage_events")
            cursor.execute("ANALYZE outcomes")


def _without_journal(cursor: Any) -> bool:
    """Millions of rows through the WAL are written twice; without a journal, once. Leaving
    WAL needs the file to ourselves: when others are connected (a test's engine), it stays in
    WAL, which is only slower. True when the journal is off."""
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        cursor.execute("PRAGMA journal_mode=OFF")
        return cursor.fetchone()[0].lower() == "off"
    except sqlite3.OperationalError:
        return False
    finally:
        cursor.execute("PRAGMA busy_timeout=30000")


def _drop_secondary_indexes(cursor: Any, sql: _Sql) -> list[str]:
    """Drop the indexes of usage_events and outcomes other than their keys; returns the
    statements that make them again."""
    if sql.is_sqlite:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('usage_events', 'outcomes')"
        )
    else:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename IN ('usage_events', 'outcomes') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
    found = cursor.fetchall()
    for name, _statement in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return [statement for _name, statement in found]


# --- the projections ------------------------------------------------------------------------


def derive_projections(url: str, now: datetime) -> None:
    """Totals, debits and balances for every generated event (see the module docstring)."""
    with raw_connection(url) as (con, sql):
        cursor = con.cursor()
        stamp = sql.moment(now)
        drawn = (
            "LEFT JOIN (SELECT person_id, period, SUM(amount) AS drawn FROM ledger_entries "
            f"WHERE reference = '{HISTORY}' GROUP BY person_id, period) d "
            "ON d.person_id = t.person_id AND d.period = t.period"
        )
        left = "t.used - COALESCE(d.drawn, 0)"

        def debit_from(token_class: str) -> str:
            return (
                "INSERT INTO ledger_entries (entry_type, grant_id, person_id, period, amount, "
                f"reference, created_at) SELECT 'debit', g.id, t.person_id, t.period, "
                f"{sql.least(left, 'g.amount')}, '{HISTORY}', {stamp} FROM account_totals t "
                "JOIN grants g ON g.owner_type = 'person' AND g.owner_id = t.person_id "
                "AND g.period = t.period AND g.kind = 'baseline' AND g.source = 'policy' "
                f"AND g.token_class = '{token_class}' {drawn} WHERE {left} > 0"
            )

        for statement in (
            "BEGIN",
            f"DELETE FROM ledger_entries WHERE reference = '{HISTORY}'",
            "DELETE FROM account_totals",
            "DELETE FROM use_case_totals",
            "INSERT INTO account_totals (person_id, period, used, overdraft, cost_micros, events) "
            "SELECT person_id, period, SUM(budget_tokens), 0, SUM(cost_micros), COUNT(*) "
            "FROM usage_events WHERE person_id IS NOT NULL GROUP BY person_id, period",
            "INSERT INTO use_case_totals (person_id, period, use_case, used, events) "
            "SELECT person_id, period, COALESCE(use_case, ''), SUM(budget_tokens), COUNT(*) "
            "FROM usage_events WHERE person_id IS NOT NULL "
            "GROUP BY person_id, period, COALESCE(use_case, '')",
            debit_from("operational"),
            debit_from("exploration"),
            "INSERT INTO ledger_entries (entry_type, grant_id, person_id, period, amount, "
            f"reference, created_at) SELECT 'overdraft', NULL, t.person_id, t.period, {left}, "
            f"'{HISTORY}', {stamp} FROM account_totals t {drawn} WHERE {left} > 0",
            "UPDATE account_totals SET overdraft = (SELECT COALESCE(SUM(e.amount), 0) "
            "FROM ledger_entries e WHERE e.person_id = account_totals.person_id "
            "AND e.period = account_totals.period AND e.entry_type = 'overdraft')",
            "UPDATE grant_balances SET "
            "used = (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e "
            "WHERE e.grant_id = grant_balances.grant_id AND e.entry_type = 'debit'), "
            "remaining = (SELECT g.amount FROM grants g WHERE g.id = grant_balances.grant_id) "
            "- (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e "
            "WHERE e.grant_id = grant_balances.grant_id AND e.entry_type = 'debit'), "
            "expired = 0",
            "COMMIT",
        ):
            cursor.execute(statement)
        if not sql.is_sqlite:
            cursor.execute("ANALYZE")


def build(url: str, size: OrgSize, now: datetime, policy: Policy | None = None) -> None:
    """The whole org with `size.events` events, ready to use: generate, add usage, derive."""
    generate_org(url, size, now, policy)
    add_usage(url, size, now, 0, size.events, policy)
    derive_projections(url, now)
