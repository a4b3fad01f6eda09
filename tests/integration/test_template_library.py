"""The prompt library on the console and in the domain, on the real database: propose (form
prompts), approve or send back (buttons, by the use case's owner or an admin, exactly once),
versions, `templates`, `templates show`, `templates use` (one prompt per variable, in order),
retire, and every bad input refused with its own message and nothing stored."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.console import ConsoleChat
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage
from budgets.policy import Policy, load_policy
from scoring import template_library as library
from storage.models import AuditEntry, PromptTemplate, PromptTemplateVersion

# One line: the console reads a form field per line.
BRIEF = (
    "Write an SEO brief for {{ topic }} aimed at {{ audience | default('everyone', true) }}. "
    "{% if notes %}Keep in mind: {{ notes | trim }}{% endif %} Topic again: {{ topic }}"
)


@pytest.fixture
def policy() -> Policy:
    """The default policy with Mia (a manager, not an admin) owning seo-brief."""
    base = load_policy()
    use_cases = dict(base.use_cases)
    use_cases["seo-brief"] = replace(use_cases["seo-brief"], owner="mia@acme.test")
    return replace(base, use_cases=use_cases)


def console(services, email: str, lines: list[str]) -> str:
    """Run `lines` through the console chat as `email`; what it printed."""
    out = io.StringIO()
    script = io.StringIO("".join(f"{line}\n" for line in lines))
    chat = ConsoleChat(Dispatcher(services), email, out, script)
    while line := script.readline():
        chat.handle(line.strip())
    return out.getvalue()


def propose_lines(template_id="seo-brief-v4", text=BRIEF, use_case="seo-brief") -> list[str]:
    return [
        "templates propose",
        template_id,
        "SEO brief v4",
        use_case,
        "Briefs from a topic, not a pasted document",
        text,
    ]


def stored(services) -> tuple[int, int]:
    with services.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(PromptTemplate)),
            session.scalar(select(func.count()).select_from(PromptTemplateVersion)),
        )


def test_the_whole_loop_on_the_console_propose_approve_list_show_use(services, org):
    proposed = console(services, "ann@acme.test", propose_lines())
    assert "Propose a prompt template" in proposed
    assert "Proposed SEO brief v4 [seo-brief-v4] for seo-brief." in proposed
    assert "Variables: topic, audience, notes." in proposed
    assert "input tokens with gpt-4o" in proposed
    assert "(tokenbot also sent a message to Mia Manager)" in proposed

    listed = console(services, "ann@acme.test", ["templates seo-brief"])
    assert "seo-brief-v4" not in listed  # not approved yet

    decided = console(services, "mia@acme.test", ["templates pending", "press 1"])
    assert "SEO brief v4 [seo-brief-v4] version 1 for seo-brief, by Ann Analyst" in decided
    assert "Approved: SEO brief v4 [seo-brief-v4] version 1, by Mia Manager" in decided
    assert "(tokenbot also sent a message to Ann Analyst)" in decided

    listed = console(services, "bob@acme.test", ["templates seo-brief"])
    assert "SEO brief v4 [seo-brief-v4], by Ann Analyst" in listed
    shown = console(services, "bob@acme.test", ["templates show seo-brief-v4"])
    assert "seo-brief, approved, by Ann Analyst" in shown
    assert "Version 1, approved by Mia Manager" in shown
    assert "Variables: topic, audience, notes." in shown
    assert "Write an SEO brief for {{ topic }}" in shown
    assert "[1] Use this template" in shown

    used = console(
        services,
        "bob@acme.test",
        ["templates use seo-brief-v4", "trail running shoes", "beginners", "  no jargon  "],
    )
    prompts = [used.index(f"  {name}: ") for name in ("topic", "audience", "notes")]
    assert prompts == sorted(prompts)  # asked in the order they first appear
    assert (
        "Write an SEO brief for trail running shoes aimed at beginners. "
        "Keep in mind: no jargon Topic again: trail running shoes"
    ) in used
    assert "only you see this; it is not stored" in used
    assert "Estimate with gpt-4o:" in used and "% of your remaining" in used
    assert "Expected saving: not known yet" in used


def test_a_decision_is_made_once_and_a_later_click_says_by_whom(services, org):
    console(services, "ann@acme.test", propose_lines())
    dispatcher = Dispatcher(services)
    click = IncomingAction("console", "mia@acme.test", "templates.approve", "seo-brief-v4:1")
    first = dispatcher.handle_action(click)
    second = dispatcher.handle_action(click)
    assert first.template == "template_decided" and first.replace_original
    assert [n.to_person_id for n in first.notices] == [org["ann@acme.test"].id]
    assert "Nothing changed: version 1 of 'seo-brief-v4' was already approved by Mia Manager" in (
        services.renderer.text(second)
    )
    with services.db.read() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == "template:seo-brief-v4")
        ).all()
    assert actions == ["template.propose", "template.approve"]


def test_two_approvers_at_once_approve_once(services, org):
    console(services, "ann@acme.test", propose_lines())

    def click(email: str) -> str:
        reply = Dispatcher(services).handle_action(
            IncomingAction("console", email, "templates.approve", "seo-brief-v4:1")
        )
        return reply.template

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(click, ["mia@acme.test", "ceo@acme.test"]))
    assert outcomes == ["template_decided", "template_refused"]
    with services.db.read() as session:
        approvals = session.scalar(
            select(func.count()).where(AuditEntry.action == "template.approve")
        )
    assert approvals == 1


def test_sending_back_asks_for_a_comment_and_tells_the_author(services, org):
    console(services, "ann@acme.test", propose_lines())
    sent = console(services, "mia@acme.test", ["templates pending", "press 2", "Add a word limit"])
    assert "What should change?" in sent
    assert "Sent back: SEO brief v4 [seo-brief-v4] version 1, by Mia Manager" in sent
    assert "Add a word limit" in sent
    with services.db.read() as session:
        view = library.template_view(session, "seo-brief-v4")
    assert view is not None and view.state == "proposed" and view.versions[0].state == "sent_back"
    # The author changes it and proposes again: version 2.
    again = console(services, "ann@acme.test", propose_lines(text=BRIEF + " Max 300 words."))
    assert "Proposed SEO brief v4 [seo-brief-v4] version 2" in again


def test_only_the_owner_or_an_admin_decides_and_never_the_author(services, org):
    console(services, "bob@acme.test", propose_lines())
    dispatcher = Dispatcher(services)

    def text_of(email: str, action: str = "templates.approve") -> str:
        reply = dispatcher.handle_action(IncomingAction("console", email, action, "seo-brief-v4:1"))
        return services.renderer.text(reply)

    assert "only the owner of the use case seo-brief or an admin" in text_of("ann@acme.test")
    assert "only the owner" in text_of("ann@acme.test", "templates.send_back")
    assert "No prompt templates are waiting" in console(
        services, "ann@acme.test", ["templates pending"]
    )
    assert "Approved:" in text_of("ceo@acme.test")  # an admin


def test_the_owner_proposing_asks_the_admins_not_themself(services, org):
    out = console(services, "mia@acme.test", propose_lines())
    assert "(tokenbot also sent a message to Cleo Chief)" in out
    reply = Dispatcher(services).handle_action(
        IncomingAction("console", "mia@acme.test", "templates.approve", "seo-brief-v4:1")
    )
    assert "you proposed this template" in services.renderer.text(reply)


def test_a_new_version_keeps_the_old_one_and_its_stats(services, org, clock):
    console(services, "ann@acme.test", propose_lines())
    console(services, "mia@acme.test", ["templates pending", "press 1"])
    clock.advance(days=1)
    console(services, "bob@acme.test", propose_lines(text="Brief on {{ topic }} in 200 words."))
    console(services, "mia@acme.test", ["templates pending", "press 1"])
    with services.db.read() as session:
        view = library.template_view(session, "seo-brief-v4")
    assert view is not None
    assert [(v.version, v.state) for v in view.versions] == [(1, "superseded"), (2, "approved")]
    assert view.current_version == 2 and view.author_name == "Ann Analyst"
    assert view.versions[0].text == BRIEF
    shown = console(services, "ann@acme.test", ["templates show seo-brief-v4"])
    assert "Brief on {{ topic }} in 200 words." in shown
    assert "  v1 (" in shown and "  v2 (" in shown


def test_a_retired_template_is_refused_when_used(services, org):
    console(services, "ann@acme.test", propose_lines())
    console(services, "mia@acme.test", ["templates pending", "press 1"])
    assert "Retired SEO brief v4" in console(
        services, "mia@acme.test", ["templates retire seo-brief-v4"]
    )
    used = console(services, "bob@acme.test", ["templates use seo-brief-v4"])
    assert "template 'seo-brief-v4' is retired" in used
    assert "there is no template 'nope'" in console(
        services, "bob@acme.test", ["templates use nope"]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Brief for {{ topic.__class__ }}", "reads an attribute"),
        ("Brief for {{ topic }", "does not parse (line 1)"),
        ("{% for x in topic %}{{ x }}{% endfor %}", "loops"),
        ("Brief for {{ loop }}", "`loop` is not a variable anyone can fill in"),
        (
            "Brief. Our key is sk-proj-Q7vX2mN9pL4kR8sT1wY6zA3bC5dE0fG",
            "looks like it holds an API key; make such values variables",
        ),
        (
            "Mail jane.customer@example.org about {{ topic }}",
            "looks like it holds an email address",
        ),
        ("x" * 20_001, "a template takes at most 20,000"),
    ],
)
def test_bad_texts_get_their_own_message_and_store_nothing(services, org, text, expected):
    reply = Dispatcher(services).handle_action(
        IncomingAction(
            "console",
            "ann@acme.test",
            "templates.propose",
            "",
            {"template_id": "bad-one", "name": "Bad", "use_case": "seo-brief", "text": text},
        )
    )
    rendered = services.renderer.text(reply)
    assert rendered.startswith("Nothing was stored: ")
    assert expected in rendered
    assert stored(services) == (0, 0)


def test_a_missing_variable_at_use_time_is_named(services, org):
    console(services, "ann@acme.test", propose_lines())
    console(services, "mia@acme.test", ["templates pending", "press 1"])
    reply = Dispatcher(services).handle_action(
        IncomingAction(
            "console", "bob@acme.test", "templates.use_submit", "seo-brief-v4", {"var_topic": "x"}
        )
    )
    assert "give a value for `audience`, `notes`" in services.renderer.text(reply)


def test_the_list_form_names_the_subcommands_and_a_use_case_typo_is_refused(services, org):
    reply = Dispatcher(services).handle_message(
        IncomingMessage("console", "ann@acme.test", "templates seo-brif")
    )
    assert "there is no use case 'seo-brif'" in services.renderer.text(reply)


def test_estimate_suggests_the_best_template_with_buttons_to_open_and_fill_it(services, org, clock):
    from tests.unit.budgets.estimate_fixtures import record_calls

    console(services, "ann@acme.test", propose_lines())
    console(services, "mia@acme.test", ["templates pending", "press 1"])
    with services.db.unit_of_work() as uow:
        for template_id, tokens in ((None, 4_000), ("seo-brief-v4", 1_000)):
            record_calls(
                uow.session,
                services.policy,
                clock() - timedelta(hours=1),
                count=6,
                input_tokens=tokens,
                output_tokens=500,
                use_case="seo-brief",
                template_id=template_id,
                tag=f"{template_id}-{tokens}",
            )
        uow.commit()
    out = console(
        services,
        "bob@acme.test",
        [
            "estimate --use-case seo-brief Brief on trail shoes for beginners",
            "press 1",
            "press 1",
            "shoes",
            "",
            "x",
        ],
    )
    assert "Tip: the SEO brief v4 template averages 75% fewer input tokens" in out
    assert "[1] Open SEO brief v4" in out and "[2] Fill it in" in out
    assert "SEO brief v4 [seo-brief-v4], seo-brief, approved, by Ann Analyst" in out
    assert "Write an SEO brief for shoes aimed at everyone." in out
    assert "Expected saving: not known yet (too few tasks made with it)" in out  # no outcomes
