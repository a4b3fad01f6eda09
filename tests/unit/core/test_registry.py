"""The command registry: duplicates are refused, typos get the nearest command, help is
generated from it, and every built-in command has a summary and usage."""

from __future__ import annotations

import pytest

from bot.core.messages import Reply
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
