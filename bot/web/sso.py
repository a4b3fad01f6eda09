"""Single sign-on with OpenID Connect: "Sign in with Slack" and Microsoft Entra ID.

The authorization code flow with authlib's OAuth2Session (PKCE S256 where the provider lists
it), the ID token checked with joserfc (authlib's JOSE library) against the provider's JWKS:
signature, issuer, audience (our client id), expiry and the nonce we sent. The person is the
directory's active person with the token's email (`email`, else Entra's `preferred_username`);
an email the provider says is unverified signs in nobody.

Between the redirect out and the callback, state, nonce and the PKCE verifier wait in a
short-lived signed cookie (HttpOnly, SameSite=Lax: the callback is a top-level navigation from
the provider), so a callback with someone else's state or an old one is refused. Provider
metadata and keys are fetched (in a worker thread; requests, as authlib's client uses) and kept
for an hour.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import requests
from aiohttp import web
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import select

from bot.web.auth import COOKIE_PATH, PRE_SESSION_COOKIE
from bot.web.config import OidcProvider, WebSettings
from storage.models import Person

log = logging.getLogger(__name__)

FLOW_SECONDS = 600  # from the redirect out to the callback
CACHE_SECONDS = 3600
ALGORITHMS = ("RS256", "ES256", "PS256")


class SignInFailed(Exception):
    """Why an SSO callback signs nobody in (shown to the person, logged)."""


@dataclass
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    keys: KeySet
    auth_method: str  # client_secret_basic | client_secret_post
    pkce: bool
    fetched_at: float


class Oidc:
    def __init__(self, settings: WebSettings):
        self.settings = settings
        self._metadata: dict[str, ProviderMetadata] = {}

    # --- provider metadata -------------------------------------------------------------

    def metadata(self, provider: OidcProvider) -> ProviderMetadata:
        found = self._metadata.get(provider.name)
        if found and time.monotonic() - found.fetched_at < CACHE_SECONDS:
            return found
        document = requests.get(provider.metadata_url, timeout=10).json()
        keys = KeySet.import_key_set(requests.get(document["jwks_uri"], timeout=10).json())
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        found = ProviderMetadata(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            keys=keys,
            auth_method="client_secret_basic"
            if "client_secret_basic" in methods
            else "client_secret_post",
            pkce="S256" in (document.get("code_challenge_methods_supported") or []),
            fetched_at=time.monotonic(),
        )
        self._metadata[provider.name] = found
        return found

    # --- the flow ------------------------------------------------------------------------

    def session(
        self, provider: OidcProvider, redirect_uri: str, meta: ProviderMetadata
    ) -> OAuth2Session:
        return OAuth2Session(
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            scope=provider.scope,
            redirect_uri=redirect_uri,
            token_endpoint_auth_method=meta.auth_method,
            code_challenge_method="S256" if meta.pkce else None,
        )

    def authorization(
        self, provider: OidcProvider, redirect_uri: str
    ) -> tuple[str, dict[str, Any]]:
        """The provider URL to send the browser to, and the flow to remember."""
        meta = self.metadata(provider)
        flow = {
            "provider": provider.name,
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48) if meta.pkce else None,
            "redirect_uri": redirect_uri,
            "expires": int(time.time()) + FLOW_SECONDS,
        }
        with self.session(provider, redirect_uri, meta) as oauth:
            url, _state = oauth.create_authorization_url(
                meta.authorization_endpoint,
                state=flow["state"],
                code_verifier=flow["verifier"],
                nonce=flow["nonce"],
            )
        return url, flow

    def email_of(self, provider: OidcProvider, flow: dict[str, Any], code: str) -> str:
        """Exchange the code, check the ID token, and return the person's email."""
        meta = self.metadata(provider)
        with self.session(provider, flow["redirect_uri"], meta) as oauth:
            try:
                token = oauth.fetch_token(
                    meta.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=flow["verifier"],
                )
            except Exception as exc:
                raise SignInFailed(f"the provider refused the sign-in code ({exc})") from exc
        raw = token.get("id_token")
        if not raw:
            raise SignInFailed("the provider sent no ID token")
        try:
            claims = jwt.decode(raw, meta.keys, algorithms=list(ALGORITHMS)).claims
        except (JoseError, ValueError) as exc:
            raise SignInFailed(f"the ID token's signature does not verify ({exc})") from exc
        issuer = meta.issuer.replace("{tenantid}", str(claims.get("tid", "")))  # Entra multi-tenant
        registry = JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": provider.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": flow["nonce"]},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise SignInFailed(f"the ID token is not for this sign-in ({exc})") from exc
        if claims.get("email_verified") is False:
            raise SignInFailed("the provider has not verified this email address")
        email = claims.get("email") or claims.get("preferred_username")
        if not email or "@" not in str(email):
            raise SignInFailed("the provider sent no email address")
        return str(email).strip().lower()


