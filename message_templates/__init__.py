"""Jinja2 templates for every user-facing message: `text/` (console and fallbacks),
`slack/` (Block Kit JSON) and `teams/` (Adaptive Card JSON), one file per message.

`build_template_env` is the one factory: StrictUndefined (a missing value is a bug, not an
empty string), autoescape off (text and JSON templates escape explicitly with `|tojson`,
`|mrkdwn`), `|chunks` to split long text into Block Kit-sized sections, and the shared
number, money and date filters.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATE_ROOT = Path(__file__).parent


def format_tokens(value: int | float | Decimal | None) -> str:
    return f"{int(value or 0):,}"


def format_short_tokens(value: int | float | Decimal | None) -> str:
    n = int(value or 0)
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(n) >= limit:
            text = f"{n / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return str(n)


def format_money(micros: int | None, precise: bool = False) -> str:
    """Micro-dollars to dollars; `precise` keeps fractions of a cent for tiny estimates."""
    value = Decimal(int(micros or 0)) / Decimal(1_000_000)
    if precise and 0 < abs(value) < Decimal("0.01"):
        return f"${value:.6f}".rstrip("0")
    return f"${value:,.2f}"


def plural(count: int | float, word: str, many: str | None = None) -> str:
    """`1 project`, `2 projects`, `1,000 people` (`many` when the plural is not word + s)."""
    shown = f"{count:,}" if isinstance(count, int) else f"{count:,.1f}".rstrip("0").rstrip(".")
    return f"{shown} {word if count == 1 else (many or word + 's')}"


def format_day(moment: datetime | None, zone: str = "UTC") -> str:
    if moment is None:
        return "never"
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y}"


def format_moment(moment: datetime | None, zone: str = "UTC") -> str:
    """A day and a time of day, for "approved by X at T"."""
    if moment is None:
        return "never"
    local = moment.astimezone(ZoneInfo(zone))
    return f"{format_day(moment, zone)} {local:%H:%M} {local.tzname()}"


def to_datetime(value: str | datetime | None) -> datetime | None:
    """Outbox contexts are JSON, so dates travel as ISO strings; this filter (`from_iso`) turns
    them back into aware datetimes for the date filters: `{{ ends_at | from_iso | last_day(zone) }}`."""
    if value is None or isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


def format_last_day(moment: datetime | None, zone: str = "UTC") -> str:
    """Periods and grants end at an exclusive instant; people think in the last day covered."""
    if moment is None:
        return "never"
    return format_day(moment - timedelta(microseconds=1), zone)


def format_pct(share: float | Decimal | None) -> str:
    return f"{float(share or 0) * 100:.0f}%"


def escape_mrkdwn(text: object) -> str:
    """Slack mrkdwn needs &, < and > escaped; everything else is literal."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int) -> list[str]:
    """Split on line boundaries so no piece exceeds `limit` characters."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return [p.rstrip("\n") for p in pieces]


def chunks(text: str, limit: int = 3000) -> list[str]:
    """A template filter: text in pieces that fit one Block Kit section (3000 characters)."""
    return [piece for piece in split_text(str(text).strip(), limit) if piece.strip()] or [" "]


def build_template_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_ROOT)),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # Templates ship with the package and do not change while it runs: no stat() of the
        # file on every render (measurable on the gateway's authorize path).
        auto_reload=False,
    )
    env.filters.update(
        tokens=format_tokens,
        short_tokens=format_short_tokens,
        money=format_money,
        day=format_day,
        from_iso=to_datetime,
        moment=format_moment,
        last_day=format_last_day,
        pct=format_pct,
        mrkdwn=escape_mrkdwn,
        chunks=chunks,
        plural=plural,
    )
    return env


def template_names(channel: str) -> list[str]:
    """Every template of a channel (text, slack, teams), by message name."""
    return sorted(p.name.split(".")[0] for p in (TEMPLATE_ROOT / channel).glob("*.j2"))
