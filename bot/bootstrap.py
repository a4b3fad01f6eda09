"""The composition root: settings, database, policy, templates, clock and the tokenizer's
encodings, built once and handed to every entry point (HTTP, chat, CLI, jobs). Nothing is
created at import time.

The scheduler is not a field: `bot.scheduler` sits above this module (it runs jobs, which use
the services), only `tokenbot scheduler` and `serve` with TOKENBOT_SCHEDULER_IN_WEB start one,
and APScheduler's job store calls it back by a stored reference (`bot.scheduler.run_scheduled`),
so it finds the running scheduler through that module rather than through the services."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.core.rendering import Renderer
from budgets.policy import Policy, load_policy
from budgets.tokenizer import EncodingCache, load_encoding
from scoring.sections import POLICY_SECTIONS
from storage.database import DEFAULT_DATABASE_URL, Database

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    policy_path: str | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    # Slow clients: a request's headers, then its body, must arrive within these; at most
    # this many bodies are read at once before their sender is authenticated (Slack, Teams).
    header_read_seconds: float = 10.0
    body_read_seconds: float = 10.0
    max_unauthenticated_bodies: int = 64
    slack_signing_secret: str | None = None
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None
    microsoft_app_id: str = ""
    microsoft_app_password: str = ""
    microsoft_app_tenant_id: str = ""
    run_scheduler_in_web: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("TOKENBOT_DATABASE_URL") or DEFAULT_DATABASE_URL,
            policy_path=env.get("TOKENBOT_POLICY") or None,
            max_body_bytes=int(env.get("TOKENBOT_MAX_BODY_BYTES") or 2 * 1024 * 1024),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_api_url=env.get("SLACK_API_URL") or None,
            microsoft_app_id=env.get("MICROSOFT_APP_ID", ""),
            microsoft_app_password=env.get("MICROSOFT_APP_PASSWORD", ""),
            microsoft_app_tenant_id=env.get("MICROSOFT_APP_TENANT_ID", ""),
            run_scheduler_in_web=(
                env.get("TOKENBOT_SCHEDULER_IN_WEB", "").lower() in ("1", "true", "yes")
            ),
        )


@dataclass
class Services:
    settings: Settings
    db: Database
    policy: Policy
    renderer: Renderer
    clock: Clock
    # Built encodings are immutable and cost seconds and hundreds of MB each, so every Services
    # in a process shares the process-wide cache; close() leaves it for the others.
    encodings: EncodingCache = field(default_factory=lambda: load_encoding)
    # Set by entry points, surfaces and tests; typed loosely because their types live in the
    # layers above this one (bot.web, bot.slack, bot.teams).
    public_url: str | None = None  # the base URL people reach tokenbot at; else the environment
    web_settings: Any = None  # bot.web's WebSettings; None: read from the environment
    slack_deliverer: Any = None  # the mounted Slack surface's deliverer, once mounted
    teams_deliverer: Any = None  # the mounted Teams surface's deliverer, once mounted
    # The chat platforms' deliverer factories (`bot.platforms.chat_platforms()`), handed in by
    # the entry point: this module sits below the adapters and names none of them.
    platforms: tuple[Callable[[Services], Any], ...] = ()

    def close(self) -> None:
        self.db.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    policy: Policy | None = None,
    platforms: tuple[Callable[[Services], Any], ...] = (),
    **engine_kwargs: Any,
) -> Services:
    """Build the services; raises PolicyInvalid for a bad policy so nothing starts on one."""
    settings = settings or Settings.from_env()
    return Services(
        settings=settings,
        db=Database(settings.database_url, **engine_kwargs),
        policy=policy or load_policy(settings.policy_path, sections=POLICY_SECTIONS),
        renderer=Renderer(),
        clock=clock or system_clock,
        encodings=load_encoding,
        platforms=platforms,
    )
