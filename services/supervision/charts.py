"""Line charts as inline SVG, drawn on the server (no script, no CDN, no chart library).

The pages forbid every script (CSP), and the center's network may be offline, so a chart
is plain SVG markup: axes with a few labelled ticks, one polyline per group (a gap where a
day has no value), a legend, and a ``<title>``/``<desc>`` for screen readers. Colours are
the Okabe–Ito palette, told apart by people with colour-blindness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 150, 12, 34


@dataclass(frozen=True)
class Line:
    label: str
    values: Sequence[float | None]


def _ticks(top: float, percent: bool) -> list[float]:
    if percent:
        return [0.0, 0.5, 1.0]
    step = max(1.0, float(round(top / 4)) or 1.0)
    return [step * n for n in range(int(top // step) + 1)]


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    days: Sequence[str],
    lines: Sequence[Line],
    *,
    percent: bool = False,
) -> str:
    """The SVG markup (escaped text throughout; safe to mark as Markup); ``days`` are
    the x axis's labels, one per value."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for line in lines for v in line.values if v is not None]
    top = 1.0 if percent else max([*values, 1.0])
    n = max(1, len(days) - 1)

    def x(i: int) -> float:
        return round(LEFT + plot_w * i / n, 1)

    def y(v: float) -> float:
        return round(TOP + plot_h * (1 - v / top), 1)

    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(description)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#6b7280"/>',
    ]
    for tick in _ticks(top, percent):
        label = f"{tick:.0%}" if percent else f"{tick:.0f}"
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick)}" y2="{y(tick)}" '
            'stroke="#e2e5ea"/>'
            f'<text x="{LEFT - 6}" y="{y(tick) + 4}" text-anchor="end" font-size="11">'
            f"{label}</text>"
        )
    if days:
        for i in sorted({0, len(days) // 2, len(days) - 1}):
            parts.append(
                f'<text x="{x(i)}" y="{HEIGHT - 12}" text-anchor="middle" font-size="11">'
                f"{escape(days[i])}</text>"
            )
    for index, line in enumerate(lines):
        colour = PALETTE[index % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, value in enumerate(line.values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i)},{y(value)}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(run)}"/>'
                )
        ly = TOP + 14 + 16 * index
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 10}" y="{ly - 9}" width="12" height="10" '
            f'fill="{colour}"/><text x="{WIDTH - RIGHT + 27}" y="{ly}" font-size="11" '
            f'data-series="{escape(line.label)}">{escape(line.label[:22])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
