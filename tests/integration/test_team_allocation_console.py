"""Team-pool shares (issue #23) through the console and the dispatcher: `team allocate` with
its arguments and as a form filled in line by line, the "Allocate a share" button, refusals
that name their figures and change nothing, `team allocations`, the member's notice and their
`balance` line."""

from __future__ import annotations

import pytest

from bot.core.dispatch import Dispatcher
from tests.conftest import row_counts
from tests.integration.test_request_console import Console as RequestConsole


class Console(RequestConsole):
    """One person's console (what they type into forms, what they see), by what they say."""

    def says(self, line: str) -> str:
        self.chat.handle(line)
        return self.seen()

    def press(self, label: str) -> str:
        number = next(i for i, b in enumerate(self.chat.buttons, 1) if b.label == label)
        self.chat.press(str(number))
        return self.seen()


@pytest.fixture
def console(services, org):
    dispatcher = Dispatcher(services)
    return lambda who: Console(dispatcher, f"{who}@acme.test")


def test_a_manager_allocates_a_share_with_arguments_and_the_member_sees_it_in_balance(
    console, services
):
    mia = console("mia")
    said = mia.says("team allocate bob@acme.test 1m")
    assert "Bob Builder's share of the Marketing pool for 2026-11 is now 1,000,000 tokens" in said
    assert "Pool 5,000,000: allocated 1,000,000, unallocated 4,000,000." in said
    assert "(tokenbot also sent a message to Bob Builder)" in said
    balance = console("bob").says("balance")
    assert (
        "Team pool: your share 1,000,000 of 5,000,000 left "
        "(allocation 1,000,000, used 0)." in balance
    )
    ann = console("ann").says("balance")
    assert "Team pool: your share 4,000,000 of 5,000,000 left (1,000,000 held for others'" in ann
    seen_by_manager = mia.says("balance bob@acme.test")
    assert "Team pool: Bob Builder's share 1,000,000 of 5,000,000 left" in seen_by_manager


def test_a_share_of_zero_keeps_a_member_out_of_the_pool(console):
    said = console("mia").says("team allocate ann@acme.test 0")
    assert "Ann Analyst's share of the Marketing pool for 2026-11 is now 0 tokens" in said
    assert "Team pool: your share 0 of 5,000,000 left (allocation 0, used 0)." in (
        console("ann").says("balance")
    )


def test_the_form_asks_for_each_field_and_submits_the_allocation(console):
    mia = console("mia")
    mia.will_type("ann@acme.test", "250k")
    said = mia.says("team allocate")
    assert "Allocate a team share" in said
    assert (
        "Member's email:" in said and "Their share of the team pool this period (tokens):" in said
    )
    assert "Ann Analyst's share of the Marketing pool for 2026-11 is now 250,000 tokens" in said


def test_the_allocate_button_on_team_opens_the_form(console):
    mia = console("mia")
    assert "Allocate a share" in mia.says("team")
    mia.will_type("bob@acme.test", "300000")
    said = mia.press("Allocate a share")
    assert "Allocate a team share" in said
    assert "Bob Builder's share of the Marketing pool for 2026-11 is now 300,000 tokens" in said


def test_an_allocation_above_what_is_unallocated_is_refused_with_the_figures(console, services):
    mia = console("mia")
    mia.says("team allocate bob@acme.test 3m")
    before = row_counts(services)
    said = mia.says("team allocate ann@acme.test 2.5m")
    assert (
        "2,500,000 tokens for Ann Analyst is more than the Marketing pool has unallocated for "
        "2026-11: 2,000,000 (pool 5,000,000 - allocated to others 3,000,000)" in said
    )
    assert "Nothing was changed" in said
    assert row_counts(services) == before


def test_resetting_replaces_the_share_and_allocations_lists_who_set_what(console):
    mia = console("mia")
    mia.says("team allocate bob@acme.test 3m")
    assert "(it was 3,000,000)" in console("ceo").says("team allocate bob@acme.test 1m")
    listed = mia.says("team allocations")
    assert "Marketing pool for 2026-11: 5,000,000, 5,000,000 left; allocated 1,000,000" in listed
    assert "Bob Builder" in listed and "share 1,000,000, used 0, 1,000,000 left" in listed
    assert "set by Cleo Chief" in listed


@pytest.mark.parametrize(
    ("who", "line", "words"),
    [
        ("bob", "team allocate ann@acme.test 1k", "`team` is for managers"),
        ("mia", "team allocate ceo@acme.test 1k", "only for people below you"),
        ("mia", "team allocate ghost@acme.test 1k", "only for people below you"),
        ("ceo", "team allocate ghost@acme.test 1k", "no one with the email ghost@acme.test"),
        ("mia", "team allocate bob@acme.test lots", "'lots' is not an amount of tokens"),
        ("mia", "team allocate bob@acme.test", "say whose share and how many tokens"),
        ("mia", "team shares", "team takes `allocate EMAIL AMOUNT`, `allocations` or nothing"),
    ],
)
def test_bad_or_unauthorised_allocations_say_why_and_change_nothing(
    console, services, who, line, words
):
    before = row_counts(services)
    assert words in console(who).says(line)
    assert row_counts(services) == before


def test_a_submission_from_someone_not_a_manager_is_refused(services, org):
    from bot.core.messages import IncomingAction

    reply = Dispatcher(services).handle_action(
        IncomingAction(
            "console",
            "bob@acme.test",
            "team.allocate_submit",
            "",
            {"email": "ann@acme.test", "amount": "1k"},
        )
    )
    assert reply.template == "not_allowed"
    assert "Only a manager" in services.renderer.text(reply)
