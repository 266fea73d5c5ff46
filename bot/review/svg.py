"""Small, dependency-free SVG charts for the offline HTML reports (no JavaScript, no CDN).

Every chart is a self-contained `<svg>` string with a <title> per mark, so hovering shows values.
All text is escaped: identities and room names come from outside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from emotion_models.labels import LABELS

LABEL_COLOURS: dict[str, str] = {
    "angry": "#d62728",
    "disgust": "#8c6d31",
    "fear": "#9467bd",
    "happy": "#2ca02c",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#b0b0b0",
}
SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")

_FONT = 'font-family="sans-serif" font-size="11"'


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, content: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" {_FONT} text-anchor="{anchor}"{extra}>{escape(content)}</text>'


def _legend(entries: Sequence[tuple[str, str]], x: float, y: float, step: float = 90) -> list[str]:
    parts = []
    for i, (name, colour) in enumerate(entries):
        cx = x + i * step
        parts.append(f'<rect x="{cx:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(cx + 14, y, name[:24]))
    return parts


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_range: tuple[float, float] = (-1.0, 1.0),
    x_ticks: Sequence[tuple[float, str]] | None = None,
    width: int = 720,
    height: int = 260,
) -> str:
    """One polyline (with point markers) per series; a zero line when the range spans zero."""
    left, right, top, bottom = 44, 24, 44, 40  # title, then legend, above the plot
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for points in series.values() for x, _ in points]
    x_min, x_max = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_max <= x_min:
        x_max = x_min + 1.0
    y_min, y_max = y_range

    def px(x: float) -> float:
        return left + (x - x_min) / (x_max - x_min) * plot_w

    def py(y: float) -> float:
        clipped = min(max(y, y_min), y_max)
        return top + (y_max - clipped) / (y_max - y_min) * plot_h

    body = [
        _text(left, 16, title, extra=' font-weight="bold"'),
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for value in (y_min, (y_min + y_max) / 2, y_max):
        body.append(_text(left - 6, py(value) + 4, f"{value:+.1f}" if value else "0", "end"))
    if y_min < 0 < y_max:
        body.append(
            f'<line x1="{left}" y1="{py(0):.1f}" x2="{left + plot_w}" y2="{py(0):.1f}" '
            'stroke="#888" stroke-dasharray="4 3"/>'
        )
    ticks = x_ticks if x_ticks is not None else [(x_min, f"{x_min:.0f}"), (x_max, f"{x_max:.0f}")]
    for x, text in ticks:
        body.append(_text(px(x), top + plot_h + 14, text, "middle"))
    body.append(_text(left + plot_w / 2, height - 6, x_label, "middle"))
    legend = []
    for i, (name, points) in enumerate(series.items()):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        legend.append((name, colour))
        if not points:
            continue
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        body.append(
            f'<polyline class="series" points="{coords}" fill="none" stroke="{colour}" stroke-width="1.6">'
            f"<title>{escape(name)}</title></polyline>"
        )
        if len(points) <= 60:  # markers only where they stay readable
            for x, y in points:
                body.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}">'
                    f"<title>{escape(name)}: {y:+.2f} at {x:.1f}</title></circle>"
                )
    body.extend(_legend(legend, left, 34, step=130))
    return _svg(width, height, body, title)


def share_bars(
    rows: Sequence[tuple[str, Mapping[str, float] | None]], *, title: str, width: int = 720
) -> str:
    """One horizontal 100 % bar per row, split into the label shares (rows without data say so)."""
    left, right, top, row_h = 150, 12, 44, 24
    height = top + row_h * max(len(rows), 1) + 10
    plot_w = width - left - right
    body = [_text(8, 16, title, extra=' font-weight="bold"')]
    body.extend(_legend([(label, LABEL_COLOURS[label]) for label in LABELS], left, 34, step=78))
    for i, (name, shares) in enumerate(rows):
        y = top + i * row_h
        body.append(_text(left - 6, y + 14, name[:24], "end"))
        if not shares:
            body.append(_text(left, y + 14, "not analysed", extra=' fill="#888"'))
            continue
        x = float(left)
        for label in LABELS:
            share = float(shares.get(label, 0.0))
            if share <= 0:
                continue
            w = share * plot_w
            body.append(
                f'<rect class="share" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" '
                f'fill="{LABEL_COLOURS[label]}"><title>{escape(name)}: {label} {share:.0%}</title></rect>'
            )
            if w > 28:
                body.append(_text(x + w / 2, y + 13, f"{share:.0%}", "middle", ' fill="#fff"'))
            x += w
    return _svg(width, height, body, title)
