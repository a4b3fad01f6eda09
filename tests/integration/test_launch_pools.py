"""Launch pools (issue 23): a reserved pool with a window (`starts` to `ends`, whole days,
both included) and members, for a launch or surge week. It draws only inside its window and
only for its members; after the window it lapses once (expire entries, whatever the retries
and races), and its owner gets a report comparing the window with as many days before it.

Amounts from `small_policy_data()`: baselines of 1,000 (800 operational), team pools of 500;
the launch pool holds 400 ad-copy tokens for the Marketing team (Ann, Bob, Mia) from Mon 16
to Sun 22 November 2026 (UTC), owned by Mia.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from bot.delivery import LogDeliverer
from bot.jobs import run_job
from budgets.launches import lapse_launch_pools, launch_reports
from budgets.ledger import record_usage, verify
from budgets.policy import Policy, parse_policy
from ingest.store import record_outcomes
from storage.models import Grant, GrantBalance, LedgerEntry
from tests.conftest import run_together
from tests.integration.governance_support import result
from tests.integration.jobs_support import outbox
from tests.integration.ledger_support import small_policy_data, usage

SUN_NOV_15 = datetime(2026, 11, 15, 23, 59, tzinfo=UTC)
TUE_NOV_17 = datetime(2026, 11, 17, 12, tzinfo=UTC)
SUN_NOV_22 = datetime(2026, 11, 22, 23, 59, tzinfo=UTC)
MON_NOV_23 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
TUE_NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)
KEY = "launch:2026-11-16:launch week"


def launch_policy() -> Policy:
    data = small_policy_data()
    data["reserved_pools"] = [
        {
            "name": "launch week",
            "use_case": "ad-copy",
            "amount": 400,
            "starts": date(2026, 11, 16),
            "ends": date(2026, 11, 22),
            "owner": "mia@acme.test",
            "teams": ["Marketing"],
        }
    ]
    return parse_policy(data, "launch test policy")


@pytest.fixture
def policy() -> Policy:
    return launch_policy()


@pytest.fixture
def sent(services) -> LogDeliverer:
    return LogDeliverer(services.renderer)


def record(services, *events):
    with services.db.unit_of_work() as uow:
        record_usage(uow.session, list(events), services.policy, services.clock())
        uow.commit()


def pool_drawn(services) -> int:
    with services.db.read() as s:
        return int(
            s.scalar(
                select(GrantBalance.used)
                .join(Grant, Grant.id == GrantBalance.grant_id)
                .where(Grant.idempotency_key == KEY)
            )
        )


def lapse_entries(services) -> list[tuple[int, str]]:
    with services.db.read() as s:
        return [
            (int(amount), reference)
            for amount, reference in s.execute(
                select(LedgerEntry.amount, LedgerEntry.reference)
                .join(Grant, Grant.id == LedgerEntry.grant_id)
                .where(LedgerEntry.entry_type == "expire", Grant.idempotency_key == KEY)
            )
        ]


def lapse(services) -> int:
    with services.db.unit_of_work() as uow:
        lapsed = lapse_launch_pools(uow.session, services.policy, services.clock())
        uow.commit()
    return sum(pool.lapsed for pool in lapsed)


def accepted(services, email: str, n: int, at: datetime) -> None:
    outcomes = [result(email, at, use_case="ad-copy") for _ in range(n)]
    with services.db.unit_of_work() as uow:
        record_outcomes(uow.session, outcomes, services.clock())
        uow.commit()


def test_the_org_import_issues_the_launch_pool_for_its_window_once(services, org):
    with services.db.read() as s:
        (grant,) = s.scalars(select(Grant).where(Grant.kind == "reserved")).all()
    assert grant.idempotency_key == KEY and grant.amount == 400
    assert (grant.effective_at, grant.expires_at) == (
        datetime(2026, 11, 16, tzinfo=UTC),
        MON_NOV_23,
    )


def test_a_launch_pool_draws_only_inside_its_window_and_only_for_its_members(services, org, clock):
    clock.set(MON_NOV_23)
    record(services, usage("bob@acme.test", 10, SUN_NOV_15, use_case="ad-copy"))
    assert pool_drawn(services) == 0
    record(services, usage("bob@acme.test", 20, TUE_NOV_17, use_case="ad-copy"))
    record(services, usage("fin@acme.test", 30, TUE_NOV_17, use_case="ad-copy"))  # Finance
    record(services, usage("ann@acme.test", 40, SUN_NOV_22, use_case="ad-copy"))
    record(services, usage("ann@acme.test", 50, TUE_NOV_17, use_case="coding"))  # other use
    assert pool_drawn(services) == 20 + 40
    record(services, usage("ann@acme.test", 60, MON_NOV_23, use_case="ad-copy"))
    assert pool_drawn(services) == 60


def test_a_launch_pool_lapses_once_after_its_window(services, org, clock):
    clock.set(TUE_NOV_17)
    record(services, usage("bob@acme.test", 100, TUE_NOV_17, use_case="ad-copy"))
    clock.set(SUN_NOV_22)
    assert lapse(services) == 0 and lapse_entries(services) == []
    clock.set(MON_NOV_23)
    assert lapse(services) == 300
    assert lapse(services) == 0
    assert lapse_entries(services) == [(300, f"lapse:{KEY}")]
    with services.db.read() as s:
        assert verify(s) == []


def test_concurrent_lapse_runs_expire_the_pool_exactly_once(services, org, clock):
    clock.set(MON_NOV_23)
    lapsed = run_together(lambda: lapse(services), 4)
    assert sorted(lapsed) == [0, 0, 0, 400]
    assert lapse_entries(services) == [(400, f"lapse:{KEY}")]
    with services.db.read() as s:
        assert verify(s) == []


def test_closing_the_period_after_the_lapse_does_not_lapse_the_pool_again(services, org, clock):
    from budgets.ledger import expire
    from budgets.periods import period_by_key

    clock.set(datetime(2026, 12, 1, 1, tzinfo=UTC))
    assert lapse(services) == 400
    with services.db.unit_of_work() as uow:
        expire(
            uow.session, services.policy, period_by_key(services.policy.periods, "2026-11"), clock()
        )
        uow.commit()
    assert lapse_entries(services) == [(400, f"lapse:{KEY}")]


def test_a_period_close_racing_the_lapse_expires_the_pool_exactly_once(services, org, clock):
    """Both paths lapse an ended launch pool; under the row lock only one finds it left."""
    import itertools

    from budgets.ledger import expire
    from budgets.periods import period_by_key

    clock.set(datetime(2026, 12, 1, 1, tzinfo=UTC))
    november = period_by_key(services.policy.periods, "2026-11")
    turns = itertools.count()

    def lapse_or_close() -> None:
        if next(turns) % 2:
            lapse(services)
            return
        with services.db.unit_of_work() as uow:
            expire(uow.session, services.policy, november, clock())
            uow.commit()

    run_together(lapse_or_close, 4)
    ((amount, _reference),) = lapse_entries(services)
    assert amount == 400
    with services.db.read() as s:
        assert verify(s) == []


def test_the_report_compares_the_window_with_as_many_days_before(services, org, clock):
    clock.set(datetime(2026, 11, 24, tzinfo=UTC))
    record(
        services,
        usage("bob@acme.test", 300, TUE_NOV_17, use_case="ad-copy"),
        usage("ann@acme.test", 100, SUN_NOV_22, use_case="ad-copy"),
        usage("fin@acme.test", 999, TUE_NOV_17, use_case="ad-copy"),  # not a member
        usage("ann@acme.test", 200, TUE_NOV_10, use_case="ad-copy"),  # the week before
        usage("ann@acme.test", 777, TUE_NOV_10, use_case="coding"),  # another use case
    )
    accepted(services, "bob@acme.test", 8, TUE_NOV_17)
    accepted(services, "fin@acme.test", 5, TUE_NOV_17)
    accepted(services, "ann@acme.test", 2, TUE_NOV_10)
    with services.db.read() as s:
        (report,) = launch_reports(s, services.policy, clock())
    assert (report.window.tokens, report.window.accepted) == (400, 8)
    assert (report.before.tokens, report.before.accepted) == (200, 2)
    assert report.before.starts == date(2026, 11, 9) and report.before.ends == date(2026, 11, 15)
    assert report.owner_id == org["mia@acme.test"].id
    assert report.drawn == 400 and report.amount == 400


def test_the_launch_job_lapses_and_sends_the_owner_one_report(services, org, clock, sent):
    clock.set(TUE_NOV_17)
    record(services, usage("bob@acme.test", 100, TUE_NOV_17, use_case="ad-copy"))
    accepted(services, "bob@acme.test", 4, TUE_NOV_17)
    run_job(services, "launches", [sent])
    assert sent.sent == [] and lapse_entries(services) == []
    clock.set(datetime(2026, 11, 23, 9, tzinfo=UTC))
    run_job(services, "launches", [sent])
    assert lapse_entries(services) == [(300, f"lapse:{KEY}")]
    assert sent.sent == []  # reported a day after the window: late usage and outcomes count
    clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=UTC))
    run_job(services, "launches", [sent])
    run_job(services, "launches", [sent])
    assert lapse_entries(services) == [(300, f"lapse:{KEY}")]
    ((notice, text),) = sent.sent
    assert notice.to_person_id == org["mia@acme.test"].id
    assert notice.reply.template == "launch_report"
    assert "launch week" in text and "2026-11-16" in text and "2026-11-22" in text
    assert "100" in text and "4 accepted" in text and "300" in text  # used, accepted, lapsed
    assert list(outbox(services)) == [f"launch-report:{KEY}"]


def test_a_launch_pool_that_ended_before_it_was_issued_is_neither_lapsed_nor_reported(
    services, clock, sent
):
    clock.set(datetime(2026, 12, 10, tzinfo=UTC))
    run_job(services, "launches", [sent])
    assert sent.sent == []
    with services.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Grant)) == 0


LAUNCH_TOML = """
[[reserved_pools]]
name = "launch week"
use_case = "ad-copy"
amount = 400
starts = 2026-11-16
ends = 2026-11-22
owner = "mia@acme.test"
teams = ["Marketing"]
"""


def test_tokenbot_jobs_run_launches_lapses_and_reports_once(
    services, org, tmp_path, monkeypatch, capsys
):
    from bot.cli import main
    from budgets.policy import DEFAULT_POLICY_PATH

    default = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    head, _pool, tail = default.partition("[[reserved_pools]]")
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(head + LAUNCH_TOML + tail.split("\n\n", 1)[1], encoding="utf-8")
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("TOKENBOT_POLICY", str(policy_file))
    assert main(["jobs", "run", "launches", "--at", "2026-11-23T09:00"]) == 0
    assert capsys.readouterr().out.startswith(
        "launches: 0 pool(s) issued, 1 lapsed (400 tokens); 0 report(s) queued"
    )
    assert main(["jobs", "run", "launches", "--at", "2026-11-24T09:00"]) == 0
    assert capsys.readouterr().out.startswith(
        "launches: 0 pool(s) issued, 0 lapsed (0 tokens); 1 report(s) queued"
    )
    assert main(["jobs", "run", "launches", "--at", "2026-11-24T10:00"]) == 0
    assert capsys.readouterr().out.startswith(
        "launches: 0 pool(s) issued, 0 lapsed (0 tokens); 0 report(s) queued (0 already sent"
    )
    assert lapse_entries(services) == [(400, f"lapse:{KEY}")]


def test_a_window_across_a_period_end_outlives_that_periods_close(services, clock):
    """A pool from Sat 28 Nov to Fri 4 Dec: closing November lapses November's grants, not
    the pool, which members still draw on 2 December and which lapses after 4 December."""
    from budgets.ledger import expire
    from budgets.periods import period_by_key
    from tests.conftest import PEOPLE_CSV
    from tests.integration.jobs_support import import_org

    data = small_policy_data()
    data["reserved_pools"] = [
        {
            "name": "launch week",
            "use_case": "ad-copy",
            "amount": 400,
            "starts": date(2026, 11, 28),
            "ends": date(2026, 12, 4),
            "owner": "mia@acme.test",
            "teams": ["Marketing"],
        }
    ]
    services.policy = parse_policy(data, "spanning launch policy")
    import_org(services, PEOPLE_CSV, clock())
    key = "launch:2026-11-28:launch week"
    clock.set(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    with services.db.unit_of_work() as uow:
        closed = expire(
            uow.session, services.policy, period_by_key(services.policy.periods, "2026-11"), clock()
        )
        uow.commit()
    assert closed.expired_grants > 0
    record(
        services,
        usage("ann@acme.test", 50, datetime(2026, 12, 2, 9, tzinfo=UTC), use_case="ad-copy"),
    )
    with services.db.read() as s:
        remaining, used, expired = s.execute(
            select(GrantBalance.remaining, GrantBalance.used, GrantBalance.expired)
            .join(Grant, Grant.id == GrantBalance.grant_id)
            .where(Grant.idempotency_key == key)
        ).one()
    assert (remaining, used, expired) == (350, 50, 0)
    clock.set(datetime(2026, 12, 5, 0, 0, tzinfo=UTC))
    assert lapse(services) == 350
