"""Shared by the ledger tests: a policy with small, readable amounts, usage events, and extra
grants (burst, manual) issued through the ledger's own `issue_grants`."""

from __future__ import annotations

import copy
import tomllib
from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.demo import DemoUsage
from budgets.ledger import GrantSpec, issue_grants
from budgets.policy import DEFAULT_POLICY_PATH, Policy, parse_policy
from storage.models import Grant, GrantBalance

_numbers = count(1)


def small_policy(**periods: object) -> Policy:
    """The built-in policy with amounts small enough to follow by hand: a default baseline of
    1,000 (800 operational, 200 exploration), team pools of 500, the Apollo project (owner
    mia@acme.test) with 200, a 300-token reserve for security reviews, rollover capped at 10%."""
    return parse_policy(small_policy_data(**periods), "small test policy")


def small_policy_data(**periods: object) -> dict[str, Any]:
    """`small_policy` as TOML data, for tests that change a section before parsing it."""
    data = tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["tiers"] = {
        "default": {"baseline": 1_000},
        "power-user": {"baseline": 3_000},
        "light": {"baseline": 500},
    }
    data["team_pools"] = {"default": 500}
    data["projects"] = [{"name": "Apollo", "owner": "mia@acme.test", "budget": 200}]
    data["reserved_pools"] = [
        {"name": "security reserve", "use_case": "security-review", "amount": 300}
    ]
    data["periods"].update(periods)
    return data


def usage(
    user: str,
    tokens: int,
    at: datetime,
    *,
    use_case: str | None = "coding",
    model: str = "gpt-4o",
    project: str | None = None,
    id: str | None = None,
) -> DemoUsage:
    """A usage event of `tokens` budget tokens on gpt-4o (weight 1): all input, no output."""
    return DemoUsage(
        id=id or f"test-usage-{next(_numbers)}",
        user=user,
        model=model,
        input_tokens=tokens,
        output_tokens=0,
        cached_input_tokens=0,
        use_case=use_case,
        project=project,
        template_id=None,
        conversation_id=None,
        timestamp=at,
    )


def grant(
    session: Session,
    kind: str,
    person_id: int,
    amount: int,
    effective_at: datetime,
    expires_at: datetime,
    *,
    period: str,
    token_class: str = "operational",
) -> int:
    """Issue one personal grant (burst or manual) and return its id."""
    (grant_id,) = issue_grants(
        session,
        [
            GrantSpec(
                key=f"test:{kind}:{next(_numbers)}",
                kind=kind,
                token_class=token_class,
                owner_type="person",
                owner_id=person_id,
                amount=amount,
                period=period,
                effective_at=effective_at,
                expires_at=expires_at,
                source="admin",
            )
        ],
        effective_at,
    )
    return grant_id


def grant_states(session: Session) -> dict[int, tuple[int, int, int, int]]:
    """grant id -> (amount, remaining, used, expired)."""
    return {
        g.id: (g.amount, g.remaining, g.used, g.expired)
        for g in session.execute(
            select(
                Grant.id,
                Grant.amount,
                GrantBalance.remaining,
                GrantBalance.used,
                GrantBalance.expired,
            ).join(GrantBalance, GrantBalance.grant_id == Grant.id)
        )
    }
