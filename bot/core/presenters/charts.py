"""The monthly review's chart: spend against accepted output by team, and budget variance.

Rendered with matplotlib's object API on the Agg canvas (no pyplot, no global backend, no
display), so it is safe in a server thread; returns PNG bytes. Labels are short chart labels;
every sentence about the figures lives in the review templates.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SPEND_COLOUR = "#4C72B0"
ACCEPTED_COLOUR = "#55A868"
OVER_COLOUR = "#C44E52"
UNDER_COLOUR = "#8C8C8C"


@dataclass(frozen=True)
class TeamBar:
    team: str
    tokens: int
    accepted: int
    variance: float | None  # spend against plan: +0.25 is 25% over


def review_chart(bars: Sequence[TeamBar], title: str) -> bytes:
    """Two panels: spend (budget tokens) and accepted artifacts per team side by side, and
    each team's budget variance. A review with no team still renders (an empty chart)."""
    figure = Figure(figsize=(11, max(4.5, 0.5 * len(bars) + 3)), dpi=100)
    FigureCanvasAgg(figure)
    spend_axes, variance_axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    names = [b.team for b in bars]
    positions = list(range(len(bars)))
    height = 0.38

    spend_axes.barh(
        [p - height / 2 for p in positions],
        [b.tokens / 1000 for b in bars],
        height,
        color=SPEND_COLOUR,
        label="spend (k budget tokens)",
    )
    accepted_axes = spend_axes.twiny()
    accepted_axes.barh(
        [p + height / 2 for p in positions],
        [b.accepted for b in bars],
        height,
        color=ACCEPTED_COLOUR,
        label="accepted artifacts",
    )
    spend_axes.set_yticks(positions, names)
    spend_axes.invert_yaxis()
    spend_axes.set_xlabel("spend (thousand budget tokens)", color=SPEND_COLOUR)
    accepted_axes.set_xlabel("accepted artifacts", color=ACCEPTED_COLOUR)
    spend_axes.set_title("Spend and accepted output by team", pad=40)

    variances = [(b.variance or 0.0) * 100 for b in bars]
    variance_axes.barh(
        positions,
        variances,
        color=[OVER_COLOUR if v > 0 else UNDER_COLOUR for v in variances],
    )
    variance_axes.axvline(0, color="black", linewidth=0.8)
    reach = max([abs(v) for v in variances] + [10.0]) * 1.35  # room for the value labels
    variance_axes.set_xlim(-reach, reach)
    variance_axes.set_yticks(positions, names)
    variance_axes.invert_yaxis()
    variance_axes.set_xlabel("spend against plan (%)")
    variance_axes.set_title("Budget variance by team", pad=40)
    for position, value in zip(positions, variances, strict=True):
        variance_axes.annotate(
            f"{value:+.0f}%",
            (value, position),
            xytext=(4 if value >= 0 else -4, 0),
            textcoords="offset points",
            ha="left" if value >= 0 else "right",
            va="center",
            fontsize=8,
        )
    figure.suptitle(title, y=0.98, fontsize=13, fontweight="bold")
    # Fixed margins: tight_layout measures every label and costs more than the drawing.
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.12, top=0.74, wspace=0.45)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
