"""Single sign-on against a local fake OpenID Connect provider (an aiohttp app on a free port
serving discovery, JWKS, authorize and token as Slack's and Entra's do): the code flow with
PKCE signs the directory's person in by email; a wrong state, a wrong nonce, a foreign
signature, another client's token, an unverified or unknown email sign nobody in."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from aiohttp import BasicAuth, ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from bot.server import build_app
from bot.web.config import OidcProvider, WebSettings
from storage.models import DashboardSession
from tests.integration.dashboard_support import seed_org

CLIENT_ID = "tokenbot-client"
CLIENT_SECRET = "s3cret"


class FakeProvider:
    """Discovery, JWKS, authorize (the signed-in user is `self.email`) and token endpoints.
    `tamper` changes what the token endpoint issues, to test each refusal."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "fake-1"})
        self.email: str = "ann@acme.test"
        self.claims: dict[str, Any] = {}
        self.sign_with: RSAKey | None = None
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[dict[str, str]] = []
        self.issuer = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/jwks", self.jwks)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
        assert "openid" in q["scope"].split() and q["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "nonce": q["nonce"],
            "challenge": q["code_challenge"],
            "email": self.email,
        }
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append(form)
        auth = BasicAuth.decode(request.headers["Authorization"])
        grant = self.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        if (
            (auth.login, auth.password) != (CLIENT_ID, CLIENT_SECRET)
            or grant is None
            or form.get("redirect_uri") != grant["redirect_uri"]
            or challenge != grant["challenge"]
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "U123",
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            "email": grant["email"],
            "email_verified": True,
            **self.claims,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "fake-1"}, claims, self.sign_with or self.key)
        return web.json_response(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )


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
    services.extras["web_settings"] = WebSettings(
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


async def test_signing_in_with_the_provider_opens_a_session_for_the_person_with_that_email(
    client, provider, services, org_ids
):
    status, where = await through_provider(client)
    assert (status, where) == (303, "/dashboard")
    page = await client.get("/dashboard")
    assert page.status == 200 and "Ann Analyst" in await page.text()
    with services.db.read() as session:
        (row,) = session.execute(select(DashboardSession.person_id, DashboardSession.method)).all()
    assert row == (org_ids["ann@acme.test"], "slack")
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
