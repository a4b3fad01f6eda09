"""Sample contexts for the burst request messages (issue 5), merged into SAMPLES by
template_samples.py. Built from the presenter's own context converters, so a sample has exactly the shape a real Reply
(or an outbox row) carries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.presenters.requests import (
    balance_context,
    efficiency_context,
    misses_context,
    request_context,
    undo_context,
)
from budgets.auto_approvals import RuleMiss, UndoResult
from budgets.balances import BalanceView, PoolBalance, UsageSplit
from budgets.periods import Period
from budgets.request_views import RequestView, StepView
from scoring.efficiency import Efficiency

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
NOVEMBER = Period("2026-11", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
TEAM_POOL = PoolBalance(
    "Team pool (Marketing)", "team_pool", "operational", 4_100_000, 5_000_000, NOVEMBER.end, True
)
ZONE = "UTC"

PENDING = RequestView(
    id=7,
    version=0,
    state="pending",
    step="manager",
    amount=50_000,
    amount_to_grant=50_000,
    granted_amount=None,
    reason="Launch week: campaign copy in five languages",
    project=None,
    until=None,
    created_at=NOW,
    step_started_at=NOW,
    decide_by=NOW + timedelta(hours=72),
    requester_id=4,
    requester_name="Ann Analyst",
    requester_email="ann@acme.test",
    approver_id=2,
    approver_name="Mia Manager",
    approver_email="mia@acme.test",
    finance_approver_name=None,
    finance_step_pending=False,
    decided_by_name=None,
    decided_at=None,
    comment=None,
    steps=(),
)
MANAGER_APPROVED = StepView(
    step="manager",
    decision="approved",
    actor_name="Mia Manager",
    actor_email="mia@acme.test",
    as_admin=False,
    amount=280_000,
    comment="Worth it for the launch",
    decided_at=NOW,
)
TWO_STEP = replace(
    PENDING,
    amount=300_000,
    amount_to_grant=300_000,
    project="apollo",
    until=NOW + timedelta(days=8),
    finance_approver_name="Finn Finance",
    finance_step_pending=True,
)
AT_FINANCE = replace(
    TWO_STEP,
    version=1,
    step="finance",
    amount_to_grant=280_000,
    approver_id=3,
    approver_name="Finn Finance",
    approver_email="fin@acme.test",
    finance_step_pending=False,
    steps=(MANAGER_APPROVED,),
)
APPROVED = replace(
    PENDING,
    version=1,
    state="approved",
    granted_amount=50_000,
    decided_by_name="Mia Manager",
    decided_at=NOW,
    steps=(replace(MANAGER_APPROVED, amount=50_000, comment=None),),
)
APPROVED_BY_ADMIN = replace(
    APPROVED,
    decided_by_name="Cleo Chief",
    comment="Covering for Mia",
    steps=(
        replace(
            MANAGER_APPROVED,
            actor_name="Cleo Chief",
            as_admin=True,
            amount=50_000,
            comment="Covering for Mia",
        ),
    ),
)
DENIED = replace(
    PENDING,
    version=1,
    state="denied",
    decided_by_name="Mia Manager",
    decided_at=NOW,
    comment="Use the team pool first",
    steps=(replace(MANAGER_APPROVED, decision="denied", amount=None, comment="Use the pool"),),
)
CANCELLED = replace(
    PENDING, version=1, state="cancelled", decided_by_name="Ann Analyst", decided_at=NOW
)
EXPIRED = replace(PENDING, version=1, state="expired", decided_at=NOW + timedelta(hours=72))

AUTO_APPROVED = replace(
    PENDING,
    version=1,
    state="approved",
    granted_amount=50_000,
    decided_at=NOW,
    use_case="ad-copy",
    auto_rule="small-bursts",
    undo_until=NOW + timedelta(hours=24),
)
UNDONE = replace(
    AUTO_APPROVED,
    undone_at=NOW + timedelta(hours=2),
    undone_by_name="Mia Manager",
    revoked_amount=38_000,
)
MISSES = (
    RuleMiss("small-bursts", "amount_over", {"amount": 50_000, "max": 20_000}),
    RuleMiss(
        "trusted",
        "acceptance_low",
        {
            "use_case": "ad-copy",
            "rate": 0.5,
            "accepted": 9,
            "artifacts": 18,
            "baseline": 0.75,
            "weeks": 4,
            "min": 0.9,
            "ratio": 0.67,
        },
    ),
    RuleMiss("trusted", "flagged", {"open_flags": 1}),
    RuleMiss("trusted", "no_history", {"use_case": None, "weeks": 4, "min": 0.9}),
    RuleMiss("seo", "use_case", {"use_case": "ad-copy", "allowed": ["seo-brief"]}),
    RuleMiss("apollo", "project", {"project": None, "allowed": ["apollo"]}),
    RuleMiss("power", "tier", {"tier": "default", "allowed": ["power-user"]}),
    RuleMiss("daily", "period_full", {"max": 2}),
    RuleMiss("new", "something_new", {}),
)
UNDO_DONE = UndoResult(
    7,
    rule="small-bursts",
    requester_id=4,
    granted=50_000,
    used=12_000,
    revoked=38_000,
    undone_by="Mia Manager",
    undone_at=NOW + timedelta(hours=2),
    undo_until=NOW + timedelta(hours=24),
)

BALANCE = BalanceView(
    email="ann@acme.test",
    name="Ann Analyst",
    period=NOVEMBER,
    pools=[],
    personal_remaining=150_000,
    personal_total=2_000_000,
    used=1_850_000,
    overdraft=0,
    cost_micros=4_625_000,
    burn_per_day=108_823,
    run_out_at=NOW + timedelta(days=1, hours=9),
    split=UsageSplit(own=1_850_000),
    days_elapsed=17.0,
    own_burn_per_day=108_823,
)


def ctx(request: RequestView) -> dict[str, Any]:
    return request_context(request)


def _approval(request: RequestView, reminder: bool, efficiency: Efficiency) -> dict[str, Any]:
    return {
        "request": ctx(request),
        "balance": balance_context(BALANCE),
        "efficiency": efficiency_context(efficiency),
        "reminder": reminder,
        "zone": ZONE,
    }


def _decided(request: RequestView, action: str, as_admin: bool = False) -> dict[str, Any]:
    actor = {"cancelled": "Ann Analyst", "expired": None}.get(action, "Mia Manager")
    return {
        "request": ctx(request),
        "action": action,
        "actor_name": actor,
        "as_admin": as_admin,
        "at": NOW.isoformat(),
        "zone": ZONE,
    }


def _refused(code: str, request: RequestView | None = PENDING, **facts: Any) -> dict[str, Any]:
    return {
        "problems": [{"code": code, "facts": facts}],
        "request": ctx(request) if request else None,
        "zone": ZONE,
    }


REQUEST_SAMPLES: dict[str, Any] = {
    "request_created": [
        {
            "request": ctx(AUTO_APPROVED),
            "finance_threshold": 250_000,
            "period_end": NOVEMBER.end.isoformat(),
            "auto_approved": True,
            "repeated": False,
            "misses": [],
            "zone": ZONE,
        },
        {
            "request": ctx(PENDING),
            "finance_threshold": 250_000,
            "period_end": NOVEMBER.end.isoformat(),
            "auto_approved": False,
            "repeated": True,
            "misses": misses_context(MISSES[:1]),
            "zone": ZONE,
        },
        {
            "request": ctx(PENDING),
            "finance_threshold": 250_000,
            "period_end": NOVEMBER.end.isoformat(),
            "zone": ZONE,
        },
        {
            "request": ctx(TWO_STEP),
            "finance_threshold": 250_000,
            "period_end": NOVEMBER.end.isoformat(),
            "zone": ZONE,
        },
    ],
    "request_approval": [
        {**_approval(PENDING, False, Efficiency(9, 18, 4)), "misses": misses_context(MISSES)},
        _approval(PENDING, False, Efficiency(0, 0, 4)),
        _approval(TWO_STEP, False, Efficiency(18, 24, 4)),
        _approval(AT_FINANCE, True, Efficiency(18, 24, 4)),
    ],
    "request_decided": [
        _decided(APPROVED, "approved"),
        _decided(APPROVED_BY_ADMIN, "approved", as_admin=True),
        _decided(AT_FINANCE, "step_approved"),
        _decided(DENIED, "denied"),
        _decided(CANCELLED, "cancelled"),
        _decided(EXPIRED, "expired"),
    ],
    "request_update": [
        {"request": ctx(APPROVED), "event": "approved", "zone": ZONE},
        {"request": ctx(APPROVED_BY_ADMIN), "event": "approved", "zone": ZONE},
        {"request": ctx(AT_FINANCE), "event": "step_approved", "zone": ZONE},
        {"request": ctx(DENIED), "event": "denied", "zone": ZONE},
        {"request": ctx(EXPIRED), "event": "expired", "zone": ZONE},
        {"request": ctx(CANCELLED), "event": "cancelled", "zone": ZONE},
    ],
    "request_refused": [
        {
            "problems": [
                {"code": "amount_over_max", "facts": {"amount": 2_000_000, "max": 1_000_000}},
                {"code": "reason_missing", "facts": {}},
                {"code": "project_unknown", "facts": {"project": "x", "known": ["apollo"]}},
                {"code": "until_past", "facts": {"until": NOW.isoformat()}},
            ],
            "request": None,
            "zone": ZONE,
        },
        _refused("amount_not_positive", None),
        _refused("use_case_unknown", None, use_case="seo", known=["ad-copy", "seo-brief"]),
        _refused("project_unknown", None, project="x", known=[]),
        _refused("project_closed", None, project="apollo"),
        _refused(
            "until_after_period",
            None,
            until=(NOVEMBER.end + timedelta(days=3)).isoformat(),
            period_end=NOVEMBER.end.isoformat(),
        ),
        _refused("no_approver", None),
        _refused("no_finance_approver", None, threshold=250_000, approver="Cleo Chief"),
        _refused("not_found", None, id=99),
        _refused("closed", APPROVED),
        _refused("closed", APPROVED_BY_ADMIN),
        _refused("closed", AUTO_APPROVED),
        _refused("closed", DENIED),
        _refused("closed", CANCELLED),
        _refused("closed", EXPIRED),
        _refused("own_request"),
        _refused("not_approver", AT_FINANCE),
        _refused("stale", AT_FINANCE),
        _refused("stale", PENDING),
        _refused("decided_earlier_step", AT_FINANCE, step="manager"),
        _refused("expired_now", EXPIRED),
        _refused("amount_invalid", AT_FINANCE, amount=400_000, max=280_000),
        _refused("something_new"),
    ],
    "request_list": [
        {
            "requests": [
                ctx(r)
                for r in (AT_FINANCE, APPROVED, AUTO_APPROVED, UNDONE, DENIED, CANCELLED, EXPIRED)
            ],
            "zone": ZONE,
        },
        {"requests": [], "zone": ZONE},
    ],
    "request_adjust": {"request": ctx(AT_FINANCE), "zone": ZONE},
    "request_auto_approved": [
        {"request": ctx(AUTO_APPROVED), "undoable": True, "zone": ZONE},
        {"request": ctx(AUTO_APPROVED), "undoable": False, "zone": ZONE},
        {"request": ctx(UNDONE), "undoable": False, "zone": ZONE},
    ],
    "request_undone": undo_context(UNDO_DONE, UNDONE, ZONE),
    "request_undone_by_you": undo_context(UNDO_DONE, UNDONE, ZONE),
    "request_undo_refused": [
        undo_context(replace(UNDO_DONE, problem="already_undone"), UNDONE, ZONE),
        undo_context(replace(UNDO_DONE, problem="window_passed"), AUTO_APPROVED, ZONE),
        undo_context(UndoResult(7, "not_found"), None, ZONE),
    ],
    "approval_unreached": [
        {"request": ctx(PENDING), "approver": "Mia Manager", "audience": "requester"},
        {"request": ctx(PENDING), "approver": "Mia Manager", "audience": "admin"},
    ],
    "team": [
        {
            "manager_name": "Mia Manager",
            "pools": [TEAM_POOL],
            "members": [
                {"name": "Ann Analyst", "email": "ann@acme.test", "balance": BALANCE},
                {
                    "name": "Bob Builder",
                    "email": "bob@acme.test",
                    "balance": replace(BALANCE, burn_per_day=0, run_out_at=None, overdraft=1),
                },
            ],
            "pending": [ctx(PENDING), ctx(AT_FINANCE)],
            "zone": ZONE,
        },
        {"manager_name": "Mia Manager", "pools": [], "members": [], "pending": [], "zone": ZONE},
    ],
}
