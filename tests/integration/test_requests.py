"""Burst requests in the domain, on a real database: routing, limits, the state machine,
authorization, nudges, expiry and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.commands.request import result_reply
from bot.core.messages import Notice
from bot.core.presenters.requests import (
    ACTION_ADJUST,
    ACTION_APPROVE,
    ACTION_DENY,
    created_notices,
    decision_notices,
    expiry_notices,
    reminder_notices,
)
from budgets import audit
from budgets.directory import import_directory
from budgets.ledger import verify
from budgets.request_views import RequestInvalid, get_view
from budgets.requests import (
    APPROVE,
    DENY,
    cancel,
    create_request,
    decide,
    expire_stale,
    nudges_due,
)
from storage.models import BurstRequestDecision, Grant, GrantBalance, Outcome, Project


@dataclass(frozen=True)
class Told:
    """A domain result and the notices its presenter built from it in the same transaction
    (as the commands and jobs do); reads through to the result's fields."""

    result: Any
    notices: tuple[Notice, ...]

    def __getattr__(self, name):
        return getattr(self.result, name)


def make(services, org, email, amount, reason="launch campaign", **options):
    with services.db.unit_of_work() as uow:
        created = create_request(
            uow.session,
            services.policy,
            org[email],
            amount,
            reason,
            now=services.clock(),
            **options,
        )
        notices = created_notices(uow.session, services.policy, created, services.clock())
        uow.commit()
    return Told(created, notices)


def refused_codes(services, org, email, amount, reason="launch", **options):
    with pytest.raises(RequestInvalid) as caught:
        make(services, org, email, amount, reason, **options)
    return [p.code for p in caught.value.problems]


def act(services, org, email, request_id, decision=APPROVE, **options):
    with services.db.unit_of_work() as uow:
        result = decide(
            uow.session,
            services.policy,
            request_id,
            org[email],
            decision,
            now=services.clock(),
            **options,
        )
        notices = decision_notices(uow.session, services.policy, result, services.clock())
        uow.commit()
    return Told(result, notices)


def current(services, request_id):
    with services.db.read() as session:
        return get_view(session, services.policy, request_id)


def burst_grants(services, person):
    with services.db.read() as session:
        return session.execute(
            select(Grant.amount, Grant.expires_at, GrantBalance.remaining)
            .join(GrantBalance, GrantBalance.grant_id == Grant.id)
            .where(Grant.kind == "burst", Grant.owner_id == person.id)
        ).all()


def audit_actions(services, request_id):
    with services.db.read() as session:
        return [
            (e.actor, e.action) for e in audit.entries(session, subject=f"request:{request_id}")
        ]


@pytest.fixture
def projects(services, org):
    with services.db.unit_of_work() as uow:
        uow.session.add_all(
            [
                Project(name="apollo", owner_id=org["bob@acme.test"].id, budget=0, status="open"),
                Project(name="gemini", owner_id=org["bob@acme.test"].id, budget=0, status="closed"),
            ]
        )
        uow.commit()


@pytest.fixture
def second_admin(services, org):
    """Otto, an admin reporting to the CEO: someone else to approve the CEO's requests."""
    extra = "email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id\n"
    extra += "ops@acme.test,Otto Ops,Platform,ceo@acme.test,member;admin,default,UOPS,\n"
    with services.db.unit_of_work() as uow:
        assert import_directory(uow.session, extra, services.policy, services.clock()).ok
        uow.commit()


# --- routing ---------------------------------------------------------------------------------


def test_a_members_request_goes_to_their_manager_with_approve_deny_and_adjust_buttons(
    services, org
):
    created = make(services, org, "ann@acme.test", 50_000)
    request = created.request
    assert (request.state, request.step, request.approver_email) == (
        "pending",
        "manager",
        "mia@acme.test",
    )
    assert request.finance_approver_name is None
    (notice,) = created.notices
    assert notice.to_person_id == org["mia@acme.test"].id
    assert [(b.action_id, b.value) for b in notice.reply.buttons] == [
        (ACTION_APPROVE, f"{request.id}:0"),
        (ACTION_DENY, f"{request.id}:0"),
        (ACTION_ADJUST, f"{request.id}:0"),
    ]


