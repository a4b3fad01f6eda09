"""The Teams app package: `manifest.json` and its two icons in a zip a Teams admin uploads.

The manifest follows schema v1.19: the bot (its id is the Azure bot's Microsoft App ID) in
personal, team and group chat scopes, the command list people see as suggestions (Teams shows
at most 10 per list: the first 10 in help order), and the public host in `validDomains`.
The icons are drawn here, as PNGs written with zlib and struct (no imaging library): a
192x192 colour icon and a 32x32 outline icon, white on transparent, as Teams requires.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bot.core.registry import Registry

MANIFEST_VERSION = "1.19"
SCHEMA = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
SCOPES = ["personal", "team", "groupChat"]
MAX_COMMANDS = 10
ACCENT = "#0F6CBD"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")

RGBA = tuple[int, int, int, int]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def app_version() -> str:
    try:
        return version("tokenbot")
    except PackageNotFoundError:
        return "0.1.0"


def manifest(app_id: str, host: str, commands: Registry) -> dict[str, Any]:
    """The app manifest; raises ValueError for an app id that is no GUID or a bad host."""
    if not GUID.match(app_id):
        raise ValueError(f"the app id must be the bot's Microsoft App ID (a GUID), not {app_id!r}")
    host = host.strip().lower().removeprefix("https://").rstrip("/")
    if not HOST.match(host):
        raise ValueError(f"the host must be a public host name like bot.example.com, not {host!r}")
    listed = [c for c in commands.listed() if not c.manager_only][:MAX_COMMANDS]
    site = f"https://{host}"
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": app_version(),
        "id": app_id,
        "developer": {
            "name": "Your AI platform team",
            "websiteUrl": site,
            "privacyUrl": f"{site}/privacy",
            "termsOfUseUrl": f"{site}/terms",
        },
        "name": {"short": "tokenbot", "full": "tokenbot: AI token budgets and approvals"},
        "description": {
            "short": "Your AI token budget, cost estimates and burst approvals",
            "full": (
                "tokenbot runs the company's AI token budgets: see your balance and what "
                "expires when, estimate what a prompt costs before you send it, ask for a "
                "burst budget that your manager approves with a button, and see weekly "
                "recognition for efficiency (value per token), never for raw spend."
            ),
        },
        "icons": {"outline": "outline.png", "color": "color.png"},
        "accentColor": ACCENT,
        "bots": [
            {
                "botId": app_id,
                "scopes": SCOPES,
                "isNotificationOnly": False,
                "supportsFiles": False,
                "commandLists": [
                    {
                        "scopes": SCOPES,
                        "commands": [
                            {
                                "title": _cut(c.name, 32),
                                "description": _cut(f"{c.summary}: {c.usage}", 128),
                            }
                            for c in listed
                        ],
                    }
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host],
    }


# --- icons ----------------------------------------------------------------------------------


def png(size: int, pixel: Callable[[float, float], RGBA]) -> bytes:
    """A square RGBA PNG; `pixel(x, y)` gets coordinates from -1 to 1 (the centre is 0, 0)."""
    rows = bytearray()
    for row in range(size):
        rows.append(0)  # filter: none
        for column in range(size):
            x = (column + 0.5) / size * 2 - 1
            y = (row + 0.5) / size * 2 - 1
            rows.extend(pixel(x, y))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _is_token_mark(x: float, y: float) -> bool:
    """A coin: a ring with a T inside."""
    radius = (x * x + y * y) ** 0.5
    ring = 0.62 <= radius <= 0.82
    bar = -0.38 <= y <= -0.22 and abs(x) <= 0.36
    stem = -0.22 <= y <= 0.42 and abs(x) <= 0.09
    return ring or bar or stem


def color_icon() -> bytes:
    accent = tuple(int(ACCENT[i : i + 2], 16) for i in (1, 3, 5))
    white: RGBA = (255, 255, 255, 255)
    background: RGBA = (*accent, 255)  # type: ignore[assignment]
    return png(192, lambda x, y: white if _is_token_mark(x, y) else background)


def outline_icon() -> bytes:
    return png(32, lambda x, y: (255, 255, 255, 255) if _is_token_mark(x, y) else (0, 0, 0, 0))


def build_package(app_id: str, host: str, commands: Registry) -> bytes:
    """The zip to upload: manifest.json, color.png and outline.png at its root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest(app_id, host, commands), indent=2))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return buffer.getvalue()
