"""Sample contexts of the prompt library's messages (issue 22), built by the real presenters
from domain facts, so the rendering test also checks what the presenters hand the templates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.core.presenters import templates as present
from budgets.estimate import Estimate, ModelCost, OutputRatio
from scoring.metrics import Totals
from scoring.template_library import (
    Decided,
    Proposed,
    TemplateDetail,
    TemplateView,
    VersionStats,
    VersionView,
)
from scoring.templates import TemplateReport

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
TEXT = "Write an SEO brief for {{ topic }}.{% if notes %} Notes: {{ notes }}{% endif %}"


def _version(number: int, state: str, **changes: Any) -> VersionView:
    values: dict[str, Any] = dict(
        template_id="seo-brief-v4",
        version=number,
        name="SEO brief v4",
        description="Briefs from a topic, not a pasted document",
        text=TEXT,
        variables=("topic", "notes"),
        state=state,
        author_id=4,
        author_name="Ann Analyst",
        created_at=NOW,
        decided_by="Mia Manager" if state != "proposed" else None,
        decided_at=NOW if state != "proposed" else None,
        comment="Add a word limit" if state == "sent_back" else "",
    )
    values.update(changes)
    return VersionView(**values)


APPROVED_V1 = _version(1, "superseded")
APPROVED_V2 = _version(2, "approved")
PROPOSED_V3 = _version(3, "proposed")
VIEW = TemplateView(
    template_id="seo-brief-v4",
    name="SEO brief v4",
    use_case="seo-brief",
    description="Briefs from a topic, not a pasted document",
    state="approved",
    author_id=4,
    author_name="Ann Analyst",
    current_version=2,
    first_approved_at=NOW,
    versions=(APPROVED_V1, APPROVED_V2, PROPOSED_V3),
)
NEW_VIEW = TemplateView(
    "seo-brief-v5",
    "SEO brief v5",
    "seo-brief",
    "",
    "proposed",
    4,
    "Ann Analyst",
    None,
    None,
    (_version(1, "proposed", template_id="seo-brief-v5"),),
)
MODEL = ModelCost("gpt-4o", 1_200, 600, 9_000, 1_800, False)
ESTIMATE = Estimate(
    model=MODEL,
    encoding="o200k_base",
    calibration=Decimal(1),
    use_case="seo-brief",
    use_case_status="approved",
    use_case_reason="",
    allowed_models=(),
    chat_format=False,
    messages=0,
    chars=4_000,
    output_ratio=OutputRatio(Decimal("0.5"), "policy"),
    weight=Decimal(1),
    personal_remaining=1_650_000,
    balance_share=Decimal(1_800) / 1_650_000,
    cheapest=MODEL,
    models_compared=1,
    template_saving=None,
    sensitive=(),
    redaction_rule="Never paste secrets.",
)
REPORT = TemplateReport(
    template_id="seo-brief-v4",
    name="SEO brief v4",
    use_case="seo-brief",
    author_id=4,
    author_name="Ann Analyst",
    totals=Totals(tokens=90_000, artifacts=30, accepted=27),
    reuse=Totals(tokens=60_000, artifacts=20, accepted=18),
    users=5,
    reusers=4,
    non_template_tokens_per_task=5_000.0,
)
STATS = (
    VersionStats(1, NOW, NOW, 12, 30_000, 36_000, 10, 8),
    VersionStats(2, NOW, None, 0, 0, 0, 0, 0),
)


def _ctx(reply: Any) -> dict[str, Any]:
    return reply.context


LIBRARY_SAMPLES: dict[str, Any] = {
    "template_refused": [
        _ctx(present.refused("sandbox", "the template reads an attribute (`x.y`)")),
        _ctx(
            present.already_decided_reply(
                {"decided_by": "Mia Manager", "decided_at": NOW},
                "version 1 of 'seo-brief-v4' was already approved",
                "Europe/London",
            )
        ),
    ],
    "template_propose": _ctx(present.propose_form_reply({}, ["coding", "seo-brief"])),
    "template_use": _ctx(present.use_form_reply(VIEW, APPROVED_V2)),
    "template_proposed": [
        _ctx(
            present.proposed_reply(Proposed(NEW_VIEW, NEW_VIEW.versions[0], (2,), True), ESTIMATE)
        ),
        _ctx(present.proposed_reply(Proposed(VIEW, APPROVED_V2, (), False), None)),
    ],
    "template_review": present.proposed_reply(
        Proposed(NEW_VIEW, NEW_VIEW.versions[0], (2,), True), ESTIMATE
    )
    .notices[0]
    .reply.context,
    "template_send_back": {"template": present.template_context(VIEW), "version": 3},
    "template_decided": [
        _ctx(present.decided_reply(Decided(VIEW, APPROVED_V2, True, "Mia Manager"), "UTC")),
        present.decided_reply(Decided(VIEW, APPROVED_V2, True, "Mia Manager"), "UTC")
        .notices[0]
        .reply.context,
        _ctx(
            present.decided_reply(
                Decided(VIEW, _version(3, "sent_back"), False, "Mia Manager"), "UTC"
            )
        ),
        present.decided_reply(Decided(VIEW, _version(3, "sent_back"), False, "Mia Manager"), "UTC")
        .notices[0]
        .reply.context,
    ],
    "template_show": [
        _ctx(present.detail_reply(TemplateDetail(VIEW, STATS), REPORT, "UTC")),
        _ctx(present.detail_reply(TemplateDetail(NEW_VIEW, ()), None, "UTC")),
    ],
    "template_filled": [
        _ctx(
            present.filled_reply(
                VIEW, APPROVED_V2, "Write an SEO brief for shoes.", ESTIMATE, REPORT
            )
        ),
        _ctx(present.filled_reply(VIEW, APPROVED_V2, "Write an SEO brief for shoes.", None, None)),
    ],
    "template_retired": _ctx(present.retired_reply(VIEW)),
    "template_pending": [_ctx(present.pending_reply([VIEW])), _ctx(present.pending_reply([]))],
}
