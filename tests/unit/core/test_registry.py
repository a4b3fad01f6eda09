"""The command registry: duplicates are refused, typos get the nearest command, help is
generated from it, and every built-in command has a summary and usage."""

from __future__ import annotations

import pytest

from bot.core.messages import IncomingMessage, Reply
from bot.core.registry import Registry, registry


def handler(ctx: object) -> Reply:
    return Reply("error", {"message": "ok"})


def small_registry() -> Registry:
    commands = Registry()
    commands.command("balance", summary="Your balance", usage="balance", order=10)(handler)
    commands.command("estimate", summary="Estimate", usage="estimate TEXT", order=20)(handler)
    commands.command("help", summary="Help", usage="help", order=90)(handler)
    commands.command("team", summary="Team", usage="team", order=75, manager_only=True)(handler)
    return commands


def test_a_command_registered_twice_is_refused_at_start_up():
    commands = small_registry()
    with pytest.raises(ValueError, match="'balance' is registered twice"):
        commands.command("balance", summary="again", usage="balance")(handler)


def test_an_action_prefix_registered_twice_is_refused():
    commands = Registry()
    commands.action("burst")(handler)
    with pytest.raises(ValueError, match="'burst' is registered twice"):
        commands.action("burst")(handler)


def test_commands_are_found_case_insensitively():
    commands = small_registry()
    assert commands.find("BALANCE").name == "balance"
    assert commands.find("nope") is None


@pytest.mark.parametrize(
    ("typo", "meant"), [("balanse", "balance"), ("estmate", "estimate"), ("hlep", "help")]
)
def test_a_typo_gets_the_nearest_command_as_a_suggestion(typo: str, meant: str):
    assert small_registry().suggest(typo) == meant


def test_something_unlike_any_command_gets_no_suggestion():
    assert small_registry().suggest("xyzzy") is None


def test_actions_are_found_by_the_prefix_before_the_first_colon():
    commands = Registry()
    commands.action("burst")(handler)
    assert commands.find_action("burst:approve:42") is handler
    assert commands.find_action("burst") is handler
    assert commands.find_action("bursts:approve") is None


def test_commands_are_listed_in_their_order_then_by_name():
    assert [c.name for c in small_registry().listed()] == ["balance", "estimate", "team", "help"]


def test_the_built_in_registry_has_the_grammar_of_the_first_release():
    names = set(registry.commands)
    assert {"balance", "help", "policy"} <= names
    for command in registry.listed():
        assert command.summary, command.name
        assert command.usage.startswith(command.name), command.name


class Member:
    def __init__(self, *roles: str):
        self.roles = roles

    def has_role(self, role: str) -> bool:
        return role in self.roles


def dispatcher(commands: Registry, checks=None):  # noqa: ANN001, ANN201
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from bot.core.dispatch import COMMAND_CHECKS, Dispatcher

    # No database: the policy in force is whatever the test hands the command.
    services = SimpleNamespace(
        clock=lambda: datetime(2026, 11, 20, tzinfo=UTC), refresh_policy=lambda: None
    )
    return Dispatcher(services, commands, COMMAND_CHECKS if checks is None else checks)


def test_a_manager_only_command_is_refused_to_a_member_before_its_handler_runs():
    ran = []
    commands = Registry()
    commands.command("team", summary="Team", usage="team", manager_only=True, refusal="no")(
        lambda ctx: ran.append(ctx) or Reply("error", {"message": "ran"})
    )
    incoming = IncomingMessage("console", "ann@acme.test", "team")
    refused = dispatcher(commands).handle_message(incoming, person=Member("member"))
    assert refused == Reply("not_allowed", {"message": "no"}) and ran == []
    for role in ("manager", "admin"):
        assert dispatcher(commands).handle_message(incoming, person=Member(role)).context == {
            "message": "ran"
        }


def test_a_check_that_crashes_blocks_the_command():
    ran = []
    commands = Registry()
    commands.command("balance", summary="Balance", usage="balance")(
        lambda ctx: ran.append(ctx) or Reply("error", {"message": "ran"})
    )

    def broken(command, person):  # noqa: ANN001, ANN202
        raise RuntimeError("directory down")

    incoming = IncomingMessage("console", "ann@acme.test", "balance")
    reply = dispatcher(commands, (broken,)).handle_message(incoming, person=Member("admin"))
    assert reply.template == "internal_error" and ran == []
