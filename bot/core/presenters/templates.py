"""The prompt library in chat: forms (propose, fill in, send back), the approval message with
its buttons, and the replies and notices a proposal, a decision or a filled prompt sends.

Contexts are plain JSON values (datetimes as ISO strings), so a notice can wait in the outbox.
A filled prompt goes to the asker alone (`private`); nothing here stores it.
"""

from __future__ import annotations

from typing import Any

from bot.core.messages import Button, Form, FormField, Notice, Reply
from budgets.estimate import Estimate
from scoring.template_library import (
    Decided,
    Proposed,
    TemplateDetail,
    TemplateView,
    VersionView,
)
from scoring.templates import TemplateReport

ACTION_PROPOSE = "templates.propose"
ACTION_APPROVE = "templates.approve"
ACTION_SEND_BACK = "templates.send_back"
ACTION_SEND_BACK_SUBMIT = "templates.send_back_submit"
ACTION_SHOW = "templates.show"
ACTION_USE = "templates.use"
ACTION_USE_SUBMIT = "templates.use_submit"
# Form inputs of a template's variables are prefixed: Teams reserves some input ids
# (action_id, value, origin), and a template may well have a variable called `value`.
VARIABLE_PREFIX = "var_"


def refused(code: str, message: str) -> Reply:
    return Reply("template_refused", {"code": code, "message": message})


def propose_form(initial: dict[str, str]) -> Form:
    return Form(
        title="Propose a prompt template",
        fields=(
            FormField("template_id", "Id (e.g. seo-brief-v3)", initial=initial.get("id", "")),
            FormField("name", "Name", initial=initial.get("name", "")),
            FormField("use_case", "Use case", initial=initial.get("use_case", "")),
            FormField("description", "What it is for", kind="multiline", optional=True),
            FormField("text", "Text, with {{ variables }}", kind="multiline"),
        ),
        submit_action_id=ACTION_PROPOSE,
        value="",
        submit_label="Propose",
    )


def propose_form_reply(initial: dict[str, str], use_cases: list[str]) -> Reply:
    syntax = {"variable": "{{ topic }}", "condition": "{% if notes %}...{% endif %}"}
    return Reply(
        "template_propose",
        {"use_cases": use_cases, "syntax": syntax},
        form=propose_form(initial),
    )


def variables_form(view: TemplateView, version: VersionView) -> Form:
    return Form(
        title=f"Use {view.name}"[:60],
        fields=tuple(
            FormField(f"{VARIABLE_PREFIX}{name}", name.replace("_", " "), kind="multiline")
            for name in version.variables
        ),
        submit_action_id=ACTION_USE_SUBMIT,
        value=view.template_id,
        submit_label="Fill in",
    )


def variables_of(form: dict[str, str]) -> dict[str, str]:
    """The variables' values from a submitted `variables_form`."""
    return {
        name[len(VARIABLE_PREFIX) :]: value
        for name, value in form.items()
        if name.startswith(VARIABLE_PREFIX)
    }


def use_form_reply(view: TemplateView, version: VersionView) -> Reply:
    return Reply(
        "template_use",
        {"template": template_context(view), "variables": list(version.variables)},
        form=variables_form(view, version),
    )


def version_value(template_id: str, version: int) -> str:
    return f"{template_id}:{version}"


def parse_version_value(value: str) -> tuple[str, int] | None:
    template_id, _, number = value.rpartition(":")
    return (template_id, int(number)) if template_id and number.isdigit() else None


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def version_context(version: VersionView) -> dict[str, Any]:
    return {
        "version": version.version,
        "name": version.name,
        "description": version.description,
        "text": version.text,
        "variables": list(version.variables),
        "state": version.state,
        "author": version.author_name,
        "created_at": _iso(version.created_at),
        "decided_by": version.decided_by,
        "decided_at": _iso(version.decided_at),
        "comment": version.comment,
    }


def template_context(view: TemplateView) -> dict[str, Any]:
    return {
        "id": view.template_id,
        "name": view.name,
        "use_case": view.use_case,
        "description": view.description,
        "state": view.state,
        "author": view.author_name,
        "current_version": view.current_version,
    }


