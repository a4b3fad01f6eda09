"""Group commit of POST /api/v1/usage (issue 19): requests arriving together share one
transaction, each hears its own answer after the commit, and every event is stored and
debited exactly once, however many clients (and servers) send the same ids at once."""

from __future__ import annotations

import asyncio
import json
import random

from sqlalchemy import func, select

from bot.api import USAGE_GROUPS, ingest_usage_group
from bot.bootstrap import Settings, bootstrap
from budgets.ledger import record_usage_groups, verify
from ingest.events import parse_usage_event
from storage.models import AccountTotal, LedgerEntry, UsageEvent
from tests.integration import test_api
from tests.integration.test_api import auth, event, serve, stored

api_key = test_api.api_key  # the fixture: a key named "gateway"


def drawn_and_overdrawn(services) -> int:
    with services.db.read() as session:
        return session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.entry_type.in_(("debit", "overdraft"))
            )
        )


async def test_the_same_ids_from_many_clients_on_two_servers_are_stored_and_debited_once(
    services, org, api_key
):
    # Two servers (as `serve --workers 2` runs them), each with its own pool and its own
    # group commit, on the one database; 24 clients send the same 12 one-event requests,
    # each client in its own order.
    other = bootstrap(Settings(database_url=services.db.url), clock=services.clock)
    clients = [await serve(services), await serve(other)]
    try:
        bodies = [
            json.dumps({"events": [event(services, n, user="bob@acme.test")]}) for n in range(1, 13)
        ]

        async def client(number: int) -> list[dict]:
            order = list(bodies)
            random.Random(number).shuffle(order)
            answers = []
            for body in order:
                response = await clients[number % 2].post(
                    "/api/v1/usage",
                    data=body,
                    headers={**auth(api_key), "Content-Type": "application/json"},
                )
                assert response.status == 200, await response.text()
                answers.append(await response.json())
            return answers

        answers = [a for each in await asyncio.gather(*map(client, range(24))) for a in each]
        groups = [c.server.app[USAGE_GROUPS] for c in clients]
    finally:
        for c in clients:
            await c.close()
        other.close()

    assert len(answers) == 24 * 12
    assert sum(a["recorded"] for a in answers) == 12
    assert sum(a["duplicates"] for a in answers) == 24 * 12 - 12
    # The requests did share transactions: fewer groups than requests.
    assert sum(g.items for g in groups) == 24 * 12
    assert sum(g.groups for g in groups) < 24 * 12
    assert stored(services) == 12
    assert drawn_and_overdrawn(services) == 12 * 1500
    with services.db.read() as session:
        total = session.scalar(select(AccountTotal))
        assert (total.events, total.used) == (12, 12 * 1500)
        assert verify(session) == []


def test_each_request_of_a_group_hears_its_own_answer_and_only_valid_ones_are_stored(
    services, org, api_key
):
    good = json.dumps({"events": [event(services, 1), event(services, 2)]}).encode()
    again = json.dumps({"events": [event(services, 2), event(services, 3)]}).encode()
    invalid = json.dumps({"events": [event(services, 4), event(services, 5, id=None)]}).encode()
    stranger = json.dumps({"events": [event(services, 6)]}).encode()
    answers = ingest_usage_group(
        services,
        [
            (api_key, good),
            (api_key, b"{not json"),
            (api_key, again),
            (api_key, invalid),
            ("tbk_0123456789_not-the-key", stranger),
        ],
    )
    assert [a.status for a in answers] == [200, 400, 200, 400, 401]
    assert (answers[0].body["recorded"], answers[0].body["duplicates"]) == (2, 0)
    assert (answers[2].body["recorded"], answers[2].body["duplicates"]) == (1, 1)
    assert answers[1].body["error"] == "malformed_json"
    assert answers[3].body["errors"][0]["field"] == "id"
    with services.db.read() as session:
        assert set(session.scalars(select(UsageEvent.id))) == {"evt-1", "evt-2", "evt-3"}
        assert verify(session) == []


def test_a_groups_overdraft_falls_on_the_events_sent_last(services, org):
    # A small call and a call far beyond any grant, by one person, in one group: the draw
    # covers the events in send order, so whichever request came second is overdrawn.
    def parsed(n: int, tokens: int):
        raw = event(services, n, input_tokens=tokens, output_tokens=tokens, cached_input_tokens=0)
        return parse_usage_event(raw, 0, now=services.clock())

    overdrafts = []
    for sizes in ([(1, 750), (2, 100_000_000)], [(3, 100_000_000), (4, 750)]):
        batches = [[parsed(n, tokens)] for n, tokens in sizes]
        with services.db.unit_of_work() as uow:
            results = record_usage_groups(uow.session, batches, services.policy, services.clock())
            uow.commit()
        overdrafts.append([r.overdraft for r in results])
    (small_first, huge_second), (huge_first, small_second) = overdrafts
    assert small_first == 0 and huge_second > 0
    assert huge_first > 0 and small_second == 1500  # nothing was left for it
    with services.db.read() as session:
        overdrawn = session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.entry_type == "overdraft")
        )
        assert verify(session) == []
    assert overdrawn == small_first + huge_second + huge_first + small_second
