"""The dashboard's charts: SVG from matplotlib (object API on the Agg canvas: no pyplot, no
global backend), inlined in the page, so nothing is fetched from anywhere.

Text stays text in the SVG (`svg.fonttype = none`), so it is sharp at any size and readable
by a screen reader; ids are salted with a fixed string, so the same figures give the same SVG
(and a cache hit). Labels are plain text: `$` would start matplotlib's mathtext, so it is
escaped. matplotlib escapes &, < and > itself when it writes SVG.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

LINE = "#1f5fa8"
BAR = "#1f5fa8"
MARK = "#b3261e"
GRID = "#d0d7de"
TEXT = "#1b1f24"
_RC = {"svg.fonttype": "none", "svg.hashsalt": "tokenbot-dashboard", "font.size": 9}


def _plain(text: str) -> str:
    return text.replace("$", r"\$")


def _svg(figure: Figure) -> str:
    FigureCanvasSVG(figure)
    out = io.StringIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    text = out.getvalue()
    return text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE: inline SVG


def _style(axes) -> None:  # noqa: ANN001
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=TEXT, labelsize=8)
    axes.grid(axis="y", color=GRID, linewidth=0.6)
    axes.set_axisbelow(True)


@functools.lru_cache(maxsize=512)
def trend_svg(labels: tuple[str, ...], values: tuple[float | None, ...], kind: str = "") -> str:
    """A small line chart of one figure by week; gaps where a week has no value. `kind` as
    the page shows the figure: pct and signed_pct axes in percent, others shortened (12k)."""
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(3.2, 1.3), dpi=100)
        axes = figure.add_subplot()
        xs = list(range(len(values)))
        ys = [float("nan") if v is None else v for v in values]
        axes.plot(xs, ys, color=LINE, linewidth=1.8, marker="o", markersize=3)
        axes.set_xticks(xs, [_plain(label[-3:]) for label in labels])
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v, kind)))
        _style(axes)
        figure.subplots_adjust(left=0.2, right=0.93, bottom=0.2, top=0.95)
        return _svg(figure)


def _tick(value: float, kind: str) -> str:
    if kind in ("pct", "signed_pct"):
        return f"{value * 100:.0f}%"
    if kind == "money":
        return "$" + _tick(value / 1_000_000, "")
    if kind == "seconds":
        return f"{value / 60:.3g} min" if abs(value) >= 90 else f"{value:.3g} s"
    if kind == "hours":  # the figure is kept in minutes
        return f"{value / 60:.3g} h"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


@functools.lru_cache(maxsize=512)
def bars_svg(
    labels: tuple[str, ...],
    values: tuple[float, ...],
    xlabel: str,
    marked: tuple[bool, ...] = (),
) -> str:
    """Horizontal bars, one per label, largest first as given; `marked` bars (outliers) in red."""
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(6.4, max(1.6, 0.32 * len(labels) + 0.8)), dpi=100)
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        colours = [MARK if (marked and marked[i]) else BAR for i in positions]
        axes.barh(positions, list(values), color=colours, height=0.6)
        axes.set_yticks(positions, [_plain(label) for label in labels])
        axes.invert_yaxis()
        axes.set_xlabel(_plain(xlabel), color=TEXT)
        _style(axes)
        axes.grid(axis="x", color=GRID, linewidth=0.6)
        axes.grid(axis="y", visible=False)
        figure.subplots_adjust(left=0.3, right=0.97, bottom=0.8 / figure.get_figheight(), top=0.97)
        return _svg(figure)


def chart_values(values: Sequence[float | None]) -> tuple[float | None, ...]:
    return tuple(None if v is None else round(float(v), 6) for v in values)
