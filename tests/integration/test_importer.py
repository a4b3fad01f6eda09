"""The import service on the real database: chunked storage, bounded problem lists, and
resuming an interrupted import without counting anything twice."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from ingest.importer import MAX_REPORTED_PROBLEMS, import_file
from storage.models import Outcome, UsageEvent

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


# --- long event ids: the API and the importers store them the same way ---------------------

SPEND_LOGS = Path(__file__).parent.parent / "fixtures" / "imports" / "litellm_spend_logs.json"


async def test_a_long_responses_api_id_sent_by_the_api_and_imported_is_stored_once(services, org):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.server import build_app
    from budgets.apikeys import create_api_key
    from ingest.events import stored_id

    [responses_log] = [
        log for log in json.loads(SPEND_LOGS.read_text()) if log["call_type"] == "aresponses"
    ]
    long_id = "litellm:" + responses_log["request_id"]
    assert len(long_id) > 400
    with services.db.unit_of_work() as uow:
        key = create_api_key(uow.session, "litellm-proxy", services.clock()).plaintext
        uow.commit()
    client = TestClient(TestServer(build_app(services), host="127.0.0.1", port=0))
    await client.start_server()
    try:
        event = {
            "id": long_id,
            "user": "ann@acme.test",
            "model": "gpt-4.1",
            "input_tokens": 3000,
            "output_tokens": 1350,
            "cached_input_tokens": 2048,
            "timestamp": "2026-11-17T10:45:12Z",
        }
        headers = {"Authorization": f"Bearer {key}"}
        sent = await client.post("/api/v1/usage", json={"events": [event]}, headers=headers)
        assert sent.status == 200 and (await sent.json())["recorded"] == 1
        again = await client.post("/api/v1/usage", json={"events": [event]}, headers=headers)
        repeated = await again.json()
        assert (repeated["recorded"], repeated["duplicates"]) == (0, 1)
        outcome = {
            "id": "out-1",
            "user": "ann@acme.test",
            "artifact_id": "brief-1",
            "status": "accepted",
            "usage_ids": [long_id],
            "timestamp": "2026-11-17T11:00:00Z",
        }
        linked = await client.post(
            "/api/v1/outcomes", json={"outcomes": [outcome]}, headers=headers
        )
        assert linked.status == 200
    finally:
        await client.close()

    summary = import_file(
        services.db, services.policy, "litellm", lambda: SPEND_LOGS.open("rb"), services.clock()
    )

    assert summary.stored and summary.rejected == 0
    assert (summary.recorded, summary.duplicates) == (4, 1)  # the Responses API row is known
    with services.db.read() as session:
        ids = session.scalars(select(UsageEvent.id).where(UsageEvent.id.like("litellm:sha256:%")))
        assert list(ids) == [stored_id(long_id)]
        assert session.scalar(select(Outcome.usage_ids)) == [stored_id(long_id)]