def test_approval_grants_the_amount_once_until_the_period_end_and_the_ledger_verifies(
    services, org
):
    request = make(services, org, "ann@acme.test", 50_000).request
    result = act(services, org, "mia@acme.test", request.id, expected_version=0)
    assert result.action == "approved" and result.changed
    assert [n.to_person_id for n in result.notices] == [org["ann@acme.test"].id]
    grants = burst_grants(services, org["ann@acme.test"])
    assert len(grants) == 1
    amount, expires_at, remaining = grants[0]
    assert (amount, remaining) == (50_000, 50_000)
    assert expires_at.isoformat() == "2026-12-01T00:00:00+00:00"
    assert current(services, request.id).granted_amount == 50_000
    with services.db.read() as session:
        assert verify(session) == []


def test_above_the_finance_threshold_finance_approves_after_the_manager(services, org):
    request = make(services, org, "ann@acme.test", 300_000).request
    assert request.finance_approver_name == "Finn Finance"

    first = act(services, org, "mia@acme.test", request.id, expected_version=0)
    assert first.action == "step_approved"
    assert burst_grants(services, org["ann@acme.test"]) == []
    after_manager = current(services, request.id)
    assert (after_manager.state, after_manager.step, after_manager.approver_email) == (
        "pending",
        "finance",
        "fin@acme.test",
    )
    requester_notice, finance_notice = first.notices
    assert requester_notice.to_person_id == org["ann@acme.test"].id
    assert finance_notice.to_person_id == org["fin@acme.test"].id
    assert finance_notice.reply.buttons[0].value == f"{request.id}:1"

    final = act(services, org, "fin@acme.test", request.id, expected_version=1)
    assert final.action == "approved"
    assert [g.amount for g in burst_grants(services, org["ann@acme.test"])] == [300_000]
    assert [s.step for s in final.request.steps] == ["manager", "finance"]


def test_a_manager_approving_less_than_the_threshold_still_needs_the_finance_step(services, org):
    # Decided in issue 18: the amount asked decides the steps (tests/security/test_authorization).
    request = make(services, org, "ann@acme.test", 300_000).request
    result = act(services, org, "mia@acme.test", request.id, amount=200_000, comment="start small")
    assert result.action == "step_approved"
    assert burst_grants(services, org["ann@acme.test"]) == []
    assert act(services, org, "fin@acme.test", request.id).action == "approved"
    assert [g.amount for g in burst_grants(services, org["ann@acme.test"])] == [200_000]


def test_a_project_request_goes_to_the_project_owner(services, org, projects):
    request = make(services, org, "ann@acme.test", 50_000, project="Apollo").request
    assert (request.step, request.approver_email, request.project) == (
        "owner",
        "bob@acme.test",
        "apollo",
    )
    assert act(services, org, "bob@acme.test", request.id).action == "approved"


def test_a_project_owner_asking_for_their_own_project_goes_up_their_chain(services, org, projects):
    request = make(services, org, "bob@acme.test", 50_000, project="apollo").request
    assert (request.step, request.approver_email) == ("manager", "mia@acme.test")


def test_someone_without_a_manager_is_routed_to_another_admin(services, org, second_admin):
    request = make(services, org, "ceo@acme.test", 50_000).request
    assert (request.step, request.approver_email) == ("admin", "ops@acme.test")


def test_with_nobody_left_to_approve_the_request_is_refused(services, org):
    # The CEO has no manager and is the only admin.
    assert refused_codes(services, org, "ceo@acme.test", 50_000) == ["no_approver"]


def test_a_finance_request_with_no_other_finance_person_is_refused(services, org):
    assert refused_codes(services, org, "fin@acme.test", 300_000) == ["no_finance_approver"]
    assert make(services, org, "fin@acme.test", 100_000).request.approver_email == "ceo@acme.test"


