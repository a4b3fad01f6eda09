"""Sample contexts for the Teams adapter's messages (issue 10), merged into SAMPLES by
template_samples.py."""

from __future__ import annotations

from typing import Any

from bot.core.messages import Form, FormField

TEAMS_SAMPLES: dict[str, dict[str, Any] | list[dict[str, Any]]] = {
    "sent_privately": {"name": "Ann Analyst"},
    "not_sent_privately": {"name": "Ann Analyst"},
    "teams_unreachable": {
        "name": "Mia Manager",
        "email": "mia@acme.test",
        "reason": "Teams answered 403 to opening a 1:1 chat (the app is not installed for them)",
        "template": "request_approval",
    },
    # A form card: the form, the id of the card that asked for it, and the reply's text.
    "teams/form": [
        {
            "form": Form(
                title="Approve request #7",
                fields=(
                    FormField("amount", "Amount (tokens)", "number", initial="50000"),
                    FormField("comment", "Comment", "multiline", optional=True),
                ),
                submit_action_id="request.adjust_submit",
                value="7:0",
                submit_label="Approve",
            ),
            "metadata": "activity-12",
            "intro": "Approve request #7 from Ann Analyst with a different amount or a comment.",
        },
        {
            "form": Form(
                title="Estimate",
                fields=(FormField("text", "Text", "multiline"),),
                submit_action_id="estimate.submit",
                value="",
            ),
            "metadata": "",
            "intro": "",
        },
    ],
}
