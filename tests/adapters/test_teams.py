"""tokenbot on Microsoft Teams, over the real protocol: Bot Framework activities shaped as
Teams sends them are posted to the real server's /api/messages, and what tokenbot sends back
reaches a fake Bot Connector on loopback that records it (see teams_fakes.py). Nothing is
mocked: the SDK, the database and HTTP are real."""

from __future__ import annotations

import logging

import jwt
import pytest
from sqlalchemy import select, update

from bot.server import build_app
from storage.models import ConversationRef, Person
from tests.adapters.teams_fakes import (
    BOT_ID,
    GENERAL_TEAM,
    TENANT,
    TeamsTestbed,
    conversation_update,
    installation_update,
    message,
    personal_conversation,
)
from tests.adapters.test_slack import ISSUE_COMMANDS, console_text, numbers, record_tokens
from tests.unit.core.payload_checks import adaptive_card_problems

ANN, MIA = "29:ann", "29:mia"


def reference(services, key: str) -> dict | None:
    with services.db.read() as session:
        row = session.get(ConversationRef, ("teams", key))
        return dict(row.reference) if row is not None else None


# --- commands as cards ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ISSUE_COMMANDS)
def test_every_command_answers_in_the_chat_with_a_valid_adaptive_card(teams, org, name):
    sent = teams.say(MIA, name)
    assert sent.status == 201
    reply = teams.fake.last_message(personal_conversation(MIA))
    assert reply.kind == "reply" and reply.activity_id  # a reply to the message typed
    assert adaptive_card_problems(reply.body["attachments"][0]) == []
    assert reply.summary and reply.card["fallbackText"] == reply.summary
    assert "I don't know the command" not in reply.card_text
    assert "is not available yet" not in reply.card_text


def test_the_balance_card_carries_the_same_figures_as_the_console(teams, services, org):
    record_tokens(services, "ann@acme.test", 123_456)
    teams.say(ANN, "balance")
    reply = teams.fake.last_message(personal_conversation(ANN))
    console = console_text(services, "ann@acme.test", "balance")
    assert "Your token balance for 2026-11" in reply.card_text
    assert "123,456" in reply.card_text
    assert numbers(reply.summary) == numbers(console)
    facts = {f["title"]: f["value"] for b in reply.card["body"] for f in b.get("facts", [])}
    assert facts["Used this period"].startswith("123,456 tokens (")


def test_help_lists_the_commands_on_a_card(teams, org):
    teams.say(ANN, "help")
    reply = teams.fake.last_message(personal_conversation(ANN))
    assert "Hi Ann Analyst, here is what tokenbot can do:" in reply.card_text
    for command in ("balance", "estimate", "request", "policy"):
        assert command in reply.card_text


def test_a_slash_and_extra_spaces_are_read_as_the_command(teams, org):
    teams.say(ANN, "  /tokens   balance ")
    assert "Your token balance" in teams.fake.last_message().card_text


def test_a_mistyped_command_gets_a_suggestion(teams, org):
    teams.say(ANN, "balanse")
    assert "Did you mean `balance`?" in teams.fake.last_message().card_text


def test_a_malformed_command_gets_its_usage_line(teams, org):
    teams.say(MIA, "balance ann@acme.test bob@acme.test")
    card = teams.fake.last_message().card_text
    assert "balance takes at most one email" in card
    assert "Usage: `balance [EMAIL]`" in card


def test_someone_elses_balance_is_refused_politely(teams, org):
    teams.say(ANN, "balance bob@acme.test")
    assert "Balances are private" in teams.fake.last_message().card_text


def test_a_command_that_fails_inside_answers_with_an_error_id_and_no_trace(
    teams, services, org, caplog
):
    services.policy = None  # any command that reads the policy now crashes
    teams.say(ANN, "balance")
    card = teams.fake.last_message().card_text
    assert "something went wrong on my side" in card
    assert "Traceback" not in card and "AttributeError" not in card


# --- channels and privacy ---------------------------------------------------------------------


def test_the_bot_mention_is_stripped_from_a_channel_message(teams, org):
    teams.say(MIA, "policy", scope="channel")
    posted = teams.fake.last_message()
    assert posted.conversation_id == "19:ai-wins@thread.tacv2;messageid=1700000000000"
    assert "AI usage policy" in posted.card_text  # policy is public: answered in the thread


