"""`help`: what tokenbot can do, generated from the registry so it never goes stale."""

from __future__ import annotations

from bot.core.context import CommandContext
from bot.core.messages import Reply
from bot.core.registry import Registry, registry
from storage.models import Person


def help_reply(commands: Registry, person: Person) -> Reply:
    listed = [
        c
        for c in commands.listed()
        if not c.manager_only or person.has_role("manager") or person.has_role("admin")
    ]
    return Reply("help", {"commands": listed, "name": person.name})


@registry.command("help", summary="What tokenbot can do", usage="help", order=90)
def help_command(ctx: CommandContext) -> Reply:
    if ctx.words:
        command = registry.find(ctx.words[0])
        if command:
            return Reply("help_command", {"command": command})
    return help_reply(registry, ctx.person)
