"""The dashboard's settings, read from the environment once, when the app is built.

`TOKENBOT_PUBLIC_URL` is the base URL people reach tokenbot at (links and SSO redirects are
built on it). `TOKENBOT_SECRET_KEY` signs session cookies and CSRF tokens; without it a random
key is made per process (sessions then end when the process restarts and do not carry across
replicas: the log says so). SSO providers are on when their client id and secret are set.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OidcProvider:
    """An OpenID Connect provider: Slack ("Sign in with Slack") or Microsoft Entra ID."""

    name: str  # slack | entra
    label: str
    client_id: str
    client_secret: str
    metadata_url: str
    scope: str = "openid email profile"


@dataclass(frozen=True)
class WebSettings:
    public_url: str | None = None
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    session_lifetime: timedelta = timedelta(hours=12)
    providers: tuple[OidcProvider, ...] = ()

    @property
    def secure_cookies(self) -> bool:
        return bool(self.public_url and self.public_url.startswith("https://"))

    def provider(self, name: str) -> OidcProvider | None:
        return next((p for p in self.providers if p.name == name), None)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WebSettings:
        env = dict(os.environ if env is None else env)
        key = env.get("TOKENBOT_SECRET_KEY", "")
        if not key:
            log.warning(
                "TOKENBOT_SECRET_KEY is not set: dashboard sessions use a key made for this "
                "process only (they end on restart and do not work across replicas)"
            )
        providers = []
        if env.get("SLACK_CLIENT_ID") and env.get("SLACK_CLIENT_SECRET"):
            providers.append(
                OidcProvider(
                    "slack",
                    "Sign in with Slack",
                    env["SLACK_CLIENT_ID"],
                    env["SLACK_CLIENT_SECRET"],
                    env.get(
                        "SLACK_OIDC_METADATA_URL",
                        "https://slack.com/.well-known/openid-configuration",
                    ),
                )
            )
        if env.get("ENTRA_CLIENT_ID") and env.get("ENTRA_CLIENT_SECRET"):
            tenant = env.get("ENTRA_TENANT_ID", "organizations")
            providers.append(
                OidcProvider(
                    "entra",
                    "Sign in with Microsoft",
                    env["ENTRA_CLIENT_ID"],
                    env["ENTRA_CLIENT_SECRET"],
                    env.get(
                        "ENTRA_OIDC_METADATA_URL",
                        f"https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration",
                    ),
                )
            )
        return cls(
            public_url=(env.get("TOKENBOT_PUBLIC_URL") or "").rstrip("/") or None,
            secret_key=key.encode() if key else secrets.token_bytes(32),
            session_lifetime=timedelta(hours=float(env.get("TOKENBOT_SESSION_HOURS") or 12)),
            providers=tuple(providers),
        )
