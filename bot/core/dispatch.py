"""The one channel-agnostic entry point: every adapter calls `Dispatcher.handle_message` or
`handle_action` and renders the `Reply` it gets.

Middleware runs before every command and fails closed: identity resolution must find the
person in the directory, or the command does not run; then every check in `COMMAND_CHECKS`
(authorization: what the command declared in the registry, such as `manager_only`) must pass,
and a check that refuses or crashes blocks the command. Commands do not re-check by hand what
they declared. Expected problems (bad input, not
allowed) become polite replies; anything unexpected is logged with its trace and answered
with a short apology that carries an error id, never the trace itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from sqlalchemy import select

import bot.core.commands  # noqa: F401  (registers the built-in commands)
from bot.core.context import ActionContext, CommandContext
from bot.core.errors import NotAllowed, UsageError
from bot.core.messages import IncomingAction, IncomingMessage, Reply
from bot.core.parsing import split_words
from bot.core.registry import Command, Registry, registry
from storage.models import Person

log = logging.getLogger(__name__)

# Finds the person behind a platform user id; returns None when they are not in the directory.
IdentityResolver = Callable[[IncomingMessage | IncomingAction], Person | None]


def require_declared_role(command: Command, person: Person) -> None:
    """A command declared `manager_only` runs for managers and admins alone."""
    if command.manager_only and not (person.has_role("manager") or person.has_role("admin")):
        raise NotAllowed(command.refusal or f"`{command.name}` is for managers.")


# Run in order before every command, with the command and the person; each raises to refuse.
CommandCheck = Callable[[Command, Person], None]
COMMAND_CHECKS: tuple[CommandCheck, ...] = (require_declared_role,)


class Dispatcher:
    def __init__(
        self,
        services,  # noqa: ANN001
        commands: Registry = registry,
        checks: tuple[CommandCheck, ...] = COMMAND_CHECKS,
    ):
        self.services = services
        self.commands = commands
        self.checks = checks

    def resolve(self, incoming: IncomingMessage | IncomingAction) -> Person | None:
        """Console users are emails; chat platforms map their ids through the directory."""
        column = {
            "console": Person.email,
            "slack": Person.slack_user_id,
            "teams": Person.teams_user_id,
        }.get(incoming.platform)
        if column is None:
            return None
        key = (
            incoming.user_key.strip().lower()
            if incoming.platform == "console"
            else incoming.user_key
        )
        with self.services.db.read() as session:
            return session.scalar(select(Person).where(column == key, Person.active))

    def handle_message(self, incoming: IncomingMessage, person: Person | None = None) -> Reply:
        self.services.refresh_policy()  # a policy applied meanwhile is in force from now on
        person = person or self.resolve(incoming)
        if person is None:
            return Reply("unknown_user", {"platform": incoming.platform})
        text = incoming.text.strip()
        if text.startswith("/"):  # "/tokens balance" typed as a message
            text = text.split(None, 1)[1] if " " in text else ""
        words = split_words(text)
        if not words:
            return self._help(person)
        name, rest = words[0].lower(), words[1:]
        command = self.commands.find(name)
        if command is None:
            return Reply(
                "unknown_command", {"name": name, "suggestion": self.commands.suggest(name)}
            )
        args = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
        ctx = CommandContext(
            person=person,
            args=args,
            words=rest,
            now=self.services.clock(),
            services=self.services,
            platform=incoming.platform,
            channel=incoming.channel,
            message_id=incoming.message_id,
        )
        return self._run(lambda: self._checked(command, ctx), command.usage)

    def handle_action(self, incoming: IncomingAction, person: Person | None = None) -> Reply:
        self.services.refresh_policy()
        person = person or self.resolve(incoming)
        if person is None:
            return Reply("unknown_user", {"platform": incoming.platform})
        handler = self.commands.find_action(incoming.action_id)
        if handler is None:
            return Reply("unknown_action", {"action_id": incoming.action_id})
        ctx = ActionContext(
            person=person,
            action_id=incoming.action_id,
            value=incoming.value,
            form=incoming.form,
            now=self.services.clock(),
            services=self.services,
            platform=incoming.platform,
        )
        return self._run(lambda: handler(ctx), None)

    def _checked(self, command: Command, ctx: CommandContext) -> Reply:
        """Every check first (in `_run`, so a crashing check blocks the command too)."""
        for check in self.checks:
            check(command, ctx.person)
        return command.handler(ctx)

    def _help(self, person: Person) -> Reply:
        from bot.core.commands.help import help_reply

        return help_reply(self.commands, person)

    def _run(self, call: Callable[[], Reply], usage: str | None) -> Reply:
        try:
            return call()
        except UsageError as exc:
            return Reply("usage_error", {"message": exc.message, "usage": exc.usage or usage})
        except NotAllowed as exc:
            return Reply("not_allowed", {"message": exc.message})
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("command failed (error id %s)", error_id)
            return Reply("internal_error", {"error_id": error_id})