# --- who may decide --------------------------------------------------------------------------


def test_nobody_can_approve_their_own_request_not_even_an_admin(services, org, second_admin):
    ann = make(services, org, "ann@acme.test", 50_000).request
    refused = act(services, org, "ann@acme.test", ann.id, expected_version=0)
    assert refused.problem.code == "own_request" and not refused.changed

    ceo = make(services, org, "ceo@acme.test", 50_000).request
    assert act(services, org, "ceo@acme.test", ceo.id).problem.code == "own_request"
    assert current(services, ceo.id).state == "pending"
    assert burst_grants(services, org["ceo@acme.test"]) == []


def test_a_bystanders_click_changes_nothing_and_names_who_can_decide(services, org):
    request = make(services, org, "ann@acme.test", 50_000).request
    for bystander in ("bob@acme.test", "fin@acme.test"):
        refused = act(services, org, bystander, request.id, expected_version=0)
        assert refused.problem.code == "not_approver"
        assert refused.request.approver_name == "Mia Manager"
        assert refused.notices == ()
    after = current(services, request.id)
    assert (after.state, after.version, after.steps) == ("pending", 0, ())
    assert audit_actions(services, request.id) == [("ann@acme.test", "request.created")]
    text = services.renderer.text(result_reply(refused.result, "UTC"))
    assert "You can't decide this request" in text and "Mia Manager" in text


def test_an_admin_may_decide_any_step_and_it_is_recorded_as_an_override(services, org):
    request = make(services, org, "ann@acme.test", 50_000).request
    result = act(services, org, "ceo@acme.test", request.id, expected_version=0)
    assert result.action == "approved" and result.as_admin
    # Mia's approval message is updated in place: the admin decided her step.
    assert [n.to_person_id for n in result.notices] == [
        org["ann@acme.test"].id,
        org["mia@acme.test"].id,
    ]
    assert result.notices[1].ref == f"request:{request.id}:manager"
    with services.db.read() as session:
        (decision,) = session.scalars(select(BurstRequestDecision)).all()
        (entry,) = [e for e in audit.entries(session) if e.action == "request.approved"]
    assert decision.as_admin and decision.actor_id == org["ceo@acme.test"].id
    assert entry.actor == "ceo@acme.test"
    assert entry.detail["as_admin"] is True
    assert entry.detail["approver_id"] == org["mia@acme.test"].id


def test_an_admin_who_decided_the_manager_step_cannot_also_decide_finance(services, org):
    request = make(services, org, "ann@acme.test", 300_000).request
    assert act(services, org, "ceo@acme.test", request.id).action == "step_approved"
    refused = act(services, org, "ceo@acme.test", request.id)
    assert refused.problem.code == "decided_earlier_step"
    assert burst_grants(services, org["ann@acme.test"]) == []
    assert act(services, org, "fin@acme.test", request.id).action == "approved"


# --- limits ----------------------------------------------------------------------------------


def test_an_invalid_request_lists_every_problem_at_once(services, org, projects):
    codes = refused_codes(
        services, org, "ann@acme.test", 2_000_000, "  ", project="nope", until=date(2026, 11, 1)
    )
    assert codes == ["amount_over_max", "reason_missing", "project_unknown", "until_past"]


def test_zero_amounts_closed_projects_and_until_after_the_period_are_refused(
    services, org, projects
):
    assert refused_codes(services, org, "ann@acme.test", 0) == ["amount_not_positive"]
    assert refused_codes(services, org, "ann@acme.test", 1, project="gemini") == ["project_closed"]
    assert refused_codes(services, org, "ann@acme.test", 1, until=date(2026, 12, 1)) == [
        "until_after_period"
    ]
    assert make(services, org, "ann@acme.test", 1_000_000).request.amount == 1_000_000


def test_until_makes_the_burst_grant_expire_at_the_end_of_that_day(services, org):
    request = make(services, org, "ann@acme.test", 50_000, until=date(2026, 11, 20)).request
    act(services, org, "mia@acme.test", request.id)
    ((_, expires_at, _),) = burst_grants(services, org["ann@acme.test"])
    assert expires_at.isoformat() == "2026-11-21T00:00:00+00:00"


