"""The usage API end to end: a real aiohttp server on loopback, the real test database."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, text

from bot.bootstrap import Services, Settings, bootstrap
from bot.server import build_app
from budgets.apikeys import create_api_key, revoke_api_key
from budgets.attribution import reassign_identity, uncategorised_use_cases, unknown_models
from budgets.ledger import verify
from storage.models import AccountTotal, AuthorizeRefusal, Outcome, UsageEvent


@pytest.fixture
def api_key(services: Services) -> str:
    with services.db.unit_of_work() as uow:
        created = create_api_key(uow.session, "gateway", services.clock())
        uow.commit()
    return created.plaintext


async def serve(services: Services) -> TestClient:
    client = TestClient(TestServer(build_app(services), host="127.0.0.1", port=0))
    await client.start_server()
    return client


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient]:
    client = await serve(services)
    yield client
    await client.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def event(services: Services, n: int = 1, **overrides: object) -> dict[str, object]:
    body = {
        "id": f"evt-{n}",
        "user": "ann@acme.test",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 500,
        "cached_input_tokens": 200,
        "use_case": "seo-brief",
        "project": None,
        "template_id": "tpl-1",
        "conversation_id": "conv-1",
        "timestamp": (services.clock() - timedelta(minutes=n)).isoformat(),
    }
    body.update(overrides)
    return body


def stored(services: Services, model: type = UsageEvent) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer tbk_0123456789_not-the-key"},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["no key", "wrong key", "malformed key", "not bearer"],
)
async def test_a_request_without_a_valid_key_is_refused_and_nothing_is_stored(
    client, services, org, api_key, headers
):
    response = await client.post(
        "/api/v1/usage", json={"events": [event(services)]}, headers=headers
    )
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = await client.post(
        "/api/v1/outcomes", data=b"{not json", headers=headers
    )  # the key is checked before the body is even decoded
    assert response.status == 401
    assert stored(services) == 0


async def test_a_revoked_key_stops_working_at_once(client, services, org, api_key):
    body = {"events": [event(services)]}
    assert (await client.post("/api/v1/usage", json=body, headers=auth(api_key))).status == 200
    with services.db.unit_of_work() as uow:
        assert revoke_api_key(uow.session, "gateway", services.clock())
        uow.commit()
    body = {"events": [event(services, 2)]}
    response = await client.post("/api/v1/usage", json=body, headers=auth(api_key))
    assert response.status == 401
    assert stored(services) == 1


# --- validation ------------------------------------------------------------------------------

BAD_EVENTS = [
    ("negative tokens", {"input_tokens": -5}, "input_tokens"),
    ("fractional tokens", {"output_tokens": 1.5}, "output_tokens"),
    ("tokens as text", {"output_tokens": "12"}, "output_tokens"),
    ("absurd tokens", {"input_tokens": 10**12}, "input_tokens"),
    ("cached above input", {"cached_input_tokens": 5000}, "cached_input_tokens"),
    ("missing id", {"id": None}, "id"),
    ("missing user", {"user": ""}, "user"),
    ("missing model", {"model": None}, "model"),
    ("bad timestamp", {"timestamp": "yesterday"}, "timestamp"),
    ("naive timestamp", {"timestamp": "2026-11-18T09:00:00"}, "timestamp"),
    ("timestamp in the future", {"timestamp": "2027-01-01T00:00:00Z"}, "timestamp"),
    ("use case too long to store", {"use_case": "x" * 150}, "use_case"),
]


@pytest.mark.parametrize(
    "overrides,field", [(o, f) for _, o, f in BAD_EVENTS], ids=[n for n, _, _ in BAD_EVENTS]
)
async def test_one_invalid_event_rejects_the_whole_batch_with_index_field_and_reason(
    client, services, org, api_key, overrides, field
):
    batch = [event(services, 1), event(services, 2, **overrides), event(services, 3)]
    response = await client.post("/api/v1/usage", json={"events": batch}, headers=auth(api_key))
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid"
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, field)]
    assert body["errors"][0]["reason"]
    assert stored(services) == 0


async def test_every_problem_of_a_batch_is_reported_at_once(client, services, org, api_key):
    batch = [event(services, 1, input_tokens=-1), event(services, 2, model=None, user=None)]
    response = await client.post("/api/v1/usage", json={"events": batch}, headers=auth(api_key))
    errors = (await response.json())["errors"]
    assert sorted((e["index"], e["field"]) for e in errors) == [
        (0, "input_tokens"),
        (1, "model"),
        (1, "user"),
    ]


@pytest.mark.parametrize(
    "path,data",
    [
        ("/api/v1/usage", b'{"events": [{"id": "a",'),
        ("/api/v1/outcomes", b"\xff\xfe not utf-8"),
        ("/api/v1/authorize", b"{'user': 'single quotes'}"),
    ],
)
async def test_malformed_json_is_a_400_and_nothing_is_stored(
    client, services, org, api_key, path, data
):
    response = await client.post(path, data=data, headers=auth(api_key))
    assert response.status == 400
    assert (await response.json())["error"] == "malformed_json"
    assert stored(services) == 0 and stored(services, Outcome) == 0


@pytest.mark.parametrize("body", [[], {"events": {"id": "x"}}, {"evnts": []}])
async def test_a_body_that_is_not_an_events_list_is_a_400(client, services, api_key, body):
    response = await client.post("/api/v1/usage", json=body, headers=auth(api_key))
    assert response.status == 400
    assert (await response.json())["errors"][0]["field"] == "events"


async def test_a_body_over_the_limit_is_a_json_413_and_nothing_is_stored(
    clean_database, clock, policy, api_key, services, org
):
    small = bootstrap(
        Settings(database_url=clean_database, max_body_bytes=20_000), clock=clock, policy=policy
    )
    client = await serve(small)
    try:
        batch = [event(services, n) for n in range(200)]
        response = await client.post("/api/v1/usage", json={"events": batch}, headers=auth(api_key))
        assert response.status == 413
        body = await response.json()
        assert body["error"] == "too_large" and body["limit_bytes"] == 20_000

        async def chunks():  # no Content-Length: aiohttp's own limit must answer in JSON too
            payload = json.dumps({"events": batch}).encode()
            for start in range(0, len(payload), 4096):
                yield payload[start : start + 4096]

        response = await client.post("/api/v1/usage", data=chunks(), headers=auth(api_key))
        assert response.status == 413
        assert (await response.json())["error"] == "too_large"
        assert stored(services) == 0
    finally:
        await client.close()
        small.close()


# --- idempotency -------------------------------------------------------------------------------


async def test_a_repeated_event_is_acknowledged_and_counted_once(client, services, org, api_key):
    batch = [event(services, 1), event(services, 2), event(services, 1)]
    first = await (
        await client.post("/api/v1/usage", json={"events": batch}, headers=auth(api_key))
    ).json()
    again = await (
        await client.post("/api/v1/usage", json={"events": batch[:2]}, headers=auth(api_key))
    ).json()
    assert (first["recorded"], first["duplicates"]) == (2, 1)
    assert (again["recorded"], again["duplicates"]) == (0, 2)
    with services.db.read() as session:
        total = session.scalar(select(AccountTotal).where(AccountTotal.period == "2026-11"))
        assert total.events == 2 and total.used == 3000
        assert verify(session) == []


async def test_the_same_batch_sent_twice_at_the_same_time_is_counted_once(
    client, services, org, api_key
):
    batch = {"events": [event(services, n, user="bob@acme.test") for n in range(1, 301)]}
    responses = await asyncio.gather(
        *(client.post("/api/v1/usage", json=batch, headers=auth(api_key)) for _ in range(2))
    )
    assert [r.status for r in responses] == [200, 200]
    bodies = [await r.json() for r in responses]
    assert sum(b["recorded"] for b in bodies) == 300
    assert sum(b["duplicates"] for b in bodies) == 300
    with services.db.read() as session:
        total = session.scalar(select(AccountTotal))
        assert (total.events, total.used) == (300, 300 * 1500)
        assert verify(session) == []


async def test_overlapping_batches_sent_at_the_same_time_are_each_counted_once(
    client, services, org, api_key
):
    ids = list(range(1, 201))
    batches = [ids[:150], list(reversed(ids[50:])), ids[25:175]]
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/usage",
                json={"events": [event(services, n) for n in batch]},
                headers=auth(api_key),
            )
            for batch in batches
        )
    )
    bodies = [await r.json() for r in responses]
    assert sum(b["recorded"] for b in bodies) == 200
    assert stored(services) == 200
    with services.db.read() as session:
        assert verify(session) == []


# --- unknown identities, models and use cases ------------------------------------------------


async def test_unattributed_usage_is_kept_and_reassigning_it_debits_the_person_once(
    client, services, org, api_key
):
    batch = [event(services, n, user="openai-user:u-42") for n in (1, 2)]
    body = await (
        await client.post("/api/v1/usage", json={"events": batch}, headers=auth(api_key))
    ).json()
    assert (body["recorded"], body["unattributed"]) == (2, 2)

    with services.db.unit_of_work() as uow:
        first = reassign_identity(
            uow.session, "openai-user:u-42", "ann@acme.test", services.policy, services.clock()
        )
        uow.commit()
    with services.db.unit_of_work() as uow:
        second = reassign_identity(
            uow.session, "openai-user:u-42", "ann@acme.test", services.policy, services.clock()
        )
        uow.commit()
    assert (first.usage_events, first.budget_tokens, first.alias_added) == (2, 3000, True)
    assert second.usage_events == 0
    # The alias now maps new usage straight to Ann.
    later = await (
        await client.post(
            "/api/v1/usage",
            json={"events": [event(services, 3, user="openai-user:u-42")]},
            headers=auth(api_key),
        )
    ).json()
    assert later["unattributed"] == 0
    with services.db.read() as session:
        total = session.scalar(
            select(AccountTotal).where(AccountTotal.person_id == org["ann@acme.test"].id)
        )
        assert (total.events, total.used) == (3, 4500)
        assert verify(session) == []


async def test_usage_tagged_with_a_project_not_in_the_policy_is_listed_as_unknown(
    client, services, org, api_key
):
    batch = [event(services, 1, project="Hermes")]
    body = await (
        await client.post("/api/v1/usage", json={"events": batch}, headers=auth(api_key))
    ).json()
    assert body["recorded"] == 1 and body["unknown_projects"] == ["Hermes"]
    with services.db.read() as session:
        assert session.scalar(select(UsageEvent.project)) == "Hermes"  # kept as sent


async def test_an_unknown_model_and_use_case_are_recorded_and_listed(
    client, services, org, api_key
):
    batch = [event(services, 1, model="mystery-llm-9", use_case="astrology")]
    body = await (
        await client.post("/api/v1/usage", json={"events": batch}, headers=auth(api_key))
    ).json()
    assert body["recorded"] == 1
    assert body["unknown_models"] == ["mystery-llm-9"]
    assert body["uncategorised_use_cases"] == ["astrology"]
    with services.db.read() as session:
        row = session.scalar(select(UsageEvent))
        assert row.unknown_price and row.uncategorised
        assert row.budget_tokens == 1500 and row.cost_micros == 0  # weight 1, price unknown
        assert [m.name for m in unknown_models(session, services.policy)] == ["mystery-llm-9"]
        assert [u.name for u in uncategorised_use_cases(session, services.policy)] == ["astrology"]


# --- outcomes ----------------------------------------------------------------------------------


def outcome(services: Services, n: int = 1, **overrides: object) -> dict[str, object]:
    body = {
        "id": f"out-{n}",
        "user": "ann@acme.test",
        "artifact_id": f"doc-{n}",
        "use_case": "seo-brief",
        "status": "revised",
        "usage_ids": ["evt-1"],
        "edit_distance": 0.25,
        "minutes_saved": 30,
        "first_draft_seconds": 40,
        "template_id": "tpl-1",
        "timestamp": services.clock().isoformat(),
    }
    body.update(overrides)
    return body


async def test_outcomes_are_stored_once_with_measures_but_never_texts(
    client, services, org, api_key
):
    texts = {
        "edit_distance": None,
        "draft_text": "The quick brown fox jumps over the lazy dog near the river bank.",
        "final_text": "The quick brown fox leaps over the lazy dog near the river.",
    }
    batch = [outcome(services, 1), outcome(services, 2, user="stranger-9", **texts)]
    first = await (
        await client.post("/api/v1/outcomes", json={"outcomes": batch}, headers=auth(api_key))
    ).json()
    again = await (
        await client.post("/api/v1/outcomes", json={"outcomes": batch}, headers=auth(api_key))
    ).json()
    assert (first["recorded"], first["duplicates"], first["unattributed"]) == (2, 0, 1)
    assert (again["recorded"], again["duplicates"]) == (0, 2)
    with services.db.read() as session:
        rows = {o.id: o for o in session.scalars(select(Outcome))}
    assert rows["out-1"].person_id == org["ann@acme.test"].id
    assert rows["out-1"].edit_distance == 0.25 and rows["out-1"].minutes_saved == 30
    computed = rows["out-2"]
    assert computed.person_id is None and 0 < computed.edit_distance < 1
    assert len(computed.content_fingerprint) == 16
    stored_values = {str(v) for v in vars(computed).values()}
    assert not any("quick brown fox" in v for v in stored_values)


async def test_an_invalid_outcome_rejects_the_batch(client, services, org, api_key):
    batch = [outcome(services, 1), outcome(services, 2, status="loved", edit_distance=1.5)]
    response = await client.post(
        "/api/v1/outcomes", json={"outcomes": batch}, headers=auth(api_key)
    )
    assert response.status == 400
    errors = (await response.json())["errors"]
    assert sorted((e["index"], e["field"]) for e in errors) == [(1, "edit_distance"), (1, "status")]
    assert stored(services, Outcome) == 0


# --- authorize ---------------------------------------------------------------------------------


async def test_authorize_answers_allow_remaining_pool_and_a_readable_reason(
    client, services, org, api_key
):
    request = {
        "user": "ann@acme.test",
        "model": "gpt-4o",
        "estimated_tokens": 2000,
        "use_case": "seo-brief",
        "project": None,
    }
    response = await client.post("/api/v1/authorize", json=request, headers=auth(api_key))
    body = await response.json()
    assert response.status == 200
    assert body["allow"] is True and body["code"] == "within_budget"
    assert body["pool"] == "baseline" and body["remaining"] > 2000
    assert body["reason"].startswith("Within budget")

    refused = await (
        await client.post(
            "/api/v1/authorize",
            json={**request, "use_case": "personal"},
            headers=auth(api_key),
        )
    ).json()
    assert refused["allow"] is False and refused["code"] == "prohibited"
    assert "acceptable-use policy" in refused["reason"]


async def test_authorize_refuses_a_project_the_policy_does_not_name(client, services, org, api_key):
    request = {
        "user": "ann@acme.test",
        "model": "gpt-4o",
        "estimated_tokens": 2000,
        "use_case": "seo-brief",
        "project": "Hermes",
    }
    response = await client.post("/api/v1/authorize", json=request, headers=auth(api_key))
    body = await response.json()
    assert response.status == 200
    assert body["allow"] is False and body["code"] == "unknown_project"
    assert body["reason"].startswith('There is no project "Hermes" in the policy.')


async def test_authorize_checks_the_key_and_the_request(client, services, org, api_key):
    request = {"user": "ann@acme.test", "model": "gpt-4o", "estimated_tokens": 10}
    assert (await client.post("/api/v1/authorize", json=request)).status == 401
    response = await client.post(
        "/api/v1/authorize",
        json={"user": "", "estimated_tokens": -1, "use_case": 7},
        headers=auth(api_key),
    )
    assert response.status == 400
    fields = sorted(e["field"] for e in (await response.json())["errors"])
    assert fields == ["estimated_tokens", "model", "use_case", "user"]


def refused_rows(services: Services) -> list[AuthorizeRefusal]:
    with services.db.read() as session:
        rows = list(session.scalars(select(AuthorizeRefusal).order_by(AuthorizeRefusal.id)))
        session.expunge_all()
        return rows


async def authorize_as(client: TestClient, key: str, **request: object) -> dict:
    body = {"user": "ann@acme.test", "model": "gpt-4o", "estimated_tokens": 2000, **request}
    response = await client.post("/api/v1/authorize", json=body, headers=auth(key))
    assert response.status == 200
    return await response.json()


async def test_each_refused_call_is_recorded_with_its_reason_and_allowed_calls_leave_nothing(
    client, services, org, api_key
):
    allowed = await authorize_as(client, api_key)
    assert allowed["allow"] is True and refused_rows(services) == []

    prohibited = await authorize_as(client, api_key, use_case="Personal")
    long_names = await authorize_as(
        client, api_key, use_case="u" * 150, project="p" * 250, estimated_tokens=90_000_000
    )
    unknown = await authorize_as(client, api_key, user="nobody@acme.test")
    assert (prohibited["allow"], prohibited["code"]) == (False, "prohibited")
    assert (unknown["allow"], unknown["code"]) == (False, "unknown_person")
    assert "acceptable-use policy" in prohibited["reason"]  # the answer is the usual one

    rows = refused_rows(services)
    assert long_names["allow"] is False
    assert [(r.code, r.person_id, r.identity) for r in rows] == [
        ("prohibited", org["ann@acme.test"].id, "ann@acme.test"),
        (long_names["code"], org["ann@acme.test"].id, "ann@acme.test"),
        ("unknown_person", None, "nobody@acme.test"),
    ]
    assert (rows[1].use_case, rows[1].project) == ("u" * 100, "p" * 200)  # cut to the columns
    first = rows[0]
    assert (first.use_case, first.project, first.model) == ("personal", None, "gpt-4o")
    assert first.at == services.clock()


async def test_a_refusal_that_cannot_be_recorded_is_answered_all_the_same_and_logged(
    client, services, org, api_key, caplog
):
    rename = "ALTER TABLE {} RENAME TO {}"
    with services.db.engine.begin() as connection:  # a real failure: the table is not there
        connection.execute(text(rename.format("authorize_refusals", "refusals_away")))
    try:
        with caplog.at_level(logging.ERROR, logger="bot.api"):
            refused = await authorize_as(client, api_key, use_case="personal")
    finally:
        with services.db.engine.begin() as connection:
            connection.execute(text(rename.format("refusals_away", "authorize_refusals")))
    assert (refused["allow"], refused["code"]) == (False, "prohibited")
    assert "acceptable-use policy" in refused["reason"]
    assert any("refused call (prohibited) was not recorded" in r.message for r in caplog.records)


# --- the server around it ----------------------------------------------------------------------


async def test_unknown_api_routes_and_methods_answer_in_json(client):
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status == 404 and (await missing.json())["error"] == "not_found"
    wrong_method = await client.get("/api/v1/usage")
    assert wrong_method.status == 405 and "error" in await wrong_method.json()


async def test_healthz_is_ok_when_the_database_answers(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["database"] == "ok"


async def test_with_the_database_unreachable_health_and_api_answer_503_with_retry_after(
    tmp_path, clock, policy
):
    dead = bootstrap(
        Settings(database_url=f"sqlite:///{tmp_path}/no/such/dir/tokenbot.db"),
        clock=clock,
        policy=policy,
    )
    client = await serve(dead)
    try:
        health = await client.get("/healthz")
        assert health.status == 503 and health.headers["Retry-After"]
        for path, body in (
            ("/api/v1/usage", {"events": []}),
            ("/api/v1/authorize", {"user": "a@b.c", "model": "m", "estimated_tokens": 1}),
        ):
            response = await client.post(path, json=body, headers=auth("tbk_0123456789_x"))
            assert response.status == 503
            assert response.headers["Retry-After"] == "5"
            assert (await response.json())["error"] == "unavailable"
    finally:
        await client.close()
        dead.close()


async def test_the_server_listens_on_a_real_port(client):
    # Guard: the tests above went through a socket, not an in-process shortcut.
    url = f"http://127.0.0.1:{client.port}/healthz"
    async with ClientSession() as session, session.get(url) as response:
        assert response.status == 200
