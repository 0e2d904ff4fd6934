"""Server-side SVG charts for console pages: plain strings, every label escaped, no JavaScript.

``bar_chart`` returns ``Markup`` so a template can place it as is; it is built only from
numbers this module formats and text passed through ``escape``. Imports markupsafe only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Bar:
    label: str
    value: float


WIDTH = 640
HEIGHT = 260
MARGIN_TOP = 28
MARGIN_BOTTOM = 44
MARGIN_LEFT = 48
MARGIN_RIGHT = 12
MAX_LABEL = 14  # characters of an axis label; the full label is in the bar's tooltip


def nice_ceiling(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 or 10 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def number(value: float) -> str:
    """``12`` or ``12.5``: at most one decimal, none when whole."""
    rounded = round(value, 1)
    return f"{rounded:g}" if rounded != int(rounded) else str(int(rounded))


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def bar_chart(
    bars: Sequence[Bar], *, title: str, unit: str = "", chart_id: str = "chart"
) -> Markup:
    """A vertical bar chart with a title, value labels and an accessible description."""
    safe_id = "".join(ch for ch in chart_id if ch.isalnum() or ch in "-_") or "chart"
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top = nice_ceiling(max((b.value for b in bars), default=0.0))
    suffix = f" {unit}" if unit else ""
    summary = "; ".join(f"{b.label}: {number(b.value)}{suffix}" for b in bars) or "no data"
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{safe_id}-title {safe_id}-desc">',
        f'<title id="{safe_id}-title">{escape(title)}</title>',
        f'<desc id="{safe_id}-desc">{escape(summary)}</desc>',
    ]
    # Axis and gridlines at 0, 50 % and 100 % of the scale.
    for fraction in (0.0, 0.5, 1.0):
        y = MARGIN_TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" '
            f'y2="{y:.1f}" stroke="#d9dde4" />'
        )
        parts.append(
            f'<text class="axis" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#5b6475">{escape(number(top * fraction))}</text>'
        )
    if not bars:
        parts.append(
            f'<text x="{WIDTH / 2:.1f}" y="{MARGIN_TOP + plot_h / 2:.1f}" text-anchor="middle" '
            f'font-size="13" fill="#5b6475">No data yet</text>'
        )
    slot = plot_w / max(len(bars), 1)
    bar_w = max(min(slot * 0.7, 60.0), 2.0)
    for index, bar in enumerate(bars):
        value = max(bar.value, 0.0)
        h = plot_h * value / top
        x = MARGIN_LEFT + slot * index + (slot - bar_w) / 2
        y = MARGIN_TOP + plot_h - h
        centre = x + bar_w / 2
        label = escape(bar.label)
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="#0b6e4f"><title>{label}: {escape(number(value))}{escape(suffix)}</title></rect>'
        )
        parts.append(
            f'<text class="value" x="{centre:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
            f'font-size="11" fill="#1d2330">{escape(number(value))}</text>'
        )
        parts.append(
            f'<text class="label" x="{centre:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" '
            f'text-anchor="middle" font-size="11" fill="#1d2330">{escape(_short(bar.label))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
