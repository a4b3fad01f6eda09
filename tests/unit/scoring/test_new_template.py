"""The weekly spotlight's most reused new template (scoring.spotlight.most_reused_new_template)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from budgets.windows import week_by_key
from scoring.metrics import Totals
from scoring.spotlight import NEW_TEMPLATE_WEEKS, most_reused_new_template
from scoring.templates import TemplateReport

WEEK = week_by_key(ZoneInfo("Europe/Berlin"), "2026-W49")


def report(template_id: str, reused: int, reusers: int = 1) -> TemplateReport:
    return TemplateReport(
        template_id=template_id,
        name=template_id.title(),
        use_case="seo-brief",
        author_id=1,
        author_name="Tia Template",
        totals=Totals(artifacts=reused + 2, accepted=reused + 2),
        reuse=Totals(artifacts=reused, accepted=reused),
        users=reusers + 1,
        reusers=reusers,
        non_template_tokens_per_task=None,
    )


def test_the_new_template_others_reused_most_is_named_and_an_older_one_is_not():
    reports = {
        "old": report("old", reused=40, reusers=9),
        "fresh": report("fresh", reused=3, reusers=2),
        "fresher": report("fresher", reused=7, reusers=2),
    }
    first_approved = {
        "old": WEEK.end - timedelta(weeks=NEW_TEMPLATE_WEEKS, seconds=1),
        "fresh": WEEK.start - timedelta(days=10),
        "fresher": WEEK.start + timedelta(days=1),
    }
    found = most_reused_new_template(reports, first_approved, WEEK)
    assert found is not None and found.template_id == "fresher"


def test_ties_go_to_more_colleagues_then_the_first_id():
    reports = {
        "b-brief": report("b-brief", reused=5, reusers=2),
        "a-brief": report("a-brief", reused=5, reusers=2),
        "c-brief": report("c-brief", reused=5, reusers=3),
    }
    first_approved = dict.fromkeys(reports, WEEK.start)
    found = most_reused_new_template(reports, first_approved, WEEK)
    assert found is not None and found.template_id == "c-brief"
    del reports["c-brief"]
    found = most_reused_new_template(reports, first_approved, WEEK)
    assert found is not None and found.template_id == "a-brief"


def test_no_template_is_named_when_no_new_one_was_reused_by_others():
    reports = {
        "own-use-only": report("own-use-only", reused=0, reusers=0),
        "never": report("never", 4),
    }
    first_approved = {
        "own-use-only": WEEK.start,
        "never": None,  # registered before the library recorded approvals
    }
    assert most_reused_new_template(reports, first_approved, WEEK) is None
    # approved after the week ended: not new in that week's post
    assert (
        most_reused_new_template({"later": report("later", 4)}, {"later": WEEK.end}, WEEK) is None
    )
