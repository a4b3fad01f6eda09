"""Policy enforcement at /api/v1/authorize, over real HTTP: a prohibited use case is refused
with the policy's own reason however the gateway spells it, and a capped use case is held to
its cap for the period (the cap counts usage recorded under any spelling the policy knows)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.integration import test_api
from tests.integration.governance_support import call, record

# The API tests' fixtures: an API key, and the real app on a loopback port.
api_key = test_api.api_key
client = test_api.client
CAP = 1_000_000  # research, in the built-in policy


async def ask(client: TestClient, key: str, **request: object) -> dict:
    body = {"user": "ann@acme.test", "model": "gpt-4o", "estimated_tokens": 1_000, **request}
    response = await client.post(
        "/api/v1/authorize", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 200
    return await response.json()


@pytest.mark.parametrize("spelling", ["personal", "Personal", " PERSONAL "])
async def test_a_prohibited_use_case_is_refused_with_the_policys_reason_however_it_is_spelt(
    client, api_key, org, spelling
):
    answer = await ask(client, api_key, use_case=spelling)
    assert answer["allow"] is False and answer["code"] == "prohibited"
    assert "acceptable-use policy, section 3" in answer["reason"]
    assert answer["reason"].startswith('The use case "personal" is prohibited.')


async def test_a_capped_use_case_is_held_to_its_cap_with_the_policys_reason(
    client, api_key, services, org
):
    # 750k budget tokens of research already this period (600k in, 150k out).
    record(services, [call("ann@acme.test", services.clock(), tokens=600_000, use_case="research")])
    within = await ask(client, api_key, use_case="Research", estimated_tokens=250_000)
    assert within["allow"] is True and within["remaining"] == CAP - 750_000
    over = await ask(client, api_key, use_case="research", estimated_tokens=250_001)
    assert over["allow"] is False and over["code"] == "capped"
    assert "capped at 1,000,000 budget tokens per person per period" in over["reason"]
    assert "Open-ended research is exploration" in over["reason"]
    # The cap is per person: Bob has all of his.
    bob = await ask(
        client, api_key, user="bob@acme.test", use_case="research", estimated_tokens=CAP
    )
    assert bob["allow"] is True
