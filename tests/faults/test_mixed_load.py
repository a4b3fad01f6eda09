"""A few seconds of the sustained mixed load of benchmarks/faults.py: usage batches, authorize
calls, slash commands and approval clicks against a real `tokenbot serve` process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from benchmarks import org
from benchmarks.faults import mixed_load, prepare

pytestmark = pytest.mark.faults

SIZE = org.OrgSize(people=200, teams=4, events=1_000, weeks=2)


def test_mixed_load_leaves_no_error_every_event_once_and_a_clean_ledger(clean_database, tmp_path):
    now = datetime.now(UTC)
    key = prepare(clean_database, SIZE, now)
    report = mixed_load(clean_database, tmp_path, key, SIZE, now, seconds=3, sample_every=0.5)
    assert report.ok, report
    assert report.facts["events"] > 0 and report.facts["authorizations"] > 0
    assert report.facts["commands"] > 0 and report.facts["clicks"] > 0