def test_a_balance_asked_in_a_channel_goes_to_the_askers_private_chat(teams, org):
    teams.say(ANN, "hi")  # Ann has a 1:1 chat with the bot
    teams.fake.clear()
    teams.say(ANN, "balance", scope="channel")
    private = teams.fake.messages(personal_conversation(ANN))
    in_channel = [m for m in teams.fake.messages() if m.conversation_id.startswith("19:")]
    assert len(private) == 1 and "Your token balance" in private[0].card_text
    assert len(in_channel) == 1
    assert "sent it to you in a private chat" in in_channel[0].card_text
    assert "token balance" not in in_channel[0].card_text
    assert "2,000,000" not in in_channel[0].summary


def test_a_private_answer_opens_a_1_to_1_chat_when_there_is_none_yet(teams, org):
    teams.say(MIA, "hi")  # someone has talked to the bot: it knows its service URL
    teams.say(ANN, "balance", scope="channel")
    created = teams.fake.calls_of("create")
    assert created and created[-1].body["members"] == [{"id": ANN}]
    assert created[-1].body["channelData"] == {"tenant": {"id": TENANT}}
    assert "Your token balance" in teams.fake.last_message(personal_conversation(ANN)).card_text


def test_a_private_answer_nobody_can_deliver_is_not_posted_to_the_channel(teams, org):
    teams.say(MIA, "hi")
    teams.fake.refuse_user(ANN)
    teams.say(ANN, "balance", scope="channel")
    channel = teams.fake.last_message()
    assert channel.conversation_id.startswith("19:")
    assert "can't open a private chat with you yet" in channel.card_text
    assert not any("token balance" in m.card_text for m in teams.fake.messages())


# --- identity ---------------------------------------------------------------------------------


def test_someone_not_in_the_directory_gets_a_polite_card(teams, org):
    teams.fake.add_member("29:stranger", "Stranger", "stranger@elsewhere.test")
    teams.say("29:stranger", "balance")
    reply = teams.fake.last_message()
    assert "can't find you in the company directory" in reply.card_text
    assert "Microsoft 365 account" in reply.card_text
    assert teams.fake.calls_of("member")[0].activity_id == ""  # the member lookup was asked


def test_a_person_known_only_by_email_is_linked_on_first_contact(teams, services, org):
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person).where(Person.email == "ann@acme.test").values(teams_user_id=None)
        )
        uow.commit()
    teams.fake.add_member("29:ann-new", "Ann Analyst", "Ann@Acme.test", aad_object_id="aad-ann")
    teams.say("29:ann-new", "balance")
    assert "Your token balance" in teams.fake.last_message().card_text
    with services.db.read() as session:
        linked = session.scalar(select(Person.teams_user_id).where(Person.email == "ann@acme.test"))
    assert linked == "29:ann-new"
    teams.say("29:ann-new", "balance")
    assert len(teams.fake.calls_of("member")) == 1  # the link is used from then on


def test_a_person_is_found_by_upn_when_teams_gives_no_email(teams, services, org):
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person).where(Person.email == "bob@acme.test").values(teams_user_id=None)
        )
        uow.commit()
    teams.fake.add_member("29:bob-new", "Bob Builder", None, upn="bob@acme.test")
    teams.say("29:bob-new", "balance")
    assert "Your token balance" in teams.fake.last_message().card_text


def test_a_directory_holding_the_aad_object_id_identifies_the_person(teams, services, org):
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person)
            .where(Person.email == "ceo@acme.test")
            .values(teams_user_id="0b9c3a4e-aad-ceo")
        )
        uow.commit()
    activity = message(
        teams.fake.service_url, "29:ceo", "balance", aad_object_id="0b9c3a4e-aad-ceo"
    )
    teams.post(activity)
    assert "Your token balance" in teams.fake.last_message().card_text
    assert teams.fake.calls_of("member") == []


def test_an_email_match_never_takes_over_someone_already_linked(teams, services, org):
    teams.fake.add_member("29:impostor", "Ann Again", "ann@acme.test")
    teams.say("29:impostor", "balance")
    assert "can't find you in the company directory" in teams.fake.last_message().card_text
    with services.db.read() as session:
        kept = session.scalar(select(Person.teams_user_id).where(Person.email == "ann@acme.test"))
    assert kept == ANN


# --- meeting the bot: conversation references --------------------------------------------------


def test_installing_the_app_personally_stores_the_reference_and_says_hello(teams, services, org):
    sent = teams.post(conversation_update(teams.fake.service_url, MIA, added=[BOT_ID, MIA]))
    assert sent.status == 201
    stored = reference(services, f"person:{org['mia@acme.test'].id}")
    assert stored["serviceUrl"] == teams.fake.service_url
    assert stored["conversation"]["id"] == personal_conversation(MIA)
    assert stored["user"]["id"] == MIA and stored["bot"]["id"] == BOT_ID
    assert "activityId" not in stored  # proactive messages start new posts
    welcome = teams.fake.last_message(personal_conversation(MIA))
    assert "here is what tokenbot can do" in welcome.card_text


