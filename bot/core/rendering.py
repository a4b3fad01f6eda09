"""Renders a `Reply` for a channel and splits text to the channel's size limit."""

from __future__ import annotations

from jinja2 import Environment, TemplateNotFound

from bot.core.messages import Reply
from message_templates import build_template_env, split_text

__all__ = ["Renderer", "split_text"]


class Renderer:
    def __init__(self, env: Environment | None = None):
        self.env = env or build_template_env()

    def text(self, reply: Reply) -> str:
        template = self.env.get_template(f"text/{reply.template}.txt.j2")
        return template.render(**reply.context).strip()

    def has(self, channel: str, name: str, suffix: str = "json") -> bool:
        try:
            self.env.get_template(f"{channel}/{name}.{suffix}.j2")
        except TemplateNotFound:
            return False
        return True

    def channel(self, channel: str, reply: Reply, **extra: object) -> str:
        """Render `{channel}/{template}.json.j2` with the reply's context plus `extra`."""
        template = self.env.get_template(f"{channel}/{reply.template}.json.j2")
        return template.render(**reply.context, **extra)
