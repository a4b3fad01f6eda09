"""Real concurrent transactions deciding one burst request: each thread has its own unit of
work (its own connection), and a barrier releases them together so they collide. Whatever
the database (SQLite or PostgreSQL, picked by the conftest), exactly one transition, one
grant and one audit entry come out of it."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from budgets.ledger import verify
from budgets.requests import APPROVE, DENY, cancel, create_request, decide
from storage.models import AuditEntry, BurstRequest, BurstRequestDecision, Grant

THREADS = 8


def make(services, person, amount):
    with services.db.unit_of_work() as uow:
        created = create_request(
            uow.session, services.policy, person, amount, "launch", now=services.clock()
        )
        uow.commit()
    return created.request


def all_at_once(calls):
    """Run each call in its own thread, released together by a barrier; returns the results
    in call order (an exception in any thread fails the test)."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - reported below, with its thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def deciding(services, person, request_id, decision=APPROVE, version=0):
    def call():
        with services.db.unit_of_work() as uow:
            result = decide(
                uow.session,
                services.policy,
                request_id,
                person,
                decision,
                now=services.clock(),
                expected_version=version,
            )
            uow.commit()
        return result

    return call


def counts(services, request_id):
    with services.db.read() as session:
        grants = session.scalar(
            select(func.count())
            .select_from(Grant)
            .where(Grant.idempotency_key == f"burst:{request_id}")
        )
        decisions = session.scalar(
            select(func.count())
            .select_from(BurstRequestDecision)
            .where(BurstRequestDecision.request_id == request_id)
        )
        actions = Counter(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.subject == f"request:{request_id}")
            )
        )
        request = session.get(BurstRequest, request_id)
        assert verify(session) == []
        return grants, decisions, actions, request


def test_many_simultaneous_approvals_make_one_transition_one_grant_one_audit_entry(services, org):
    request = make(services, org["ann@acme.test"], 50_000)
    clickers = [org["mia@acme.test"], org["ceo@acme.test"]] * (THREADS // 2)
    results = all_at_once([deciding(services, p, request.id) for p in clickers])

    winners = [r for r in results if r.changed]
    assert len(winners) == 1
    assert winners[0].action == "approved"
    losers = [r for r in results if not r.changed]
    assert {r.problem.code for r in losers} == {"closed"}
    # Every loser answers "already approved by X at T", naming the winner.
    assert {(r.request.state, r.request.decided_by_name) for r in losers} == {
        ("approved", winners[0].actor_name)
    }
    assert {r.request.decided_at for r in losers} == {winners[0].at}

    grants, decisions, actions, stored = counts(services, request.id)
    assert (grants, decisions, actions["request.approved"]) == (1, 1, 1)
    assert (stored.state, stored.version, stored.granted_amount) == ("approved", 1, 50_000)


def test_the_same_click_delivered_many_times_at_once_advances_a_two_step_request_once(
    services, org
):
    request = make(services, org["ann@acme.test"], 300_000)
    results = all_at_once(
        [deciding(services, org["mia@acme.test"], request.id) for _ in range(THREADS)]
    )
    assert [r.action for r in results if r.changed] == ["step_approved"]
    # Losers were either refused before their update (they already decided this step) or
    # lost the conditional update (the request moved on): either way, nothing changed.
    assert {r.problem.code for r in results if not r.changed} <= {
        "decided_earlier_step",
        "stale",
    }
    grants, decisions, actions, stored = counts(services, request.id)
    assert (grants, decisions, actions["request.step_approved"]) == (0, 1, 1)
    assert (stored.step, stored.version, stored.approver_id) == (
        "finance",
        1,
        org["fin@acme.test"].id,
    )

    finance = all_at_once(
        [deciding(services, org["fin@acme.test"], request.id, version=1) for _ in range(THREADS)]
    )
    assert [r.action for r in finance if r.changed] == ["approved"]
    grants, decisions, actions, stored = counts(services, request.id)
    assert (grants, decisions, actions["request.approved"]) == (1, 2, 1)


@pytest.mark.parametrize("rounds", range(3))
def test_approve_deny_and_cancel_racing_leave_exactly_one_outcome(services, org, rounds):
    request = make(services, org["ann@acme.test"], 50_000)

    def cancelling():
        with services.db.unit_of_work() as uow:
            result = cancel(
                uow.session, services.policy, request.id, org["ann@acme.test"], now=services.clock()
            )
            uow.commit()
        return result

    calls = [
        deciding(services, org["mia@acme.test"], request.id, APPROVE),
        deciding(services, org["ceo@acme.test"], request.id, DENY),
        cancelling,
    ] * 2
    results = all_at_once(calls)
    winners = [r for r in results if r.changed]
    assert len(winners) == 1
    grants, decisions, actions, stored = counts(services, request.id)
    assert (
        stored.state
        == {"approved": "approved", "denied": "denied", "cancelled": "cancelled"}[winners[0].action]
    )
    assert grants == (1 if stored.state == "approved" else 0)
    assert sum(actions[f"request.{s}"] for s in ("approved", "denied", "cancelled")) == 1
    assert decisions == (0 if stored.state == "cancelled" else 1)
