"""tokenbot on Slack, over the real protocol: signed HTTP requests shaped exactly as Slack sends
them reach the real server (`bot.server.build_app`), and what tokenbot sends back reaches a
fake Slack Web API on loopback that records it (see slack_fakes.py). Nothing is mocked: the
database is real, and slowness is made in the database, not in the handler."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.core.dispatch import Dispatcher
from bot.core.messages import Button, Form, FormField, IncomingMessage, Notice, Reply
from bot.core.registry import registry
from bot.demo import DemoUsage
from bot.server import build_app
from bot.slack import refresh_home, slack_deliverer
from budgets.balances import balance_for
from budgets.ledger import record_usage
from message_templates import format_money, format_tokens
from storage.models import Person
from tests.adapters.slack_fakes import (
    APP_TOKEN,
    GENERAL,
    FakeSlack,
    SlackTestbed,
    app_home_opened,
    hold_database,
    slash_command,
    url_verification,
)
from tests.unit.core.payload_checks import block_kit_problems

ISSUE_COMMANDS = [
    "balance",
    "estimate",
    "request",
    "score",
    "leaderboard",
    "flags",
    "policy",
    "templates",
    "team",
    "help",
]


# Buttons for the adapter's own tests: what a real action handler returns, minus the domain.
@registry.action("slacktest-public")
def _public_update(ctx):  # noqa: ANN001, ANN202
    return Reply(
        "error", {"message": f"Marked {ctx.value} as done."}, private=False, replace_original=True
    )


@registry.action("slacktest-private")
def _private_update(ctx):  # noqa: ANN001, ANN202
    return Reply("error", {"message": f"Your secret figure is {ctx.value}."}, replace_original=True)


@registry.action("slacktest-ask")
def _ask_amount(ctx):  # noqa: ANN001, ANN202
    form = Form(
        title="Different amount",
        fields=(
            FormField("amount", "Tokens", kind="number"),
            FormField("why", "Why", optional=True),
        ),
        submit_action_id="slacktest-amount",
        value=ctx.value,
    )
    return Reply("error", {"message": "unused"}, form=form)


@registry.action("slacktest-amount")
def _amount_given(ctx):  # noqa: ANN001, ANN202
    return Reply("error", {"message": f"{ctx.value}: {ctx.form['amount']} ({ctx.form['why']})"})


@registry.action("slacktest-notify")
def _notify_manager(ctx):  # noqa: ANN001, ANN202
    manager = ctx.person.manager_id
    notice = Reply(
        "error",
        {"message": f"{ctx.person.name} asked: {ctx.value}"},
        buttons=(
            Button("Approve", "slacktest-public:yes", ctx.value, "primary"),
            Button("Deny", "slacktest-public:no", ctx.value + " (denied)", "danger"),
        ),
    )
    return Reply(
        "error",
        {"message": "Sent to your manager."},
        notices=(Notice(manager, notice, ref=f"slacktest:{ctx.value}"),),
    )


def numbers(text: str) -> list[str]:
    return sorted(re.findall(r"\d[\d,.]*\d|\d", text))


def record_tokens(services, email: str, tokens: int) -> None:
    event = DemoUsage(
        id=f"slack-test-{email}-{tokens}",
        user=email,
        model="gpt-4o",
        input_tokens=tokens,
        output_tokens=0,
        cached_input_tokens=0,
        use_case="coding",
        project=None,
        template_id=None,
        conversation_id=None,
        timestamp=services.clock() - timedelta(days=3),
    )
    with services.db.unit_of_work() as uow:
        record_usage(uow.session, [event], services.policy, services.clock())
        uow.commit()


def console_text(services, email: str, text: str) -> str:
    reply = Dispatcher(services).handle_message(IncomingMessage("console", email, text))
    return services.renderer.text(reply)


# --- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ISSUE_COMMANDS)
def test_every_subcommand_answers_privately_with_valid_block_kit(slack, org, name):
    sent = slack.command(name, user="UMIA")
    assert sent.status == 200
    slack.drain()
    modals = slack.fake.calls_to("views.open")
    if modals:  # a command that needs more input asks for it in a modal (estimate, request)
        assert block_kit_problems(modals[0]["view"]) == []
        return
    reply = slack.reply_to(sent)
    assert reply["response_type"] == "ephemeral"
    assert block_kit_problems(reply.params) == []
    assert "I don't know the command" not in reply.text
    assert "is not available yet" not in reply.text


def test_the_slash_command_reply_carries_the_same_figures_as_the_console(slack, services, org):
    record_tokens(services, "ann@acme.test", 123_456)
    reply = slack.reply_to(slack.command("balance", user="UANN"))
    console = console_text(services, "ann@acme.test", "balance")
    assert numbers(reply.blocks_text) == numbers(console)
    with services.db.read() as session:
        view = balance_for(session, org["ann@acme.test"], services.policy, services.clock())
    assert view.used == 123_456
    for figure in (view.used, view.personal_remaining, view.burn_per_day):
        assert format_tokens(figure) in reply.text
    assert format_money(view.cost_micros) in reply.text


def test_malformed_command_text_gets_the_usage_line(slack, org):
    reply = slack.reply_to(slack.command("balance ann@acme.test bob@acme.test", user="UMIA"))
    assert "balance takes at most one email" in reply.text
    assert "`/tokens balance [EMAIL]`" in reply.text
    assert reply["response_type"] == "ephemeral"


def test_a_mistyped_subcommand_gets_a_suggestion(slack, org):
    reply = slack.reply_to(slack.command("balanse", user="UANN"))
    assert "Did you mean `/tokens balance`?" in reply.text


def test_balance_asked_in_a_channel_is_never_posted_to_the_channel(slack, org):
    sent = slack.command("balance", user="UANN", channel=GENERAL)
    reply = slack.reply_to(sent)
    slack.drain()
    assert reply["response_type"] == "ephemeral"
    assert "Your token balance" in reply.text
    channel_posts = [
        c for c in slack.fake.calls if c.method.startswith("chat.") and c.get("channel") == GENERAL
    ]
    assert channel_posts == []


def test_an_email_slack_turned_into_a_link_is_read_as_the_email(slack, org):
    text = "balance <mailto:bob@acme.test|bob@acme.test>"
    reply = slack.reply_to(slack.command(text, user="UMIA"))
    assert "Bob Builder's token balance" in reply.text


def test_someone_elses_balance_is_refused_politely(slack, org):
    reply = slack.reply_to(slack.command("balance bob@acme.test", user="UANN"))
    assert "Balances are private" in reply.text


def test_the_estimate_message_shortcut_asks_to_estimate_the_message_text(slack, services, org):
    sent = slack.shortcut("estimate_message", "Summarise this launch brief", user="UANN")
    assert sent.status == 200
    reply = slack.reply_to(sent)
    assert reply["response_type"] == "ephemeral"
    expected = console_text(services, "ann@acme.test", "estimate Summarise this launch brief")
    assert reply["text"] == expected[:3000]


# --- identity -----------------------------------------------------------------------------------


def test_a_slack_user_not_in_the_directory_gets_a_polite_private_answer(slack, org):
    slack.fake.add_user("U0STRANGER", "stranger@elsewhere.test", "Stranger")
    reply = slack.reply_to(slack.command("balance", user="U0STRANGER"))
    assert reply["response_type"] == "ephemeral"
    assert "can't find you in the company directory" in reply.text
    assert "Traceback" not in reply.text
    assert slack.fake.calls_to("users.info")[0]["user"] == "U0STRANGER"


def test_a_slack_user_unknown_to_slack_too_gets_the_same_polite_answer(slack, org):
    reply = slack.reply_to(slack.command("help", user="U0GHOST"))
    assert "can't find you in the company directory" in reply.text


@pytest.mark.parametrize("content_type", ["text/html", "application/json"])
def test_a_users_info_error_that_is_not_json_gets_the_same_polite_answer(slack, org, content_type):
    """A proxy in front of Slack answers users.info with an HTML 502 page (even one labelled
    JSON, which slack_sdk reports with the raw HTTP response instead of a Slack response): the
    command is answered (the person cannot be identified now), not a crash and an error id."""
    slack.fake.fail_raw("users.info", 502, "<html><body>Bad gateway</body></html>", content_type)
    reply = slack.reply_to(slack.command("help", user="U0STRANGER"))
    assert "can't find you in the company directory" in reply.text
    assert slack.fake.calls_to("users.info")[0]["user"] == "U0STRANGER"


def test_a_person_known_only_by_email_is_linked_on_first_contact(slack, services, org):
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person).where(Person.email == "ann@acme.test").values(slack_user_id=None)
        )
        uow.commit()
    slack.fake.add_user("U0ANNNEW", "Ann@Acme.test", "Ann Analyst")
    first = slack.reply_to(slack.command("balance", user="U0ANNNEW"))
    assert "Your token balance" in first.text
    with services.db.read() as session:
        linked = session.scalar(select(Person.slack_user_id).where(Person.email == "ann@acme.test"))
    assert linked == "U0ANNNEW"
    slack.reply_to(slack.command("balance", user="U0ANNNEW"))
    assert len(slack.fake.calls_to("users.info")) == 1  # the link is used from then on


def test_an_email_match_never_takes_over_someone_already_linked(slack, services, org):
    slack.fake.add_user("U0IMPOSTOR", "ann@acme.test", "Ann Again")
    reply = slack.reply_to(slack.command("balance", user="U0IMPOSTOR"))
    assert "can't find you in the company directory" in reply.text
    with services.db.read() as session:
        kept = session.scalar(select(Person.slack_user_id).where(Person.email == "ann@acme.test"))
    assert kept == "UANN"


# --- request verification -------------------------------------------------------------------


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "not-the-signing-secret"},
        {"timestamp": int(time.time()) - 6 * 60},  # replayed: Slack allows 5 minutes
    ],
    ids=["bad signature", "stale timestamp"],
)
def test_a_forged_request_is_refused_and_nothing_is_sent(slack, org, forgery):
    fields = slash_command("balance", user_id="UANN", response_url=slack.fake.response_url())
    sent = slack.post_form(fields, **forgery)
    slack.drain()
    assert sent.status == 401
    assert slack.fake.calls == []


def test_an_unsigned_request_is_refused(slack, org):
    sent = slack.post_json(
        url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"), signed=False
    )
    assert sent.status == 401


def test_url_verification_echoes_the_challenge(slack):
    sent = slack.post_json(url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
    assert sent.status == 200
    assert sent.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


# --- acknowledging in time ----------------------------------------------------------------------


def test_the_ack_comes_back_while_the_database_is_still_busy(slack, services, org):
    with hold_database(services.db.engine) as held:
        sent = slack.command("balance", user="UANN")
        assert sent.status == 200  # Slack has its answer: the command is acknowledged
        assert held.reached.wait(15), "the command never reached the database"
        assert slack.fake.calls_to("response_url") == []  # the reply is still being worked on
        held.release()
        reply = slack.reply_to(sent)
    assert "Your token balance" in reply.text


def test_a_button_click_is_acknowledged_while_the_database_is_still_busy(slack, services, org):
    with hold_database(services.db.engine) as held:
        sent = slack.click("slacktest-public", "7", user="UANN")
        assert sent.status == 200
        assert held.reached.wait(15)
        assert slack.fake.calls_to("response_url") == []
        held.release()
        assert "Marked 7 as done." in slack.reply_to(sent).text


# --- buttons, modals, notices ---------------------------------------------------------------


def test_a_click_reaches_the_action_handler_and_replaces_the_message(slack, org):
    reply = slack.reply_to(slack.click("slacktest-public", "7", user="UANN", is_ephemeral=False))
    assert reply["replace_original"] is True
    assert "Marked 7 as done." in reply.text


def test_a_private_reply_never_replaces_a_message_everyone_in_the_channel_sees(slack, org):
    shared = slack.reply_to(
        slack.click("slacktest-private", "42", user="UANN", channel=GENERAL, is_ephemeral=False)
    )
    assert shared["replace_original"] is False
    assert shared["response_type"] == "ephemeral"
    own = slack.reply_to(slack.click("slacktest-private", "42", user="UANN", is_ephemeral=True))
    assert own["replace_original"] is True


def test_a_form_opens_a_modal_and_its_submission_comes_back_as_an_action(slack, org):
    click = slack.click("slacktest-ask", "request-9", user="UMIA")
    opened = slack.fake.wait_for("views.open")
    view = opened["view"]
    assert opened["trigger_id"]
    assert view["type"] == "modal" and view["callback_id"] == "slacktest-amount"
    assert block_kit_problems(view) == []
    assert slack.submit(view, {"amount": "250000", "why": "launch"}, user="UMIA").status == 200
    reply = slack.reply_to(click)  # the answer goes where the button was, privately
    assert "request-9: 250000 (launch)" in reply.text
    assert reply["response_type"] == "ephemeral"


def test_an_expired_trigger_is_answered_with_a_retry_hint(slack, org):
    slack.fake.fail("views.open", "expired_trigger_id")
    reply = slack.reply_to(slack.click("slacktest-ask", "request-9", user="UMIA"))
    assert "press the button again" in reply.text


def test_notices_reach_the_person_by_dm_and_a_later_one_with_the_same_ref_updates_it(slack, org):
    slack.reply_to(slack.click("slacktest-notify", "more tokens", user="UANN"))
    opened = slack.fake.wait_for("conversations.open")
    assert opened["users"] == "UMIA"
    dm = slack.fake.wait_for("chat.postMessage")
    assert dm["channel"] == "DMIA"
    assert "Ann Analyst asked: more tokens" in dm.text
    assert block_kit_problems(dm.params) == []
    assert [b["type"] for b in dm.blocks][-1] == "actions"
    pressed = slack.click_button(dm, "Approve", user="UMIA", channel="DMIA", is_ephemeral=False)
    assert "Marked more tokens as done." in slack.reply_to(pressed).text

    slack.reply_to(slack.click("slacktest-notify", "more tokens", user="UANN"))
    updated = slack.fake.wait_for("chat.update")
    assert (updated["channel"], updated["ts"]) == (dm.response["channel"], dm.response["ts"])
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert len(slack.fake.calls_to("conversations.open")) == 1  # the DM channel is remembered


def test_a_click_on_the_app_home_is_answered_by_dm(slack, org):
    sent = slack.click("slacktest-public", "3", user="UANN", container="view")
    assert sent.status == 200
    dm = slack.fake.wait_for("chat.postMessage")
    assert dm["channel"] == "DANN"
    assert "Marked 3 as done." in dm.text
    slack.drain()
    published = slack.fake.calls_to("views.publish")
    assert [c["user_id"] for c in published] == ["UANN"]  # the home tab is refreshed


def test_a_private_notice_is_never_posted_to_a_channel(slack, services, org):
    deliverer = slack_deliverer(services)
    secret = Reply("balance", {"view": None, "own": True, "phase": "incentives"}, private=True)
    assert deliverer.deliver(Notice(None, secret, to_channel=GENERAL)) is False
    public = Reply(
        "error", {"message": "Spotlight: the marketing team saved 2M tokens"}, private=False
    )
    assert deliverer.deliver(Notice(None, public, to_channel=GENERAL)) is True
    assert [c["channel"] for c in slack.fake.calls_to("chat.postMessage")] == [GENERAL]


def test_a_notice_for_someone_not_on_slack_is_reported_undelivered(slack, services, org):
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person).where(Person.email == "bob@acme.test").values(slack_user_id=None)
        )
        uow.commit()
    notice = Notice(org["bob@acme.test"].id, Reply("error", {"message": "hello"}))
    assert slack_deliverer(services).deliver(notice) is False
    assert slack.fake.calls_to("chat.postMessage") == []


# --- App Home -------------------------------------------------------------------------------


def test_app_home_shows_the_persons_own_figures(slack, services, org):
    record_tokens(services, "ann@acme.test", 654_321)
    assert slack.event(app_home_opened("UANN")).status == 200
    published = slack.fake.wait_for("views.publish")
    assert published["user_id"] == "UANN"
    view = published["view"]
    assert view["type"] == "home"
    assert block_kit_problems(view) == []
    with services.db.read() as session:
        figures = balance_for(session, org["ann@acme.test"], services.policy, services.clock())
    console = console_text(services, "ann@acme.test", "balance")
    for pool in figures.pools:
        shown = f"{format_tokens(pool.remaining)} of {format_tokens(pool.amount)} left"
        assert shown in published.text and shown in console
    for figure in (figures.used, figures.personal_remaining, figures.burn_per_day):
        assert format_tokens(figure) in published.text and format_tokens(figure) in console
    assert "Your team" not in published.text  # Ann manages no one


def test_a_manager_home_shows_the_team_pool_and_what_awaits_them(slack, services, org):
    asked = Dispatcher(services).handle_message(
        IncomingMessage("console", "ann@acme.test", "request 50k launch prep")
    )
    assert asked.template == "request_created"
    slack.event(app_home_opened("UMIA"))
    published = slack.fake.wait_for("views.publish")
    assert "Your team" in published.text
    assert "Team pool (Marketing)" in published.text
    assert "Awaiting your decision" in published.text
    assert f"#{asked.context['request']['id']}: Ann Analyst asks for 50,000 tokens" in (
        published.text
    )


def test_app_home_shows_the_score_summary_that_score_gives(slack, services):
    from tests.integration.scoring_support import SCORED_WEEK, seed_org

    seed_org(services)
    score = Dispatcher(services).handle_message(
        IncomingMessage("console", "bob@acme.test", "score")
    )
    slack.event(app_home_opened("UBOB"))
    published = slack.fake.wait_for("views.publish")
    assert block_kit_problems(published["view"]) == []
    figures = score.context
    top = max(figures["components"], key=lambda c: (float(c["index"]), float(c["contribution"])))
    assert f"Your score for {SCORED_WEEK}" in published.text
    assert f"{figures['score']} points" in published.text
    assert f", {top['index']}x the baseline ({top['contribution']} points)" in published.text
    worth = f"The change worth most (about +{figures['improvement']['points']} points)"
    assert worth in published.text and worth in services.renderer.text(score)
    assert "not available" not in published.text


def test_app_home_says_what_a_score_needs_when_there_is_none(slack, services, org):
    slack.event(app_home_opened("UANN"))
    published = slack.fake.wait_for("views.publish")
    assert "No scored work that week" in published.text


def test_app_home_for_someone_not_in_the_directory_says_so(slack, org):
    slack.event(app_home_opened("U0STRANGER"))
    published = slack.fake.wait_for("views.publish")
    assert "can't find you in the company directory" in published.text


def test_opening_the_messages_tab_publishes_nothing(slack, org):
    slack.event(app_home_opened("UANN", tab="messages"))
    slack.drain()
    assert slack.fake.calls_to("views.publish") == []


def test_a_redelivered_event_has_no_second_effect(slack, org):
    first = slack.event(app_home_opened("UANN"), event_id="Ev0REDELIVER")
    slack.drain()
    again = slack.event(app_home_opened("UANN"), event_id="Ev0REDELIVER", retry_num=1)
    slack.drain()
    assert (first.status, again.status) == (200, 200)
    assert again.headers.get("x-slack-no-retry") == "1"
    assert len(slack.fake.calls_to("views.publish")) == 1


def test_refresh_home_publishes_the_home_tab_again(slack, services, org):
    assert refresh_home(services, org["ann@acme.test"].id) is True
    assert slack.fake.wait_for("views.publish")["user_id"] == "UANN"


# --- mounting and Socket Mode ---------------------------------------------------------------


def test_slack_is_off_without_its_settings(services, caplog):
    caplog.set_level("INFO", logger="bot.slack")
    app = build_app(services)
    paths = [r.resource.canonical for r in app.router.routes() if r.resource is not None]
    assert "/slack/events" not in paths
    assert "Slack is off" in caplog.text


def test_socket_mode_receives_a_command_and_acknowledges_it(services, org):
    with FakeSlack() as fake:
        testbed = SlackTestbed(services, fake, socket_mode=True).start()
        try:
            fake.wait_for_socket()
            assert fake.calls_to("apps.connections.open")[0].token == APP_TOKEN
            response_url = fake.response_url("socket-command")
            fake.socket_send(
                {
                    "envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf",
                    "type": "slash_commands",
                    "payload": slash_command("balance", user_id="UANN", response_url=response_url),
                    "accepts_response_payload": True,
                }
            )
            ack = fake.wait_for("socket_mode.ack")
            assert ack["envelope_id"] == "57d6a792-4d35-4d0b-b6aa-3361493e1caf"
            reply = fake.wait_for("response_url", where=lambda c: c.path == "socket-command")
            assert "Your token balance" in reply.text
        finally:
            testbed.stop()


def test_a_bad_app_token_stops_start_up(services):
    from slack_sdk.errors import SlackApiError

    with FakeSlack() as fake:
        fake.fail("apps.connections.open", "invalid_auth")
        testbed = SlackTestbed(services, fake, socket_mode=True)
        with pytest.raises(SlackApiError):
            testbed.start()
        assert fake.calls_to("apps.connections.open")
        testbed.stop()
