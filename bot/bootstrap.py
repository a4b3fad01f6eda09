"""The composition root: settings, database, policy, templates, clock and the tokenizer's
encodings, built once and handed to every entry point (HTTP, chat, CLI, jobs). Nothing is
created at import time.

The scheduler is not a field: `bot.scheduler` sits above this module (it runs jobs, which use
the services), only `tokenbot scheduler` and `serve` with TOKENBOT_SCHEDULER_IN_WEB start one,
and APScheduler's job store calls it back by a stored reference (`bot.scheduler.run_scheduled`),
so it finds the running scheduler through that module rather than through the services."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.core.rendering import Renderer
from budgets.policy import Policy, PolicyInvalid, load_policy
from budgets.policy_store import VersionInfo, latest_number, load_version
from budgets.tokenizer import EncodingCache, load_encoding
from scoring.sections import POLICY_SECTIONS
from storage.database import DEFAULT_DATABASE_URL, Database

log = logging.getLogger(__name__)

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
    # Which policy is in force (`budgets.policy_store`): version 0 is the file this process
    # started with (`file_policy`); None until `refresh_policy` first looked.
    policy_version: VersionInfo | None = None
    file_policy: Policy | None = None
    _refresh_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # A stored version that no longer validates (a stricter check after an upgrade): logged
    # once and skipped, the policy in force kept, instead of failing every request.
    _rejected_version: int | None = field(default=None, repr=False)

    def refresh_policy(self) -> Policy:
        """Make the latest applied policy the one in force; called before every chat command,
        HTTP request and job. One indexed read of the latest version number; the stored text is
        parsed again only when that number moved (another process applied a policy). Until a
        policy is applied the file's holds. A database without the table yet (before `db
        upgrade`) keeps the file's policy."""
        try:
            number = latest_number(self.db)
        except (OperationalError, ProgrammingError):
            log.debug("policy versions unreadable (schema not upgraded?); keeping the file's")
            return self.policy
        current = self.policy_version
        if (current is not None and current.version == number) or number == self._rejected_version:
            return self.policy
        with self._refresh_lock:  # one parse per new version, not one per waiting thread
            current = self.policy_version
            if current is not None and current.version == number:
                return self.policy
            if number == 0:
                if current is not None and self.file_policy is not None:
                    self.policy = self.file_policy  # versions gone (a test emptied the table)
                source = self.file_policy.source if self.file_policy else "built-in default"
                self.policy_version = VersionInfo(0, None, None, source)
                return self.policy
            try:
                stored = load_version(self.db, POLICY_SECTIONS)
            except PolicyInvalid as invalid:
                log.error(
                    "policy version %s does not validate; keeping the one in force: %s",
                    number,
                    invalid,
                )
                self._rejected_version = number
                return self.policy
            if stored is None:  # pragma: no cover - versions are never deleted
                return self.policy
            policy, info = stored
            if current is None and self.settings.policy_path:
                log.warning(
                    "TOKENBOT_POLICY (%s) is not in force: policy version %s applied by %s is "
                    "(change it with `tokenbot policy apply`)",
                    self.settings.policy_path,
                    info.version,
                    info.applied_by,
                )
            # The policy before its version: a reader that sees the new number sees its policy.
            self.policy = policy
            self.policy_version = info
            return policy

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
    """Build the services; raises PolicyInvalid for a bad policy file so nothing starts on one.
    The policy in force is the file's until `refresh_policy` finds an applied version."""
    settings = settings or Settings.from_env()
    file_policy = policy or load_policy(settings.policy_path, sections=POLICY_SECTIONS)
    return Services(
        settings=settings,
        db=Database(settings.database_url, **engine_kwargs),
        policy=file_policy,
        renderer=Renderer(),
        clock=clock or system_clock,
        encodings=load_encoding,
        platforms=platforms,
        file_policy=file_policy,
    )
