"""Wording of the scoring and governance replies (issue 16): replies about someone else speak
of them, plurals agree with their numbers, and an upheld flag is not "until it is cleared"."""

from __future__ import annotations

from bot.core.messages import Reply
from bot.core.presenters.flags import explain
from bot.core.rendering import Renderer
from tests.unit.core.scoring_samples import _improvement, _score
from tests.unit.core.template_samples import SAMPLES


def score_text(**changes) -> str:
    return Renderer().text(Reply("score", _score(**changes)))


def test_one_different_prompt_is_singular():
    evidence = {"repeats": 15, "share": 0.94, "calls": 16, "distinct_prompts": 1, "min_repeats": 15}
    text = explain("prompt_spam", evidence)
    assert "(1 different prompt in all)" in text
    evidence["distinct_prompts"] = 2
    assert "(2 different prompts in all)" in explain("prompt_spam", evidence)


def test_an_upheld_flag_keeps_the_week_out_without_promising_it_can_be_cleared():
    text = score_text(own=False, name="Bob Builder", flagged=True, flag_statuses=["upheld"])
    assert "Bob Builder's governance flag for this week was upheld" in text
    assert "until" not in text
    pending = score_text(flagged=True, flag_statuses=["pending"])
    assert "until the flag is cleared" in pending


def test_a_flag_for_a_week_next_to_this_one_is_not_said_to_be_for_this_week():
    text = score_text(flagged=True, flag_statuses=["pending"], flag_reach="adjacent")
    assert "You have an open governance flag for this week or a week next to it" in text
    watched = score_text(flagged=True, flag_statuses=["upheld"], flag_reach="watched")
    assert "flag for this week or one of the weeks before it that the detectors still watch" in (
        watched
    )
    assert "flag for this week was" not in watched


def test_a_manager_reading_a_report_s_improvement_reads_their_not_your():
    for component, unit, value, baseline in [
        ("acceptance", "rate", 0.5, 0.75),
        ("revision", "edit_distance", 0.4, 0.2),
        ("speed", "seconds", 900.0, 600.0),
        ("adoption", "count", 1.0, 6.0),
        ("savings", "minutes", 0.0, 30.0),
        ("reuse", "rate", 0.0, 0.4),
        ("cost", "cost_per_accepted", 42_000.0, 10_000.0),
    ]:
        improvement = _improvement(component, unit, value, baseline)
        text = score_text(own=False, name="Bob Builder", improvement=improvement)
        assert " your " not in text.replace("\n", " ").lower(), text


def test_a_minimum_of_one_artifact_is_singular():
    text = score_text(
        artifacts=0,
        short_of=[{"label": "Efficiency champion", "min_tasks": 1}],
        short_everywhere=True,
    )
    assert "Recognition needs at least 1 artifact in the week; you have 0." in text


def test_the_app_home_says_an_upheld_flag_is_final_and_a_pending_one_can_be_cleared():
    upheld, pending = SAMPLES["home"][-2:]
    home = Renderer().channel("slack", Reply("home", upheld))
    assert "An upheld governance flag keeps that week out of recognition" in home
    assert "until it is cleared" not in home
    assert "until it is cleared" in Renderer().channel("slack", Reply("home", pending))
