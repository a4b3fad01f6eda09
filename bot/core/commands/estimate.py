"""`estimate [--model M] [--use-case U] TEXT`: what a prompt will cost before it is sent.

The text after the options is estimated verbatim (quotes, spacing and newlines count). A JSON
list of `{"role": ..., "content": ...}` messages is estimated as a chat request, with the chat
format's per-message overhead. With no text, Slack gets a form (a modal: model, use case and a
large text box; Slack caps it at 3,000 characters); its submission, `estimate.submit`, answers
the same way. The text is never stored or logged: the reply carries counts only.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.context import ActionContext, CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Button, Form, FormField, Reply
from bot.core.parsing import split_leading_options
from bot.core.registry import registry
from budgets.estimate import ChatMessages, InvalidEstimateInput, estimate
from storage.models import Person

if TYPE_CHECKING:
    from bot.bootstrap import Services

USAGE = "estimate [--model M] [--use-case U] TEXT"
OPTIONS = {"model", "use-case"}
SUBMIT_ACTION = "estimate.submit"
# Where a Form is shown as a form (Slack: a modal); elsewhere no text is a usage error.
FORM_PLATFORMS = frozenset({"slack"})
# Paired quotes around the whole text are the person's quoting, not part of the prompt.
_QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d"}


@registry.command(
    "estimate",
    summary="Estimate what a prompt will cost before you send it",
    usage=USAGE,
    order=20,
)
def estimate_command(ctx: CommandContext) -> Reply:
    options, text = split_leading_options(ctx.args, OPTIONS, USAGE)
    if not text.strip() and ctx.platform in FORM_PLATFORMS:
        return Reply(
            "estimate_form",
            {"max_chars": ctx.policy.estimate.max_text_chars},
            form=estimate_form(ctx.policy.estimate.default_model, options),
        )
    return estimate_reply(
        ctx.services,
        ctx.person,
        unquote(text),
        options.get("model"),
        options.get("use-case"),
        ctx.now,
    )


@registry.action(SUBMIT_ACTION)
def estimate_submitted(ctx: ActionContext) -> Reply:
    return estimate_reply(
        ctx.services,
        ctx.person,
        ctx.form.get("text") or "",
        (ctx.form.get("model") or "").strip() or None,
        (ctx.form.get("use_case") or "").strip() or None,
        ctx.now,
    )


def estimate_form(default_model: str, options: dict[str, str]) -> Form:
    return Form(
        title="Estimate tokens",
        fields=(
            FormField("model", "Model", initial=options.get("model", default_model)),
            FormField(
                "use_case",
                "Use case (optional)",
                initial=options.get("use-case", ""),
                optional=True,
            ),
            FormField("text", "Text or document to estimate", kind="multiline"),
        ),
        submit_action_id=SUBMIT_ACTION,
        value="",
        submit_label="Estimate",
    )


def estimate_reply(
    services: Services,
    person: Person,
    text: str,
    model: str | None,
    use_case: str | None,
    now: datetime,
) -> Reply:
    content: str | ChatMessages = to_chat_messages(text) or text
    try:
        with services.db.read() as session:
            result = estimate(
                session,
                services.policy,
                person,
                content,
                model,
                use_case,
                now=now,
                encodings=services.encodings,
            )
    except InvalidEstimateInput as exc:
        raise UsageError(exc.message, USAGE) from None
    saving = result.template_saving
    # The suggested template, one click away (the prompt library's show and fill-in actions).
    buttons = (
        (
            Button(f"Open {saving.name}"[:75], "templates.show", saving.template_id),
            Button("Fill it in", "templates.use", saving.template_id, style="primary"),
        )
        if saving is not None
        else ()
    )
    return Reply("estimate", {"estimate": result}, buttons=buttons)


def unquote(text: str) -> str:
    """`"a prompt"` -> `a prompt`, when one pair of quotes encloses the whole text."""
    text = text.strip()
    closing = _QUOTE_PAIRS.get(text[:1])
    if closing and len(text) >= 2 and text.endswith(closing):
        inner = text[1:-1]
        if text[0] not in inner and closing not in inner:
            return inner
    return text


def to_chat_messages(text: str) -> list[dict[str, Any]] | None:
    """A JSON list of role/content messages, or None when the text is anything else."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return None
    try:
        messages = json.loads(stripped)
    except ValueError:
        return None
    is_chat = (
        isinstance(messages, list)
        and bool(messages)
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and "content" in m
            and all(v is None or isinstance(v, str) for v in m.values())
            for m in messages
        )
    )
    return messages if is_chat else None
