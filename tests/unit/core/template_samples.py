"""Sample contexts for every message template, used by test_rendering.py.

Add an entry whenever you add a template: the rendering test discovers templates under
message_templates/{text,slack,teams}/ and fails for any template without a sample here.

SAMPLES maps a message name to its context. A context is the dict a `Reply` carries, or a list
of such dicts when the template has branches worth rendering separately (each is rendered).
A message name is shared by its text/, slack/ and teams/ templates, as the same Reply is
rendered for every channel; key an entry "slack/NAME" or "teams/NAME" when a channel needs a
different context (it takes precedence over the shared one for that channel).

Values are the plain data and dataclasses the handlers put in replies; build them here without
a database so the test stays a fast unit test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import bot.core.commands  # noqa: F401  (registers the built-in commands the help samples list)
from bot.core.messages import Form, FormField
from bot.core.registry import registry
from budgets.balances import BalanceView, BaselineExpiry, PoolBalance, UsageSplit
from budgets.periods import Period
from budgets.policy import load_policy
from budgets.team_shares import TeamShareView

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
NOVEMBER = Period(
    key="2026-11",
    start=datetime(2026, 11, 1, tzinfo=UTC),
    end=datetime(2026, 12, 1, tzinfo=UTC),
)
POLICY = load_policy()
BASELINE_POLICY = replace(POLICY, phase="baseline")
SETTINGS = {
    "settings": {"reminders": "on", "alerts": "0.9", "digest": "off", "quiet_hours": "19:00-08:00"},
    "chosen": ["alerts", "quiet_hours"],
    "zone": "Europe/Paris",
    "revision": 2,
}
FILE_VERSION = {"version": 0, "applied_at": None, "applied_by": None, "source": "built-in default"}
OPTIMIZE_POLICY = replace(POLICY, phase="optimize")

POOLS = [
    PoolBalance(
        label="Baseline (operational)",
        kind="baseline",
        token_class="operational",
        remaining=1_250_000,
        amount=1_600_000,
        expires_at=NOVEMBER.end,
        shared=False,
    ),
    PoolBalance(
        label="Baseline (exploration)",
        kind="baseline",
        token_class="exploration",
        remaining=400_000,
        amount=400_000,
        expires_at=NOVEMBER.end,
        shared=False,
    ),
    PoolBalance(
        label="Team pool (Marketing)",
        kind="team_pool",
        token_class="operational",
        remaining=4_100_000,
        amount=5_000_000,
        expires_at=NOVEMBER.end,
        shared=True,
    ),
]


# Ann with an allocation of 1,000,000 (she drew 250,000); Bob without one, sharing the rest.
ALLOCATED_SHARE = TeamShareView(
    team="Marketing",
    pool_remaining=4_100_000,
    pool_amount=5_000_000,
    allocation=1_000_000,
    used=250_000,
    held_for_others=0,
    member_cap=None,
    left=750_000,
)
CAPPED_SHARE = TeamShareView(
    team="Marketing",
    pool_remaining=4_100_000,
    pool_amount=5_000_000,
    allocation=None,
    used=1_500_000,
    held_for_others=750_000,
    member_cap=2_000_000,
    left=500_000,
)


def balance_view(**changes: Any) -> BalanceView:
    values: dict[str, Any] = dict(
        email="ann@acme.test",
        name="Ann Analyst",
        period=NOVEMBER,
        pools=POOLS,
        personal_remaining=1_650_000,
        personal_total=2_000_000,
        used=350_000,
        overdraft=0,
        cost_micros=1_234_567,
        burn_per_day=20_588,
        run_out_at=datetime(2026, 12, 28, tzinfo=UTC),
        split=UsageSplit(own=350_000),
        days_elapsed=17.0,
        own_burn_per_day=20_588,
        baseline_expiry=BaselineExpiry(1_650_000, 400_000, NOVEMBER.end),
    )
    values.update(changes)
    return BalanceView(**values)


SAMPLES: dict[str, dict[str, Any] | list[dict[str, Any]]] = {
    "balance": [
        {"view": balance_view(), "own": True, "phase": "incentives"},
        {
            "view": balance_view(
                pools=[],
                personal_remaining=0,
                personal_total=0,
                used=2_300_000,
                overdraft=300_000,
                run_out_at=NOW,
                split=UsageSplit(own_expired=1_500_000, reserved=500_000, overdraft=300_000),
                baseline_expiry=None,
            ),
            "own": False,
            "phase": "baseline",
        },
        {
            "view": balance_view(
                used=0, burn_per_day=0, run_out_at=None, split=UsageSplit(), own_burn_per_day=0
            ),
            "own": True,
            "phase": "optimize",
        },
        {"view": balance_view(team_share=ALLOCATED_SHARE), "own": True, "phase": "incentives"},
        {"view": balance_view(team_share=CAPPED_SHARE), "own": True, "phase": "incentives"},
    ],
    "error": {"message": "Something the command reports as is."},
    "help": {"commands": registry.listed(), "name": "Ann Analyst"},
    "help_command": {"command": registry.find("balance")},
    "internal_error": {"error_id": "3f9a1c2e"},
    "not_allowed": {"message": "Balances are private: you can see your own."},
    "not_available": {"command": "estimate", "summary": "Estimate what a prompt will cost"},
    "no_such_button": [{"number": "1", "count": 0}, {"number": "7", "count": 2}],
    "unknown_action": {"action_id": "burst:approve:42"},
    "policy": [
        {
            "policy": POLICY,
            "version": {
                "version": 3,
                "applied_at": NOW.isoformat(),
                "applied_by": "ceo@acme.test",
                "source": "version 3",
            },
            "zone": "Europe/Paris",
        },
        {"policy": BASELINE_POLICY, "version": FILE_VERSION, "zone": "UTC"},
        {"policy": replace(OPTIMIZE_POLICY, charter=None), "version": FILE_VERSION, "zone": "UTC"},
    ],
    "settings": SETTINGS,
    "settings_saved": [SETTINGS, {**SETTINGS, "chosen": [], "revision": 0}],
    "settings_invalid": {
        "problems": [
            {"field": "quiet_hours", "reason": "must be a range HH:MM-HH:MM, got '25:00-8'"},
            {"field": "digest", "reason": "must be on or off, got 'weekly'"},
        ],
        "usage": "settings [digest on|off]",
    },
    "unknown_command": [
        {"name": "balanse", "suggestion": "balance"},
        {"name": "xyzzy", "suggestion": None},
    ],
    "unknown_user": {"platform": "slack"},
    "usage_error": [
        {"message": "'fifty' is not an amount of tokens", "usage": "request AMOUNT REASON"},
        {"message": "balance takes at most one email", "usage": None},
    ],
}


# --- estimate -----------------------------------------------------------------------------------


def _estimate_samples() -> list[dict[str, Any]]:
    from decimal import Decimal

    from budgets.estimate import Estimate, ModelCost, OutputRatio, TemplateSaving
    from budgets.sensitive import SensitiveFinding

    gpt_4o = ModelCost("gpt-4o", 1_200, 960, 12_600, 2_160, approximate=False)
    mini = ModelCost("gpt-4o-mini", 1_200, 960, 756, 216, approximate=False)
    sonnet = ModelCost("claude-sonnet-4", 1_380, 552, 12_420, 2_512, approximate=True)
    plain = Estimate(
        model=gpt_4o,
        encoding="o200k_base",
        calibration=Decimal(1),
        use_case="seo-brief",
        use_case_status="approved",
        use_case_reason="",
        allowed_models=(),
        chat_format=False,
        messages=0,
        chars=5_210,
        output_ratio=OutputRatio(Decimal("0.8"), "history", 214),
        weight=Decimal("1.0"),
        personal_remaining=1_650_000,
        balance_share=Decimal(2_160) / 1_650_000,
        cheapest=mini,
        models_compared=10,
        template_saving=TemplateSaving("tpl-seo", "SEO brief", Decimal("0.38"), 41, 456, 1_140),
        sensitive=(),
        redaction_rule=POLICY.estimate.redaction_rule,
    )
    risky = replace(
        plain,
        model=sonnet,
        encoding="cl100k_base",
        calibration=Decimal("1.15"),
        use_case="support-reply",
        allowed_models=("gpt-4o-mini", "gpt-4.1-mini", "claude-haiku-3.5", "gpt-4o"),
        chat_format=True,
        messages=3,
        output_ratio=OutputRatio(Decimal("0.4"), "use_case"),
        weight=Decimal("1.3"),
        balance_share=Decimal("0.012"),
        template_saving=None,
        sensitive=(SensitiveFinding("api_key", 1), SensitiveFinding("email", 2)),
    )
    cheapest_already = replace(
        plain,
        model=mini,
        use_case="personal",
        use_case_status="prohibited",
        use_case_reason="Personal, non-work use of company AI budget is not allowed.",
        output_ratio=OutputRatio(Decimal("0.5"), "policy"),
        personal_remaining=0,
        balance_share=None,
        template_saving=None,
        sensitive=(SensitiveFinding("card_number", 1),),
    )
    no_use_case = replace(plain, use_case=None, use_case_status=None, template_saving=None)
    return [
        {"estimate": plain},
        {"estimate": risky},
        {"estimate": cheapest_already},
        {"estimate": no_use_case},
    ]


SAMPLES["estimate"] = _estimate_samples()
SAMPLES["estimate_form"] = {"max_chars": 400_000}


# --- Slack-only messages (issue 4): the App Home view, modals, and the generic fallback. ---
def _request_line(number: int, reason: str = "Launch week: campaign copy in five languages"):
    from types import SimpleNamespace

    return SimpleNamespace(
        id=number,
        amount=500_000,
        reason=reason,
        requester_name="Ann Analyst",
        created_at=NOW,
    )


_HOME = {
    "view": balance_view(),
    "now": NOW,
    "phase": "incentives",
    "timezone": "Europe/Paris",
    "is_manager": False,
    "team_pools": [POOLS[2]],
    "requests_live": True,
    "my_requests": [_request_line(7)],
    "awaiting_me": [],
    "score_live": False,
    "score": None,
}


def _home_score(**changes: Any) -> dict[str, Any]:
    """The App Home's score: what `person_score` gives, with the window (a flagged week)."""
    from tests.unit.core.scoring_samples import WEEK, _score

    return {**_score(flagged=True, **changes), "window": WEEK, "top_component": _TOP}


