"""The command and action registry: decorators tag handlers; duplicates are refused at
start-up, and an unknown command gets the nearest known one as a suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    summary: str
    usage: str
    order: int = 100
    # Declared requirements, enforced by the dispatcher's middleware before the handler runs.
    manager_only: bool = False  # managers and admins only
    refusal: str | None = None  # what a person who may not run it is told


class Registry:
    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.actions: dict[str, Handler] = {}

    def command(
        self,
        name: str,
        *,
        summary: str,
        usage: str,
        order: int = 100,
        manager_only: bool = False,
        refusal: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self.commands:
                raise ValueError(f"command {name!r} is registered twice")
            self.commands[name] = Command(
                name, handler, summary, usage, order, manager_only, refusal
            )
            return handler

        return register

    def action(self, prefix: str) -> Callable[[Handler], Handler]:
        """Register a button handler for action ids `prefix` or `prefix:...`."""

        def register(handler: Handler) -> Handler:
            if prefix in self.actions:
                raise ValueError(f"action {prefix!r} is registered twice")
            self.actions[prefix] = handler
            return handler

        return register

    def find(self, name: str) -> Command | None:
        return self.commands.get(name.lower())

    def find_action(self, action_id: str) -> Handler | None:
        return self.actions.get(action_id.split(":", 1)[0])

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(name.lower(), list(self.commands), n=1, cutoff=0.6)
        return close[0] if close else None

    def listed(self) -> list[Command]:
        return sorted(self.commands.values(), key=lambda c: (c.order, c.name))


registry = Registry()
