"""A daily line chart drawn by the server as inline SVG: no script, no chart library, nothing from a CDN."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from babel.dates import format_date
from flask_babel import get_locale
from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40  # room for the axis labels
# Presentation attributes rather than style=: the CSP (style-src 'self') refuses inline styles.
COLOURS = ("#2563eb", "#dc2626", "#059669", "#7c3aed")


@dataclass(frozen=True)
class Line:
    label: str
    values: Sequence[int]


def _nice_top(peak: int) -> int:
    """A round upper bound for the y axis (at least 4, so four gridlines have whole numbers)."""
    top = max(peak, 4)
    step = 1
    while top > step * 10:
        step *= 10
    return -(-top // step) * step if step > 1 else -(-top // 4) * 4


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def _y(value: int, top: int) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)


def _grid(top: int) -> list[str]:
    parts = []
    for step in range(5):
        value = top * step // 4
        y = _y(value, top)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#4b5563">{value}</text>')
    return parts


def _day_labels(days: Sequence[date]) -> list[str]:
    """Every fifth day and the last, so thirty labels don't overlap."""
    parts = []
    for index, day in enumerate(days):
        if index % 5 and index != len(days) - 1:
            continue
        x = _x(index, len(days))
        anchor = "end" if index == len(days) - 1 and index else "middle"  # the last one stays inside the box
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}" font-size="11" fill="#4b5563">'
            f"{escape(format_date(day, 'MMM d', locale=get_locale()))}</text>"
        )
    return parts


def _line(line: Line, colour: str, days: Sequence[date], top: int) -> list[str]:
    points = [(_x(i, len(days)), _y(v, top)) for i, v in enumerate(line.values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    parts = [f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>']
    for (x, y), day, value in zip(points, days, line.values, strict=True):
        # A hover title per point: the exact number for that day, read out by screen readers too.
        title = escape(f"{line.label}, {day.isoformat()}: {value}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{title}</title></circle>')
    return parts


def _legend(lines: Sequence[Line]) -> list[str]:
    parts = []
    for index, line in enumerate(lines):
        x = LEFT + index * 160
        y = HEIGHT - 8
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="3" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="{y - 4}" font-size="12" fill="#111827">{escape(line.label)}</text>')
    return parts


def daily_line_chart(title: str, days: Sequence[date], lines: Sequence[Line]) -> Markup:
    """An <svg> with one polyline per series over ``days``, gridlines, day and count labels, and a legend."""
    top = _nice_top(max((max(line.values, default=0) for line in lines), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'role="img" aria-labelledby="chart-title" class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        *_grid(top),
        *_day_labels(days),
    ]
    for index, line in enumerate(lines):
        parts.extend(_line(line, COLOURS[index % len(COLOURS)], days, top))
    parts.extend(_legend(lines))
    parts.append("</svg>")
    return Markup("\n".join(parts))
