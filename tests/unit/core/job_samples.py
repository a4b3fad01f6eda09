"""Sample contexts for the scheduled jobs' notices (bot/jobs.py), for test_rendering.py.

They are JSON-safe, as the outbox stores them: dates are ISO strings the templates read with
`|from_iso`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PERIOD_END = datetime(2026, 12, 1, tzinfo=UTC).isoformat()
_ALERT = {
    "name": "Marketing",
    "used": 4_100_000,
    "amount": 5_000_000,
    "remaining": 900_000,
    "period": "2026-11",
    "period_end": PERIOD_END,
    "zone": "Europe/Paris",
}
JOB_SAMPLES: dict[str, Any] = {
    "expiry_reminder": [
        {
            "period": "2026-11",
            "expires_at": PERIOD_END,
            "expiring": 2_000_000,
            "carry_over": 200_000,
            "lapsing": 1_800_000,
            "zone": "America/Los_Angeles",
        },
        {
            "period": "2026-11",
            "expires_at": PERIOD_END,
            "expiring": 500_000,
            "carry_over": 0,
            "lapsing": 500_000,
            "zone": "UTC",
        },
    ],
    "budget_alert_person": [
        {**_ALERT, "name": "Ann Analyst", "threshold": 0.8},
        {**_ALERT, "name": "Ann Analyst", "threshold": 1.0, "remaining": 0},
    ],
    "budget_alert_team": [{**_ALERT, "threshold": 0.8}, {**_ALERT, "threshold": 1.0}],
    "budget_alert_project": [
        {**_ALERT, "name": "Apollo", "threshold": 0.9},
        {**_ALERT, "name": "Apollo", "threshold": 1.0},
    ],
}
