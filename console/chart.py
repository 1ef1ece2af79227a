"""The funnel as a grouped bar chart in SVG, drawn on the server (no script, no CDN).

Markup is built with MarkupSafe's escaping, so labels can never inject anything.
"""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 280, 40, 60, 10
COLOURS = ("#1b4965", "#2a6f97", "#468faf", "#61a5c2", "#89c2d9", "#e09f3e", "#9e2a2b", "#540b0e")


def funnel_svg(weeks: list[str], totals: dict[str, dict[str, int]], series: tuple[str, ...],
               labels: dict[str, str], title: str) -> Markup:
    peak = max([totals.get(week, {}).get(name, 0) for week in weeks for name in series] + [1])
    plot_w, plot_h = WIDTH - PAD_LEFT - 10, HEIGHT - PAD_BOTTOM - PAD_TOP
    group_w = plot_w / max(len(weeks), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 10}" y2="{PAD_TOP + plot_h}" stroke="#555"/>',
        f'<text x="4" y="{PAD_TOP + 10}" font-size="11">{peak}</text>',
    ]
    for index, week in enumerate(weeks):
        x0 = PAD_LEFT + index * group_w + group_w * 0.1
        for position, name in enumerate(series):
            value = totals.get(week, {}).get(name, 0)
            height = plot_h * value / peak
            x, y = x0 + position * bar_w, PAD_TOP + plot_h - height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
                f'fill="{COLOURS[position % len(COLOURS)]}"><title>{escape(week)} · {escape(labels[name])}: '
                f"{value}</title></rect>"
            )
        parts.append(f'<text x="{x0:.1f}" y="{PAD_TOP + plot_h + 14}" font-size="11">{escape(week[-3:])}</text>')
    legend_x, legend_y = PAD_LEFT, HEIGHT - 30
    for position, name in enumerate(series):
        width = 13 + 6 * len(labels[name]) + 12
        if legend_x + width > WIDTH:  # wrap the legend onto a second line
            legend_x, legend_y = PAD_LEFT, legend_y + 16
        parts.append(f'<rect class="legend" x="{legend_x}" y="{legend_y}" width="10" height="10" '
                     f'fill="{COLOURS[position % len(COLOURS)]}"/>')
        parts.append(f'<text x="{legend_x + 13}" y="{legend_y + 9}" font-size="10">{escape(labels[name])}</text>')
        legend_x += width
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