# --- the flow cookie -------------------------------------------------------------------------


def _mac(settings: WebSettings, payload: str) -> str:
    digest = hmac.new(settings.secret_key, f"sso:{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def pack_flow(settings: WebSettings, flow: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(flow).encode()).decode()
    return f"{payload}.{_mac(settings, payload)}"


def unpack_flow(settings: WebSettings, value: str | None) -> dict[str, Any] | None:
    if not value or "." not in value:
        return None
    payload, _, mac = value.rpartition(".")
    if not hmac.compare_digest(mac, _mac(settings, payload)):
        return None
    flow = json.loads(base64.urlsafe_b64decode(payload.encode()))
    return flow if flow.get("expires", 0) > time.time() else None


# --- routes --------------------------------------------------------------------------------


def mount_sso(app: web.Application, dashboard: Any) -> None:
    settings: WebSettings = dashboard.settings
    if not settings.providers:
        return
    oidc = Oidc(settings)

    def redirect_uri(request: web.Request, provider: OidcProvider) -> str:
        base = settings.public_url or str(request.url.origin())
        return f"{base}/dashboard/sso/{provider.name}/callback"

    async def start(request: web.Request) -> web.StreamResponse:
        provider = settings.provider(request.match_info["provider"])
        if provider is None:
            raise web.HTTPNotFound()
        try:
            url, flow = await asyncio.to_thread(
                oidc.authorization, provider, redirect_uri(request, provider)
            )
        except (requests.RequestException, KeyError, ValueError) as exc:
            log.warning("SSO with %s: provider metadata unavailable: %s", provider.name, exc)
            return dashboard.refusal(
                request,
                503,
                "Sign-in is unavailable",
                f"{provider.label} did not answer; try a link instead.",
            )
        response = web.HTTPFound(url)
        response.set_cookie(
            PRE_SESSION_COOKIE,
            pack_flow(settings, flow),
            max_age=FLOW_SECONDS,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Lax",
            secure=settings.secure_cookies,
        )
        raise response

    async def callback(request: web.Request) -> web.StreamResponse:
        provider = settings.provider(request.match_info["provider"])
        if provider is None:
            raise web.HTTPNotFound()
        flow = unpack_flow(settings, request.cookies.get(PRE_SESSION_COOKIE))
        state = request.query.get("state", "")
        code = request.query.get("code", "")

        def refused(reason: str) -> web.Response:
            log.warning("SSO with %s refused: %s", provider.name, reason)
            return dashboard.refusal(request, 403, "Sign-in failed", reason)

        if flow is None or flow["provider"] != provider.name:
            return refused("This sign-in was not started here, or took longer than 10 minutes.")
        if not hmac.compare_digest(state, flow["state"]) or not code:
            return refused("The answer from the provider does not match this sign-in.")
        try:
            email = await asyncio.to_thread(oidc.email_of, provider, flow, code)
        except SignInFailed as exc:
            return refused(f"{provider.label}: {exc}.")

        def find() -> int | None:
            with dashboard.services.db.read() as session:
                return session.scalar(select(Person.id).where(Person.email == email, Person.active))

        person_id = await asyncio.to_thread(find)
        if person_id is None:
            return refused(f"{email} is not in tokenbot's directory; ask an admin to add you.")
        return await dashboard.start_sso_session(request, person_id, provider.name)

    app.router.add_get("/dashboard/sso/{provider}", start)
    app.router.add_get("/dashboard/sso/{provider}/callback", callback)
