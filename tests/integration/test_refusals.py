"""Refused authorize calls are counted by reason over a period and a scope of people, on the
real database (the API's recording of them: tests/integration/test_api.py)."""

from __future__ import annotations

from datetime import timedelta

from budgets.authorize import authorize
from budgets.refusals import record_refusal, refusals_by_reason


def test_refusals_are_counted_by_reason_over_a_period_and_a_scope(services, org):
    now = services.clock()
    ann, bob = org["ann@acme.test"].id, org["bob@acme.test"].id

    def refuse(identity: str, use_case: str | None, at) -> None:
        with services.db.unit_of_work() as uow:
            decision = authorize(
                uow.session, services.policy, identity, "gpt-4o", 10, use_case, None, at
            )
            assert not decision.allow
            record_refusal(uow.session, decision, identity, "gpt-4o", None, at)
            uow.commit()

    refuse("ann@acme.test", "personal", now - timedelta(days=1))
    refuse("ann@acme.test", "personal", now - timedelta(hours=1))
    refuse("bob@acme.test", "personal", now - timedelta(hours=2))
    refuse("stranger@else.test", None, now - timedelta(hours=3))
    refuse("ann@acme.test", "personal", now - timedelta(days=9))  # before the period

    start, end = now - timedelta(days=7), now
    with services.db.read() as session:
        assert refusals_by_reason(session, start, end) == {"prohibited": 3, "unknown_person": 1}
        assert refusals_by_reason(session, start, end, [ann]) == {"prohibited": 2}
        assert refusals_by_reason(session, start, end, {bob}) == {"prohibited": 1}
        assert refusals_by_reason(session, start, now - timedelta(hours=3), [ann, bob]) == {
            "prohibited": 1
        }
        assert refusals_by_reason(session, start, end, []) == {}
