"""Every message template renders with a sample context (template_samples.py), and what it
renders is valid for its channel: readable text, Block Kit within Slack's limits, Adaptive
Cards of version 1.5. Templates are discovered, so a new one without a sample fails here."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jinja2 import UndefinedError

from bot.core.messages import Reply
from bot.core.rendering import Renderer, split_text
from message_templates import (
    format_last_day,
    format_money,
    format_short_tokens,
    template_names,
)
from tests.unit.core.payload_checks import adaptive_card_problems, block_kit_problems
from tests.unit.core.template_samples import SAMPLES

CHANNELS = ("text", "slack", "teams")
TEMPLATES = [(channel, name) for channel in CHANNELS for name in template_names(channel)]


def sample_contexts(channel: str, name: str) -> list[dict[str, Any]]:
    sample = SAMPLES.get(f"{channel}/{name}", SAMPLES.get(name))
    if sample is None:
        pytest.fail(
            f"message_templates/{channel}/{name} has no sample context: add an entry "
            f"{name!r} (or '{channel}/{name}') to tests/unit/core/template_samples.py SAMPLES"
        )
    return sample if isinstance(sample, list) else [sample]


def render(renderer: Renderer, channel: str, name: str, context: dict[str, Any]) -> str:
    if channel == "text":
        return renderer.text(Reply(name, context))
    return renderer.channel(channel, Reply(name, context))


def _strings(value: Any) -> list[str]:
    """Every string in a context that carries template syntax (prompt template texts)."""
    if isinstance(value, str):
        return [value] if "{{" in value or "{%" in value else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def test_the_text_channel_has_templates_to_check():
    assert len(template_names("text")) >= 10


@pytest.mark.parametrize(("channel", "name"), TEMPLATES, ids=[f"{c}/{n}" for c, n in TEMPLATES])
def test_every_template_renders_its_sample_and_is_valid_for_its_channel(channel: str, name: str):
    renderer = Renderer()
    for index, context in enumerate(sample_contexts(channel, name)):
        where = f"{channel}/{name} sample {index}"
        try:
            rendered = render(renderer, channel, name, context)
        except UndefinedError as exc:
            pytest.fail(f"{where}: the sample lacks a value the template uses: {exc}")
        if channel == "text":
            assert rendered.strip(), f"{where} rendered nothing"
            # Leaked template syntax; a prompt template's own text (context data) may hold it.
            shown = rendered
            for data in sorted(_strings(context), key=len, reverse=True):
                shown = shown.replace(data, "")
            assert "{{" not in shown and "{%" not in shown, where
            continue
        try:
            payload = json.loads(rendered)
        except json.JSONDecodeError as exc:
            pytest.fail(f"{where} is not JSON ({exc}):\n{rendered}")
        problems = (
            block_kit_problems(payload) if channel == "slack" else adaptive_card_problems(payload)
        )
        assert problems == [], f"{where}: {problems}"


def test_the_balance_text_shows_pools_burn_rate_and_run_out_date():
    (own, other, idle) = SAMPLES["balance"][:3]
    text = Renderer().text(Reply("balance", own))
    assert "Your token balance for 2026-11 (through Mon 30 Nov 2026)" in text
    assert "1,250,000 of 1,600,000 left, until Mon 30 Nov 2026" in text
    assert "(shared)" in text
    assert "Personal: 1,650,000 of 2,000,000 left; 350,000 used." in text
    assert "Used this period: 350,000 tokens ($1.23): 350,000 from your own allotments." in text
    assert "Burn rate: 20,588 tokens/day in all, 20,588 of them from your own allotments" in text
    assert "lasts past the period's end on Mon 30 Nov 2026" in text
    assert "400,000 carry over into the next period" in text
    other_text = Renderer().text(Reply("balance", other))
    assert other_text.startswith("Ann Analyst's token balance")
    assert (
        "2,300,000 tokens ($1.23): 1,500,000 from their expired own allotments, 500,000 from "
        "reserved pools, 300,000 overdraft, beyond every allotment" in other_text
    )
    assert "their personal balance runs out on" in other_text
    assert "No active allotments: Ann Analyst may not be in a tier yet" in other_text
    assert "your" not in other_text.lower()
    assert "before the period ends on Mon 30 Nov 2026" in other_text
    assert "baseline phase" in other_text
    assert "runs out" not in Renderer().text(Reply("balance", idle))
    assert "Team pool: your share" not in Renderer().text(Reply("balance", own))


def test_the_balance_shows_the_team_pool_share_with_the_figures_it_comes_from():
    allocated, capped = SAMPLES["balance"][3:5]
    # 750,000 = 1,000,000 allocated - 250,000 used (under the pool's 4,100,000 left)
    assert (
        "Team pool: your share 750,000 of 4,100,000 left "
        "(allocation 1,000,000, used 250,000)." in Renderer().text(Reply("balance", allocated))
    )
    # 500,000 = min(4,100,000 - 750,000 held, 2,000,000 cap - 1,500,000 used)
    assert (
        "Team pool: your share 500,000 of 4,100,000 left (750,000 held for others' allocations; "
        "capped at 2,000,000 a member, used 1,500,000)."
        in Renderer().text(Reply("balance", capped))
    )


def test_a_missing_context_value_is_an_error_not_an_empty_string():
    with pytest.raises(UndefinedError):
        Renderer().text(Reply("internal_error", {}))


def test_block_kit_checker_accepts_a_valid_message():
    message = {
        "text": "Your balance",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Balance"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*1,250,000* left"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "action_id": "burst:approve",
                        "value": "42",
                    }
                ],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "2026-11"}]},
        ],
    }
    assert block_kit_problems(message) == []


def test_block_kit_checker_finds_too_many_blocks_and_too_long_section_text():
    blocks = [{"type": "divider"}] * 50 + [
        {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    ]
    problems = block_kit_problems({"blocks": blocks})
    assert any("51 blocks" in p for p in problems)
    assert any("3001 characters" in p for p in problems)
    modal = {"type": "modal", "title": {"text": "Request"}, "blocks": [{"type": "divider"}] * 60}
    assert block_kit_problems(modal) == []


def test_block_kit_checker_finds_element_problems():
    button = {"type": "button", "text": {"text": "y" * 76}, "action_id": "a", "value": "v"}
    problems = block_kit_problems(
        [
            {"type": "actions", "elements": [button, button]},
            {"type": "section", "fields": [{"text": "f"}] * 11},
            {"type": "header", "text": {"text": "h" * 151}},
            {"no": "type"},
        ]
    )
    assert any("button text" in p for p in problems)
    assert any("action_id used more than once: a" in p for p in problems)
    assert any("11 fields" in p for p in problems)
    assert any("header" in p for p in problems)
    assert any("block 3 has no type" in p for p in problems)
    assert block_kit_problems("not json object") != []


def test_adaptive_card_checker_wants_type_and_version_1_5():
    card = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Balance"}],
        "actions": [{"type": "Action.Submit", "title": "Approve", "data": {"id": 1}}],
    }
    assert adaptive_card_problems(card) == []
    wrapped = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    assert adaptive_card_problems(wrapped) == []
    problems = adaptive_card_problems({**card, "type": "MessageCard", "version": "1.2"})
    assert any("AdaptiveCard" in p for p in problems)
    assert any("1.5" in p for p in problems)
    assert adaptive_card_problems({**card, "actions": [{"type": "Action.Submit"}]}) == [
        "actions[0] has no title"
    ]


def test_long_text_is_split_on_line_boundaries_within_the_limit():
    text = "\n".join(f"line {i:03d}" for i in range(100))
    pieces = split_text(text, 100)
    assert all(len(p) <= 100 for p in pieces)
    assert "\n".join(pieces) == text
    assert split_text("short", 100) == ["short"]


def test_a_single_line_longer_than_the_limit_is_cut():
    pieces = split_text("a" * 250, 100)
    assert [len(p) for p in pieces] == [100, 100, 50]


def test_number_money_and_date_filters():
    assert format_short_tokens(2_500_000) == "2.5M"
    assert format_short_tokens(50_000) == "50k"
    assert format_short_tokens(999) == "999"
    assert format_money(1_234_567) == "$1.23"
    assert format_money(1_234, precise=True) == "$0.001234"
    assert format_last_day(SAMPLES["balance"][0]["view"].period.end) == "Mon 30 Nov 2026"


def test_counts_agree_with_their_nouns():
    from message_templates import build_template_env, plural

    assert plural(1, "project") == "1 project" and plural(2, "project") == "2 projects"
    assert plural(0, "project") == "0 projects" and plural(1_000, "row") == "1,000 rows"
    assert (
        plural(1, "person", "people") == "1 person" and plural(3, "person", "people") == "3 people"
    )
    env = build_template_env()
    explained = env.get_template("text/flag_explanation.txt.j2").render(
        detector="prompt_spam",
        evidence={"repeats": 1, "share": 0.5, "calls": 1, "distinct_prompts": 1, "min_repeats": 1},
    )
    assert "1 time " in explained and "1 request " in explained and "1 repeat." in explained
    assert "1 different prompt in all" in explained
