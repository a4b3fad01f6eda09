"""`templates [USE_CASE]`: the approved prompt templates per use case, with the tokens per task
they average (against the use case's work without a template), their acceptance rate, how
often colleagues reused them and who wrote them, over the baseline weeks up to now.

The prompt library (issue 22): `templates propose [ID]` (a form), `templates show ID`,
`templates use ID` (a form with one input per variable; the filled prompt comes back privately
with its estimate and expected saving, and is never stored), `templates retire ID`; the
approval buttons `templates.approve` and `templates.send_back` (a comment form). Handlers
parse, call `scoring.template_library` in one unit of work, and hand its facts to
`bot.core.presenters.templates`; a text is checked by `bot.core.prompt_text` before the
domain sees it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.core import prompt_text
from bot.core.context import ActionContext, CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Reply
from bot.core.presenters import templates as present
from bot.core.registry import registry
from budgets.estimate import Estimate, InvalidEstimateInput, estimate
from budgets.policy import Policy
from budgets.tokenizer import EncodingCache
from budgets.windows import trailing_weeks, week_of
from scoring import template_library as library
from scoring.config import scoring_settings
from scoring.rollups import window_sums
from scoring.templates import TemplateReport, template_reports
from storage.models import Person

USAGE = (
    "templates [USE_CASE] | templates propose [ID] | templates show ID | templates use ID"
    " | templates pending | templates retire ID"
)


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
    first = ctx.words[0].lower() if ctx.words else ""
    if first in SUBCOMMANDS:
        return SUBCOMMANDS[first](ctx, ctx.words[1:])
    if len(ctx.words) > 1:
        raise UsageError("templates takes at most one use case", USAGE)
    use_case = ctx.words[0] if ctx.words else None
    if use_case is not None and use_case not in ctx.policy.use_cases:
        known = ", ".join(sorted(ctx.policy.use_cases))
        raise UsageError(f"there is no use case {use_case!r} (use cases: {known})", USAGE)
    weeks = scoring_settings(ctx.policy).trailing_weeks
    with ctx.services.db.read() as session:
        reports = _reports(session, ctx.policy, ctx.now)
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


def _reports(session: Session, policy: Policy, now: datetime) -> dict[str, TemplateReport]:
    """Every approved template's report over the baseline weeks up to now."""
    weeks = scoring_settings(policy).trailing_weeks
    zone = policy.periods.zone
    windows = [*trailing_weeks(zone, now, weeks), week_of(zone, now)]
    return template_reports(session, window_sums(session, windows, now))


def _estimate(
    session: Session,
    policy: Policy,
    encodings: EncodingCache,
    person: Person,
    text: str,
    use_case: str,
    now: datetime,
) -> Estimate | None:
    """The text's estimate for the use case; None when the text is too long to estimate."""
    try:
        return estimate(
            session,
            policy,
            person,
            text,
            None,
            use_case,
            now=now,
            encodings=encodings,
        )
    except InvalidEstimateInput:
        return None


def _refused(exc: library.TemplateRefused | prompt_text.PromptTextInvalid) -> Reply:
    return present.refused(exc.code, exc.message)


def _one_id(words: list[str], what: str) -> str:
    if len(words) != 1:
        raise UsageError(
            f"say which template to {what}, e.g. `templates {what} seo-brief-v3`", USAGE
        )
    return words[0]


# --- propose ----------------------------------------------------------------------------------


def _propose(ctx: CommandContext, words: list[str]) -> Reply:
    initial: dict[str, str] = {}
    if words:
        initial["id"] = words[0]
        with ctx.services.db.read() as session:
            view = library.template_view(session, words[0])
        if view is not None:  # a new version: start from the current text's metadata
            initial.update(name=view.name, use_case=view.use_case)
    return present.propose_form_reply(initial, sorted(ctx.policy.use_cases))


@registry.action(present.ACTION_PROPOSE)
def propose_submitted(ctx: ActionContext) -> Reply:
    form = {k: (v or "") for k, v in ctx.form.items()}
    try:
        checked = prompt_text.check(form.get("text", ""))
    except prompt_text.PromptTextInvalid as exc:
        return _refused(exc)
    draft = library.Draft(
        template_id=form.get("template_id", "").strip(),
        name=form.get("name", "").strip(),
        use_case=form.get("use_case", "").strip(),
        description=form.get("description", "").strip(),
        text=checked.text,
        variables=checked.variables,
    )
    with ctx.services.db.unit_of_work() as uow:
        try:
            proposed = library.propose(uow.session, ctx.services.policy, draft, ctx.person, ctx.now)
        except library.TemplateRefused as exc:
            return _refused(exc)
        cost = _estimate(
            uow.session,
            ctx.services.policy,
            ctx.services.encodings,
            ctx.person,
            checked.text,
            draft.use_case,
            ctx.now,
        )
        uow.commit()
    return present.proposed_reply(proposed, cost)


# --- approve or send back ---------------------------------------------------------------------


