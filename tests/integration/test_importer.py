"""The import service on the real database: chunked storage, bounded problem lists, and
resuming an interrupted import without counting anything twice."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from ingest.importer import MAX_REPORTED_PROBLEMS, import_file
from storage.models import UsageEvent

HEADER = "id,user,model,input_tokens,output_tokens,cached_input_tokens,use_case,timestamp\n"


def write_export(path: Path, rows: int, bad_every: int = 0) -> Path:
    with path.open("w") as out:
        out.write(HEADER)
        for n in range(rows):
            tokens = -1 if bad_every and n % bad_every == 0 else 1000 + n % 50
            user = f"user{n % 40}@acme.test" if n % 3 else "ann@acme.test"
            out.write(f"evt-{n:08d},{user},gpt-4o,{tokens},200,0,coding,2026-11-10T09:00:00Z\n")
    return path


def run(services, path: Path, **kw):
    return import_file(
        services.db, services.policy, "csv", lambda: path.open("rb"), services.clock(), **kw
    )


def test_a_large_file_is_stored_in_chunks_never_held_whole(services, org, tmp_path):
    # The readers stream (tests/unit/ingest/test_import_streaming.py measures their memory);
    # the import pass holds one chunk at a time, one transaction each. The benchmark
    # (python -m benchmarks.ingest) measures the peak RSS of whole imports.
    summary = run(services, write_export(tmp_path / "big.csv", 2_050), chunk_rows=500)
    assert summary.stored and summary.recorded == 2_050
    assert summary.transactions == 5


def test_problems_are_counted_in_full_but_kept_bounded(services, tmp_path):
    path = write_export(tmp_path / "bad.csv", MAX_REPORTED_PROBLEMS * 2 + 10, bad_every=1)
    summary = run(services, path)
    assert not summary.stored
    assert summary.problems_total == MAX_REPORTED_PROBLEMS * 2 + 10
    assert len(summary.problems) == MAX_REPORTED_PROBLEMS
    assert summary.problems[0].index == 2  # the first data line
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == 0


def test_an_import_resumed_after_a_partial_run_counts_nothing_twice(services, org, tmp_path):
    full = write_export(tmp_path / "full.csv", 2_500)
    partial = tmp_path / "partial.csv"
    partial.write_text("".join(full.read_text().splitlines(keepends=True)[:1_001]))
    first = run(services, partial, chunk_rows=300)
    second = run(services, full, chunk_rows=300)
    assert (first.recorded, second.recorded, second.duplicates) == (1_000, 1_500, 1_000)
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == 2_500