def estimate_context(estimate: Estimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    m = estimate.model
    return {
        "model": m.name,
        "approximate": m.approximate,
        "input_tokens": m.input_tokens,
        "output_tokens": m.output_tokens,
        "tokens": m.input_tokens + m.output_tokens,
        "cost_micros": m.cost_micros,
        "budget_tokens": m.budget_tokens,
        "balance_share": float(estimate.balance_share)
        if estimate.balance_share is not None
        else None,
        "personal_remaining": estimate.personal_remaining,
    }


def report_context(report: TemplateReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    per_task = report.totals.tokens_per_task
    without = report.non_template_tokens_per_task
    return {
        "tokens_per_task": per_task,
        "untemplated_tokens_per_task": without,
        "saving_share": report.saving_share,
        "tokens_saved_per_task": max(0, round(without - per_task)) if per_task and without else 0,
        "acceptance_rate": report.totals.acceptance_rate,
        "artifacts": report.totals.artifacts,
        "reuse": report.reuse.artifacts,
        "reusers": report.reusers,
    }


def review_buttons(template_id: str, version: int) -> tuple[Button, ...]:
    value = version_value(template_id, version)
    return (
        Button("Approve", ACTION_APPROVE, value, style="primary"),
        Button("Send back with a comment", ACTION_SEND_BACK, value, style="danger"),
    )


def proposed_reply(proposed: Proposed, estimate: Estimate | None) -> Reply:
    """The author's confirmation, and the review message to each approver (with buttons)."""
    context = {
        "template": template_context(proposed.template),
        "version": version_context(proposed.version),
        "estimate": estimate_context(estimate),
        "new_template": proposed.new_template,
    }
    review = Reply(
        "template_review",
        context,
        buttons=review_buttons(proposed.template.template_id, proposed.version.version),
    )
    ref = f"template:{proposed.template.template_id}:v{proposed.version.version}"
    return Reply(
        "template_proposed",
        {**context, "approvers": len(proposed.approver_ids)},
        notices=tuple(Notice(pid, review, ref=ref) for pid in proposed.approver_ids),
    )


def send_back_form(value: str, template_name: str) -> Form:
    return Form(
        title=f"Send back {template_name}"[:60],
        fields=(FormField("comment", "What should change?", kind="multiline"),),
        submit_action_id=ACTION_SEND_BACK_SUBMIT,
        value=value,
        submit_label="Send back",
    )


def decided_reply(decided: Decided, zone: str) -> Reply:
    """Replaces the review message; the author is told."""
    context = {
        "template": template_context(decided.template),
        "version": version_context(decided.version),
        "approved": decided.approved,
        "decider": decided.decider_name,
        "zone": zone,
    }
    notices: tuple[Notice, ...] = ()
    if decided.version.author_id is not None:
        notices = (
            Notice(
                decided.version.author_id,
                Reply(
                    "template_decided",
                    {**context, "audience": "author"},
                    buttons=(
                        (Button("Use it", ACTION_USE, decided.template.template_id),)
                        if decided.approved
                        else ()
                    ),
                ),
            ),
        )
    return Reply(
        "template_decided",
        {**context, "audience": "approver"},
        replace_original=True,
        notices=notices,
    )


def already_decided_reply(facts: dict[str, Any], message: str, zone: str) -> Reply:
    return Reply(
        "template_refused",
        {
            "code": "already_decided",
            "message": message,
            "decided_by": facts.get("decided_by"),
            "decided_at": _iso(facts.get("decided_at")),
            "zone": zone,
        },
    )


def detail_reply(detail: TemplateDetail, report: TemplateReport | None, zone: str) -> Reply:
    view = detail.template
    current = view.current
    buttons: tuple[Button, ...] = ()
    if view.state == "approved" and current is not None:
        buttons = (Button("Use this template", ACTION_USE, view.template_id, style="primary"),)
    return Reply(
        "template_show",
        {
            "template": template_context(view),
            "current": version_context(current) if current else None,
            "pending": version_context(view.pending) if view.pending else None,
            "versions": [version_context(v) for v in view.versions],
            "stats": [
                {
                    "version": s.version,
                    "since": _iso(s.since),
                    "until": _iso(s.until),
                    "calls": s.calls,
                    "tokens_per_call": s.tokens_per_call,
                    "artifacts": s.artifacts,
                    "acceptance_rate": s.acceptance_rate,
                }
                for s in detail.stats
            ],
            "report": report_context(report),
            "zone": zone,
        },
        buttons=buttons,
        private=False,
    )


def filled_reply(
    view: TemplateView,
    version: VersionView,
    text: str,
    estimate: Estimate | None,
    report: TemplateReport | None,
) -> Reply:
    """The filled prompt, to the asker alone, with its estimate and expected saving."""
    return Reply(
        "template_filled",
        {
            "template": template_context(view),
            "version": version.version,
            "text": text,
            "estimate": estimate_context(estimate),
            "report": report_context(report),
        },
        private=True,
    )


def retired_reply(view: TemplateView) -> Reply:
    return Reply("template_retired", {"template": template_context(view)})


def pending_reply(waiting: list[TemplateView]) -> Reply:
    """Proposals the asker may decide, each with its Approve / Send back buttons."""
    buttons: list[Button] = []
    items = []
    for view in waiting:
        pending = view.pending
        assert pending is not None
        items.append({"template": template_context(view), "version": version_context(pending)})
        buttons.extend(review_buttons(view.template_id, pending.version))
    return Reply("template_pending", {"items": items}, buttons=tuple(buttons))
