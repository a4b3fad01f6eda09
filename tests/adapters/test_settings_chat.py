"""`/tokens settings` on every surface: a Slack modal, a Teams card with inputs, console
prompts one field at a time. What is submitted is stored per person and audited; a malformed
value (a quiet-hours range that is not one) gets an answer naming the field and what is
allowed, and changes nothing."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from bot.console import run_console
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingMessage
from budgets.settings import settings_for
from storage.models import AuditEntry, Person, PersonSettings
from tests.adapters.teams_fakes import personal_conversation
from tests.conftest import row_counts as all_row_counts
from tests.unit.core.payload_checks import adaptive_card_problems, block_kit_problems

ANN = "29:ann"


def row_counts(services) -> dict[str, int]:  # noqa: ANN001
    """Every table but what delivering the answer itself writes (the sent-message log)."""
    return {t: n for t, n in all_row_counts(services).items() if t != "sent_notices"}


def settings_of(services, email: str) -> dict[str, str]:  # noqa: ANN001
    with services.db.read() as session:
        person = session.scalar(select(Person).where(Person.email == email))
        return settings_for(session, services.policy, person).as_text()


def audited(services) -> list[dict]:  # noqa: ANN001
    with services.db.read() as session:
        return [
            e.detail
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action == "settings.change")
            )
        ]


def opened_modal(slack) -> dict:  # noqa: ANN001
    view = slack.fake.wait_for("views.open")["view"]
    return view if isinstance(view, dict) else json.loads(view)


def test_on_slack_the_settings_modal_shows_the_defaults_and_stores_what_is_submitted(
    slack, services, org
):
    sent = slack.command("settings", user="UANN")
    view = opened_modal(slack)

    assert view["callback_id"] == "settings.submit"
    assert block_kit_problems(view) == []
    inputs = {block["block_id"]: block["element"] for block in view["blocks"]}
    assert list(inputs) == ["reminders", "alerts", "digest", "quiet_hours"]
    assert [inputs[f]["initial_value"] for f in ("reminders", "alerts", "digest")] == [
        "on",
        "on",
        "on",
    ]
    assert inputs["quiet_hours"]["initial_value"] == "off"

    values = {"reminders": "on", "alerts": "90%", "digest": "off", "quiet_hours": "19:00-08:00"}
    assert slack.submit(view, values, user="UANN").status == 200

    reply = slack.reply_to(sent)
    assert reply["response_type"] == "ephemeral"
    assert "Settings saved (change 1)" in reply.text
    assert "Quiet hours: 19:00-08:00" in reply.text
    assert "Budget alerts: from 90% of a budget" in reply.text
    assert settings_of(services, "ann@acme.test") == {
        "reminders": "on",
        "alerts": "0.9",
        "digest": "off",
        "quiet_hours": "19:00-08:00",
    }
    (change,) = audited(services)
    # Reminders were submitted as they were (the default): only real changes are recorded.
    assert change["changes"] == {
        "alerts": {"from": None, "to": "0.9"},
        "digest": {"from": None, "to": False},
        "quiet_hours": {"from": None, "to": "19:00-08:00"},
    }


def test_on_slack_a_malformed_quiet_hours_range_is_explained_and_changes_nothing(
    slack, services, org
):
    sent = slack.command("settings", user="UANN")
    view = opened_modal(slack)
    before = row_counts(services)

    values = {"reminders": "off", "alerts": "on", "digest": "on", "quiet_hours": "7pm-8am"}
    slack.submit(view, values, user="UANN")

    reply = slack.reply_to(sent)
    assert "Nothing was changed:" in reply.text
    assert "quiet_hours must be a range HH:MM-HH:MM on a 24-hour clock" in reply.text
    assert "got '7pm-8am'" in reply.text
    assert row_counts(services) == before
    assert settings_of(services, "ann@acme.test")["reminders"] == "on"


def test_on_teams_the_settings_card_has_inputs_and_its_submission_is_stored(teams, services, org):
    teams.say(ANN, "settings")
    form = teams.fake.last_message(personal_conversation(ANN))
    inputs = {b["id"]: b for b in form.card["body"] if b["type"].startswith("Input.")}

    assert adaptive_card_problems(form.card) == []
    assert list(inputs) == ["reminders", "alerts", "digest", "quiet_hours"]
    assert inputs["digest"]["value"] == "on"

    teams.press(
        form, "Save", ANN, reminders="off", alerts="off", digest="on", quiet_hours="22:00-07:00"
    )

    answer = teams.fake.last_message(personal_conversation(ANN)).card_text
    assert "Settings saved (change 1)" in answer
    assert "Expiry reminders: off" in answer
    assert settings_of(services, "ann@acme.test") == {
        "reminders": "off",
        "alerts": "off",
        "digest": "on",
        "quiet_hours": "22:00-07:00",
    }


def test_on_teams_a_bad_value_gets_every_problem_and_changes_nothing(teams, services, org):
    teams.say(ANN, "settings")
    form = teams.fake.last_message(personal_conversation(ANN))
    before = row_counts(services)

    teams.press(form, "Save", ANN, reminders="maybe", alerts="500%", digest="on", quiet_hours="")

    answer = teams.fake.last_message(personal_conversation(ANN)).card_text
    assert "Nothing was changed:" in answer
    assert "reminders must be on or off, got 'maybe'" in answer
    assert "alerts must be on, off, or a share of your budget between 0 and 2" in answer
    assert row_counts(services) == before


def test_on_the_console_each_field_is_asked_in_turn_and_enter_keeps_it(services, org):
    out = io.StringIO()
    typed = "settings\n\n85%\noff\n19:30-07:45\n"

    assert (
        run_console(Dispatcher(services), "ann@acme.test", stdin=io.StringIO(typed), out=out) == 0
    )

    text = out.getvalue()
    assert "Your tokenbot settings" in text
    assert "Expiry reminders (on or off) [on]:" in text
    assert (
        "Quiet hours, held until they end (HH:MM-HH:MM such as 19:00-08:00, or off) (optional) [off]:"
        in text
    )
    assert "Settings saved (change 1)" in text
    assert settings_of(services, "ann@acme.test") == {
        "reminders": "on",
        "alerts": "0.85",
        "digest": "off",
        "quiet_hours": "19:30-07:45",
    }


def test_settings_typed_as_words_change_one_field_and_default_goes_back_to_the_policy(
    services, org
):
    dispatcher = Dispatcher(services)

    def say(text: str) -> str:
        reply = dispatcher.handle_message(IncomingMessage("console", "bob@acme.test", text))
        return services.renderer.text(reply)

    assert "Weekly digest: off" in say("settings digest off")
    assert "Quiet hours: 21:00-06:00" in say("settings quiet 21:00-06:00")
    assert "Weekly digest: on (the policy's default)" in say("settings digest default")
    bad = say("settings quiet_hours 21:00")
    assert "quiet_hours must be a range HH:MM-HH:MM" in bad
    assert "usage: settings" in say("settings digest")
    with services.db.read() as session:
        row = session.get(PersonSettings, org["bob@acme.test"].id)
    assert row is not None and (row.digest, row.quiet_hours, row.revision) == (
        None,
        "21:00-06:00",
        3,
    )
    assert len(audited(services)) == 3


def test_on_slack_what_was_typed_comes_back_escaped(slack, services, org):
    sent = slack.command("settings", user="UANN")
    view = opened_modal(slack)

    values = {"reminders": "<!channel>", "alerts": "on", "digest": "on", "quiet_hours": "off"}
    slack.submit(view, values, user="UANN")

    reply = slack.reply_to(sent)
    assert "got '&lt;!channel&gt;'" in reply.text
    assert "<!channel>" not in json.dumps(reply.params)
