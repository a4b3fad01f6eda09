"""`score`, `leaderboard`, `templates`, `claim` and the manager's verify button, through the
console dispatcher on the seeded scoring org, and `tokenbot templates add`."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage, Reply
from storage.models import AuditEntry, Outcome, PromptTemplate
from tests.integration.scoring_support import seed_org


@pytest.fixture
def ids(services):
    return seed_org(services)


@pytest.fixture
def chat(services, ids):
    dispatcher = Dispatcher(services)

    def say(email: str, text: str) -> tuple[Reply, str]:
        reply = dispatcher.handle_message(IncomingMessage("console", email, text))
        return reply, services.renderer.text(reply)

    return say


def press(services, email: str, action_id: str, value: str) -> tuple[Reply, str]:
    reply = Dispatcher(services).handle_action(IncomingAction("console", email, action_id, value))
    return reply, services.renderer.text(reply)


def test_score_shows_each_component_with_its_baseline_weight_and_contribution(chat):
    reply, text = chat("bob@acme.test", "score")
    assert reply.private
    assert text.startswith("Your efficiency score for 2026-W46 (2026-11-09 to 2026-11-15):")
    assert "Accepted output per 1k tokens" in text and "x weight 15 = " in text
    components = reply.context["components"]
    assert len(components) == 8
    assert sum(float(c["contribution"]) for c in components) == pytest.approx(
        float(reply.context["score"])
    )
    assert (
        "The change worth most (about +10.8 points): your tokens per accepted seo-brief "
        "artifact are 6.0x the seo-brief median (24,000 tokens vs 4,000 tokens); the SEO "
        "brief v3 template averages 44% fewer tokens per task" in text
    )


def test_score_shows_what_shrinkage_made_of_a_small_sample_and_why_it_is_not_recognised(chat):
    _reply, text = chat("leo@acme.test", "score")
    assert "Acceptance net of edits         100% (1 of 1), counted as 67%, vs 60%: 1.10x" in text
    assert "Recognition needs at least 5 artifacts in the week; you have 1." in text


def test_a_manager_sees_a_report_s_score_and_a_colleague_does_not(chat):
    _reply, text = chat("mia@acme.test", "score bob@acme.test")
    assert text.startswith("Bob Builder's efficiency score")
    reply, text = chat("ann@acme.test", "score bob@acme.test")
    assert reply.template == "not_allowed" and "Scores are private" in text


def test_the_leaderboard_names_the_best_internal_knowledge_contribution(chat):
    _reply, text = chat("kim@acme.test", "leaderboard knowledge-contribution")
    assert (
        "Best internal knowledge contribution:\n  Gold: Tia Template (Marketing), about 37,720 "
        "tokens saved for 3 colleagues who reused SEO brief v3 (18 accepted artifacts)" in text
    )


def test_the_leaderboard_multiple_is_the_ratio_of_the_counted_figures_it_shows(chat):
    _reply, text = chat("kim@acme.test", "leaderboard efficiency-champion")
    # 3 typical people: 2,667 tokens per accepted brief, counted as 3,179 with the 5 pseudo-
    # tasks at the baseline; 4,000 / 3,179 = 1.26 (the raw 2,667 alone would be 1.50x)
    assert (
        "Silver: Dan Typical (Sales), seo-brief: 2,667 tokens per accepted artifact (counted "
        "as 3,179 tokens) against a median of 4,000 tokens (1.26x the baseline)" in text
    )


def test_a_manager_reading_a_report_s_score_reads_about_them_not_about_you(chat):
    _reply, text = chat("mia@acme.test", "score bob@acme.test")
    assert "their tokens per accepted seo-brief artifact are 6.0x" in text
    assert "your" not in text.lower()


def test_a_flagged_person_sees_privately_why_they_are_not_recognised(chat):
    _reply, text = chat("fay@acme.test", "score")
    assert "You have an open governance flag this week" in text


def test_score_takes_a_week_and_refuses_a_malformed_one(chat):
    _reply, text = chat("ann@acme.test", "score --week 2026-W45")
    assert "2026-W45 (2026-11-02 to 2026-11-08)" in text
    reply, text = chat("ann@acme.test", "score --week last-week")
    assert reply.template == "usage_error" and "ISO week such as 2026-W47" in text
    _reply, text = chat("ceo@acme.test", "score")
    assert text.startswith("You have no scored work in 2026-W46")


def test_the_leaderboard_names_the_recognised_with_their_reasons_never_spend(chat):
    reply, text = chat("kim@acme.test", "leaderboard")
    assert not reply.private
    assert "Recognised for week 2026-W46" in text
    assert (
        "Gold: Ann Analyst (Marketing), seo-brief: 1,000 tokens per accepted artifact "
        "(counted as 1,957 tokens) against a median of 4,000 tokens (2.00x the baseline)" in text
    )
    assert "Bob Builder" not in text and "Fay Fast" not in text and "Leo Lucky" not in text
    assert "$" not in text  # never raw spend
    assert "Teams by accepted output per token" in text


def test_the_leaderboard_filters_by_category_and_covers_the_period_so_far(chat):
    _reply, text = chat("kim@acme.test", "leaderboard workflow-builder --period")
    assert "the budget period 2026-11 so far (2026-11-01 to 2026-11-18)" in text
    assert "Reusable workflow builder:" in text and "Efficiency champion" not in text
    assert "Tia Template" in text
    reply, text = chat("kim@acme.test", "leaderboard richest")
    assert reply.template == "usage_error" and "efficiency-champion" in text


def test_the_leaderboard_is_off_in_the_baseline_phase(services, ids):
    services.policy = replace(services.policy, phase="baseline")
    reply = Dispatcher(services).handle_message(
        IncomingMessage("console", "ann@acme.test", "leaderboard")
    )
    assert "Recognition is off" in services.renderer.text(reply)


def test_templates_lists_approved_templates_with_tokens_acceptance_reuse_and_author(chat):
    reply, text = chat("ann@acme.test", "templates seo-brief")
    assert not reply.private
    assert (
        "SEO brief v3 [seo-brief-v3], by Tia Template: 2,000 tokens per task (44% fewer), "
        "75% accepted, reused 24 times by 3 colleagues" in text
    )
    _reply, text = chat("ann@acme.test", "templates coding")
    assert "No approved templates yet" in text
    reply, _text = chat("ann@acme.test", "templates gossip")
    assert reply.template == "usage_error"


def test_claimed_minutes_count_only_once_the_manager_verifies_them(services, chat, ids):
    reply, text = chat("kim@acme.test", "claim 45 brief-kim-20261109-0")
    assert "Mia Manager has been asked to verify it" in text
    (notice,) = reply.notices
    assert notice.to_person_id == ids["mia"]
    verify, decline = notice.reply.buttons
    assert verify.action_id == "savings.verify:approve" and decline.style == "danger"
    with services.db.read() as session:
        outcome = session.get(Outcome, "o-kim-20261109-0")
        assert outcome is not None and not outcome.minutes_verified

    _reply, text = press(services, "ann@acme.test", verify.action_id, verify.value)
    assert "Only the manager of the person who claimed" in text

    reply, text = press(services, "mia@acme.test", verify.action_id, verify.value)
    assert text == "You verified 45 minutes saved by Kim Typical on brief-kim-20261109-0."
    assert reply.replace_original
    assert "they now count toward your score" in services.renderer.text(reply.notices[0].reply)

    _reply, text = press(services, "mia@acme.test", verify.action_id, verify.value)
    assert "already verified (45 minutes)" in text
    with services.db.read() as session:
        outcome = session.get(Outcome, "o-kim-20261109-0")
        assert outcome.minutes_verified and outcome.verified_minutes == 45
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == "outcome:o-kim-20261109-0")
        ).all()
    assert actions == ["savings.claim", "savings.verify"]
    _reply, text = chat("kim@acme.test", "score")
    assert "Verified minutes saved          45 min vs 0 min" in text


def test_a_declined_claim_counts_nothing_and_an_older_claim_cannot_be_verified(services, chat):
    first, _text = chat("kim@acme.test", "claim 30 brief-kim-20261109-1")
    second, _text = chat("kim@acme.test", "claim 60 brief-kim-20261109-1")
    old = first.notices[0].reply.buttons[0]
    _reply, text = press(services, "mia@acme.test", old.action_id, old.value)
    assert "A newer claim on brief-kim-20261109-1 replaced this one" in text
    decline = second.notices[0].reply.buttons[1]
    reply, text = press(services, "mia@acme.test", decline.action_id, decline.value)
    assert text.startswith("You declined Kim Typical's claim of 60 minutes")
    with services.db.read() as session:
        assert not session.get(Outcome, "o-kim-20261109-1").minutes_verified


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("claim 45 brief-kim-20261109-7", "was rejected"),
        ("claim 45 brief-ann-20261109-0", "You have no artifact"),
        ("claim 0 brief-kim-20261109-0", "Claim between 1 and 10,080 minutes"),
        ("claim lots brief-kim-20261109-0", "give the minutes saved"),
    ],
)
def test_claims_on_the_wrong_artifacts_or_amounts_are_refused(chat, text, expected):
    _reply, rendered = chat("kim@acme.test", text)
    assert expected in rendered


def test_tokenbot_templates_add_stores_an_approved_text_and_then_a_new_version(
    services, ids, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("TOKENBOT_DATABASE_URL", services.settings.database_url)
    monkeypatch.delenv("TOKENBOT_POLICY", raising=False)
    first, second, leaky = (tmp_path / n for n in ("v1.txt", "v2.txt", "leaky.txt"))
    first.write_text("Three headlines for {{ product }}, tone {{ tone }}.\n", encoding="utf-8")
    second.write_text("Three headlines for {{ product }}.\n", encoding="utf-8")
    leaky.write_text(
        "Use key sk-proj-Q7vX2mN9pL4kR8sT1wY6zA3bC5dE0fG for {{ x }}", encoding="utf-8"
    )
    args = ["templates", "add", "--id", "ad-copy-v1", "--name", "Ad copy v1"]
    add = [*args, "--use-case", "ad-copy", "--text-file"]
    assert main([*add, str(first), "--author", "kim@acme.test"]) == 0
    assert (
        "added template ad-copy-v1 (Ad copy v1) for ad-copy, approved; variables: product, tone"
        in capsys.readouterr().out
    )
    assert main([*add, str(second)]) == 0
    assert "added version 2 of template ad-copy-v1" in capsys.readouterr().out
    with services.db.read() as session:
        template = session.get(PromptTemplate, "ad-copy-v1")
        assert (template.use_case, template.author_id) == ("ad-copy", ids["kim"])
        assert (template.state, template.current_version, template.approved) == (
            "approved",
            2,
            True,
        )
    assert main([*args, "--use-case", "seo-brief", "--text-file", str(second)]) == 2
    assert "a new version keeps its use case" in capsys.readouterr().err
    assert main([*args, "--use-case", "personal", "--text-file", str(second)]) == 2
    assert "prohibited" in capsys.readouterr().err
    assert main([*add, str(second), "--author", "nobody@acme.test"]) == 2
    assert "no one with the email nobody@acme.test" in capsys.readouterr().err
    assert main([*add, str(leaky)]) == 2
    assert "looks like it holds an API key" in capsys.readouterr().err
    assert main(["templates", "list"]) == 0
    assert "ad-copy\tad-copy-v1\tAd copy v1\tkim@acme.test\tapproved v2" in capsys.readouterr().out
    assert main(["templates", "retire", "ad-copy-v1"]) == 0
    assert "retired template ad-copy-v1" in capsys.readouterr().out
