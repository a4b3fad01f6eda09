"""Governance flags in chat: the explanation stored with a flag, the flag as message context,
the buttons (Dispute; Upheld / Cleared), and the messages a raised, disputed or resolved flag
sends. Every message about a flag is private."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, TemplateError

from bot.core.messages import Button, Notice, Reply
from message_templates import build_template_env
from scoring.flags import CLEARED, UNDECIDED, UPHELD, FlagChange, FlagState

ACTION_DISPUTE = "flag.dispute"
ACTION_RESOLVE = "flag.resolve"


@cache
def _templates() -> Environment:
    return build_template_env()


def explain(detector: str, evidence: dict[str, Any], own: bool = True) -> str:
    """The plain explanation stored with a flag (text/flag_explanation.txt.j2), written to the
    flagged person; `own=False` writes it about them, for their managers."""
    template = _templates().get_template("text/flag_explanation.txt.j2")
    return template.render(detector=detector, evidence=evidence, own=own).strip()


def explanation_about_them(flag: FlagState) -> str:
    """The flag's explanation about the flagged person (`their`), for a manager's view. A flag
    whose evidence an older version of the detectors wrote may not fit today's wording: it
    keeps the explanation stored with it."""
    try:
        return explain(flag.detector, dict(flag.evidence), own=False)
    except (TemplateError, KeyError, TypeError, ValueError):
        return flag.explanation


def flag_context(flag: FlagState) -> dict[str, Any]:
    """A flag as message context: plain JSON values."""
    return {
        "id": flag.id,
        "week": flag.week,
        "detector": flag.detector,
        "status": flag.status,
        "evidence": dict(flag.evidence),
        "explanation": flag.explanation,
        "created_at": flag.created_at.isoformat(),
        "resolved_at": flag.resolved_at.isoformat() if flag.resolved_at else None,
    }


def view_context(flag: FlagState, own: bool = True) -> dict[str, Any]:
    """A flag as message context, with who resolved it; `own=False`: shown to someone else
    (a manager), the explanation speaks of the flagged person."""
    context = {**flag_context(flag), "resolved_by": flag.resolved_by}
    if not own:
        context["explanation"] = explanation_about_them(flag)
    return context


def dispute_button(flag: FlagState) -> Button:
    return Button("Dispute", ACTION_DISPUTE, str(flag.id))


def resolve_buttons(flag: FlagState) -> tuple[Button, ...]:
    flag_id = str(flag.id)
    return (
        Button("Upheld", f"{ACTION_RESOLVE}:{UPHELD}", flag_id, style="danger"),
        Button("Cleared", f"{ACTION_RESOLVE}:{CLEARED}", flag_id, style="primary"),
    )


def listing_buttons(flags: list[FlagState], own: bool, resolver: bool) -> tuple[Button, ...]:
    """Dispute for the person's own pending flags; Upheld / Cleared for a resolver."""
    buttons: list[Button] = []
    for flag in flags:
        if own and flag.status == "pending":
            buttons.append(dispute_button(flag))
        elif resolver and flag.status in UNDECIDED:
            buttons.extend(resolve_buttons(flag))
    return tuple(buttons)


def flag_notice(flag: FlagState) -> tuple[str, Notice]:
    """The private message that tells a person about a new flag, once (keyed by the flag)."""
    reply = Reply("flag_raised", {"flag": flag_context(flag)}, buttons=(dispute_button(flag),))
    return f"flag:{flag.id}:raised", Notice(flag.person_id, reply)


def dispute_notices(change: FlagChange) -> tuple[Notice, ...]:
    """A dispute, to each person asked to resolve it, with the Upheld / Cleared buttons."""
    if change.flag is None or change.problem is not None:
        return ()
    context = flag_context(change.flag)
    return tuple(
        Notice(
            resolver_id,
            Reply(
                "flag_disputed",
                {
                    "flag": context,
                    "person_name": change.actor_name,
                    "reason": change.reason,
                    "own": False,
                },
                buttons=resolve_buttons(change.flag),
            ),
            ref=f"flag:{change.flag.id}:dispute",
        )
        for resolver_id in change.tell
    )


def resolution_notices(change: FlagChange) -> tuple[Notice, ...]:
    """A resolution, to the person flagged."""
    if change.flag is None or change.problem is not None:
        return ()
    context = flag_context(change.flag)
    reply = Reply("flag_resolved", {"flag": context, "actor_name": change.actor_name, "own": True})
    return tuple(Notice(person_id, reply) for person_id in change.tell)


def change_reply(change: FlagChange, *, replace: bool) -> Reply:
    """What the resolver sees: the refusal, or the flag as resolved."""
    if change.problem is not None:
        return Reply(
            "flag_refused",
            {
                "problem": change.problem,
                "flag": flag_context(change.flag) if change.flag is not None else None,
                "actor_name": change.actor_name,
            },
            private=True,
        )
    assert change.flag is not None
    return Reply(
        "flag_resolved",
        {"flag": flag_context(change.flag), "actor_name": change.actor_name, "own": False},
        private=True,
        replace_original=replace,
        notices=resolution_notices(change),
    )


def dispute_reply(change: FlagChange, reason: str | None) -> Reply:
    """What the disputer sees: the refusal, or their dispute (with `reason` as they gave it),
    with the resolvers told."""
    if change.problem is not None:
        return change_reply(change, replace=False)
    assert change.flag is not None
    return Reply(
        "flag_disputed",
        {
            "flag": flag_context(change.flag),
            "person_name": change.actor_name,
            "reason": reason,
            "own": True,
        },
        private=True,
        notices=dispute_notices(change),
    )