def test_adding_the_app_to_a_team_stores_the_channel_reference(teams, services, org):
    activity = conversation_update(teams.fake.service_url, MIA, scope="channel", channel="AI Wins")
    teams.post(activity)
    stored = reference(services, f"channel:{GENERAL_TEAM}:ai-wins")
    assert stored["conversation"]["id"] == "19:AI Wins@thread.tacv2"
    assert stored["tokenbot_channel"] == {
        "team_id": GENERAL_TEAM,
        "team_name": "Acme",
        "channel": "ai-wins",
    }
    assert teams.fake.messages() == []  # no hello posted to a whole channel


def test_an_installation_update_stores_and_its_removal_forgets_the_reference(teams, services, org):
    key = f"person:{org['ann@acme.test'].id}"
    teams.post(installation_update(teams.fake.service_url, ANN, "add"))
    assert reference(services, key) is not None
    teams.post(installation_update(teams.fake.service_url, ANN, "remove"))
    assert reference(services, key) is None


def test_every_message_refreshes_the_reference(teams, services, org):
    teams.say(ANN, "help")
    first = reference(services, f"person:{org['ann@acme.test'].id}")
    activity = message("http://127.0.0.1:1/moved/", ANN, "help")  # Teams moved the service
    teams.post(activity)
    moved = reference(services, f"person:{org['ann@acme.test'].id}")
    assert first["serviceUrl"] == teams.fake.service_url
    assert moved["serviceUrl"] == "http://127.0.0.1:1/moved/"


# --- authentication -------------------------------------------------------------------------


def test_local_mode_says_so_loudly_and_takes_requests_from_this_machine(
    services, fake_connector, org, caplog
):
    caplog.set_level(logging.WARNING, logger="bot.teams")
    testbed = TeamsTestbed(services, fake_connector).start()
    try:
        assert "LOCAL/EMULATOR MODE" in caplog.text
        assert testbed.say(ANN, "help").status == 201
    finally:
        testbed.stop()


def test_local_mode_refuses_a_proxied_request_and_a_remote_service_url(teams, org):
    proxied = teams.post(
        message(teams.fake.service_url, ANN, "balance"), headers={"X-Forwarded-For": "203.0.113.9"}
    )
    remote = teams.post(message("https://smba.trafficmanager.net/emea/", ANN, "balance"))
    assert (proxied.status, remote.status) == (401, 401)
    assert teams.fake.calls == []


@pytest.fixture
def teams_with_credentials(services, fake_connector):
    testbed = TeamsTestbed(services, fake_connector, credentials=True).start()
    try:
        yield testbed
    finally:
        testbed.stop()


def forged_token(issuer: str) -> str:
    claims = {"iss": issuer, "aud": "00000000-0000-0000-0000-00000000b07a", "serviceurl": "x"}
    return jwt.encode(claims, "not-microsofts-signing-key-at-all-32b", algorithm="HS256")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt",
        "Basic dG9rZW5ib3Q6c2VjcmV0",
        "Bearer " + forged_token("https://evil.example.test/"),
    ],
    ids=["no token", "malformed token", "not a bearer token", "untrusted issuer"],
)
def test_with_credentials_a_request_without_a_valid_token_gets_401(
    teams_with_credentials, org, authorization
):
    headers = {"Authorization": authorization} if authorization else {}
    activity = message(teams_with_credentials.fake.service_url, ANN, "balance")
    sent = teams_with_credentials.post(activity, headers=headers)
    assert sent.status == 401
    assert teams_with_credentials.fake.calls == []


def test_with_credentials_requests_from_anywhere_reach_the_token_check(teams_with_credentials, org):
    # Credentials replace the local-only rule by the JWT check: a Teams service URL is fine.
    activity = message("https://smba.trafficmanager.net/emea/", ANN, "balance")
    assert teams_with_credentials.post(activity).status == 401  # no token, not "not local"


def test_a_body_that_is_not_an_activity_is_refused(teams):
    assert teams.post({"text": "no type"}).status == 400


def test_teams_is_mounted_at_api_messages(services):
    app = build_app(services)
    paths = [r.resource.canonical for r in app.router.routes() if r.resource is not None]
    assert "/api/messages" in paths


def test_only_the_teams_package_imports_the_bot_framework_sdk():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for folder in ("bot", "budgets", "scoring", "storage", "ingest", "message_templates")
        for path in (root / folder).rglob("*.py")
        if (
            "import botbuilder" in path.read_text()
            or "from botbuilder" in path.read_text()
            or "from botframework" in path.read_text()
        )
        and "bot/teams" not in str(path.relative_to(root))
    ]
    assert offenders == []
