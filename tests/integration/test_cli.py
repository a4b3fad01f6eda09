"""The `tokenbot` command line run as an operator runs it: a subprocess on the database under
test. Expected failures print every problem on stderr and exit 2, and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from storage.database import alembic_config
from tests.conftest import Clock, empty_database, row_counts
from tests.integration.cli_support import tokenbot, wall_clock_now

BROKEN_POLICY = """
phase = "growth"
[periods]
cadence = "monthly"
reset_day = 30
timezone = "Mars/Olympus"
rolover_cap = 0.1
[split]
operational = 0.9
exploration = 0.2
[tiers.power-user]
baseline = 6_000_000
[models."gpt-4o"]
input_per_1m = 2.5
output_per_1m = 10
[use_cases.research]
status = "capped"
allowed_models = ["gpt-9"]
"""

HEADER = "email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id"


@pytest.fixture
def clock() -> Clock:
    return Clock(wall_clock_now())


def test_policy_check_lists_every_problem_with_its_key_and_exits_2(tmp_path: Path, database_url):
    policy = tmp_path / "broken.toml"
    policy.write_text(BROKEN_POLICY, encoding="utf-8")
    done = tokenbot("policy", "check", str(policy), database_url=database_url)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"error: {policy} is invalid (" in done.stderr
    for key in (
        "phase",
        "periods.rolover_cap",
        "periods.timezone",
        "periods.reset_day",
        "split",
        "tiers.default",
        "use_cases.research.cap",
        "use_cases.research.allowed_models",
    ):
        assert f"  - {key}: " in done.stderr, key
    assert "Traceback" not in done.stderr


def test_policy_check_reports_the_scoring_and_governance_sections_in_the_same_pass(
    tmp_path: Path, database_url
):
    """The sections scoring owns are checked by their owners' readers, which the CLI hands
    to load_policy (budgets.policy never imports scoring)."""
    default = (Path(__file__).parents[2] / "budgets" / "default_policy.toml").read_text()
    broken = (
        default.replace('phase = "incentives"', 'phase = "nope"', 1)
        .replace("min_tasks = 5 ", "min_tasks = -3 ", 1)
        .replace("min_turns = 14 ", "min_turns = 0 ", 1)
    )
    policy = tmp_path / "broken.toml"
    policy.write_text(broken, encoding="utf-8")
    done = tokenbot("policy", "check", str(policy), database_url=database_url)
    assert done.returncode == 2
    for key in ("phase", "scoring.min_tasks", "governance.chat_loops.min_turns"):
        assert f"  - {key}: " in done.stderr, (key, done.stderr)


def test_policy_check_refuses_impossible_auto_approval_rules_by_key(tmp_path: Path, services, org):
    default = (Path(__file__).parents[2] / "budgets" / "default_policy.toml").read_text()
    rules = """
[[approvals.auto]]
name = "small"
max_amount = -5
max_per_period = 1
min_acceptance = 1.2
undo_hours = 24
tiers = ["gold"]

[[approvals.auto]]
name = "small"
max_amount = 10_000
max_per_period = 1
min_acceptance = 0
"""
    policy = tmp_path / "rules.toml"
    policy.write_text(default + rules, encoding="utf-8")
    before = row_counts(services)
    done = tokenbot("policy", "check", str(policy), database_url=services.settings.database_url)
    assert done.returncode == 2
    for line in (
        "  - approvals.auto[0].max_amount: must be >= 1, got -5",
        "  - approvals.auto[0].min_acceptance: must be between 0 and 1, got 1.2",
        "  - approvals.auto[0].tiers: names 'gold', which is not in [tiers]",
        "  - approvals.auto[1].name: duplicate rule 'small'",
    ):
        assert line in done.stderr, (line, done.stderr)
    assert "Traceback" not in done.stderr
    assert row_counts(services) == before


BAD_POOLS = """
[[projects]]
name = "Apollo"
owner = "mia@acme.test"
budget = 100
members = ["Marketing"]
teams = ["ann@acme.test", " Finance"]

[[reserved_pools]]
name = "launch week"
use_case = "ad-copy"
amount = 1_000
starts = 2026-12-07
ends = 2026-12-13
owner = "mia@acme.test"
teams = ["Marketing"]

[[reserved_pools]]
name = "launch week"
use_case = "ad-copy"
amount = 1_000
starts = 2026-12-10
ends = 2026-12-03
owner = "mia"
members = ["not-an-email"]

