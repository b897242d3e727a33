"""Server-rendered SVG charts (pygal).

Why pygal: it is a maintained pure-Python library on PyPI whose output is plain SVG, so the
same chart goes into the panel and the printable HTML report; text is drawn by the browser,
so Chinese labels use the reader's CJK fonts; and with `js=[]` the SVG references no CDN
(pygal's tooltips script would otherwise load from the internet), so offline sites work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pygal
from pygal.style import Style

FONT = "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"
STYLE = Style(background="white", plot_background="white", foreground="#333", foreground_strong="#111",
              foreground_subtle="#ccc", font_family=FONT, label_font_family=FONT, title_font_family=FONT,
              legend_font_family=FONT, value_font_family=FONT, major_label_font_family=FONT,
              title_font_size=16, label_font_size=12, major_label_font_size=12, legend_font_size=12,
              value_font_size=11, colors=("#2f6fb0", "#e08a2c", "#4a9a5b", "#c0504d", "#8064a2", "#4bacc6"))


def _config(title: str, width: int, height: int) -> dict[str, object]:
    return {"title": title, "style": STYLE, "width": width, "height": height, "js": [],
            "disable_xml_declaration": True, "explicit_size": True, "print_values": True,
            "print_zeroes": False, "legend_at_bottom": True, "truncate_label": -1, "truncate_legend": -1}


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _render(chart: pygal.graph.graph.Graph) -> str:
    # pygal still embeds its tooltip config as an inline <script>; without pygal.js it does
    # nothing, and a report (or a strict CSP) is better off with static markup only.
    return _SCRIPT.sub("", str(chart.render(is_unicode=True)))


def bar(title: str, values: Mapping[str, float], *, width: int = 640, height: int = 300,
        horizontal: bool = False) -> str:
    """One series: a bar per key."""
    cls = pygal.HorizontalBar if horizontal else pygal.Bar
    chart = cls(show_legend=False, **_config(title, width, height))
    chart.x_labels = list(values)
    chart.add(title, list(values.values()))
    return _render(chart)


def grouped_bar(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
                width: int = 640, height: int = 320) -> str:
    """Several series over the same labels (e.g. this period / previous / last year)."""
    chart = pygal.Bar(**_config(title, width, height))
    chart.x_labels = list(labels)
    for name, vals in series.items():
        chart.add(name, list(vals))
    return _render(chart)


def pie(title: str, values: Mapping[str, float], *, width: int = 420, height: int = 300) -> str:
    chart = pygal.Pie(inner_radius=0.45, **_config(title, width, height))
    for name, v in values.items():
        chart.add(name, v)
    return _render(chart)


def line(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
         width: int = 720, height: int = 320, percent: bool = False) -> str:
    chart = pygal.Line(x_label_rotation=30, **_config(title, width, height))
    if percent:
        chart.value_formatter = lambda v: f"{v:.0%}" if v is not None else ""
        chart.range = (0, 1)
    chart.x_labels = list(labels)
    for name, vals in series.items():
        chart.add(name, list(vals))
    return _render(chart)