def _decide(ctx: ActionContext, approve: bool, comment: str = "") -> Reply:
    target = present.parse_version_value(ctx.value)
    if target is None:
        return present.refused("unknown_template", "that template version is unknown")
    zone = ctx.services.policy.periods.timezone
    with ctx.services.db.unit_of_work() as uow:
        try:
            decided = library.decide(
                uow.session,
                ctx.services.policy,
                target[0],
                target[1],
                ctx.person,
                approve,
                comment,
                ctx.now,
            )
        except library.TemplateRefused as exc:
            if exc.code == "already_decided":
                return present.already_decided_reply(exc.facts, exc.message, zone)
            return _refused(exc)
        uow.commit()
    return present.decided_reply(decided, zone)


@registry.action(present.ACTION_APPROVE)
def approve(ctx: ActionContext) -> Reply:
    return _decide(ctx, True)


@registry.action(present.ACTION_SEND_BACK)
def send_back(ctx: ActionContext) -> Reply:
    """Ask for the comment first; refuse at once if the clicker may not decide."""
    target = present.parse_version_value(ctx.value)
    if target is None:
        return present.refused("unknown_template", "that template version is unknown")
    with ctx.services.db.read() as session:
        view = library.template_view(session, target[0])
    if view is None:
        return present.refused("unknown_template", f"there is no template {target[0]!r}")
    if not library.may_decide(ctx.services.policy, ctx.person, view.use_case):
        return present.refused(
            "not_allowed",
            f"only the owner of the use case {view.use_case} or an admin decides its templates",
        )
    return Reply(
        "template_send_back",
        {"template": present.template_context(view), "version": target[1]},
        form=present.send_back_form(ctx.value, view.name),
    )


@registry.action(present.ACTION_SEND_BACK_SUBMIT)
def send_back_submitted(ctx: ActionContext) -> Reply:
    return _decide(ctx, False, ctx.form.get("comment") or "")


# --- show, use, retire ------------------------------------------------------------------------


def _show_reply(ctx: CommandContext | ActionContext, template_id: str) -> Reply:
    policy = ctx.services.policy
    with ctx.services.db.read() as session:
        detail = library.template_detail(session, template_id, ctx.now)
        if detail is None:
            return present.refused("unknown_template", f"there is no template {template_id!r}")
        report = _reports(session, policy, ctx.now).get(template_id)
    return present.detail_reply(detail, report, policy.periods.timezone)


def _show(ctx: CommandContext, words: list[str]) -> Reply:
    return _show_reply(ctx, _one_id(words, "show"))


@registry.action(present.ACTION_SHOW)
def show_pressed(ctx: ActionContext) -> Reply:
    return _show_reply(ctx, ctx.value)


def _use_form(ctx: CommandContext | ActionContext, template_id: str) -> Reply:
    with ctx.services.db.read() as session:
        try:
            view, version = library.usable_version(session, template_id)
        except library.TemplateRefused as exc:
            return _refused(exc)
    if not version.variables:  # nothing to ask: answer with the text at once
        return _filled(ctx, template_id, {})
    return present.use_form_reply(view, version)


def _use(ctx: CommandContext, words: list[str]) -> Reply:
    return _use_form(ctx, _one_id(words, "use"))


@registry.action(present.ACTION_USE)
def use_pressed(ctx: ActionContext) -> Reply:
    return _use_form(ctx, ctx.value)


@registry.action(present.ACTION_USE_SUBMIT)
def use_submitted(ctx: ActionContext) -> Reply:
    return _filled(ctx, ctx.value, present.variables_of(ctx.form))


def _filled(ctx: CommandContext | ActionContext, template_id: str, values: dict[str, str]) -> Reply:
    policy = ctx.services.policy
    with ctx.services.db.read() as session:
        try:
            view, version = library.usable_version(session, template_id)
            text = prompt_text.render(version.text, values)
        except (library.TemplateRefused, prompt_text.PromptTextInvalid) as exc:
            return _refused(exc)
        cost = _estimate(
            session, policy, ctx.services.encodings, ctx.person, text, view.use_case, ctx.now
        )
        report = _reports(session, policy, ctx.now).get(template_id)
    return present.filled_reply(view, version, text, cost, report)


def _pending(ctx: CommandContext, words: list[str]) -> Reply:
    if words:
        raise UsageError("`templates pending` takes nothing more", USAGE)
    with ctx.services.db.read() as session:
        waiting = library.pending_for(session, ctx.policy, ctx.person)
    return present.pending_reply(waiting)


def _retire(ctx: CommandContext, words: list[str]) -> Reply:
    template_id = _one_id(words, "retire")
    with ctx.services.db.unit_of_work() as uow:
        try:
            view = library.retire(uow.session, ctx.policy, template_id, ctx.person, ctx.now)
        except library.TemplateRefused as exc:
            return _refused(exc)
        uow.commit()
    return present.retired_reply(view)


SUBCOMMANDS: dict[str, Callable[[CommandContext, list[str]], Reply]] = {
    "propose": _propose,
    "show": _show,
    "use": _use,
    "retire": _retire,
    "pending": _pending,
}