_TOP = {"name": "efficiency", "index": "2.00", "contribution": "30.0"}


SAMPLES.update(
    {
        "fallback": [
            {"text": "request #7 from Ann Analyst for 500,000 tokens <approved> & granted"},
            {"text": "\n".join(f"line {i}: " + "x" * 90 for i in range(120))},
        ],
        "form": [
            {
                "form": Form(
                    title="Approve a different amount",
                    fields=(
                        FormField("amount", "Tokens to grant", kind="number", initial="250000"),
                        FormField("comment", "Comment", kind="multiline", optional=True),
                    ),
                    submit_action_id="burst:approve_amount",
                    value="7:3",
                    submit_label="Approve",
                ),
                "metadata": '{"value": "7:3", "response_url": null, "channel_id": "D1"}',
            }
        ],
        "form_expired": {},
        "home": [
            _HOME,
            {
                **_HOME,
                "phase": "baseline",
                "is_manager": True,
                "my_requests": [],
                "awaiting_me": [_request_line(n, "x" * 300) for n in range(30)],
                "score_live": True,
                "view": balance_view(overdraft=300_000, run_out_at=None),
            },
            {
                **_HOME,
                "requests_live": False,
                "my_requests": [],
                "team_pools": [],
                "view": balance_view(pools=[], personal_remaining=0, personal_total=0),
            },
            # the week's score, with an upheld flag (issue 16: no "until it is cleared")
            {**_HOME, "score_live": True, "score": _home_score(flag_statuses=["upheld"])},
            {**_HOME, "score_live": True, "score": _home_score(flag_statuses=["pending"])},
        ],
    }
)

