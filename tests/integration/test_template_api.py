"""POST /api/v1/templates/render end to end: a real aiohttp server on loopback, the real test
database, an API key like the gateway's. Approved templates only; every refusal names what
is wrong; the filled text is never stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.core import prompt_text
from budgets.apikeys import create_api_key
from scoring import template_library as library
from storage.models import AuditEntry, PromptTemplateVersion
from tests.integration.test_api import auth, serve

URL = "/api/v1/templates/render"


@pytest.fixture
def api_key(services) -> str:
    with services.db.unit_of_work() as uow:
        created = create_api_key(uow.session, "litellm-proxy", services.clock())
        uow.commit()
    return created.plaintext


@pytest.fixture
async def client(services):
    client = await serve(services)
    yield client
    await client.close()


TEXT = "Three headlines for {{ product }}{% if tone %}, tone {{ tone }}{% endif %}."


def add(services, template_id="ad-copy-v1", text=TEXT, approved=True):
    checked = prompt_text.check(text)
    draft = library.Draft(template_id, "Ad copy v1", "ad-copy", "", checked.text, checked.variables)
    with services.db.unit_of_work() as uow:
        library.propose(
            uow.session,
            services.policy,
            draft,
            None,
            services.clock(),
            approved_by="cli" if approved else None,
        )
        uow.commit()


async def render(client, key, body):
    response = await client.post(URL, json=body, headers=auth(key))
    return response.status, await response.json()


async def test_an_approved_template_is_filled_in_with_its_version(client, services, org, api_key):
    add(services)
    status, body = await render(
        client,
        api_key,
        {"template_id": "ad-copy-v1", "variables": {"product": "trail shoes", "tone": "bold"}},
    )
    assert status == 200
    assert body == {
        "text": "Three headlines for trail shoes, tone bold.",
        "template_id": "ad-copy-v1",
        "version": 1,
    }
    add(services, text="Two headlines for {{ product }}{{ tone | default('') }}.")
    status, body = await render(
        client, api_key, {"template_id": "ad-copy-v1", "variables": {"product": "x", "tone": ""}}
    )
    assert (status, body["version"], body["text"]) == (200, 2, "Two headlines for x.")


async def test_the_key_is_required(client, services, org):
    add(services)
    response = await client.post(URL, json={"template_id": "ad-copy-v1", "variables": {}})
    assert response.status == 401


@pytest.mark.parametrize(
    ("body", "status", "error", "named"),
    [
        (
            {"template_id": "nope", "variables": {}},
            404,
            "unknown_template",
            "there is no template 'nope'",
        ),
        (
            {"template_id": "ad-copy-v1", "variables": {"tone": "x"}},
            422,
            "missing_variable",
            "`product`",
        ),
        (
            {
                "template_id": "ad-copy-v1",
                "variables": {"product": "x", "tone": "", "colour": "red"},
            },
            422,
            "unknown_variable",
            "`colour`",
        ),
        (
            {"template_id": "ad-copy-v1", "variables": {"product": ["x"], "tone": ""}},
            422,
            "invalid_value",
            "`product`",
        ),
        (
            {"template_id": "ad-copy-v1", "variables": "product=x"},
            400,
            "invalid",
            "variables must be",
        ),
        ({"variables": {}}, 400, "invalid", "template_id must be"),
        ([1, 2], 400, "invalid", "send a JSON object"),
    ],
)
async def test_refusals_name_what_is_wrong(
    client, services, org, api_key, body, status, error, named
):
    add(services)
    got_status, got = await render(client, api_key, body)
    assert (got_status, got["error"]) == (status, error)
    assert named in got["message"]


async def test_a_retired_or_waiting_template_is_refused_clearly(client, services, org, api_key):
    add(services, "waiting-v1", approved=False)
    status, body = await render(client, api_key, {"template_id": "waiting-v1", "variables": {}})
    assert (status, body["error"]) == (409, "not_approved")
    assert "waiting for approval" in body["message"]
    add(services)
    with services.db.unit_of_work() as uow:
        library.retire(uow.session, services.policy, "ad-copy-v1", None, services.clock())
        uow.commit()
    status, body = await render(
        client, api_key, {"template_id": "ad-copy-v1", "variables": {"product": "x", "tone": ""}}
    )
    assert (status, body["error"]) == (410, "retired")
    assert "template 'ad-copy-v1' is retired" in body["message"]


async def test_rendering_stores_nothing(client, services, org, api_key):
    add(services)

    def counts():
        with services.db.read() as session:
            return tuple(
                session.scalar(select(func.count()).select_from(model))
                for model in (PromptTemplateVersion, AuditEntry)
            )

    before = counts()
    status, _ = await render(
        client,
        api_key,
        {"template_id": "ad-copy-v1", "variables": {"product": "secret plan", "tone": ""}},
    )
    assert status == 200
    assert counts() == before
