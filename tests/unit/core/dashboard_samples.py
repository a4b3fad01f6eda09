"""Sample contexts for the dashboard's chat message (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

DASHBOARD_SAMPLES: dict[str, Any] = {
    "dashboard_link": [
        {
            "url": "https://tokenbot.example/dashboard/sign-in?token=abc",
            "expires_at": datetime(2026, 12, 7, 19, 45, tzinfo=UTC),
            "minutes": 15,
            "zone": "Europe/Berlin",
        },
        {"url": None},
    ],
}