# Burst requests (issue 5): samples live in their own module.
from tests.unit.core.request_samples import REQUEST_SAMPLES  # noqa: E402

SAMPLES.update(REQUEST_SAMPLES)

# Scheduled jobs (issue 7): samples live in their own module.
from tests.unit.core.job_samples import JOB_SAMPLES  # noqa: E402

SAMPLES.update(JOB_SAMPLES)


def _authorize_samples() -> list[dict[str, Any]]:
    from budgets import authorize as a

    facts = {"model": "gpt-4o", "use_case": "research", "estimated": 12_000}
    decisions = [
        a.Decision(True, 900_000, "baseline", a.WITHIN_BUDGET, True, 12_000, facts),
        a.Decision(False, 0, None, a.UNKNOWN_PERSON, True, 12_000, {**facts, "identity": "x@y.z"}),
        a.Decision(False, 0, None, a.PROHIBITED, True, 12_000, {**facts, "policy_reason": "No."}),
        a.Decision(
            False, 0, None, a.MODEL_NOT_ALLOWED, True, 12_000, {**facts, "allowed_models": ["o3"]}
        ),
        a.Decision(
            False,
            500,
            "baseline",
            a.CAPPED,
            True,
            12_000,
            {**facts, "cap": 1_000_000, "policy_reason": "Capped."},
        ),
        a.Decision(False, 500, "baseline", a.HARD_LIMIT, True, 12_000, facts),
        a.Decision(
            False, 500, "baseline", a.SOFT_LIMIT, True, 12_000, {**facts, "overdraft_left": 0}
        ),
        a.Decision(
            True, 500, "baseline", a.OVERDRAFT, True, 12_000, {**facts, "overdraft_left": 9}
        ),
        a.Decision(True, 0, None, a.PROHIBITED, False, 12_000, {**facts, "policy_reason": "No."}),
        a.Decision(True, 900_000, "team_pool", a.WITHIN_BUDGET, False, 12_000, facts),
        a.Decision(
            False,
            0,
            None,
            a.UNKNOWN_PROJECT,
            True,
            12_000,
            {**facts, "project": "Hermes", "projects": [f"P{i}" for i in range(12)]},
        ),
        a.Decision(
            True,
            900_000,
            "baseline",
            a.WITHIN_BUDGET,
            True,
            12_000,
            {**facts, "not_member_of": ["project Apollo", "reserved pool launch week"]},
        ),
    ]
    return [{"decision": d} for d in decisions]


