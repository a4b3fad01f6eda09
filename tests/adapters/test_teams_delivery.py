"""Proactive Teams messages through `TeamsDeliverer` (the `Deliverer` jobs and notices use):
reminders and approval cards to a person's 1:1 chat, spotlights to a channel, updates in place
by ref, and people tokenbot cannot reach yet reported to admins instead of skipped."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.cli import main
from bot.core.messages import Notice, Reply
from bot.outbox import default_deliverers, deliver_pending, enqueue
from bot.teams import teams_deliverer, unreachable_people
from storage.models import ConversationRef, OutboxMessage, Person
from tests.adapters.teams_fakes import BOT_ID, conversation_update, personal_conversation

ANN, MIA = "29:ann", "29:mia"
REMINDER = Reply("error", {"message": "120,000 of your tokens expire on Mon 30 Nov 2026."})


def admin_notices(services):
    with services.db.read() as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.template == "teams_unreachable")
            )
        )


def test_a_notice_reaches_a_persons_1_to_1_chat(teams, org):
    teams.say(ANN, "hi")
    teams.fake.clear()
    assert teams.deliverer.deliver(Notice(org["ann@acme.test"].id, REMINDER)) is True
    sent = teams.fake.last_message(personal_conversation(ANN))
    assert sent.kind == "send"  # a new message, not a reply to anything
    assert "120,000 of your tokens expire" in sent.card_text


def test_a_later_notice_with_the_same_ref_updates_the_card_in_place(teams, org):
    teams.say(ANN, "hi")
    teams.fake.clear()
    ann = org["ann@acme.test"].id
    teams.deliverer.deliver(Notice(ann, REMINDER, ref="reminder:ann"))
    first = teams.fake.last_message()
    later = Reply("error", {"message": "Never mind: nothing expires."})
    assert teams.deliverer.deliver(Notice(ann, later, ref="reminder:ann")) is True
    (updated,) = teams.fake.calls_of("update")
    assert updated.activity_id == first.response["id"]
    assert "nothing expires" in updated.card_text
    assert len(teams.fake.messages()) == 1


def test_a_spotlight_goes_to_the_channel_the_app_was_added_to(teams, org):
    teams.post(conversation_update(teams.fake.service_url, MIA, scope="channel", channel="ai-wins"))
    spotlight = Reply("error", {"message": "AI wins of the week: Ann Analyst"}, private=False)
    assert teams.deliverer.deliver(Notice(None, spotlight, to_channel="#ai-wins")) is True
    posted = teams.fake.last_message()
    assert posted.conversation_id == "19:ai-wins@thread.tacv2"
    assert "AI wins of the week" in posted.card_text


def test_a_private_notice_is_never_posted_to_a_channel(teams, org):
    teams.post(conversation_update(teams.fake.service_url, MIA, scope="channel", channel="ai-wins"))
    secret = Reply("error", {"message": "Ann's balance: 1,000"}, private=True)
    assert teams.deliverer.deliver(Notice(None, secret, to_channel="#ai-wins")) is False
    assert teams.fake.messages() == []


def test_a_channel_tokenbot_was_never_added_to_is_not_delivered(teams, org):
    public = Reply("error", {"message": "hello"}, private=False)
    assert teams.deliverer.deliver(Notice(None, public, to_channel="#nowhere")) is False


MARKETING, SALES = ("19:marketing@thread.tacv2", "Marketing"), ("19:sales@thread.tacv2", "Sales")
SPOTLIGHT = Reply("error", {"message": "AI wins of the week"}, private=False)


def add_to_team(teams, team, channel="General"):
    teams.post(
        conversation_update(
            teams.fake.service_url, MIA, scope="channel", channel=channel, team=team
        )
    )


def test_every_teams_general_channel_is_kept_and_a_teams_post_goes_to_its_own(teams, org):
    add_to_team(teams, MARKETING)
    add_to_team(teams, SALES)  # used to replace Marketing's General: the last install won
    for team_id, team_name in (MARKETING, SALES):
        notice = Notice(None, SPOTLIGHT, to_channel="General", to_team=team_name)
        assert teams.deliverer.deliver(notice) is True
        assert teams.fake.last_message().conversation_id == team_id


def test_a_general_channel_of_several_teams_is_not_guessed_without_a_team(teams, org, caplog):
    add_to_team(teams, MARKETING)
    add_to_team(teams, SALES)
    assert teams.deliverer.deliver(Notice(None, SPOTLIGHT, to_channel="General")) is False
    assert (
        teams.deliverer.deliver(Notice(None, SPOTLIGHT, to_channel="General", to_team="Ops"))
        is False
    )
    assert teams.fake.messages() == []
    assert "Teams channel General is in several teams (Marketing, Sales)" in caplog.text


def test_a_channel_name_only_one_team_has_is_found_whatever_the_directory_team(teams, org):
    add_to_team(teams, MARKETING, channel="marketing-wins")
    notice = Notice(None, SPOTLIGHT, to_channel="#Marketing Wins", to_team="Growth")
    assert teams.deliverer.deliver(notice) is True
    assert teams.fake.last_message().conversation_id == "19:marketing-wins@thread.tacv2"


def test_removing_the_app_from_a_team_forgets_only_that_teams_channels(teams, org):
    add_to_team(teams, MARKETING)
    add_to_team(teams, SALES)
    removed = conversation_update(
        teams.fake.service_url, MIA, scope="channel", channel="General", team=SALES, added=[]
    )
    removed["membersRemoved"] = [{"id": BOT_ID}]
    teams.post(removed)
    assert teams.deliverer.deliver(Notice(None, SPOTLIGHT, to_channel="General")) is True
    assert teams.fake.last_message().conversation_id == MARKETING[0]


def test_a_teams_post_waiting_in_the_outbox_keeps_its_team(teams, services, org):
    add_to_team(teams, MARKETING)
    add_to_team(teams, SALES)
    with services.db.unit_of_work() as uow:
        notice = Notice(None, SPOTLIGHT, to_channel="General", to_team="Sales")
        enqueue(uow.session, "spotlight:2026-W46:team:sales", notice, services.clock())
        uow.commit()
    assert deliver_pending(services, [teams.deliverer]).delivered == 1
    assert teams.fake.last_message().conversation_id == SALES[0]


def test_someone_with_the_app_but_no_chat_yet_gets_a_new_1_to_1_chat(teams, services, org):
    teams.say(MIA, "hi")  # the bot knows its service URL and tenant from Mia's chat
    assert teams.deliverer.deliver(Notice(org["ann@acme.test"].id, REMINDER)) is True
    (created,) = teams.fake.calls_of("create")
    assert created.body["members"] == [{"id": ANN}]
    assert created.body["bot"]["id"] == "28:tokenbot-app-id"
    assert "expire" in teams.fake.last_message(personal_conversation(ANN)).card_text
    teams.deliverer.deliver(Notice(org["ann@acme.test"].id, REMINDER))
    assert len(teams.fake.calls_of("create")) == 1  # the new chat is remembered


def test_a_person_the_bot_cannot_reach_is_reported_to_the_admins(teams, services, org):
    teams.say(MIA, "hi")
    teams.fake.refuse_user(ANN)  # the app is not installed for Ann
    ann = org["ann@acme.test"].id
    assert teams.deliverer.deliver(Notice(ann, REMINDER)) is False
    (report,) = admin_notices(services)
    assert report.to_person_id == org["ceo@acme.test"].id  # the admin
    text = services.renderer.text(Reply(report.template, report.context))
    assert "can't reach Ann Analyst (ann@acme.test) on Microsoft Teams" in text
    assert "403" in text
    assert teams.deliverer.deliver(Notice(ann, REMINDER)) is False
    assert len(admin_notices(services)) == 1  # once per person and period
    (listed,) = [u for u in unreachable_people(services) if u.person.email == "ann@acme.test"]
    assert "403" in listed.reason and listed.template == "error"


def test_a_person_with_no_teams_id_and_no_chat_is_reported_too(teams, services, org):
    teams.say(MIA, "hi")
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person)
            .where(Person.email == "bob@acme.test")
            .values(teams_user_id=None, slack_user_id=None)
        )
        uow.commit()
    assert teams.deliverer.deliver(Notice(org["bob@acme.test"].id, REMINDER)) is False
    assert teams.fake.calls_of("create") == []
    (report,) = admin_notices(services)
    assert "no Teams id" in report.context["reason"]


def test_a_slack_user_missing_on_teams_is_not_reported(teams, services, org):
    from dataclasses import replace

    services.settings = replace(services.settings, slack_bot_token="xoxb-test")
    with services.db.unit_of_work() as uow:
        uow.session.execute(
            update(Person).where(Person.email == "bob@acme.test").values(teams_user_id=None)
        )
        uow.commit()
    assert teams.deliverer.deliver(Notice(org["bob@acme.test"].id, REMINDER)) is False
    assert admin_notices(services) == []


def test_a_chat_teams_now_refuses_is_forgotten_and_reported(teams, services, org):
    teams.say(ANN, "hi")
    teams.fake.refuse_conversation(personal_conversation(ANN))
    teams.fake.refuse_user(ANN)
    assert teams.deliverer.deliver(Notice(org["ann@acme.test"].id, REMINDER)) is False
    with services.db.read() as session:
        gone = session.get(ConversationRef, ("teams", f"person:{org['ann@acme.test'].id}"))
    assert gone is None
    assert len(admin_notices(services)) == 1


def test_meeting_the_bot_again_clears_the_unreachable_mark(teams, services, org):
    teams.say(MIA, "hi")
    teams.fake.refuse_user(ANN)
    teams.deliverer.deliver(Notice(org["ann@acme.test"].id, REMINDER))
    teams.say(ANN, "hi")
    assert "ann@acme.test" not in [u.person.email for u in unreachable_people(services)]


def test_tokenbot_teams_unreachable_lists_who_cannot_be_reached(
    teams, services, org, capsys, monkeypatch
):
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    teams.say(MIA, "hi")
    teams.fake.refuse_user(ANN)
    teams.deliverer.deliver(Notice(org["ann@acme.test"].id, REMINDER))
    assert main(["teams", "unreachable"]) == 0
    out = capsys.readouterr().out
    assert "ann@acme.test\tAnn Analyst\tTeams answered 403" in out
    assert "mia@acme.test" not in out  # Mia has a chat with the bot
    assert "bob@acme.test" in out  # never met the bot: a chat can be opened if the app is installed


def test_the_outbox_delivers_through_teams_once_someone_has_met_the_bot(teams, services, org):
    assert teams_deliverer(services) is None  # local mode, nobody met it: notices go elsewhere
    assert [d.platform for d in default_deliverers(services)] == ["log"]
    teams.say(ANN, "hi")
    assert [d.platform for d in default_deliverers(services)] == ["teams"]
