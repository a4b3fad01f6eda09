"""A person's dashboard: the figures behind Slack's App Home tab (and any other surface's home).

It reuses the `balance` command's numbers (`balance_for`), so the dashboard and the chat reply
never disagree. Sections whose feature has not landed yet (scores, burst requests) are marked
unavailable instead of being faked; the template says so in one line. Every manager sees the
requests awaiting them, whoever routed them (`budgets.requests.awaiting`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.commands.pending import NOT_YET
from bot.core.messages import Reply
from budgets.balances import balance_for
from storage.models import Person

try:  # burst requests (issue 5) may not have landed in this installation yet
    from budgets import requests as burst_requests
except ImportError:  # pragma: no cover - depends on what is installed
    burst_requests = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from bot.bootstrap import Services


def is_manager(person: Person) -> bool:
    return person.has_role("manager") or person.has_role("admin")


def dashboard_reply(services: Services, person: Person) -> Reply:
    """Reply("home", ...) for `person`, read in one read-only unit of work."""
    now = services.clock()
    policy = services.policy
    requests_live = burst_requests is not None and "request" not in NOT_YET
    with services.db.read() as session:
        view = balance_for(session, person, policy, now)
        my_requests, awaiting_me = [], []
        if requests_live:
            my_requests = [
                r for r in burst_requests.requests_of(session, policy, person) if r.is_pending
            ]
            awaiting_me = burst_requests.awaiting(session, policy, person)
    return Reply(
        "home",
        {
            "view": view,
            "now": now,
            "phase": policy.phase,
            "timezone": policy.periods.timezone,
            "is_manager": is_manager(person),
            "team_pools": [p for p in view.pools if p.kind == "team_pool"],
            "requests_live": requests_live,
            "my_requests": my_requests,
            "awaiting_me": awaiting_me,
            "score_live": "score" not in NOT_YET,
            "score": None,
        },
    )
