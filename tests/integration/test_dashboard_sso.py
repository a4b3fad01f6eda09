"""Single sign-on against a local fake OpenID Connect provider (an aiohttp app on a free port
serving discovery, JWKS, authorize and token as Slack's and Entra's do): the code flow with
PKCE signs the directory's person in by email; a wrong state, a wrong nonce, a foreign
signature, another client's token, an unverified or unknown email sign nobody in."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from joserfc.jwk import RSAKey
from sqlalchemy import select

from bot.server import build_app
from bot.web.config import OidcProvider, WebSettings
from storage.models import DashboardSession
from tests.integration.dashboard_support import ROLES, seed_org
from tests.integration.oidc_fake import CLIENT_ID, CLIENT_SECRET, FakeProvider


@pytest.fixture
async def provider():
    fake = FakeProvider()
    server = TestServer(fake.app())
    await server.start_server()
    fake.issuer = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
async def client(services, provider):
    services.web_settings = WebSettings(
        secret_key=b"k" * 32,
        providers=(
            OidcProvider(
                "slack",
                "Sign in with Slack",
                CLIENT_ID,
                CLIENT_SECRET,
                f"{provider.issuer}/.well-known/openid-configuration",
            ),
        ),
    )
    seed_org(services)
    async with TestClient(TestServer(build_app(services))) as test_client:
        yield test_client


async def through_provider(client: TestClient, state: str | None = None) -> tuple[int, str]:
    """Start at the dashboard, follow the provider's authorize page, land on the callback."""
    start = await client.get("/dashboard/sso/slack", allow_redirects=False)
    assert start.status == 302
    async with ClientSession() as browser:
        answer = await browser.get(start.headers["Location"], allow_redirects=False)
        assert answer.status == 302
        callback = urlparse(answer.headers["Location"])
    query = parse_qs(callback.query)
    if state is not None:
        query["state"] = [state]
    response = await client.get(
        f"{callback.path}?{urlencode({k: v[0] for k, v in query.items()})}", allow_redirects=False
    )
    return response.status, response.headers.get("Location") or await response.text()


async def test_the_sign_in_page_offers_the_configured_provider(client):
    response = await client.get("/dashboard")
    assert response.status == 401
    assert 'href="/dashboard/sso/slack"' in await response.text()


@pytest.mark.parametrize("role", list(ROLES))
async def test_signing_in_with_the_provider_opens_a_session_for_the_person_with_that_email(
    client, provider, services, org_ids, role
):
    provider.email = ROLES[role].upper()  # the directory matches emails in any case
    status, where = await through_provider(client)
    assert (status, where) == (303, "/dashboard")
    page = await client.get("/dashboard")
    text = await page.text()
    assert page.status == 200
    assert ('data-scope="org"' in text) is (role in ("admin", "executive", "finance"))
    with services.db.read() as session:
        (row,) = session.execute(select(DashboardSession.person_id, DashboardSession.method)).all()
    assert row == (org_ids[ROLES[role]], "slack")
    (sent,) = provider.token_requests
    assert sent["grant_type"] == "authorization_code" and len(sent["code_verifier"]) >= 43


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        ({"nonce": "someone-elses"}, "not for this sign-in"),
        ({"aud": "another-client"}, "not for this sign-in"),
        ({"iss": "https://evil.test"}, "not for this sign-in"),
        ({"exp": int(time.time()) - 3600}, "not for this sign-in"),
        ({"email_verified": False}, "not verified"),
        ({"email": "stranger@elsewhere.test"}, "not in tokenbot"),
    ],
)
async def test_a_token_that_is_not_this_sign_in_signs_nobody_in(client, provider, tamper, says):
    provider.claims = tamper
    status, text = await through_provider(client)
    assert status == 403 and says in text
    assert (await client.get("/dashboard")).status == 401


async def test_a_token_signed_by_another_key_signs_nobody_in(client, provider):
    provider.sign_with = RSAKey.generate_key(2048, parameters={"kid": "fake-1"})
    status, text = await through_provider(client)
    assert status == 403 and "does not verify" in text


async def test_a_callback_with_another_state_is_refused_before_the_code_is_used(client, provider):
    status, text = await through_provider(client, state="forged-state")
    assert status == 403 and "does not match" in text
    assert provider.token_requests == []


@pytest.fixture
def org_ids(services):
    from storage.models import Person

    with services.db.read() as session:
        return {p.email: p.id for p in session.scalars(select(Person))}
