"""Who may draw a project budget or a reserved pool (issue 16): the policy names a project's
members (people by email, directory teams) and a reserved pool's eligible teams; anyone else
tagging the project or use case draws from their own grants, and authorize says so. An unknown
project is refused by authorize (`unknown_project`) and usage tagged with one is booked to the
person's own grants and reported as such.

Amounts from `small_policy_data()`: baselines of 1,000 (800 operational), team pools of 500;
Apollo (200) is Ann's alone, Zeus (100) is the Finance team's, and the security reserve (300)
is for the Finance team.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.core.messages import Reply
from budgets import authorize as codes
from budgets.authorize import authorize
from budgets.ledger import record_usage
from budgets.policy import Policy, parse_policy
from storage.models import Grant, LedgerEntry, Person, Project, UsageEvent
from tests.integration.ledger_support import small_policy_data, usage

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)


def eligibility_policy(phase: str = "incentives") -> Policy:
    data = small_policy_data()
    data["phase"] = phase
    data["projects"] = [
        {"name": "Apollo", "owner": "mia@acme.test", "budget": 200, "members": ["ann@acme.test"]},
        {"name": "Zeus", "owner": "fin@acme.test", "budget": 100, "teams": ["Finance"]},
    ]
    data["reserved_pools"] = [
        {
            "name": "security reserve",
            "use_case": "security-review",
            "amount": 300,
            "teams": ["Finance"],
        }
    ]
    return parse_policy(data, "eligibility test policy")


@pytest.fixture
def policy() -> Policy:
    return eligibility_policy()


def record(services, *events):
    with services.db.unit_of_work() as uow:
        result = record_usage(uow.session, list(events), services.policy, services.clock())
        uow.commit()
    return result


def drawn_by_kind(services, email_person_id: int) -> dict[str, int]:
    """Grant kind (or 'overdraft') -> tokens drawn for one person, from the ledger entries."""
    with services.db.read() as s:
        rows = s.execute(
            select(func.coalesce(Grant.kind, "overdraft"), func.sum(LedgerEntry.amount))
            .outerjoin(Grant, Grant.id == LedgerEntry.grant_id)
            .where(
                LedgerEntry.entry_type.in_(("debit", "overdraft")),
                LedgerEntry.person_id == email_person_id,
            )
            .group_by(Grant.kind)
        ).all()
    return {kind: int(total) for kind, total in rows}


def ask(services, user: str, use_case: str | None = "coding", project: str | None = None):
    with services.db.read() as session:
        return authorize(
            session, services.policy, user, "gpt-4o", 100, use_case, project, services.clock()
        )


def reason_text(services, decision) -> str:
    return services.renderer.text(Reply("authorize_reason", {"decision": decision}))


def test_a_project_member_by_email_draws_the_project_and_anyone_else_their_own_grants(
    services, org, clock
):
    clock.set(NOV_10)
    record(services, usage("ann@acme.test", 300, NOV_10, project="Apollo"))
    record(services, usage("bob@acme.test", 300, NOV_10, project="Apollo"))
    assert drawn_by_kind(services, org["ann@acme.test"].id) == {"project": 200, "baseline": 100}
    assert drawn_by_kind(services, org["bob@acme.test"].id) == {"baseline": 300}


def test_a_project_open_to_a_team_is_drawn_by_its_members_only(services, org, clock):
    clock.set(NOV_10)
    record(services, usage("fin@acme.test", 50, NOV_10, project="Zeus"))
    record(services, usage("ann@acme.test", 50, NOV_10, project="Zeus"))
    assert drawn_by_kind(services, org["fin@acme.test"].id) == {"project": 50}
    assert drawn_by_kind(services, org["ann@acme.test"].id) == {"baseline": 50}


def test_a_reserved_pool_is_drawn_only_by_its_eligible_teams(services, org, clock):
    clock.set(NOV_10)
    record(services, usage("fin@acme.test", 100, NOV_10, use_case="security-review"))
    record(services, usage("ann@acme.test", 100, NOV_10, use_case="security-review"))
    assert drawn_by_kind(services, org["fin@acme.test"].id) == {"reserved": 100}
    assert drawn_by_kind(services, org["ann@acme.test"].id) == {"baseline": 100}


def test_authorize_tells_someone_outside_a_project_what_they_draw_from_instead(
    services, org, clock
):
    clock.set(NOV_10)
    member = ask(services, "ann@acme.test", project="Apollo")
    assert member.pool == "project" and member.remaining == 200 + 1_000 + 500
    assert "not a member" not in reason_text(services, member)

    outsider = ask(services, "bob@acme.test", project="Apollo")
    assert outsider.allow and outsider.reason == codes.WITHIN_BUDGET
    assert outsider.pool == "baseline" and outsider.remaining == 1_000 + 500
    assert outsider.facts["not_member_of"] == ["project Apollo"]
    text = reason_text(services, outsider)
    assert "not a member of project Apollo" in text
    assert "your own budgets" in text and "baseline" in text


def test_authorize_tells_someone_outside_a_reserved_pools_teams_what_they_draw_from(
    services, org, clock
):
    clock.set(NOV_10)
    assert ask(services, "fin@acme.test", use_case="security-review").pool == "reserved"
    outsider = ask(services, "ann@acme.test", use_case="security-review")
    assert outsider.pool == "baseline" and outsider.remaining == 1_000 + 500
    assert outsider.facts["not_member_of"] == ["reserved pool security reserve"]
    assert "not a member of reserved pool security reserve" in reason_text(services, outsider)


def test_authorize_refuses_an_unknown_project_and_says_which(services, org, clock):
    clock.set(NOV_10)
    decision = ask(services, "ann@acme.test", project="Hermes")
    assert not decision.allow and decision.reason == codes.UNKNOWN_PROJECT
    assert decision.would_refuse
    text = reason_text(services, decision)
    assert "Hermes" in text and "Apollo" in text  # the known projects are named


def test_in_the_baseline_phase_an_unknown_project_is_allowed_but_would_be_refused(
    services, org, clock
):
    clock.set(NOV_10)
    with services.db.read() as session:
        decision = authorize(
            session,
            eligibility_policy("baseline"),
            "ann@acme.test",
            "gpt-4o",
            100,
            "coding",
            "Hermes",
            clock(),
        )
    assert decision.allow and decision.would_refuse and not decision.enforced
    assert decision.reason == codes.UNKNOWN_PROJECT


def test_usage_tagged_with_an_unknown_project_is_booked_to_the_persons_own_grants(
    services, org, clock
):
    clock.set(NOV_10)
    result = record(services, usage("ann@acme.test", 300, NOV_10, project="Hermes"))
    assert result.recorded == 1 and result.unknown_projects == {"Hermes"}
    assert drawn_by_kind(services, org["ann@acme.test"].id) == {"baseline": 300}
    with services.db.read() as s:
        assert (
            s.scalar(select(func.count()).select_from(Project).where(Project.name == "Hermes")) == 0
        )


def test_a_project_still_stored_but_no_longer_in_the_policy_is_unknown(services, org, clock):
    """Projects are never deleted from the database; the policy decides which exist."""
    clock.set(NOV_10)
    with services.db.unit_of_work() as uow:
        uow.session.add(Project(name="Retired", budget=0, status="closed"))
        uow.commit()
    result = record(services, usage("ann@acme.test", 10, NOV_10, project="Retired"))
    assert result.unknown_projects == {"Retired"}
    assert ask(services, "ann@acme.test", project="Retired").reason == codes.UNKNOWN_PROJECT


def test_a_project_spelled_differently_is_the_policys_project(services, org, clock):
    clock.set(NOV_10)
    result = record(services, usage("ann@acme.test", 50, NOV_10, project=" apollo"))
    assert result.unknown_projects == set()
    assert drawn_by_kind(services, org["ann@acme.test"].id) == {"project": 50}
    assert ask(services, "ann@acme.test", project="APOLLO").pool == "project"
    with services.db.read() as s:
        assert s.scalar(select(UsageEvent.project)) == "Apollo"


def test_balance_lists_the_project_and_the_reserved_pool_a_person_is_a_member_of(
    services, org, clock
):
    from budgets.balances import balance_for

    clock.set(NOV_10)

    def labels(email: str) -> list[str]:
        with services.db.read() as s:
            person = s.get(Person, org[email].id)
            return [pool.label for pool in balance_for(s, person, services.policy, clock()).pools]

    assert "Project Apollo" in labels("ann@acme.test")
    assert not any(label.startswith(("Project", "Reserved")) for label in labels("bob@acme.test"))
    fin = labels("fin@acme.test")
    assert "Project Zeus" in fin and "Reserved (security reserve)" in fin
