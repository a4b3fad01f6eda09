"""`estimate` on Slack over the real protocol: the signed slash command, the "Estimate tokens"
message shortcut, and the modal for long text (views.open, then a view_submission), against
the fake Slack Web API (slack_fakes.py). The estimated text must never come back out: not in
a reply, not in any call to Slack, not in the logs."""

from __future__ import annotations

import json
import logging

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage
from tests.unit.core.payload_checks import block_kit_problems

SECRET_KEY = "sk-proj-Q7vX2mN9pL4kR8sT1wY6zA3bC5dE0fG"
CUSTOMER_EMAIL = "jane.customer@example.org"


def console_text(services, text: str) -> str:
    reply = Dispatcher(services).handle_message(IncomingMessage("console", "ann@acme.test", text))
    return services.renderer.text(reply)


def opened_modal(slack) -> dict:
    """The view tokenbot sent with views.open (waiting for it)."""
    view = slack.fake.wait_for("views.open")["view"]
    return view if isinstance(view, dict) else json.loads(view)


def everything_sent(slack) -> str:
    return "\n".join(json.dumps(call.params) for call in slack.fake.calls)


def test_the_slash_command_estimates_with_the_same_figures_as_the_console(slack, services, org):
    text = "estimate --model claude-sonnet-4 --use-case ad-copy Five taglines for trail shoes"
    reply = slack.reply_to(slack.command(text, user="UANN"))

    assert reply["response_type"] == "ephemeral"
    assert block_kit_problems(reply.params) == []
    assert reply["text"] == console_text(services, text)
    assert "Estimate for claude-sonnet-4 (approximate)" in reply.blocks_text
    assert "≈" in reply.blocks_text


def test_the_slash_command_with_no_text_opens_the_estimate_modal(slack, org):
    sent = slack.command("estimate --use-case coding", user="UANN")
    view = opened_modal(slack)

    assert sent.status == 200
    opened = slack.fake.calls_to("views.open")[0]
    assert opened["trigger_id"] == sent.trigger_id
    assert view["callback_id"] == "estimate.submit"
    assert block_kit_problems(view) == []
    inputs = {block["block_id"]: block["element"] for block in view["blocks"]}
    assert list(inputs) == ["model", "use_case", "text"]
    assert inputs["model"]["initial_value"] == "gpt-4o"
    assert inputs["use_case"]["initial_value"] == "coding"
    assert inputs["text"]["multiline"] is True


def test_submitting_the_modal_answers_with_the_estimate_of_the_pasted_document(
    slack, services, org
):
    sent = slack.command("estimate", user="UANN")
    view = opened_modal(slack)
    document = "Quarterly review\n\n" + "Revenue grew in every region this quarter.\n" * 60
    fields = {"model": "gpt-4o-mini", "use_case": "", "text": document}

    submitted = slack.submit(view, fields, user="UANN")

    assert submitted.status == 200
    reply = slack.reply_to(sent)  # the answer goes to the slash command's response_url
    assert reply["response_type"] == "ephemeral"
    assert block_kit_problems(reply.params) == []
    on_console = Dispatcher(services).handle_action(
        IncomingAction("console", "ann@acme.test", "estimate.submit", "", fields)
    )
    assert reply["text"] == services.renderer.text(on_console)
    assert "Estimate for gpt-4o-mini" in reply.text
    assert "gpt-4o-mini is already the cheapest model in the catalog." in reply.text


def test_a_modal_submission_naming_an_unknown_model_gets_a_clear_answer(slack, org):
    sent = slack.command("estimate", user="UANN")
    view = opened_modal(slack)

    slack.submit(view, {"model": "gpt-9", "use_case": "", "text": "hello"}, user="UANN")

    reply = slack.reply_to(sent)
    assert "unknown model 'gpt-9'; known models:" in reply.text
    assert "gpt-4o-mini" in reply.text


def test_the_message_shortcut_estimates_the_message_text(slack, services, org):
    message = "Draft: our launch brief for the autumn campaign, two pages."
    reply = slack.reply_to(slack.shortcut("estimate_message", message, user="UANN"))

    assert reply["response_type"] == "ephemeral"
    assert block_kit_problems(reply.params) == []
    assert reply["text"] == console_text(services, f"estimate {message}")


def test_the_shortcut_on_a_message_starting_with_dashes_estimates_it_as_text(slack, org):
    reply = slack.reply_to(slack.shortcut("estimate_message", "--model is my flag", user="UANN"))
    assert "Estimate for gpt-4o:" in reply.text
    assert "unknown option" not in reply.text


def test_the_shortcut_on_a_message_without_text_opens_the_modal(slack, org):
    slack.shortcut("estimate_message", "", user="UANN")
    assert opened_modal(slack)["callback_id"] == "estimate.submit"
    opened = slack.fake.calls_to("views.open")[0]
    assert opened["trigger_id"] == "13345224609.738474920.8088930838d88f008e3"


def test_secrets_are_flagged_and_never_sent_back_to_slack_or_logged(slack, org, caplog):
    caplog.set_level(logging.DEBUG)
    typed = f"Why does client(api_key='{SECRET_KEY}') fail for {CUSTOMER_EMAIL}?"
    # As Slack sends a message or command text: the email auto-linked.
    message = typed.replace(CUSTOMER_EMAIL, f"<mailto:{CUSTOMER_EMAIL}|{CUSTOMER_EMAIL}>")

    shortcut_reply = slack.reply_to(slack.shortcut("estimate_message", message, user="UANN"))
    command_reply = slack.reply_to(slack.command(f"estimate {message}", user="UANN"))
    sent = slack.command("estimate", user="UANN")
    view = opened_modal(slack)
    slack.submit(view, {"model": "", "use_case": "", "text": typed}, user="UANN")
    modal_reply = slack.reply_to(sent)
    slack.drain()

    for reply in (shortcut_reply, command_reply, modal_reply):
        assert "this text looks like it holds 1 API key and 1 email address" in reply.text
        assert "redact them first" in reply.text
    outgoing = everything_sent(slack)
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in (SECRET_KEY, CUSTOMER_EMAIL):
        assert secret not in outgoing, "a secret was sent back to Slack"
        assert secret not in logged, "a secret reached the logs"
