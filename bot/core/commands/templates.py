"""`templates [USE_CASE]`: the approved prompt templates per use case, with the tokens per task
they average (against the use case's work without a template), their acceptance rate, how
often colleagues reused them and who wrote them, over the baseline weeks up to now."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bot.core.context import CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Reply
from bot.core.registry import registry
from scoring.config import scoring_settings
from scoring.metrics import window_sums
from scoring.templates import TemplateReport, template_reports
from scoring.windows import trailing_weeks, week_of

USAGE = "templates [USE_CASE]"


def template_context(report: TemplateReport) -> dict[str, Any]:
    return {
        "id": report.template_id,
        "name": report.name,
        "author": report.author_name,
        "tokens_per_task": report.totals.tokens_per_task,
        "acceptance_rate": report.totals.acceptance_rate,
        "saving_share": report.saving_share,
        "artifacts": report.totals.artifacts,
        "reuse": report.reuse.artifacts,
        "reusers": report.reusers,
    }


@registry.command(
    "templates", summary="Approved prompt templates per use case", usage=USAGE, order=70
)
def templates(ctx: CommandContext) -> Reply:
    if len(ctx.words) > 1:
        raise UsageError("templates takes at most one use case", USAGE)
    use_case = ctx.words[0] if ctx.words else None
    if use_case is not None and use_case not in ctx.policy.use_cases:
        known = ", ".join(sorted(ctx.policy.use_cases))
        raise UsageError(f"there is no use case {use_case!r} (use cases: {known})", USAGE)
    weeks = scoring_settings(ctx.policy).trailing_weeks
    zone = ctx.policy.periods.zone
    windows = [*trailing_weeks(zone, ctx.now, weeks), week_of(zone, ctx.now)]
    with ctx.services.db.read() as session:
        reports = template_reports(session, window_sums(session, windows, ctx.now))
    groups: dict[str, list[TemplateReport]] = defaultdict(list)
    for report in reports.values():
        if use_case is None or report.use_case == use_case:
            groups[report.use_case].append(report)
    context = {
        "use_case": use_case,
        "weeks": weeks,
        "groups": [
            {
                "use_case": name,
                "untemplated_tokens_per_task": group[0].non_template_tokens_per_task,
                # Most reused first: what colleagues found worth reusing, never what cost most.
                "templates": [
                    template_context(r)
                    for r in sorted(group, key=lambda r: (-r.reuse.artifacts, r.name))
                ],
            }
            for name, group in sorted(groups.items())
        ],
    }
    return Reply("templates", context, private=False)
