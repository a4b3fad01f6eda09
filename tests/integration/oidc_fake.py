"""A local fake OpenID Connect provider for the dashboard's SSO tests (integration and
browser): an aiohttp app serving discovery, JWKS, authorize and token the way Slack's and
Entra's do, with PKCE, signing ID tokens with its own RSA key."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import BasicAuth, web
from joserfc import jwt
from joserfc.jwk import RSAKey

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
