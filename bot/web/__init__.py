"""The web dashboard: pages are presenters too (see bot/web/pages.py); `mount_dashboard`
adds its routes to the one aiohttp app."""

from bot.web.app import mount_dashboard

__all__ = ["mount_dashboard"]
