"""The pure parts of the estimate command: leading options, quotes, chat-format JSON."""

from __future__ import annotations

import pytest

from bot.core.commands.estimate import OPTIONS, USAGE, to_chat_messages, unquote
from bot.core.errors import UsageError
from bot.core.parsing import split_leading_options


@pytest.mark.parametrize(
    ("args", "options", "rest"),
    [
        ("hello  world", {}, "hello  world"),
        ("--model gpt-4o hello  world", {"model": "gpt-4o"}, "hello  world"),
        (
            '--model=gpt-4o --use-case "seo-brief" "a quoted prompt"',
            {"model": "gpt-4o", "use-case": "seo-brief"},
            '"a quoted prompt"',
        ),
        (
            "--use-case coding\n\ndef f():\n    return 1\n",
            {"use-case": "coding"},
            "def f():\n    return 1\n",
        ),
        ("-- --model is part of the text", {}, "--model is part of the text"),
        ("--", {}, ""),
        ("Explain --model flags", {}, "Explain --model flags"),
        ("--model gpt-4o", {"model": "gpt-4o"}, ""),
    ],
)
def test_leading_options_are_taken_and_the_rest_is_kept_verbatim(args, options, rest):
    assert split_leading_options(args, OPTIONS, USAGE) == (options, rest)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("--model", "--model needs a value"),
        ("--model=", "--model needs a value"),
        ('--model "" hi', "--model needs a value"),
        ("--model\nhi", "--model needs a value"),
        ("--colour red hi", "unknown option --colour (allowed: --model, --use-case)"),
    ],
)
def test_bad_leading_options_are_usage_errors(args, message):
    with pytest.raises(UsageError) as caught:
        split_leading_options(args, OPTIONS, USAGE)
    assert caught.value.message == message
    assert caught.value.usage == USAGE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"hello world"', "hello world"),
        ("'hello world'", "hello world"),
        ("\u201chello world\u201d", "hello world"),
        ('"a" and "b"', '"a" and "b"'),
        ('say "hi"', 'say "hi"'),
        ('"', '"'),
        ("", ""),
    ],
)
def test_one_pair_of_quotes_around_the_whole_text_is_removed(text, expected):
    assert unquote(text) == expected


def test_a_json_list_of_role_content_messages_is_a_chat_request():
    text = '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": null}]'
    assert to_chat_messages(text) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": None},
    ]


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2, 3]",
        "[]",
        '[{"role": "user"}]',
        '[{"content": "hi"}]',
        '[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]',
        "[not json]",
        "plain text",
    ],
)
def test_anything_else_is_plain_text(text):
    assert to_chat_messages(text) is None
