"""`estimate` end to end: the console chat through the Dispatcher on a real database, the
chat-platform form and its submission, and privacy (the text is in no reply, row or log)."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import select

from bot.console import run_console
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage
from storage.models import Base

SECRET_KEY = "sk-proj-Q7vX2mN9pL4kR8sT1wY6zA3bC5dE0fG"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq9\n-----END RSA PRIVATE KEY-----"
PHONE = "+44 20 7946 0958"


@pytest.fixture
def dispatcher(services, org) -> Dispatcher:
    return Dispatcher(services)


def console(dispatcher: Dispatcher, *lines: str, email: str = "ann@acme.test") -> str:
    out = io.StringIO()
    assert run_console(dispatcher, email, io.StringIO("\n".join(lines) + "\n"), out) == 0
    return out.getvalue()


def say(dispatcher: Dispatcher, text: str, platform: str = "console", user: str = "ann@acme.test"):
    return dispatcher.handle_message(IncomingMessage(platform, user, text))


def test_the_console_estimates_a_prompt_with_every_figure(dispatcher):
    out = console(dispatcher, "estimate --use-case seo-brief Write a brief about trail shoes")

    assert "Estimate for gpt-4o, use case seo-brief:" in out
    assert "Input:   6 tokens (31 characters)" in out
    # 6 x 0.8 (seo-brief's ratio) = 4.8, rounded to 5
    assert "Output:  ~5 tokens expected, at 0.80 output tokens per input token" in out
    # 6 x $2.50/M + 5 x $10/M = 65 micro-dollars
    assert "Cost:    $0.000065" in out
    assert "Budget:  11 budget tokens (weight 1): under 0.1% of your remaining personal" in out
    assert "Cheaper: gpt-4o-mini, the cheapest model in the catalog" in out


def test_options_pick_the_model_and_mark_approximate_figures(dispatcher):
    out = console(dispatcher, "estimate --model claude-sonnet-4 Summarise the meeting notes")
    assert "Estimate for claude-sonnet-4 (approximate):" in out
    assert "Input:   ≈" in out and "Cost:    ≈$" in out
    assert "counted with cl100k_base times 1.15" in out


def test_quotes_around_the_whole_prompt_are_not_counted(dispatcher):
    quoted = say(dispatcher, 'estimate "hello world"').context["estimate"]
    bare = say(dispatcher, "estimate hello world").context["estimate"]
    assert quoted.model.input_tokens == bare.model.input_tokens == 2


def test_a_json_list_of_messages_is_estimated_as_a_chat_request(dispatcher):
    reply = say(
        dispatcher,
        'estimate [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]',
    )
    result = reply.context["estimate"]
    assert result.chat_format and result.messages == 2
    text = dispatcher.services.renderer.text(reply)
    assert "(2 chat messages, chat-format overhead included)" in text


def test_the_estimate_reply_is_private(dispatcher):
    assert say(dispatcher, "estimate hello").private is True


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("estimate", "there is no text to estimate"),
        ("estimate --model gpt-9 hello", "unknown model 'gpt-9'; known models: claude-haiku-3.5"),
        ("estimate --use-case poetry hi", "unknown use case 'poetry'; known use cases: ad-copy"),
        ("estimate --colour red hi", "unknown option --colour (allowed: --model, --use-case)"),
        ("estimate --model", "--model needs a value"),
    ],
)
def test_bad_input_gets_a_clear_answer_with_the_usage(dispatcher, command, expected):
    out = console(dispatcher, command)
    assert expected in out
    assert "usage: estimate [--model M] [--use-case U] TEXT" in out


def test_text_over_the_limit_is_refused_naming_the_limit(dispatcher):
    limit = dispatcher.services.policy.estimate.max_text_chars
    reply = say(dispatcher, "estimate " + "word " * (limit // 5 + 1))
    assert reply.template == "usage_error"
    assert f"estimates take at most {limit:,} characters" in reply.context["message"]


def test_estimate_is_listed_in_help_and_no_longer_pending(dispatcher):
    out = console(dispatcher, "help")
    assert "estimate" in out
    assert say(dispatcher, "estimate hi").template == "estimate"


# --- chat platforms: the form ------------------------------------------------------------------


def test_on_slack_estimate_without_text_asks_for_it_in_a_form(dispatcher):
    reply = say(dispatcher, "estimate --use-case coding", platform="slack", user="UANN")
    assert reply.form is not None
    assert reply.form.submit_action_id == "estimate.submit"
    fields = {f.name: f for f in reply.form.fields}
    assert fields["model"].initial == "gpt-4o"
    assert fields["use_case"].initial == "coding"
    assert fields["text"].kind == "multiline"


def test_submitting_the_form_estimates_the_pasted_text(dispatcher):
    reply = dispatcher.handle_action(
        IncomingAction(
            "slack",
            "UANN",
            "estimate.submit",
            "",
            {"model": "gpt-4o-mini", "use_case": "support-reply", "text": "hello world\n" * 200},
        )
    )
    result = reply.context["estimate"]
    assert (result.model.name, result.use_case) == ("gpt-4o-mini", "support-reply")
    assert result.model.input_tokens == 600  # "hello", " world", "\n" 200 times
    assert result.is_cheapest


def test_a_form_submission_with_a_bad_model_gets_a_clear_answer(dispatcher):
    reply = dispatcher.handle_action(
        IncomingAction("slack", "UANN", "estimate.submit", "", {"model": "gpt-9", "text": "hi"})
    )
    assert reply.template == "usage_error"
    assert "unknown model 'gpt-9'" in reply.context["message"]


# --- privacy ------------------------------------------------------------------------------------


def every_stored_value(services) -> str:
    with services.db.read() as session:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table)).all()
        )


def test_sensitive_text_is_flagged_and_never_echoed_stored_or_logged(dispatcher, caplog):
    caplog.set_level(logging.DEBUG)
    one_line = f"Why does this fail? key={SECRET_KEY} call me on {PHONE}"
    document = f"{one_line}\n{PRIVATE_KEY}"  # the console reads one line per command

    out = console(dispatcher, f"estimate {one_line}")
    slack_reply = say(dispatcher, f"estimate {document}", platform="slack", user="UANN")
    form_reply = dispatcher.handle_action(
        IncomingAction("slack", "UANN", "estimate.submit", "", {"text": document})
    )

    assert "this text looks like it holds 1 API key and 1 phone number." in out
    assert dispatcher.services.policy.estimate.redaction_rule in out
    renderer = dispatcher.services.renderer
    slack_text = renderer.text(slack_reply)
    assert "holds 1 private key, 1 API key and 1 phone number" in slack_text
    rendered = [
        out,
        slack_text,
        renderer.channel("slack", slack_reply),
        renderer.channel("slack", form_reply),
        repr(slack_reply),
        repr(form_reply),
    ]
    stored = every_stored_value(dispatcher.services)
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in (SECRET_KEY, PHONE, "MIIEowIBAAKCAQEA7bq9"):
        for where, content in [*enumerate(rendered), ("database", stored), ("logs", logged)]:
            assert secret.lower() not in content.lower(), f"{secret!r} leaked into {where}"
