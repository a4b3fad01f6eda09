"""SIGKILL in the middle of writing: nothing half-written, and sending again completes the
work exactly once (benchmarks.faults.kill_mid_import, kill_mid_usage_batch,
kill_mid_group_commit)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from benchmarks import org
from benchmarks.faults import (
    kill_mid_group_commit,
    kill_mid_import,
    kill_mid_usage_batch,
    prepare,
)

pytestmark = pytest.mark.faults

# ingest's CSV names person0000..person0199: the org needs 200 people.
SIZE = org.OrgSize(people=200, teams=4, events=1_000, weeks=2)


@pytest.fixture
def api_key(clean_database: str) -> str:
    return prepare(clean_database, SIZE, datetime.now(UTC))


def test_an_import_killed_mid_way_keeps_whole_chunks_and_importing_again_completes_it_once(
    clean_database, api_key, tmp_path
):
    report = kill_mid_import(clean_database, tmp_path, 12_000, datetime.now(UTC))
    assert report.ok, report


def test_a_server_killed_during_a_usage_batch_stores_it_wholly_or_not_and_once_when_re_sent(
    clean_database, api_key, tmp_path
):
    report = kill_mid_usage_batch(clean_database, tmp_path, api_key, 2_000, SIZE, datetime.now(UTC))
    assert report.ok, report


def test_a_server_killed_under_one_event_posts_from_16_clients_keeps_every_acknowledged_event(
    clean_database, api_key, tmp_path
):
    # Group commit (issue 19): the requests of a group are answered only after its commit,
    # so whatever the kill interrupts was never acknowledged, and re-sending stores it once.
    report = kill_mid_group_commit(clean_database, tmp_path, api_key, SIZE, datetime.now(UTC))
    assert report.ok, report
