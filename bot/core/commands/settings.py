"""`settings [FIELD VALUE ...]`: your notice settings (reminders, alerts, the weekly digest,
quiet hours).

With no arguments the current settings come with a form (a Slack modal, a Teams card with
inputs, console prompts one field at a time); its submission, `settings.submit`, stores them.
`settings quiet_hours 19:00-08:00 alerts 90%` changes fields directly. Every field is checked
before anything is stored (`budgets.settings.parse_choices`): one bad value gets a specific
answer naming the field and what is allowed, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from bot.core.context import ActionContext, CommandContext
from bot.core.errors import UsageError
from bot.core.messages import Form, FormField, Reply
from bot.core.registry import registry
from budgets.settings import (
    FIELDS,
    EffectiveSettings,
    SettingInvalid,
    change_settings,
    parse_choices,
    problems_text,
    settings_for,
)
from storage.models import Person

USAGE = (
    "settings [reminders on|off] [alerts on|off|90%] [digest on|off] [quiet_hours 19:00-08:00|off]"
)
SUBMIT_ACTION = "settings.submit"
LABELS = {
    "reminders": "Expiry reminders (on or off)",
    "alerts": "Budget alerts (on, off, or only from a share of your budget such as 90%)",
    "digest": "Weekly digest: balance, score trend, one tip (on or off)",
    "quiet_hours": "Quiet hours, held until they end (HH:MM-HH:MM such as 19:00-08:00, or off)",
}
# What people may type for a field name.
ALIASES = {
    "quiet": "quiet_hours",
    "quiet-hours": "quiet_hours",
    "reminder": "reminders",
    "alert": "alerts",
}


def settings_form(current: EffectiveSettings) -> Form:
    shown = current.as_text()
    return Form(
        title="Your tokenbot settings",
        fields=tuple(
            FormField(name, LABELS[name], initial=shown[name], optional=name == "quiet_hours")
            for name in FIELDS
        ),
        submit_action_id=SUBMIT_ACTION,
        value="",
        submit_label="Save",
    )


def settings_context(current: EffectiveSettings, **extra: Any) -> dict[str, Any]:
    return {
        "settings": current.as_text(),
        "chosen": sorted(current.chosen),
        "zone": current.zone,
        "revision": current.revision,
        **extra,
    }


@registry.command(
    "settings",
    summary="Your notices: reminders, alerts, weekly digest, quiet hours",
    usage=USAGE,
    order=85,
)
def settings_command(ctx: CommandContext) -> Reply:
    if not ctx.words:
        with ctx.services.db.read() as session:
            current = settings_for(session, ctx.policy, ctx.person)
        return Reply("settings", settings_context(current), form=settings_form(current))
    if len(ctx.words) % 2:
        raise UsageError("give each setting with its value, e.g. `settings digest off`", USAGE)
    values = {
        ALIASES.get(name.lower(), name.lower()): value
        for name, value in zip(ctx.words[::2], ctx.words[1::2], strict=True)
    }
    return save(ctx.services, ctx.person, values, ctx.now)


@registry.action(SUBMIT_ACTION)
def settings_submitted(ctx: ActionContext) -> Reply:
    """A field left as the form showed the policy's default stays the default (it follows the
    policy when that changes); anything typed is the person's choice."""
    with ctx.services.db.read() as session:
        current = settings_for(session, ctx.services.policy, ctx.person)
    shown = current.as_text()
    values = {
        name: ctx.form[name]
        for name in FIELDS
        if name in ctx.form and (name in current.chosen or ctx.form[name].strip() != shown[name])
    }
    return save(ctx.services, ctx.person, values, ctx.now)


def save(services: Any, person: Person, values: dict[str, str], now: Any) -> Reply:
    _, problems = parse_choices(values)
    if problems:
        return Reply("settings_invalid", {"problems": problems_text(problems), "usage": USAGE})
    with services.db.unit_of_work() as uow:
        try:
            current = change_settings(uow.session, services.policy, person, values, now)
        except SettingInvalid as problem:  # pragma: no cover - parse_choices found none above
            return Reply("settings_invalid", {"problems": problems_text([problem]), "usage": USAGE})
        uow.commit()
    return Reply("settings_saved", settings_context(current))
