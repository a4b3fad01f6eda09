"""The directory import on a real database: all-or-nothing with every bad line named, upsert
by email, and a baseline for new people straight away."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from budgets.directory import ImportResult, import_directory
from budgets.periods import period_for
from storage.models import Grant, Person
from tests.conftest import row_counts

HEADER = "email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id"


@pytest.fixture
def run_import(services) -> Callable[[str], ImportResult]:
    def run(text: str) -> ImportResult:
        with services.db.unit_of_work() as uow:
            result = import_directory(uow.session, text, services.policy, services.clock())
            if result.ok:
                uow.commit()
        return result

    return run


def csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


BAD_FILES = {
    "unknown tier": (
        csv("zed@acme.test,Zed,Ops,,member,platinum,,"),
        [(2, "tier", "unknown tier 'platinum'; the policy defines: default")],
    ),
    "duplicate email": (
        csv("zed@acme.test,Zed,Ops,,member,default,,", "ZED@acme.test,Zed Again,Ops,,member,,,"),
        [(3, "email", "zed@acme.test already appears on line 2")],
    ),
    "manager cycle in the file": (
        csv(
            "a@acme.test,A,Ops,b@acme.test,member,,,",
            "b@acme.test,B,Ops,c@acme.test,member,,,",
            "c@acme.test,C,Ops,a@acme.test,member,,,",
        ),
        [
            (
                2,
                "manager_email",
                "management cycle: a@acme.test -> b@acme.test -> c@acme.test -> a@acme.test",
            ),
            (3, "manager_email", "management cycle: b@acme.test"),
            (4, "manager_email", "management cycle: c@acme.test"),
        ],
    ),
    "own manager": (
        csv("zed@acme.test,Zed,Ops,zed@acme.test,member,,,"),
        [(2, "manager_email", "cannot be their own manager")],
    ),
    "missing manager": (
        csv("zed@acme.test,Zed,Ops,ghost@acme.test,member,,,"),
        [(2, "manager_email", "ghost@acme.test is neither in this file nor in the directory")],
    ),
    "malformed email": (
        csv("zed.acme.test,Zed,Ops,,member,,,", "ok@acme.test,Ok,Ops,not-an-email,member,,,"),
        [
            (2, "email", "'zed.acme.test' is not a valid email address"),
            (3, "manager_email", "'not-an-email' is not a valid email address"),
        ],
    ),
    "unknown role": (
        csv("zed@acme.test,Zed,Ops,,member;wizard,,,"),
        [(2, "roles", "unknown role 'wizard'; allowed: member, manager, finance, admin")],
    ),
    "duplicate slack id": (
        csv("a@acme.test,A,Ops,,member,,U1,", "b@acme.test,B,Ops,,member,,U1,"),
        [(3, "slack_user_id", "U1 is already used on line 2")],
    ),
    "duplicate teams id": (
        csv("a@acme.test,A,Ops,,member,,,29:x", "b@acme.test,B,Ops,,member,,,29:x"),
        [(3, "teams_user_id", "29:x is already used on line 2")],
    ),
    "missing name and team": (
        csv("zed@acme.test,,,,member,,,"),
        [(2, "name", "is required"), (2, "team", "is required")],
    ),
    "unknown time zone": (
        "email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id,timezone\n"
        "zed@acme.test,Zed,Ops,,member,,,,Mars/Olympus\n",
        [(2, "timezone", "unknown time zone 'Mars/Olympus'")],
    ),
    "missing column": (
        "email,name,team\nzed@acme.test,Zed,Ops\n",
        [(1, "header", "missing column(s) manager_email, roles, tier")],
    ),
    "unknown column": (
        HEADER + ",shoe_size\nzed@acme.test,Zed,Ops,,member,,,,44\n",
        [(1, "header", "unknown column(s) shoe_size")],
    ),
    "no people": (csv(), [(2, "email", "no people")]),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_file_is_refused_whole_with_each_line_and_reason_and_writes_nothing(
    services, org, run_import, kind: str
):
    text, expected = BAD_FILES[kind]
    # A good row comes along with the bad ones: it must not be written either.
    if text.startswith(HEADER + "\n") and text.count("\n") > 1:
        text += "new@acme.test,New Person,Ops,,member,default,,\n"
    before = row_counts(services)
    result = run_import(text)
    assert not result.ok
    for line, field, reason in expected:
        assert any(
            e.line == line and e.field == field and reason in e.reason for e in result.errors
        ), f"expected line {line} {field}: {reason!r}; got {[str(e) for e in result.errors]}"
    assert len(result.errors) == len(expected), [str(e) for e in result.errors]
    assert row_counts(services) == before


def test_every_problem_of_a_file_is_reported_in_line_order(run_import):
    result = run_import(
        csv(
            "zed.acme.test,Zed,Ops,,member,,,",
            "amy@acme.test,Amy,Ops,ghost@acme.test,member,gold,,",
            "amy@acme.test,Amy,Ops,,member;wizard,,,",
            "x@acme.test,X,Ops,y@acme.test,member,,,",
            "y@acme.test,Y,Ops,x@acme.test,member,,,",
        )
    )
    assert [(e.line, e.field) for e in result.errors] == [
        (2, "email"),
        (3, "manager_email"),  # graph problems come with the row problems, not after a fix
        (3, "tier"),
        (4, "email"),
        (4, "roles"),
        (5, "manager_email"),
        (6, "manager_email"),
    ]
    assert str(result.errors[0]).startswith("line 2: email: ")


def test_a_cycle_through_people_already_stored_is_refused(services, org, run_import):
    # Stored: ceo <- mia <- ann. Making the CEO report to Ann closes a loop.
    before = row_counts(services)
    result = run_import(csv("ceo@acme.test,Cleo Chief,Leadership,ann@acme.test,member;admin,,,"))
    assert [(e.line, e.field) for e in result.errors] == [(2, "manager_email")]
    assert (
        "management cycle: ceo@acme.test -> ann@acme.test -> mia@acme.test -> ceo@acme.test"
        in result.errors[0].reason
    )
    assert row_counts(services) == before


def test_a_chat_id_already_taken_by_someone_stored_is_refused(services, org, run_import):
    before = row_counts(services)
    result = run_import(csv("zed@acme.test,Zed,Ops,,member,,UANN,"))
    assert [str(e) for e in result.errors] == [
        "line 2: slack_user_id: UANN already belongs to ann@acme.test"
    ]
    assert row_counts(services) == before


def test_rows_upsert_by_email_and_update_what_changed(services, org, run_import):
    result = run_import(
        csv("ANN@acme.test,Ann Lead,Analytics,ceo@acme.test,member;manager,power-user,,")
    )
    assert (result.ok, result.created, result.updated, result.teams_created) == (True, 0, 1, 1)
    with services.db.read() as s:
        ann = s.scalar(select(Person).where(Person.email == "ann@acme.test"))
        assert s.scalar(select(func.count()).select_from(Person)) == 5
        assert (ann.name, ann.team.name, ann.tier) == ("Ann Lead", "Analytics", "power-user")
        assert ann.role_set == {"member", "manager"}
        assert ann.manager_id == org["ceo@acme.test"].id
        # Chat ids left blank in the file keep the stored ones.
        assert (ann.slack_user_id, ann.teams_user_id) == ("UANN", "29:ann")


def test_people_can_swap_chat_ids_in_one_import(services, org, run_import):
    result = run_import(
        csv(
            "ann@acme.test,Ann Analyst,Marketing,mia@acme.test,member,default,UBOB,",
            "bob@acme.test,Bob Builder,Marketing,mia@acme.test,member,default,UANN,",
        )
    )
    assert result.ok, [str(e) for e in result.errors]
    with services.db.read() as s:
        ids = dict(s.execute(select(Person.email, Person.slack_user_id)).all())
    assert (ids["ann@acme.test"], ids["bob@acme.test"]) == ("UBOB", "UANN")


def test_new_people_receive_the_periods_baseline_at_once(services, org, run_import):
    result = run_import(
        csv(
            "zoe@acme.test,Zoe New,Marketing,mia@acme.test,member,light,,",
            "max@acme.test,Max New,Research,ceo@acme.test,member,,,",
        )
    )
    assert (result.created, result.teams_created) == (2, 1)
    # Two baseline grants each, and the new team's pool.
    assert result.grants_issued == 5
    period = period_for(services.policy.periods, services.clock())
    with services.db.read() as s:
        zoe = s.scalar(select(Person).where(Person.email == "zoe@acme.test"))
        grants = s.scalars(
            select(Grant).where(Grant.owner_type == "person", Grant.owner_id == zoe.id)
        ).all()
    assert {(g.kind, g.token_class, g.amount) for g in grants} == {
        ("baseline", "operational", 400_000),
        ("baseline", "exploration", 100_000),
    }
    assert all(
        (g.period, g.effective_at, g.expires_at) == (period.key, period.start, period.end)
        for g in grants
    )


def test_importing_the_same_file_twice_issues_nothing_new(services, org, run_import, people_csv):
    before = row_counts(services)
    result = run_import(people_csv)
    assert (result.ok, result.created, result.updated, result.grants_issued) == (True, 0, 5, 0)
    assert row_counts(services) == before


def test_aliases_map_provider_identities_to_the_person(services, run_import):
    text = HEADER + ",aliases\nzed@acme.test,Zed,Ops,,member,,,,openai-user:u_1;key:k_9\n"
    assert run_import(text).ok
    from budgets.ledger import resolve_identities

    with services.db.read() as s:
        found = resolve_identities(s, ["openai-user:u_1", "key:k_9", "ZED@acme.test", "other"])
        zed = s.scalar(select(Person).where(Person.email == "zed@acme.test"))
    assert set(found) == {"openai-user:u_1", "key:k_9", "zed@acme.test"}
    assert {pid for pid, _team in found.values()} == {zed.id}


def test_a_chat_id_kept_by_its_holder_in_the_same_file_cannot_be_taken(services, org, run_import):
    before = row_counts(services)
    result = run_import(
        csv(
            "ann@acme.test,Ann Analyst,Marketing,mia@acme.test,member,default,,",
            "bob@acme.test,Bob Builder,Marketing,mia@acme.test,member,default,UANN,",
        )
    )
    assert [str(e) for e in result.errors] == [
        "line 3: slack_user_id: UANN already belongs to ann@acme.test"
    ]
    assert row_counts(services) == before
