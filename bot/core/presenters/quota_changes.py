"""Tier changes the period change applied by itself (`[quotas] auto_apply`): the person and
their manager are told what changed, from when and on what evidence; each admin gets the
change with a Revert button. Keyed by recommendation and recipient, so a rerun sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from bot.core.messages import Button, Notice, Reply
from budgets.quota_changes import ACTION_REVERT, AutoApplied


def change_context(change: AutoApplied, audience: str) -> dict[str, Any]:
    return {"change": asdict(change), "audience": audience}


def auto_applied_notices(
    changes: Sequence[AutoApplied], admins: Sequence[int]
) -> list[tuple[str, Notice]]:
    notices: list[tuple[str, Notice]] = []
    for change in changes:
        key = f"quota-auto:{change.recommendation_id}"
        notices.append(
            (
                f"{key}:person:{change.person_id}",
                Notice(
                    change.person_id, Reply("quota_auto_applied", change_context(change, "person"))
                ),
            )
        )
        if change.manager_id is not None:
            notices.append(
                (
                    f"{key}:manager:{change.manager_id}",
                    Notice(
                        change.manager_id,
                        Reply("quota_auto_applied", change_context(change, "manager")),
                    ),
                )
            )
        for admin in admins:
            notices.append(
                (
                    f"{key}:admin:{admin}",
                    Notice(
                        admin,
                        Reply(
                            "quota_auto_applied",
                            change_context(change, "admin"),
                            buttons=(
                                Button(
                                    f"Revert #{change.recommendation_id}",
                                    ACTION_REVERT,
                                    str(change.recommendation_id),
                                    style="danger",
                                ),
                            ),
                        ),
                    ),
                )
            )
    return notices
