"""`tokenbot import`, `apikey`, `usage` and `serve` through the real command line, on the real
test database (the CLI builds its own services from TOKENBOT_DATABASE_URL)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from budgets.apikeys import verify_api_key
from budgets.ledger import verify
from storage.models import AccountTotal, IdentityAlias, Outcome, UsageEvent

SAMPLES = Path(__file__).parent.parent / "fixtures" / "imports"


@pytest.fixture(autouse=True)
def cli_database(monkeypatch, clean_database):
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", clean_database)
    monkeypatch.delenv("TOKENBOT_POLICY", raising=False)


def tokenbot(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def counts(services) -> tuple[int, int]:
    with services.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(UsageEvent)),
            session.scalar(select(func.count()).select_from(Outcome)),
        )


@pytest.mark.parametrize(
    "fmt,sample,usage,outcomes",
    [
        ("openai", "openai_completions_usage.json", 4, 0),
        ("anthropic", "anthropic_messages_usage.json", 3, 0),
        ("claude-code", "claude_code_analytics.json", 3, 9),
        ("litellm", "litellm_spend_logs.csv", 5, 0),
        ("csv", "usage.csv", 3, 0),
    ],
)
def test_each_format_imports_end_to_end_and_a_reimport_counts_nothing_twice(
    capsys, services, fmt, sample, usage, outcomes
):
    code, out, _ = tokenbot(capsys, "import", "--format", fmt, str(SAMPLES / sample))
    assert code == 0
    assert f"{usage} usage events recorded, 0 duplicates" in out
    assert counts(services) == (usage, outcomes)

    code, out, _ = tokenbot(capsys, "import", "--format", fmt, str(SAMPLES / sample))
    assert code == 0
    assert f"0 usage events recorded, {usage} duplicates" in out
    assert f"0 outcomes recorded, {outcomes} duplicates" in out
    assert counts(services) == (usage, outcomes)


def stored_totals(services) -> tuple[int, int, int, int]:
    with services.db.read() as session:
        return tuple(
            session.execute(
                select(
                    func.count(),
                    func.sum(UsageEvent.input_tokens),
                    func.sum(UsageEvent.cached_input_tokens),
                    func.sum(UsageEvent.output_tokens),
                )
            ).one()
        )


def test_openai_results_differing_only_by_tier_source_batch_project_or_key_are_all_recorded(
    capsys, services
):
    page = json.loads((SAMPLES / "openai_completions_usage_grouped.json").read_text())
    results = [r for bucket in page["data"] for r in bucket["results"]]
    code, out, _ = tokenbot(
        capsys,
        "import",
        "--format",
        "openai",
        str(SAMPLES / "openai_completions_usage_grouped.json"),
    )
    assert code == 0 and f"{len(results)} usage events recorded, 0 duplicates" in out
    assert stored_totals(services) == (
        len(results),
        sum(r["input_tokens"] for r in results),
        sum(r["input_cached_tokens"] for r in results),
        sum(r["output_tokens"] for r in results),
    )


def test_an_anthropic_report_grouped_by_every_dimension_is_stored_with_the_reports_totals(
    capsys, services
):
    page = json.loads((SAMPLES / "anthropic_messages_usage_grouped.json").read_text())
    results = [r for bucket in page["data"] for r in bucket["results"]]
    code, out, _ = tokenbot(
        capsys,
        "import",
        "--format",
        "anthropic",
        str(SAMPLES / "anthropic_messages_usage_grouped.json"),
    )
    assert code == 0 and f"{len(results)} usage events recorded, 0 duplicates" in out
    assert stored_totals(services) == (
        len(results),
        sum(
            r["uncached_input_tokens"]
            + r["cache_creation"]["ephemeral_1h_input_tokens"]
            + r["cache_creation"]["ephemeral_5m_input_tokens"]
            + r["cache_read_input_tokens"]
            for r in results
        ),
        sum(r["cache_read_input_tokens"] for r in results),
        sum(r["output_tokens"] for r in results),
    )


def test_an_anthropic_account_is_attributed_through_a_directory_alias(capsys, services, org):
    code, _, _ = tokenbot(
        capsys,
        "directory",
        "alias",
        "add",
        "anthropic-account:user_01WCz1FkmYMm4gnmykNKUu3Q",
        "ann@acme.test",
    )
    assert code == 0
    tokenbot(
        capsys,
        "import",
        "--format",
        "anthropic",
        str(SAMPLES / "anthropic_messages_usage_grouped.json"),
    )
    with services.db.read() as session:
        attributed = session.execute(
            select(UsageEvent.identity, UsageEvent.person_id).where(
                UsageEvent.person_id.is_not(None)
            )
        ).all()
    assert {identity for identity, _ in attributed} == {
        "anthropic-account:user_01WCz1FkmYMm4gnmykNKUu3Q"
    }
    assert {person for _, person in attributed} == {org["ann@acme.test"].id}
    assert len(attributed) == 8  # every result of that account


@pytest.mark.parametrize(
    "fmt,sample,usage",
    [
        ("openai", "openai_completions_usage_grouped.json", 8),
        ("anthropic", "anthropic_messages_usage_grouped.json", 11),
        ("claude-code", "claude_code_analytics.json", 3),
        ("litellm", "litellm_spend_logs.csv", 5),
        ("csv", "usage.csv", 3),
    ],
)
def test_reconcile_shows_the_gap_writes_nothing_and_import_fills_exactly_it(
    capsys, services, fmt, sample, usage
):
    from tests.conftest import row_counts

    before = row_counts(services)
    code, out, _ = tokenbot(capsys, "usage", "reconcile", "--format", fmt, str(SAMPLES / sample))
    assert code == 0 and row_counts(services) == before
    assert "nothing was written" in out
    assert "missing from ledger" in out and f"records exactly the {usage} rows missing" in out

    code, out, _ = tokenbot(capsys, "import", "--format", fmt, str(SAMPLES / sample))
    assert code == 0 and f"{usage} usage events recorded, 0 duplicates" in out

    code, out, _ = tokenbot(capsys, "usage", "reconcile", "--format", fmt, str(SAMPLES / sample))
    assert code == 0
    assert "Reconciled: the ledger has every row of the export, and no other." in out
    assert f"{usage} of them already in the ledger" in out


def test_reconcile_prints_a_line_per_day_person_and_model_with_tokens_and_money(
    capsys, services, org, tmp_path
):
    tokenbot(capsys, "directory", "alias", "add", "openai-key:key_other", "bob@acme.test")
    page = json.loads((SAMPLES / "openai_completions_usage_grouped.json").read_text())
    results = page["data"][0]["results"]
    page["data"][0]["results"] = results[:1]
    first = tmp_path / "first.json"
    first.write_text(json.dumps(page))
    tokenbot(capsys, "import", "--format", "openai", str(first))

    code, out, _ = tokenbot(
        capsys,
        "usage",
        "reconcile",
        "--format",
        "openai",
        str(SAMPLES / "openai_completions_usage_grouped.json"),
    )

    assert code == 0
    assert "8 usage rows from 2025-09-04 00:00 to 2025-09-04 00:00 UTC" in out
    assert "1 of them already in the ledger" in out
    assert 'ids starting "openai:"' in out
    rows = [line for line in out.splitlines() if "2025-09-04" in line and "│" in line]
    assert len(rows) == 3
    [bob] = [row for row in rows if "bob@acme.test" in row]
    assert "gpt-4o" in bob and "(unattributed)" not in bob
    assert f"{results[6]['input_tokens'] + results[6]['output_tokens']:,}" in bob and "$" in bob
    assert any("openai-key:key_shared (unattributed)" in row for row in rows)
    assert "records exactly the 7 rows missing from the ledger" in out


def test_reconcile_of_an_unreadable_file_is_a_clear_error(capsys, tmp_path):
    code, _, err = tokenbot(
        capsys, "usage", "reconcile", "--format", "openai", str(tmp_path / "nope.json")
    )
    assert code == 2 and "cannot read" in err


def test_the_same_export_in_another_layout_counts_nothing_twice(capsys, services):
    tokenbot(capsys, "import", "--format", "openai", str(SAMPLES / "openai_completions_usage.json"))
    code, out, _ = tokenbot(
        capsys, "import", "--format", "openai", str(SAMPLES / "openai_completions_usage.jsonl")
    )
    assert code == 0 and "0 usage events recorded, 4 duplicates" in out


def test_a_file_with_invalid_rows_stores_nothing_and_names_every_bad_line(capsys, services):
    code, out, err = tokenbot(
        capsys, "import", "--format", "csv", str(SAMPLES / "usage_invalid.csv")
    )
    assert code == 2 and out == ""
    assert "4 of 6 rows rejected" in err
    for line in ("line 2: input_tokens", "line 3: user is required", "line 4: timestamp"):
        assert line in err
    assert "nothing was stored" in err
    assert counts(services) == (0, 0)


def test_skip_invalid_imports_the_good_rows_and_reports_the_rest(capsys, services):
    code, out, _ = tokenbot(
        capsys, "import", "--format", "csv", "--skip-invalid", str(SAMPLES / "usage_invalid.csv")
    )
    assert code == 0
    assert "4 of 6 rows skipped" in out and "line 5: timestamp" in out
    assert "2 usage events recorded" in out and "4 rejected" in out
    assert counts(services) == (2, 0)


@pytest.mark.parametrize(
    "fmt,sample",
    [
        ("openai", "openai_completions_usage_broken.json"),
        ("anthropic", "anthropic_messages_usage_invalid.json"),
        ("claude-code", "claude_code_analytics_invalid.json"),
        ("litellm", "litellm_spend_logs_invalid.jsonl"),
        ("csv", "usage_missing_columns.csv"),
        ("csv", "usage_broken.csv"),
    ],
)
def test_every_format_rejects_a_bad_file_whole(capsys, services, fmt, sample):
    code, _, err = tokenbot(capsys, "import", "--format", fmt, str(SAMPLES / sample))
    assert code == 2 and "line " in err and "nothing was stored" in err
    assert counts(services) == (0, 0)


def test_a_missing_file_is_a_clear_error(capsys, tmp_path):
    code, _, err = tokenbot(capsys, "import", "--format", "csv", str(tmp_path / "nope.csv"))
    assert code == 2 and "cannot read" in err


def test_imported_usage_of_known_people_is_debited_and_the_ledger_verifies(
    capsys, services, org, tmp_path
):
    export = tmp_path / "usage.csv"
    export.write_text(
        "id,user,model,input_tokens,output_tokens,timestamp,use_case\n"
        "r1,ann@acme.test,gpt-4o,1000,500,2026-11-10T09:00:00Z,coding\n"
        "r2,Bob@Acme.test,gpt-4o,2000,0,2026-11-10T09:05:00Z,coding\n"
        "r3,ann@acme.test,gpt-4o,10,10,2026-11-10T09:06:00Z,research\n"
    )
    code, out, _ = tokenbot(capsys, "import", "--format", "csv", str(export))
    assert code == 0 and "3 usage events recorded" in out and "0 unattributed" in out
    with services.db.read() as session:
        used = dict(session.execute(select(AccountTotal.person_id, AccountTotal.used)).all())
        assert used == {org["ann@acme.test"].id: 1520, org["bob@acme.test"].id: 2000}
        assert verify(session) == []


def test_unattributed_usage_is_listed_and_reassigned_through_the_cli_once(capsys, services, org):
    tokenbot(capsys, "import", "--format", "csv", str(SAMPLES / "usage.csv"))
    code, out, _ = tokenbot(capsys, "usage", "unattributed")
    assert code == 0 and "alice@example.com" in out and "carol" in out

    code, out, _ = tokenbot(capsys, "usage", "reassign", "carol", "ann@acme.test")
    assert code == 0 and "re-assigned 1 usage events" in out and "carol now maps" in out
    code, out, _ = tokenbot(capsys, "usage", "reassign", "carol", "ann@acme.test")
    assert "re-assigned 0 usage events" in out
    code, out, _ = tokenbot(
        capsys, "directory", "alias", "add", "bob@example.com", "bob@acme.test", "--reassign"
    )
    assert code == 0 and "re-assigned 1 usage events" in out

    code, out, _ = tokenbot(capsys, "usage", "unattributed")
    assert "carol" not in out and "bob@example.com" not in out and "alice@example.com" in out
    with services.db.read() as session:
        assert session.get(IdentityAlias, "carol").person_id == org["ann@acme.test"].id
        assert verify(session) == []
    code, _, err = tokenbot(capsys, "usage", "reassign", "carol", "nobody@acme.test")
    assert code == 2 and "no person" in err


def test_unknown_models_and_uncategorised_use_cases_are_listed_for_admins(capsys, services):
    tokenbot(capsys, "import", "--format", "csv", str(SAMPLES / "usage.csv"))
    code, out, _ = tokenbot(capsys, "usage", "unknown")
    assert code == 0
    models, use_cases = out.split("use cases missing")
    # text-embedding-3-small is missing from the catalog but has a public price (genai-prices).
    assert "no unknown models" in models and "text-embedding-3-small" not in models
    assert "search" in use_cases and "(none)" in use_cases and "seo-brief" not in use_cases


def test_api_keys_are_created_once_listed_without_secret_and_revoked(capsys, services):
    code, out, _ = tokenbot(capsys, "apikey", "create", "--name", "litellm-proxy")
    assert code == 0
    key = out.strip().splitlines()[-1]
    assert key.startswith("tbk_")
    with services.db.read() as session:
        assert verify_api_key(session, key) == "litellm-proxy"

    code, out, _ = tokenbot(capsys, "apikey", "list")
    assert "litellm-proxy" in out and "active" in out and key not in out
    code, _, err = tokenbot(capsys, "apikey", "create", "--name", "litellm-proxy")
    assert code == 2 and "already exists" in err

    code, out, _ = tokenbot(capsys, "apikey", "revoke", "litellm-proxy")
    assert code == 0 and "revoked" in out
    with services.db.read() as session:
        assert verify_api_key(session, key) is None
    code, out, _ = tokenbot(capsys, "apikey", "list")
    assert "revoked" in out
    code, _, err = tokenbot(capsys, "apikey", "revoke", "nope")
    assert code == 2 and "no API key named" in err


def test_serve_refuses_to_start_on_an_invalid_policy(capsys, monkeypatch, tmp_path):
    bad = tmp_path / "policy.toml"
    shutil.copy(Path(__file__).parents[2] / "budgets" / "default_policy.toml", bad)
    bad.write_text(bad.read_text().replace('phase = "incentives"', 'phase = "chaos"'))
    monkeypatch.setenv("TOKENBOT_POLICY", str(bad))
    code, _, err = tokenbot(capsys, "serve", "--port", "0")
    assert code == 2 and "phase" in err and "chaos" in err
