"""Charts drawn on the server as inline SVG: no JavaScript, printable, allowed by the CSP.

Pure functions from rows to `Markup`. Colours and sizes are SVG presentation attributes (fill=,
stroke=, font-size=): the CSP's `style-src 'self'` forbids <style> elements and style attributes.
Every piece of text, label or link goes through `markupsafe.escape`, so a unit called
"<script>" or "R&D" is drawn as text. Each drawn value carries a <title> (the browser's tooltip).

The SVG is a picture (role="img"); its links are for the mouse and are kept out of the tab order,
because every chart is shown next to a table with the same numbers and links for keyboards and
screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
LABEL_W = 170  # room for unit names left of horizontal bars
VALUE_W = 64  # room for the value right of the longest bar
BAR_H = 14
BAR_GAP = 2
ROW_GAP = 10
LEGEND_H = 22
FONT_SIZE = 12
FONT = 'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif'
AXIS = "#adb5bd"
TEXT = "#212529"
MUTED = "#6c757d"


@dataclass(frozen=True)
class Series:
    """One kind of value in a chart: its name (legend, tooltip) and colour."""

    name: str
    colour: str


@dataclass(frozen=True)
class Row:
    """One bar (group), stack or x position: a label, one value per series, an optional link.

    `texts` are the values as shown (e.g. "37.5%"; a None value is undefined and draws no bar);
    `note` is added to every tooltip of the row (e.g. "3 of 8 measures").
    """

    label: str
    values: tuple[float | None, ...]
    href: str | None = None
    texts: tuple[str, ...] = ()
    note: str | None = None

    def text(self, i: int) -> str:
        if i < len(self.texts):
            return self.texts[i]
        value = self.values[i]
        return "—" if value is None else _number(value)


# --- small helpers ------------------------------------------------------------------------------


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _f(x: float) -> str:
    """A coordinate: one decimal is plenty and keeps the markup short."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _text_width(text: str, size: float) -> float:
    """Rough rendered width: CJK characters are square, others about 0.6 em."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def fit(text: str, width: float, size: float = FONT_SIZE) -> str:
    """The text, cut with "…" so that it fits `width` (the full text stays in the tooltip)."""
    if _text_width(text, size) <= width:
        return text
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _esc(text) -> str:
    """Escaped text as a plain str (a Markup would escape a str added to it a second time)."""
    return str(escape(text))


def _attrs(**attrs) -> str:
    """Escaped XML attributes; a trailing underscore avoids Python keywords, "_" becomes "-"."""
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        name = name.rstrip("_").replace("_", "-")
        parts.append(f' {name}="{escape(value)}"')
    return "".join(parts)


def _el(tag: str, content: str = "", **attrs) -> str:
    return f"<{tag}{_attrs(**attrs)}>{content}</{tag}>"


def _title(text: str) -> str:
    return _el("title", _esc(text))


def _tooltip(row: Row, series: Series, i: int) -> str:
    text = f"{row.label} · {series.name}: {row.text(i)}"
    return f"{text} ({row.note})" if row.note else text


def _link(content: str, href: str | None) -> str:
    """Wrap in <a> when there is somewhere to go; out of the tab order (the table has the links)."""
    if not href:
        return _el("g", content)
    return _el("a", content, href=href, tabindex="-1")


def _svg(chart_id: str, title: str, height: float, body: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg"'
        f'{_attrs(viewBox=f"0 0 {WIDTH} {_f(height)}", width="100%", role="img", id=chart_id)}'
        f'{_attrs(aria_labelledby=f"{chart_id}-title", class_="dashboard-chart", font_family=FONT)}'
        f'{_attrs(font_size=FONT_SIZE, fill=TEXT)}>'
        f'{_el("title", _esc(title), id=f"{chart_id}-title")}{body}</svg>'
    )


def _legend(series: Sequence[Series], x: float = LABEL_W) -> str:
    """Coloured squares with the series' names, on one line at the top."""
    parts = []
    for s in series:
        parts.append(_el("rect", x=_f(x), y=4, width=10, height=10, fill=s.colour))
        parts.append(_el("text", _esc(s.name), x=_f(x + 14), y=13))
        x += 14 + _text_width(s.name, FONT_SIZE) + 18
    return _el("g", "".join(parts), class_="legend")


def _scale_max(rows: Sequence[Row], max_value: float | None, stacked: bool = False) -> float:
    if max_value:
        return float(max_value)
    totals = [sum(v or 0 for v in r.values) if stacked else max((v or 0 for v in r.values), default=0)
              for r in rows]
    return float(max(totals, default=0)) or 1.0


def _row_label(row: Row, y: float) -> str:
    return _el("text", _esc(fit(row.label, LABEL_W - 10)), x=LABEL_W - 6, y=_f(y), text_anchor="end",
               dominant_baseline="central")


# --- the charts ---------------------------------------------------------------------------------


