"""Policy changes through `tokenbot policy diff | apply | history`, on the real database: a
diff says what changes for whom and applies nothing; a file that does not validate gets its
problems and changes nothing; only an admin applies, audited; running services (another
process's, here another `Services` with its own engine) answer with the new version on their
next command without a restart; applies racing on threads each store exactly one version,
strictly ordered (run with TOKENBOT_TEST_DATABASE_URL for PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.bootstrap import Settings, bootstrap
from bot.cli import main
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingMessage
from budgets.policy import DEFAULT_POLICY_PATH
from budgets.policy_store import admin_named, apply, history, parse_text
from storage.models import AuditEntry, PolicyVersion
from tests.conftest import row_counts, run_together

DEFAULT_TEXT = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")


def policy_file(tmp_path: Path, name: str = "new.toml", **replacements: str) -> str:
    text = DEFAULT_TEXT
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


SMALLER_DEFAULT = {"[tiers.default]\nbaseline = 2_000_000": "[tiers.default]\nbaseline = 1_500_000"}
MARKETING_POOL = {
    "[team_pools]\ndefault = 5_000_000\n": "[team_pools]\ndefault = 4_000_000\n",
    "[team_pools.overrides]\n": "[team_pools.overrides]\nMarketing = 8_000_000\n",
}


@pytest.fixture
def cli(services, monkeypatch, capsys):  # noqa: ANN001, ANN201
    """`tokenbot ...` in this process, on the test database, with its own services (as a
    separate CLI process would build them); returns (exit status, stdout, stderr)."""
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    monkeypatch.delenv("TOKENBOT_POLICY", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def ask_policy(services) -> str:  # noqa: ANN001
    reply = Dispatcher(services).handle_message(
        IncomingMessage("console", "ann@acme.test", "policy")
    )
    return services.renderer.text(reply)


def test_diff_says_what_changes_for_whom_and_applies_nothing(cli, services, org, tmp_path):
    new = policy_file(tmp_path, **SMALLER_DEFAULT, **MARKETING_POOL)
    before = row_counts(services)

    status, out, err = cli("policy", "diff", new)

    assert status == 0, err
    assert "in force: version 0 (the file: built-in default)" in out
    # Fin, Ann and Bob hold the default tier; Mia and Cleo are power users.
    assert "  tier default: 2,000,000 -> 1,500,000 tokens, affects 3 people" in out
    # Marketing (Mia, Ann, Bob) gets its own pool; the default now reaches Leadership and Finance.
    assert "  team pool Marketing: added, 8,000,000 tokens, affects 3 people" in out
    assert (
        "  team pool default (teams without an override): 5,000,000 -> 4,000,000 tokens, "
        "affects 2 people"
    ) in out
    assert "3 change(s); nothing applied" in out
    assert row_counts(services) == before


def test_a_policy_that_does_not_validate_gets_its_problems_and_changes_nothing(
    cli, services, org, tmp_path
):
    bad = policy_file(
        tmp_path,
        **{
            'review_cadence = "quarterly"': 'review_cadence = "weekly"',
            "[tiers.default]\nbaseline = 2_000_000": "[tiers.default]\nbaseline = -5",
        },
    )
    before = row_counts(services)
    for command in (("policy", "diff", bad), ("policy", "apply", bad, "--as", "ceo@acme.test")):
        status, out, err = cli(*command)
        assert status == 2
        assert "tiers.default.baseline: must be >= 0, got -5" in err
        assert "policy.review_cadence: must be one of monthly, quarterly" in err
        assert "Traceback" not in err
    assert row_counts(services) == before


def test_only_an_active_admin_applies_and_nothing_is_stored_for_anyone_else(
    cli, services, org, tmp_path
):
    new = policy_file(tmp_path, **SMALLER_DEFAULT)
    status, _, err = cli("policy", "apply", new, "--as", "mia@acme.test")
    assert status == 2
    assert "mia@acme.test is not an admin: only admins apply policies" in err
    status, _, err = cli("policy", "apply", new, "--as", "ghost@acme.test")
    assert status == 2
    assert "ghost@acme.test is not an active person in the directory" in err
    assert history(services.db) == []


def test_apply_stores_an_audited_version_and_running_services_use_it_without_a_restart(
    cli, services, org, tmp_path
):
    assert "AI usage policy, version 0 (the policy file: built-in default" in ask_policy(services)
    new = policy_file(tmp_path, **SMALLER_DEFAULT)

    status, out, err = cli("policy", "apply", new, "--as", "CEO@acme.test", "--note", "Q1 cut")

    assert status == 0, err
    assert "  tier default: 2,000,000 -> 1,500,000 tokens, affects 3 people" in out
    assert "policy version 1 applied by ceo@acme.test (was version 0)" in out
    with services.db.read() as session:
        (stored,) = session.scalars(select(PolicyVersion)).all()
        (audited,) = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "policy.apply")
        ).all()
    assert stored.text == Path(new).read_text(encoding="utf-8")
    assert (stored.applied_by, stored.note) == ("ceo@acme.test", "Q1 cut")
    assert (audited.actor, audited.subject) == ("ceo@acme.test", "policy:1")
    assert audited.detail["previous"] == 0 and audited.detail["sha256"] == stored.sha256

    # The fixture's services (a running server's) were built before the apply.
    page = ask_policy(services)
    assert "AI usage policy, version 1, applied " in page
    assert "by ceo@acme.test" in page
    assert "default        1,500,000 tokens" in page
    assert services.policy.tiers["default"].baseline == 1_500_000

    status, out, _ = cli("policy", "history")
    assert status == 0
    assert out.splitlines()[0].startswith("version 1  ")
    assert "ceo@acme.test  sha256 " in out and "Q1 cut" in out
    assert out.splitlines()[-1] == "version 0  the file: built-in default"


def test_applying_what_is_in_force_stores_nothing(cli, services, org, tmp_path):
    new = policy_file(tmp_path, **SMALLER_DEFAULT)
    assert cli("policy", "apply", new, "--as", "ceo@acme.test")[0] == 0
    status, _, err = cli("policy", "apply", new, "--as", "ceo@acme.test")
    assert status == 2
    assert "changes nothing from version 1" in err
    assert [v.version for v in history(services.db)] == [1]


def test_the_stored_version_wins_over_the_file_a_process_starts_with(
    cli, services, org, tmp_path, caplog
):
    assert (
        cli("policy", "apply", policy_file(tmp_path, **SMALLER_DEFAULT), "--as", "ceo@acme.test")[0]
        == 0
    )
    other_file = policy_file(tmp_path, "other.toml", **MARKETING_POOL)
    started = bootstrap(
        Settings(database_url=services.settings.database_url, policy_path=other_file),
        clock=services.clock,
    )
    try:
        assert started.policy.team_pools.overrides == {"Marketing": 8_000_000}  # the file, until
        started.refresh_policy()  # its first request or job
        assert started.policy.team_pools.overrides == {}
        assert started.policy.tiers["default"].baseline == 1_500_000
        assert started.policy_version is not None and started.policy_version.version == 1
        assert "is not in force: policy version 1 applied by ceo@acme.test" in caplog.text
    finally:
        started.close()


THREADS = 6


def test_applies_racing_each_store_exactly_one_version_strictly_ordered(services, org, tmp_path):
    admin = admin_named(services.db, "ceo@acme.test")
    texts = [
        DEFAULT_TEXT.replace("baseline = 2_000_000", f"baseline = {2_000_000 + i}")
        for i in range(THREADS)
    ]
    queue = list(texts)

    def one_apply():  # noqa: ANN202
        return apply(services.db, queue.pop(), admin, services.clock())

    applied = run_together(one_apply, THREADS)

    assert sorted(a.version for a in applied) == list(range(1, THREADS + 1))
    assert all(a.previous == a.version - 1 for a in applied)
    with services.db.read() as session:
        stored = session.scalars(select(PolicyVersion).order_by(PolicyVersion.version)).all()
        audited = session.scalars(
            select(AuditEntry.subject).where(AuditEntry.action == "policy.apply")
        ).all()
    assert [v.version for v in stored] == list(range(1, THREADS + 1))
    assert sorted(v.text for v in stored) == sorted(texts)  # each apply once, none lost
    assert sorted(audited) == sorted(f"policy:{n}" for n in range(1, THREADS + 1))
    services.refresh_policy()  # the latest is in force, whichever thread stored it
    latest = parse_text(stored[-1].text, "latest")
    assert services.policy.tiers["default"] == latest.tiers["default"]


def test_a_stored_version_that_no_longer_validates_keeps_the_policy_in_force(services, org, caplog):
    # A version stored under an older, laxer check (written here directly: `apply` would
    # refuse it) must not stop every request of a running process.
    with services.db.unit_of_work() as uow:
        uow.session.add(
            PolicyVersion(
                version=1,
                applied_at=services.clock(),
                applied_by="ceo@acme.test",
                sha256="0" * 64,
                text=DEFAULT_TEXT.replace("baseline = 2_000_000", "baseline = -1", 1),
            )
        )
        uow.commit()
    in_force = services.policy
    with caplog.at_level("ERROR"):
        assert services.refresh_policy() is in_force
        assert services.refresh_policy() is in_force  # remembered: parsed and logged once
    assert [r.message for r in caplog.records].count(
        next(r.message for r in caplog.records if "does not validate" in r.message)
    ) == 1
    assert "AI usage policy, version 0" in ask_policy(services)
