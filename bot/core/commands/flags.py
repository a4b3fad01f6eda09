"""`flags` (your own governance flags), `flags EMAIL` (a report's, for their managers and
admins), `flags dispute ID [REASON]`, and the buttons `flag.dispute` and `flag.resolve:upheld` /
`flag.resolve:cleared`.

Every reply is private: flags are shown to the person and their managers only, never in a
channel. The rules (who may see, dispute and resolve) live in `scoring.flags`.
"""

from __future__ import annotations

from bot.core.context import ActionContext, CommandContext
from bot.core.errors import NotAllowed, UsageError
from bot.core.messages import Reply
from bot.core.presenters.flags import (
    ACTION_DISPUTE,
    ACTION_RESOLVE,
    change_reply,
    dispute_reply,
    listing_buttons,
    view_context,
)
from bot.core.registry import registry
from budgets.directory import find_person
from scoring.flags import DECISIONS, dispute, flags_of, may_resolve, may_view, resolve

USAGE = "flags | flags EMAIL (managers) | flags dispute ID [REASON]"


@registry.command(
    "flags", summary="Your governance flags and how to clear them", usage=USAGE, order=60
)
def flags(ctx: CommandContext) -> Reply:
    if ctx.words and ctx.words[0].lower() == "dispute":
        return _dispute_command(ctx)
    if len(ctx.words) > 1:
        raise UsageError("say whose flags to show, e.g. `flags ann@example.com`", USAGE)
    with ctx.services.db.read() as session:
        person = ctx.person
        if ctx.words:
            found = find_person(session, ctx.words[0])
            if found is None or not may_view(session, ctx.person, found):
                # The same answer whether or not the person exists: flags are private.
                raise NotAllowed(
                    "You can see your own flags, and those of the people who report to you."
                )
            person = found
        shown = flags_of(session, person)
        resolver = may_resolve(session, ctx.person, person)
        context = [view_context(f, own=person.id == ctx.person.id) for f in shown]
        buttons = listing_buttons(shown, person.id == ctx.person.id, resolver)
    return Reply(
        "flags",
        {
            "own": person.id == ctx.person.id,
            "name": person.name,
            "flags": context,
            "resolver": resolver,
        },
        buttons=buttons,
        private=True,
    )


def _flag_id(text: str) -> int | None:
    text = text.lstrip("#")
    return int(text) if text.isdigit() else None


def _dispute_command(ctx: CommandContext) -> Reply:
    flag_id = _flag_id(ctx.words[1]) if len(ctx.words) > 1 else None
    if flag_id is None:
        raise UsageError(
            "say which flag to dispute, e.g. `flags dispute 12 it was a migration`", USAGE
        )
    reason = " ".join(ctx.words[2:]) or None
    return _dispute(ctx.services, ctx.person, flag_id, ctx.now, reason)


def _dispute(services, person, flag_id: int, now, reason: str | None) -> Reply:  # noqa: ANN001
    with services.db.unit_of_work() as uow:
        change = dispute(uow.session, flag_id, person, now, reason)
        uow.commit()
    return dispute_reply(change, reason)


@registry.action(ACTION_DISPUTE)
def dispute_button(ctx: ActionContext) -> Reply:
    flag_id = _flag_id(ctx.value)
    if flag_id is None:
        return Reply("flag_refused", {"problem": "not_found", "flag": None, "actor_name": None})
    return _dispute(ctx.services, ctx.person, flag_id, ctx.now, None)


@registry.action(ACTION_RESOLVE)
def resolve_button(ctx: ActionContext) -> Reply:
    decision = ctx.action_id.partition(":")[2]
    flag_id = _flag_id(ctx.value)
    if decision not in DECISIONS or flag_id is None:
        return Reply("flag_refused", {"problem": "not_found", "flag": None, "actor_name": None})
    with ctx.services.db.unit_of_work() as uow:
        change = resolve(uow.session, flag_id, ctx.person, decision, ctx.now)
        uow.commit()
    return change_reply(change, replace=True)
