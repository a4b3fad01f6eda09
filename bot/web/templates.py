"""The dashboard's Jinja2 environment: HTML pages under `message_templates/web/`, escaped.

Chat templates are rendered with autoescape off (they escape per channel with |tojson and
|mrkdwn); HTML needs the opposite default, so the web has its own environment with autoescape
on for every template, StrictUndefined, and the same number, money and date filters as chat,
so a figure reads the same on the page as in a message.
"""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from message_templates import TEMPLATE_ROOT, build_template_env


def build_web_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_ROOT)),  # web/, and the shared partials/
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(build_template_env().filters)
    return env