[[reserved_pools]]
name = "launch week"
use_case = "ad-copy"
amount = 1_000
starts = 2026-12-13
ends = 2026-12-20
owner = "mia@acme.test"
teams = ["Marketing"]
"""


def test_policy_check_names_each_bad_member_list_and_launch_window(tmp_path: Path, database_url):
    default = (Path(__file__).parents[2] / "budgets" / "default_policy.toml").read_text()
    head, _reserved, tail = default.partition("[[reserved_pools]]")
    policy = tmp_path / "pools.toml"
    policy.write_text(head + BAD_POOLS + tail.split("\n\n", 1)[1], encoding="utf-8")
    done = tokenbot("policy", "check", str(policy), database_url=database_url)
    assert done.returncode == 2, done.stdout
    for line in (
        "  - projects[0].members: holds 'Marketing', which is not an email address "
        "(directory teams go in `teams`)",
        "  - projects[0].teams: holds 'ann@acme.test', an email: people go in `members`",
        "  - projects[0].teams: holds ' Finance': a team name is not empty and has no spaces",
        "  - reserved_pools[1].ends: is 2026-12-03, before starts (2026-12-10)",
        "  - reserved_pools[1].owner: must be an email address",
        "  - reserved_pools[1].members: holds 'not-an-email', which is not an email address",
        "  - reserved_pools[2].starts: launch pool 'launch week' from 2026-12-13 to 2026-12-20 "
        "overlaps the one from 2026-12-07 to 2026-12-13",
    ):
        assert line in done.stderr, (line, done.stderr)
    assert "Traceback" not in done.stderr


def test_policy_check_counts_in_words_that_agree_with_the_number(tmp_path: Path, database_url):
    from budgets.policy import DEFAULT_POLICY_PATH

    one_project = DEFAULT_POLICY_PATH.read_text(encoding="utf-8") + (
        '\n[[projects]]\nname = "launch"\nowner = "ann@acme.test"\nbudget = 1000000\n'
    )
    policy = tmp_path / "one-project.toml"
    policy.write_text(one_project, encoding="utf-8")
    done = tokenbot("policy", "check", str(policy), database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert ", 1 project" in done.stdout and "1 projects" not in done.stdout, done.stdout
    assert "3 tiers" in done.stdout and "8 use cases" in done.stdout


def test_directory_import_of_a_bad_csv_lists_every_bad_line_and_writes_nothing(
    services, org, tmp_path: Path
):
    people = tmp_path / "people.csv"
    people.write_text(
        "\n".join(
            [
                HEADER,
                "new@acme.test,New Person,Ops,,member,default,,",
                "broken-email,Broken,Ops,,member,default,,",
                "amy@acme.test,Amy,Ops,ghost@acme.test,member,platinum,,",
                "ceo@acme.test,Cleo Chief,Leadership,ann@acme.test,member;admin,,,",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    before = row_counts(services)
    done = tokenbot("directory", "import", str(people), database_url=services.settings.database_url)
    assert done.returncode == 2
    assert f"error: {people} was not imported (4 problem(s)); nothing was written:" in done.stderr
    for line in (
        "line 3: email: 'broken-email' is not a valid email address",
        "line 4: manager_email: ghost@acme.test is neither in this file nor in the directory",
        "line 4: tier: unknown tier 'platinum'",
        "line 5: manager_email: management cycle: ceo@acme.test -> ann@acme.test",
    ):
        assert line in done.stderr, line
    assert row_counts(services) == before


def test_directory_import_of_a_good_csv_upserts_and_says_what_it_did(services, tmp_path: Path):
    people = tmp_path / "people.csv"
    people.write_text(
        f"{HEADER}\nboss@acme.test,Bo Boss,Ops,,member;manager,power-user,U1,\n"
        "kim@acme.test,Kim Lee,Ops,boss@acme.test,member,,U2,29:kim\n",
        encoding="utf-8-sig",  # a BOM, as spreadsheet exports write it
    )
    url = services.settings.database_url
    imported = tokenbot("directory", "import", str(people), database_url=url)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(f"imported {people}: 2 created, 0 updated, 1 new teams")
    assert row_counts(services)["people"] == 2


def test_demo_seeds_and_opens_the_chat_and_a_second_run_adds_nothing(services):
    url = services.settings.database_url
    first = tokenbot("demo", stdin="balance\n", database_url=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Seeded the demo org: 30 people in 4 teams,")
    assert "Opening the console chat as liam.walsh@demo.example" in first.stdout
    assert "Your token balance for " in first.stdout and "Burn rate: " in first.stdout
    seeded = row_counts(services)
    assert seeded["people"] == 30 and seeded["usage_events"] > 1_000
    second = tokenbot("demo", "--no-chat", database_url=url)
    assert second.returncode == 0, second.stderr
    assert "already seeded" in second.stdout
    assert row_counts(services) == seeded
    verified = tokenbot("ledger", "verify", database_url=url)
    assert verified.returncode == 0, verified.stdout


def test_a_database_without_the_schema_says_to_run_db_upgrade(tmp_path: Path):
    with empty_database(tmp_path) as url:
        refused = tokenbot("ledger", "verify", database_url=url)
        assert refused.returncode == 2
        assert "has no tokenbot schema; run `tokenbot db upgrade` first" in refused.stderr
        assert "Traceback" not in refused.stderr
        upgraded = tokenbot("db", "upgrade", database_url=url)
        assert upgraded.returncode == 0, upgraded.stderr
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert upgraded.stdout.startswith(f"schema at {head} (")


def test_an_unreachable_database_is_one_clear_line_not_a_trace(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'tokenbot.db'}"
    done = tokenbot("ledger", "verify", database_url=url)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot open the database sqlite:///")
    assert "Traceback" not in done.stderr
