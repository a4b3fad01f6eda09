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


def test_a_file_over_the_parse_once_limit_is_read_again_and_stores_the_same(
    services, org, tmp_path
):
    # Up to keep_parsed valid rows, pass 1's parsed rows are stored (the file is parsed once);
    # above it, pass 2 reads and parses the file again: the same events either way.
    path = write_export(tmp_path / "export.csv", 1_200)
    opened = []

    def counting_open():
        opened.append(1)
        return path.open("rb")

    twice = import_file(
        services.db,
        services.policy,
        "csv",
        counting_open,
        services.clock(),
        chunk_rows=500,
        keep_parsed=1_000,
    )
    assert (len(opened), twice.recorded, twice.transactions) == (2, 1_200, 3)
    opened.clear()
    once = import_file(
        services.db, services.policy, "csv", counting_open, services.clock(), chunk_rows=500
    )
    assert (len(opened), once.recorded, once.duplicates, once.transactions) == (1, 0, 1_200, 3)


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


# --- reconcile: an export against the ledger ------------------------------------------------

SAMPLES = Path(__file__).parent.parent / "fixtures" / "imports"
OPENAI = SAMPLES / "openai_completions_usage_grouped.json"


def reconcile(services, path: Path, fmt: str = "openai", **kw):
    from ingest.reconcile import reconcile_file

    return reconcile_file(
        services.db, services.policy, fmt, lambda: path.open("rb"), now=services.clock(), **kw
    )


def openai_page(results: list[dict]) -> dict:
    page = json.loads(OPENAI.read_text())
    page["data"][0]["results"] = results
    return page


def test_reconcile_finds_what_the_ledger_lacks_priced_as_the_import_then_stores_it(
    services, org, tmp_path
):
    from tests.conftest import row_counts

    results = json.loads(OPENAI.read_text())["data"][0]["results"]
    first_half = tmp_path / "first.json"
    first_half.write_text(json.dumps(openai_page(results[:3])))
    import_file(
        services.db, services.policy, "openai", lambda: first_half.open("rb"), services.clock()
    )
    before = row_counts(services)

    found = reconcile(services, OPENAI)

    assert row_counts(services) == before  # nothing written
    assert (found.rows, found.rejected, found.export.events) == (8, 0, 8)
    assert (found.in_ledger.events, found.missing_from_ledger.events) == (3, 5)
    assert found.not_in_export.events == 0 and found.sources == ("openai",)
    assert found.missing_from_ledger.input_tokens == sum(r["input_tokens"] for r in results[3:])
    assert found.missing_from_ledger.output_tokens == sum(r["output_tokens"] for r in results[3:])
    # The lines: one per (day, person, model), the key's identity shown as sent (unmapped).
    assert {(str(line.day), line.person, line.attributed, line.model) for line in found.lines} == {
        ("2025-09-04", "openai-key:key_shared", False, "gpt-4o"),
        ("2025-09-04", "openai-key:key_other", False, "gpt-4o"),
        ("2025-09-04", "openai-key:key_shared", False, "gpt-4o-audio-preview"),
    }

    import_file(services.db, services.policy, "openai", lambda: OPENAI.open("rb"), services.clock())
    with services.db.read() as session:
        newly_stored = session.execute(
            select(func.sum(UsageEvent.cost_micros), func.count()).where(
                UsageEvent.recorded_at == services.clock()
            )
        ).one()
    # Both sides are priced by one rule: what reconcile said is missing is what import stored.
    assert tuple(newly_stored) == (
        found.missing_from_ledger.cost_micros + found.in_ledger.cost_micros,
        8,
    )
    assert found.missing_from_ledger.cost_micros > 0
    again = reconcile(services, OPENAI)
    assert again.reconciled and again.missing_from_ledger.events == 0
    assert again.in_ledger == again.export


def test_reconcile_lists_stored_usage_of_the_same_source_and_span_the_export_lacks(
    services, org, tmp_path
):
    from budgets.ledger import record_usage
    from ingest.events import parse_usage_event

    import_file(services.db, services.policy, "openai", lambda: OPENAI.open("rb"), services.clock())

    def stored(event_id: str, moment: str, user: str = "ann@acme.test") -> None:
        event = parse_usage_event(
            {
                "id": event_id,
                "user": user,
                "model": "gpt-4o-mini",
                "input_tokens": 1000,
                "output_tokens": 100,
                "timestamp": moment,
            },
            0,
            now=services.clock(),
        )
        with services.db.unit_of_work() as uow:
            record_usage(uow.session, [event], services.policy, services.clock())
            uow.commit()

    stored("openai:from-another-export", "2025-09-04T00:00:00Z")  # same source, in the span
    stored("openai:earlier", "2025-09-03T23:59:59Z")  # same source, before the span
    stored("anthropic:same-time", "2025-09-04T00:00:00Z")  # another source
    stored("gw-1", "2025-09-04T00:00:00Z")  # the API's own ids

    found = reconcile(services, OPENAI)

    assert found.missing_from_ledger.events == 0
    [line] = found.lines
    assert (str(line.day), line.person, line.attributed, line.model) == (
        "2025-09-04",
        "ann@acme.test",
        True,
        "gpt-4o-mini",
    )
    assert (line.not_in_export.events, line.not_in_export.tokens) == (1, 1100)
    with services.db.read() as session:
        cost = session.scalar(
            select(UsageEvent.cost_micros).where(UsageEvent.id == "openai:from-another-export")
        )
    assert line.not_in_export.cost_micros == cost == found.not_in_export.cost_micros > 0


def test_reconcile_reports_rows_the_import_would_reject_and_ids_without_a_source(
    services, tmp_path
):
    export = tmp_path / "usage.csv"
    export.write_text(
        "id,user,model,input_tokens,output_tokens,timestamp\n"
        "r1,ann@acme.test,gpt-4o,1000,500,2026-11-10T09:00:00Z\n"
        "r2,ann@acme.test,gpt-4o,-3,500,2026-11-10T09:00:00Z\n"
        "r1,ann@acme.test,gpt-4o,1000,500,2026-11-10T09:00:00Z\n"
    )

    found = reconcile(services, export, fmt="csv", chunk_rows=1)  # the repeat in another chunk

    assert (found.rows, found.rejected, found.problems_total) == (3, 1, 1)
    assert found.problems[0].index == 3 and found.problems[0].field == "input_tokens"
    assert found.export.events == 1  # a repeated id counts once, as it is imported once
    assert (found.unsourced_ids, found.sources) == (1, ())
    assert found.missing_from_ledger.events == 1 and found.not_in_export.events == 0
