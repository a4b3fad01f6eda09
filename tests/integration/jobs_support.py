"""Shared by the job, outbox and scheduler tests: a policy with tweaks, spending tokens through
the real ledger, importing the test org at a chosen time, and reading the outbox."""

from __future__ import annotations

import tomllib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.bootstrap import Services
from bot.demo import DemoUsage
from budgets.directory import import_directory
from budgets.ledger import record_usage
from budgets.policy import DEFAULT_POLICY_PATH, Policy, parse_policy
from storage.models import OutboxMessage, Person


def policy_with(periods: dict[str, Any] | None = None, **sections: Any) -> Policy:
    """The built-in policy with some `[periods]` keys or whole sections replaced."""
    data = tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    data["periods"].update(periods or {})
    data.update(sections)
    return parse_policy(data, "test policy")


def spend(
    services: Services,
    email: str,
    tokens: int,
    at: datetime | None = None,
    project: str | None = None,
) -> None:
    """Record `tokens` budget tokens of gpt-4o usage (weight 1, all input) for `email`."""
    event = DemoUsage(
        id=f"jobs-test-{uuid.uuid4().hex}",
        user=email,
        model="gpt-4o",
        input_tokens=tokens,
        output_tokens=0,
        cached_input_tokens=0,
        use_case="seo-brief",
        project=project,
        template_id=None,
        conversation_id=None,
        timestamp=at or services.clock(),
    )
    with services.db.unit_of_work() as uow:
        record_usage(uow.session, [event], services.policy, services.clock())
        uow.commit()


def import_org(services: Services, csv_text: str, at: datetime) -> dict[str, Person]:
    """Import the people CSV as of `at` (their baselines are for the period holding `at`)."""
    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, csv_text, services.policy, at)
        assert result.ok, result.errors
        uow.commit()
    with services.db.read() as session:
        return {p.email: p for p in session.scalars(select(Person))}


def outbox(services: Services) -> dict[str, OutboxMessage]:
    """key -> outbox row."""
    with services.db.read() as session:
        return {row.key: row for row in session.scalars(select(OutboxMessage))}
