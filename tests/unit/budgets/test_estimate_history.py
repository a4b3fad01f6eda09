"""budgets.estimate: expected output from the use case's recent history, template savings,
and the bounded, indexed query behind both."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import bindparam, text

from bot.core.messages import Reply
from bot.core.rendering import Renderer
from budgets.estimate import (
    HISTORY_SAMPLE,
    HISTORY_SQL,
    HISTORY_WINDOW,
    MIN_HISTORY_EVENTS,
    REMAINING_AND_HISTORY_SQL,
    estimate,
    history_params,
)
from storage.database import is_sqlite
from storage.models import PromptTemplate, UTCDateTime
from tests.unit.budgets.estimate_fixtures import record_calls


@pytest.fixture
def ann(org):
    return org["ann@acme.test"]


@pytest.fixture
def seo_calls(session, policy, clock, org):
    """Record seo-brief calls: seo_calls(count, input_tokens, output_tokens, **options)."""

    def record(count: int, input_tokens: int, output_tokens: int, **options) -> None:
        options.setdefault("use_case", "seo-brief")
        options.setdefault("tag", f"{options.get('template_id')}-{input_tokens}-{output_tokens}")
        record_calls(
            session,
            policy,
            clock(),
            count=count,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            **options,
        )

    return record


@pytest.fixture
def seo_estimate(session, policy, ann, clock):
    """Estimate a text for seo-brief on gpt-4o, now."""
    return partial(
        estimate, session, policy, ann, model="gpt-4o", use_case="seo-brief", now=clock()
    )


@pytest.fixture
def template(session, clock):
    def add(template_id: str, name: str, use_case: str = "seo-brief", approved: bool = True):
        session.add(
            PromptTemplate(
                id=template_id, name=name, use_case=use_case, approved=approved, created_at=clock()
            )
        )
        session.commit()

    return add


def hello_tokens(n: int) -> str:
    return "hello" + " hello" * (n - 1)


# --- output ratio -----------------------------------------------------------------------------


def test_expected_output_follows_the_use_cases_recent_output_to_input_ratio(
    seo_calls, seo_estimate
):
    seo_calls(4, 1_000, 200)
    seo_calls(4, 1_000, 400)

    result = seo_estimate(hello_tokens(1_000))

    assert result.output_ratio.source == "history"
    assert result.output_ratio.events == 8
    assert result.output_ratio.ratio == Decimal("0.3")  # 2,400 / 8,000
    assert result.model.output_tokens == 300


def test_history_ignores_other_use_cases_old_calls_and_calls_after_now(seo_calls, seo_estimate):
    seo_calls(5, 1_000, 250)
    # None of these may count: another use case, older than the window, in the future.
    seo_calls(5, 1_000, 5_000, use_case="coding")
    seo_calls(5, 1_000, 5_000, ago=HISTORY_WINDOW + timedelta(hours=1), tag="old")
    seo_calls(5, 1_000, 5_000, ago=-timedelta(days=2), tag="future")

    result = seo_estimate("hello")
    assert result.output_ratio.events == 5
    assert result.output_ratio.ratio == Decimal("0.25")


def test_too_little_history_falls_back_to_the_use_cases_ratio_then_the_policy_default(
    session, policy, ann, clock, seo_calls, seo_estimate
):
    seo_calls(MIN_HISTORY_EVENTS - 1, 1_000, 100)
    seo = seo_estimate("hello")
    assert (seo.output_ratio.source, seo.output_ratio.ratio) == ("use_case", Decimal("0.8"))

    # personal has no output_ratio of its own: the policy's default applies.
    personal = estimate(session, policy, ann, "hello", "gpt-4o", "personal", now=clock())
    assert (personal.output_ratio.source, personal.output_ratio.ratio) == ("policy", Decimal("0.5"))
    no_use_case = estimate(session, policy, ann, "hello", "gpt-4o", now=clock())
    assert no_use_case.output_ratio.source == "policy"


def test_the_history_query_reads_the_use_case_time_index(session, clock):
    """Bounded and indexed: the latest calls of one use case, never a scan of all usage."""
    assert f"LIMIT {HISTORY_SAMPLE}" in HISTORY_SQL  # the sample is bounded
    assert HISTORY_SQL in REMAINING_AND_HISTORY_SQL  # the statement an estimate runs

    def plan_of(explain: str) -> list:
        statement = text(f"{explain} {REMAINING_AND_HISTORY_SQL}").bindparams(
            bindparam("since", type_=UTCDateTime()), bindparam("now", type_=UTCDateTime())
        )
        params = {"person_id": 1, **history_params("seo-brief", clock())}
        return session.execute(statement, params).all()

    if is_sqlite(session):
        details = " ".join(str(row[-1]) for row in plan_of("EXPLAIN QUERY PLAN"))
    else:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        details = " ".join(str(row[0]) for row in plan_of("EXPLAIN"))
        # On an empty table PostgreSQL's planner may pick either time index for this query
        # (costs tie); what matters is that usage is read through an index, never scanned.
        assert "Seq Scan" not in details and "Index" in details and "usage" in details, details
        return
    assert "ix_usage_use_case_time" in details, details


# --- template savings -------------------------------------------------------------------------


def test_an_approved_template_with_fewer_input_tokens_is_recommended_with_its_saving(
    template, seo_calls, seo_estimate
):
    template("tpl-seo", "SEO brief")
    seo_calls(6, 1_000, 800)
    seo_calls(5, 620, 500, template_id="tpl-seo")

    result = seo_estimate(hello_tokens(1_000))

    saving = result.template_saving
    assert saving is not None
    assert (saving.template_id, saving.name, saving.events) == ("tpl-seo", "SEO brief", 5)
    assert saving.share == Decimal("0.38")
    assert saving.input_tokens_saved == 380
    assert saving.cost_micros_saved == 950  # 380 x $2.50/M
    rendered = Renderer().text(Reply("estimate", {"estimate": result}))
    assert "the SEO brief template averages 38% fewer input tokens" in rendered


def test_the_template_saving_ignores_unapproved_templates_and_other_use_cases(
    template, seo_calls, seo_estimate
):
    template("tpl-draft", "Draft", approved=False)
    template("tpl-code", "Code review", use_case="coding")
    seo_calls(6, 1_000, 800)
    seo_calls(6, 100, 80, template_id="tpl-draft")
    seo_calls(6, 100, 80, template_id="tpl-code")

    assert seo_estimate("hello").template_saving is None


def test_no_saving_when_the_template_averages_more_input(template, seo_calls, seo_estimate):
    template("tpl-seo", "SEO brief")
    seo_calls(6, 1_000, 800)
    seo_calls(6, 1_400, 800, template_id="tpl-seo")
    assert seo_estimate("hi").template_saving is None


def test_no_saving_from_too_few_templated_calls(template, seo_calls, seo_estimate):
    template("tpl-seo", "SEO brief")
    seo_calls(6, 1_000, 800)
    seo_calls(MIN_HISTORY_EVENTS - 1, 100, 80, template_id="tpl-seo")
    assert seo_estimate("hi").template_saving is None


def test_the_best_of_several_templates_is_recommended(template, seo_calls, seo_estimate):
    template("tpl-a", "Short brief")
    template("tpl-b", "Outline brief")
    seo_calls(5, 1_000, 800)
    seo_calls(5, 900, 400, template_id="tpl-a")
    seo_calls(5, 500, 400, template_id="tpl-b")

    saving = seo_estimate("hi").template_saving
    assert (saving.template_id, saving.share) == ("tpl-b", Decimal("0.5"))