def bar_chart(rows: Sequence[Row], series: Sequence[Series], *, chart_id: str, title: str,
              max_value: float | None = None) -> Markup:
    """Horizontal bars, one group per row and one bar per series (e.g. closure and on-time rate)."""
    top = LEGEND_H if len(series) > 1 else 4
    group_h = len(series) * BAR_H + (len(series) - 1) * BAR_GAP
    scale = (WIDTH - LABEL_W - VALUE_W) / _scale_max(rows, max_value)
    parts = [_legend(series)] if len(series) > 1 else []
    y = top
    for row in rows:
        bars = [_title(row.label), _row_label(row, y + group_h / 2)]
        for i, s in enumerate(series):
            value, bar_y = row.values[i], y + i * (BAR_H + BAR_GAP)
            width = 0.0 if value is None else max(float(value) * scale, 0.0)
            tip = _title(_tooltip(row, s, i))
            if width:
                bars.append(_el("rect", tip, x=LABEL_W, y=_f(bar_y), width=_f(width), height=BAR_H,
                                fill=s.colour))
            bars.append(_el("text", tip + _esc(row.text(i)), x=_f(LABEL_W + width + 4),
                            y=_f(bar_y + BAR_H / 2), dominant_baseline="central", fill=MUTED))
        parts.append(_link("".join(bars), row.href))
        y += group_h + ROW_GAP
    parts.append(_el("line", x1=LABEL_W, y1=top - 2, x2=LABEL_W, y2=_f(y - ROW_GAP + 2), stroke=AXIS))
    return _svg(chart_id, title, y - ROW_GAP + 6, "".join(parts))


def stacked_bars(rows: Sequence[Row], series: Sequence[Series], *, chart_id: str, title: str) -> Markup:
    """Horizontal bars whose segments add up (e.g. closed + not yet closed = measures); total at the end."""
    scale = (WIDTH - LABEL_W - VALUE_W) / _scale_max(rows, None, stacked=True)
    parts = [_legend(series)]
    y = LEGEND_H
    for row in rows:
        bars = [_title(row.label), _row_label(row, y + BAR_H / 2)]
        x = float(LABEL_W)
        for i, s in enumerate(series):
            width = max(float(row.values[i] or 0) * scale, 0.0)
            if width:
                bars.append(_el("rect", _title(_tooltip(row, s, i)), x=_f(x), y=_f(y), width=_f(width),
                                height=BAR_H, fill=s.colour))
            x += width
        total = _number(sum(v or 0 for v in row.values))
        bars.append(_el("text", _esc(total), x=_f(x + 4), y=_f(y + BAR_H / 2), dominant_baseline="central",
                        fill=MUTED))
        parts.append(_link("".join(bars), row.href))
        y += BAR_H + ROW_GAP
    parts.append(_el("line", x1=LABEL_W, y1=LEGEND_H - 2, x2=LABEL_W, y2=_f(y - ROW_GAP + 2), stroke=AXIS))
    return _svg(chart_id, title, y - ROW_GAP + 6, "".join(parts))


def nice_max(value: float) -> float:
    """The top of the y axis: four times a round whole tick (1, 2, 2.5, 3, 5 × 10ⁿ) and at least `value`."""
    power = 1
    while True:
        for step in (1, 2, 2.5, 3, 5):
            tick = step * power
            if tick == int(tick) and 4 * tick >= value:  # whole ticks: the values are counts
                return float(4 * tick)
        power *= 10


def line_chart(rows: Sequence[Row], series: Sequence[Series], *, chart_id: str, title: str,
               height: float = 240) -> Markup:
    """One line per series over the rows (x positions, e.g. months); each position links to its row's href."""
    left, right, top, bottom = 44.0, 16.0, LEGEND_H + 8.0, 28.0
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    y_max = nice_max(max((v or 0 for r in rows for v in r.values), default=0))
    step = plot_w / len(rows) if rows else plot_w

    def x_of(i: int) -> float:
        return left + step * (i + 0.5)

    def y_of(value: float) -> float:
        return top + plot_h - plot_h * float(value) / y_max

    parts = [_legend(series, x=left)]
    for k in range(5):  # gridlines at 0, ¼, ½, ¾ and the maximum
        tick = y_max * k / 4
        parts.append(_el("line", x1=_f(left), y1=_f(y_of(tick)), x2=_f(WIDTH - right), y2=_f(y_of(tick)),
                         stroke=AXIS if k == 0 else "#e9ecef"))
        parts.append(_el("text", _esc(_number(tick)), x=_f(left - 6), y=_f(y_of(tick)), text_anchor="end",
                         dominant_baseline="central", fill=MUTED, font_size=11))
    for i, s in enumerate(series):
        points = " ".join(f"{_f(x_of(j))},{_f(y_of(r.values[i] or 0))}" for j, r in enumerate(rows))
        parts.append(_el("polyline", points=points, fill="none", stroke=s.colour, stroke_width=2))
    every = max(1, math.ceil(len(rows) / 12))  # at most twelve labels under the axis
    for j, row in enumerate(rows):
        summary = "; ".join(f"{s.name}: {row.text(i)}" for i, s in enumerate(series))
        column = [_el("rect", _title(f"{row.label} · {summary}"), x=_f(left + step * j), y=_f(top),
                      width=_f(step), height=_f(plot_h), fill="#ffffff", fill_opacity=0)]
        for i, s in enumerate(series):
            column.append(_el("circle", _title(_tooltip(row, s, i)), cx=_f(x_of(j)),
                              cy=_f(y_of(row.values[i] or 0)), r=3.5, fill=s.colour))
        if j % every == 0:
            column.append(_el("text", _esc(fit(row.label, step * every - 2, 11)), x=_f(x_of(j)),
                              y=_f(height - bottom + 16), text_anchor="middle", font_size=11))
        parts.append(_link("".join(column), row.href))
    return _svg(chart_id, title, height, "".join(parts))