def test_an_adjusted_amount_above_what_is_asked_is_refused(services, org):
    request = make(services, org, "ann@acme.test", 50_000).request
    refused = act(services, org, "mia@acme.test", request.id, amount=60_000)
    assert refused.problem.code == "amount_invalid"
    assert refused.problem.facts == {"amount": 60_000, "max": 50_000}
    assert current(services, request.id).state == "pending"


# --- the state machine -----------------------------------------------------------------------


def test_a_second_click_answers_already_approved_by_whom_and_when(services, org, clock):
    request = make(services, org, "ann@acme.test", 50_000).request
    decided_at = clock()
    act(services, org, "mia@acme.test", request.id, expected_version=0)
    clock.advance(minutes=5)
    again = act(services, org, "mia@acme.test", request.id, expected_version=0)
    assert again.problem.code == "closed"
    assert (again.request.state, again.request.decided_by_name) == ("approved", "Mia Manager")
    assert again.request.decided_at == decided_at
    assert len(burst_grants(services, org["ann@acme.test"])) == 1


def test_denial_grants_nothing_and_tells_the_requester(services, org):
    request = make(services, org, "ann@acme.test", 50_000).request
    result = act(services, org, "mia@acme.test", request.id, DENY, comment="use the pool")
    assert result.action == "denied"
    assert current(services, request.id).comment == "use the pool"
    assert [n.to_person_id for n in result.notices] == [org["ann@acme.test"].id]
    assert burst_grants(services, org["ann@acme.test"]) == []
    assert act(services, org, "mia@acme.test", request.id).problem.code == "closed"


def test_a_cancelled_request_cannot_be_decided_and_says_who_cancelled_it_and_when(
    services, org, clock
):
    request = make(services, org, "ann@acme.test", 50_000).request
    with services.db.unit_of_work() as uow:
        cancelled = cancel(
            uow.session, services.policy, request.id, org["ann@acme.test"], now=clock()
        )
        cancelled = Told(
            cancelled, decision_notices(uow.session, services.policy, cancelled, clock())
        )
        uow.commit()
    assert cancelled.action == "cancelled"
    # The manager's approval message is replaced by the cancelled state.
    (update,) = cancelled.notices
    assert update.to_person_id == org["mia@acme.test"].id
    assert update.ref == f"request:{request.id}:manager"
    refused = act(services, org, "mia@acme.test", request.id, expected_version=0)
    assert refused.problem.code == "closed"
    assert (refused.request.state, refused.request.decided_by_name) == ("cancelled", "Ann Analyst")
    assert burst_grants(services, org["ann@acme.test"]) == []


def test_only_the_requester_can_cancel_and_only_once(services, org, clock):
    request = make(services, org, "ann@acme.test", 50_000).request
    with services.db.unit_of_work() as uow:
        other = cancel(uow.session, services.policy, request.id, org["mia@acme.test"], now=clock())
        first = cancel(uow.session, services.policy, request.id, org["ann@acme.test"], now=clock())
        second = cancel(uow.session, services.policy, request.id, org["ann@acme.test"], now=clock())
        uow.commit()
    assert other.problem.code == "not_found"
    assert first.action == "cancelled"
    assert second.problem.code == "closed"


def test_a_decision_after_the_deadline_expires_the_request_and_says_why(services, org, clock):
    request = make(services, org, "ann@acme.test", 50_000).request
    clock.advance(hours=services.policy.approvals.expire_after_hours)
    refused = act(services, org, "mia@acme.test", request.id, expected_version=0)
    assert refused.problem.code == "expired_now"
    assert [n.to_person_id for n in refused.notices][0] == org["ann@acme.test"].id
    assert current(services, request.id).state == "expired"
    again = act(services, org, "mia@acme.test", request.id)
    assert again.problem.code == "closed" and again.request.state == "expired"
    assert burst_grants(services, org["ann@acme.test"]) == []


