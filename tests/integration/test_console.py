"""The console chat as people use it: `tokenbot chat --as EMAIL` with commands piped on stdin,
replies on stdout, the exit status at the end of input."""

from __future__ import annotations

import io

import pytest

from bot.console import run_console
from bot.core.dispatch import Dispatcher
from bot.core.messages import Form, FormField, IncomingAction, Reply
from bot.core.registry import Registry
from tests.conftest import Clock
from tests.integration.cli_support import tokenbot, wall_clock_now


@pytest.fixture
def clock() -> Clock:
    # The org's allotments must cover the period the subprocess (on the real clock) is in.
    return Clock(wall_clock_now())


def test_a_piped_session_answers_each_line_in_order_and_exits_at_quit(services, org):
    script = "\n".join(
        [
            "balance",
            "policy",
            "help",
            "balanse",
            "press 1",
            "# a comment line is skipped",
            "",
            "/tokens balance",
            "quit",
            "policy",
        ]
    )
    done = tokenbot(
        "chat", "--as", "Ann@Acme.test", stdin=script, database_url=services.settings.database_url
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    balance = out.index("Your token balance for ")
    policy = out.index(
        "AI usage policy, version 0 (the policy file: built-in default; none applied yet). "
        "Rollout phase: incentives"
    )
    help_ = out.index("Hi Ann Analyst, here is what tokenbot can do:")
    typo = out.index("I don't know the command `balanse`. Did you mean `balance`?")
    press = out.index("There is no button 1 (the last reply had no buttons).")
    assert balance < policy < help_ < typo < press
    assert out.count("Your token balance for ") == 2  # `/tokens balance` works as typed in Slack
    assert out.count("Rollout phase: ") == 1  # nothing after `quit` is read
    assert "Baseline (operational)" in out and "Team pool (Marketing)" in out
    assert "tokens> " not in out  # no prompt without a terminal


def test_an_email_not_in_the_directory_exits_2_with_a_clear_message(services, org):
    done = tokenbot(
        "chat",
        "--as",
        "nobody@acme.test",
        stdin="balance\n",
        database_url=services.settings.database_url,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert (
        done.stderr.strip()
        == "error: no active person with the email nobody@acme.test in the directory"
    )


def test_python_m_bot_cli_chats_too_and_balances_stay_private(services, org):
    done = tokenbot(
        "chat",
        "--as",
        "mia@acme.test",
        stdin="balance ann@acme.test\nbalance ceo@acme.test\nbalance ghost@acme.test\n",
        database_url=services.settings.database_url,
        module=True,
    )
    assert done.returncode == 0, done.stderr
    assert "Ann Analyst's token balance for " in done.stdout  # Mia manages Ann
    # Not the CEO; and someone unknown gets the same answer (no directory oracle).
    assert done.stdout.count("Balances are private") == 2
    assert "ghost" not in done.stdout


def test_a_reply_that_asks_for_input_is_filled_in_line_by_line_and_submitted(services, org):
    commands = Registry()

    @commands.command("rename", summary="Rename a thing", usage="rename")
    def ask(ctx) -> Reply:
        form = Form(
            title="Rename the thing",
            fields=(
                FormField("name", "New name", initial="Apollo"),
                FormField("why", "Reason", optional=True),
            ),
            submit_action_id="rename:submit",
            value="thing-7",
        )
        return Reply("error", {"message": "What should it be called?"}, form=form)

    @commands.action("rename")
    def submitted(ctx) -> Reply:
        return Reply("error", {"message": f"{ctx.value}: {ctx.form['name']} ({ctx.form['why']})"})

    out = io.StringIO()
    status = run_console(
        Dispatcher(services, commands),
        "ann@acme.test",
        stdin=io.StringIO("rename\n\nshorter\nrename\nZeus\n"),
        out=out,
    )
    assert status == 0
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "What should it be called?",
        "Rename the thing",
        "  New name [Apollo]:   Reason (optional): thing-7: Apollo (shorter)",
    ]
    # Input ended in the middle of the second form: nothing was submitted.
    assert lines[-1].endswith("Reason (optional): ")
    assert out.getvalue().count("thing-7:") == 1


def test_a_button_this_version_no_longer_handles_gets_a_polite_answer(services, org):
    reply = Dispatcher(services).handle_action(
        IncomingAction("console", "ann@acme.test", "retired-feature:1", "x")
    )
    assert reply.template == "unknown_action"
    assert services.renderer.text(reply) == (
        "This button is no longer supported. Run the command again."
    )
