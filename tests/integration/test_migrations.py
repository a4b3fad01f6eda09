"""The shipped Alembic migrations build exactly the schema the models describe, on the
database under test, and can be undone and redone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage.database import (
    alembic_config,
    create_database_engine,
    current_revision,
    upgrade_schema,
)
from storage.models import Base
from tests.conftest import empty_database


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    with empty_database(tmp_path) as url:
        yield url


def schema_differences(url: str) -> list:
    engine = create_database_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_database_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_migrations_have_exactly_one_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several migration heads {heads}: re-point a down_revision"


def test_upgrading_an_empty_database_to_head_gives_exactly_the_models_schema(empty_url: str):
    upgrade_schema(empty_url)
    assert schema_differences(empty_url) == []
    head = ScriptDirectory.from_config(alembic_config(empty_url)).get_current_head()
    assert current_revision(empty_url) == head
    assert table_names(empty_url) == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrading_to_base_and_upgrading_again_works(empty_url: str):
    upgrade_schema(empty_url)
    command.downgrade(alembic_config(empty_url), "base")
    assert table_names(empty_url) <= {"alembic_version"}
    assert current_revision(empty_url) is None
    upgrade_schema(empty_url)
    assert schema_differences(empty_url) == []


def test_upgrading_twice_is_harmless(empty_url: str):
    upgrade_schema(empty_url)
    upgrade_schema(empty_url)
    assert schema_differences(empty_url) == []