def test_a_stale_button_is_refused_even_for_the_current_approver(services, org):
    request = make(services, org, "ann@acme.test", 300_000).request
    act(services, org, "mia@acme.test", request.id, expected_version=0)
    # Finance presses a button carrying the version from before the manager's step.
    refused = act(services, org, "fin@acme.test", request.id, expected_version=0)
    assert refused.problem.code == "stale"
    assert refused.request.last_step.actor_name == "Mia Manager"
    assert current(services, request.id).state == "pending"
    assert burst_grants(services, org["ann@acme.test"]) == []


# --- nudges and expiry -----------------------------------------------------------------------


def test_nudges_go_once_per_step_after_the_policy_delay(services, org, clock):
    request = make(services, org, "ann@acme.test", 300_000).request
    hours = services.policy.approvals.nudge_after_hours

    def nudge():
        with services.db.unit_of_work() as uow:
            reminded = nudges_due(uow.session, services.policy, clock())
            notices = reminder_notices(uow.session, services.policy, reminded, clock())
            uow.commit()
        return notices

    clock.advance(hours=hours - 1)
    assert nudge() == []
    clock.advance(hours=1)
    (reminder,) = nudge()
    assert reminder.to_person_id == org["mia@acme.test"].id
    assert reminder.reply.context["reminder"] is True
    assert reminder.reply.buttons[0].value == f"{request.id}:0"  # a nudge leaves buttons valid
    assert reminder.ref == f"request:{request.id}:manager:reminder"  # a new message, not an edit
    assert nudge() == []
    clock.advance(hours=1)
    assert nudge() == []

    act(services, org, "mia@acme.test", request.id, expected_version=0)
    clock.advance(hours=hours)
    (finance_reminder,) = nudge()
    assert finance_reminder.to_person_id == org["fin@acme.test"].id
    assert nudge() == []
    assert [a for _, a in audit_actions(services, request.id)].count("request.nudged") == 2


def test_after_a_reminder_a_decision_updates_both_the_request_and_the_reminder_message(
    services, org, clock
):
    request = make(services, org, "ann@acme.test", 50_000).request
    clock.advance(hours=services.policy.approvals.nudge_after_hours)
    with services.db.unit_of_work() as uow:
        assert len(nudges_due(uow.session, services.policy, clock())) == 1
        uow.commit()
    result = act(services, org, "mia@acme.test", request.id, expected_version=0)
    updates = [n for n in result.notices if n.to_person_id == org["mia@acme.test"].id]
    assert [n.ref for n in updates] == [
        f"request:{request.id}:manager",
        f"request:{request.id}:manager:reminder",
    ]
    assert {n.reply.template for n in updates} == {"request_decided"}


def test_expire_stale_expires_once_and_tells_the_requester(services, org, clock):
    stale = make(services, org, "ann@acme.test", 50_000).request
    clock.advance(hours=services.policy.approvals.expire_after_hours - 1)
    fresh = make(services, org, "bob@acme.test", 50_000).request

    def run():
        with services.db.unit_of_work() as uow:
            expired = expire_stale(uow.session, services.policy, clock())
            notices = expiry_notices(uow.session, services.policy, expired, clock())
            uow.commit()
        return notices

    assert run() == []
    clock.advance(hours=1)
    notices = run()
    assert [(n.to_person_id, n.reply.template) for n in notices] == [
        (org["ann@acme.test"].id, "request_update"),
        (org["mia@acme.test"].id, "request_decided"),
    ]
    assert notices[0].reply.context["event"] == "expired"
    assert "expired" in services.renderer.text(notices[0].reply)
    assert run() == []
    assert current(services, stale.id).state == "expired"
    assert current(services, fresh.id).state == "pending"
    assert ("tokenbot", "request.expired") in audit_actions(services, stale.id)