SAMPLES["authorize_reason"] = _authorize_samples()


def _launch_report_samples() -> list[dict[str, Any]]:
    from datetime import date

    from bot.core.presenters.launches import launch_report_context
    from budgets.launches import LaunchReport, Span

    def report(window: Span, before: Span, days: int = 7) -> dict[str, Any]:
        return launch_report_context(
            LaunchReport(
                "launch week",
                "ad-copy",
                "mia@acme.test",
                1,
                400,
                300,
                100,
                3,
                window,
                before,
                "launch:2026-11-16:launch week",
            )
        )

    return [
        report(
            Span(date(2026, 11, 16), date(2026, 11, 22), 400, 8),
            Span(date(2026, 11, 9), date(2026, 11, 15), 200, 2),
        ),
        report(
            Span(date(2026, 11, 16), date(2026, 11, 16), 10, 0),
            Span(date(2026, 11, 15), date(2026, 11, 15), 0, 0),
        ),
    ]


SAMPLES["launch_report"] = _launch_report_samples()

# Scoring and recognition (issue 8): samples live in their own module.
from tests.unit.core.scoring_samples import SCORING_SAMPLES  # noqa: E402

SAMPLES.update(SCORING_SAMPLES)

# Governance (issue 9): samples live in their own module.
from tests.unit.core.governance_samples import GOVERNANCE_SAMPLES  # noqa: E402

SAMPLES.update(GOVERNANCE_SAMPLES)

# The Teams adapter (issue 10): samples live in their own module.
from tests.unit.core.teams_samples import TEAMS_SAMPLES  # noqa: E402

SAMPLES.update(TEAMS_SAMPLES)

# The web dashboard's sign-in link (issue 21): samples live in their own module.
from tests.unit.core.dashboard_samples import DASHBOARD_SAMPLES  # noqa: E402

SAMPLES.update(DASHBOARD_SAMPLES)

# The prompt library's messages (issue 22).
from tests.unit.core.library_samples import LIBRARY_SAMPLES  # noqa: E402

SAMPLES.update(LIBRARY_SAMPLES)

# The weekly digest (issue 23): balance, score trend, one tip.
from tests.unit.core.scoring_samples import _improvement  # noqa: E402

_DIGEST = {
    "week": "2026-W46",
    "previous_week": "2026-W45",
    "remaining": 1_250_000,
    "total": 2_000_000,
    "used": 750_000,
    "period": "2026-11",
    "period_end": NOVEMBER.end.isoformat(),
    "score": 104.5,
    "previous_score": 98.0,
    "improvement": _improvement("efficiency", "tokens_per_accepted", 6000.0, 4000.0),
    "zone": "Europe/Paris",
}
SAMPLES["weekly_digest"] = [
    _DIGEST,
    {**_DIGEST, "score": 90.0},
    {**_DIGEST, "previous_score": None, "improvement": None},
    {**_DIGEST, "score": None},
]

# Team-pool shares (issues 16 and 23): samples live in their own module.
from tests.unit.core.team_share_samples import TEAM_SHARE_SAMPLES  # noqa: E402

SAMPLES.update(TEAM_SHARE_SAMPLES)
