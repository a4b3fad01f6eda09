"""Refused authorize calls are recorded (only refusals, after the decision, without changing
the answer) and counted by reason over a period and a scope of people, on the real database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from bot.bootstrap import Services
from bot.server import build_app
from budgets.apikeys import create_api_key
from budgets.authorize import authorize
from budgets.refusals import record_refusal, refusals_by_reason
from storage.models import AuthorizeRefusal

ALLOWED = {"user": "ann@acme.test", "model": "gpt-4o", "estimated_tokens": 2000}


@pytest.fixture
def api_key(services: Services) -> str:
    with services.db.unit_of_work() as uow:
        created = create_api_key(uow.session, "gateway", services.clock())
        uow.commit()
    return created.plaintext


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(services), host="127.0.0.1", port=0)) as client:
        yield client


async def ask(client: TestClient, key: str, **request: object) -> dict:
    response = await client.post(
        "/api/v1/authorize", json={**ALLOWED, **request}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 200
    return await response.json()


def recorded(services: Services) -> list[AuthorizeRefusal]:
    with services.db.read() as session:
        rows = list(session.scalars(select(AuthorizeRefusal).order_by(AuthorizeRefusal.id)))
        session.expunge_all()
        return rows


async def test_each_refused_call_is_recorded_with_its_reason_and_allowed_calls_leave_nothing(
    client, services, org, api_key
):
    allowed = await ask(client, api_key)
    assert allowed["allow"] is True and recorded(services) == []

    prohibited = await ask(client, api_key, use_case="Personal", project="apollo")
    unknown = await ask(client, api_key, user="nobody@acme.test")
    assert (prohibited["allow"], prohibited["code"]) == (False, "prohibited")
    assert (unknown["allow"], unknown["code"]) == (False, "unknown_person")
    assert "acceptable-use policy" in prohibited["reason"]  # the answer is the usual one

    rows = recorded(services)
    assert [(r.code, r.person_id, r.identity) for r in rows] == [
        ("prohibited", org["ann@acme.test"].id, "ann@acme.test"),
        ("unknown_person", None, "nobody@acme.test"),
    ]
    first = rows[0]
    assert (first.use_case, first.project, first.model) == ("personal", "apollo", "gpt-4o")
    assert first.at == services.clock()


async def test_a_refusal_that_cannot_be_recorded_is_answered_all_the_same_and_logged(
    client, services, org, api_key, caplog
):
    rename = "ALTER TABLE {} RENAME TO {}"
    with services.db.engine.begin() as connection:  # a real failure: the table is not there
        connection.execute(text(rename.format("authorize_refusals", "refusals_away")))
    try:
        with caplog.at_level(logging.ERROR, logger="bot.api"):
            refused = await ask(client, api_key, use_case="personal")
    finally:
        with services.db.engine.begin() as connection:
            connection.execute(text(rename.format("refusals_away", "authorize_refusals")))
    assert (refused["allow"], refused["code"]) == (False, "prohibited")
    assert "acceptable-use policy" in refused["reason"]
    assert any("refused call (prohibited) was not recorded" in r.message for r in caplog.records)


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