def test_a_request_whose_until_day_has_passed_expires(services, org, clock):
    request = make(services, org, "ann@acme.test", 50_000, until=date(2026, 11, 18)).request
    clock.advance(hours=14)  # past midnight UTC, the end of the 18th
    with services.db.unit_of_work() as uow:
        expired = expire_stale(uow.session, services.policy, clock())
        assert len(expiry_notices(uow.session, services.policy, expired, clock())) == 2
        uow.commit()
    assert current(services, request.id).state == "expired"


# --- the approval message and the audit trail ------------------------------------------------


def test_the_approval_message_shows_balance_burn_rate_and_recent_efficiency(services, org, clock):
    """Efficiency is scoring's acceptance (revised work counts as accepted, as in `score`)
    over the last four complete weeks: not the running week, not before."""
    ann = org["ann@acme.test"]
    outcomes = {
        "last-week": ("accepted", timedelta(days=4)),  # Sat 14 Nov: week 2026-W46
        "revised": ("revised", timedelta(days=10)),
        "older": ("accepted", timedelta(days=20)),
        "rejected": ("rejected", timedelta(days=27)),  # Thu 22 Oct: week 2026-W43
        "this-week": ("accepted", timedelta(days=1)),  # the running week: not yet
        "old": ("rejected", timedelta(weeks=5)),  # 2026-W42: before the four weeks
    }
    with services.db.unit_of_work() as uow:
        for id, (status, ago) in outcomes.items():
            uow.session.add(
                Outcome(
                    id=id,
                    person_id=ann.id,
                    identity=ann.email,
                    status=status,
                    occurred_at=clock() - ago,
                    recorded_at=clock(),
                )
            )
        uow.commit()
    (notice,) = make(services, org, "ann@acme.test", 50_000).notices
    context = notice.reply.context
    assert context["efficiency"] == {"accepted": 3, "total": 4, "weeks": 4, "rate": 0.75}
    assert context["balance"]["personal_remaining"] == 2_000_000
    text = services.renderer.text(notice.reply)
    assert "Their personal balance in 2026-11: 2,000,000 of 2,000,000 left; 0 used." in text
    assert "Burn rate: 0 tokens/day in all" in text
    assert "their personal balance lasts past the period's end on Mon 30 Nov 2026" in text
    assert "75% of AI output accepted (3 of 4 outcomes, last 4 complete weeks)" in text


def test_every_step_is_in_the_audit_log_and_the_cli_lists_it(
    services, org, database_url, monkeypatch, capsys
):
    request = make(services, org, "ann@acme.test", 300_000).request
    act(services, org, "mia@acme.test", request.id)
    act(services, org, "fin@acme.test", request.id)
    other = make(services, org, "bob@acme.test", 10_000).request
    assert audit_actions(services, request.id) == [
        ("ann@acme.test", "request.created"),
        ("mia@acme.test", "request.step_approved"),
        ("fin@acme.test", "request.approved"),
    ]
    with services.db.read() as session:
        approved = [e for e in audit.entries(session) if e.action == "request.approved"][0]
        grant_id = session.scalar(
            select(Grant.id).where(Grant.idempotency_key == f"burst:{request.id}")
        )
        assert (
            session.scalar(select(func.count()).select_from(Grant).where(Grant.kind == "burst"))
            == 1
        )
    assert approved.detail["grant_id"] == grant_id and approved.detail["amount"] == 300_000

    from bot.cli import main

    monkeypatch.setenv("TOKENBOT_DATABASE_URL", database_url)
    assert main(["audit", "--subject", f"request:{request.id}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[1:4] for line in lines] == [
        ["ann@acme.test", "request.created", f"request:{request.id}"],
        ["mia@acme.test", "request.step_approved", f"request:{request.id}"],
        ["fin@acme.test", "request.approved", f"request:{request.id}"],
    ]
    assert main(["audit", "--since", "2026-11-18"]) == 0
    assert f"request:{other.id}" in capsys.readouterr().out
    assert main(["audit", "--since", "2026-11-19"]) == 0
    assert capsys.readouterr().out.strip() == "audit: no entries match"
