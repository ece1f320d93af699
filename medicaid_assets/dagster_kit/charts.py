"""Pictures in asset metadata, for numbers a person would rather see than read.

Each chart is a pure function from data to PNG bytes, drawn on a bare matplotlib ``Figure`` with the Agg
canvas: no pyplot, so no global state and no GUI backend in a run worker or a thread. matplotlib is
imported inside the functions because it costs about a second and a half, which every step process and
the code server would otherwise pay on import. :func:`image_metadata` embeds the PNG as a markdown data
URI, which the Dagster UI renders on the asset page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH_INCHES = 8.0
DPI = 100  # 800 px wide: legible on the asset page, a few tens of KB in the event log
BAR_COLOR = "#4f43dd"  # Dagster's accent, so the picture sits well in the UI
STATUS_COLORS = {
    "ok": "#2e9e5b",
    "not_found": "#e0a526",
    "error": "#d64545",
    "invalid": "#8a8a8a",
    "missing_cache": "#b5b5b5",
}


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _money(value: float, _position: object = None) -> str:
    """``$1.2B``-style axis labels: spending totals span cents to hundreds of billions."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"${value / size:,.1f}{suffix}"
    return f"${value:,.0f}"


def monthly_totals_png(totals: Mapping[date, float], title: str) -> bytes:
    """One bar per month (in date order) with dollar labels; a gap or a spike stands out at once."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    months = sorted(totals)
    figure = Figure(figsize=(WIDTH_INCHES, 3.0), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(months, [totals[m] for m in months], width=25, color=BAR_COLOR)
    if months:  # a month of margin, so a single month is a bar and not the whole plot
        axes.set_xlim(months[0] - timedelta(days=45), months[-1] + timedelta(days=45))
    locator = AutoDateLocator(maxticks=10)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.yaxis.set_major_formatter(FuncFormatter(_money))
    axes.set_title(title, loc="left", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    if not months:
        axes.text(0.5, 0.5, "no rows", transform=axes.transAxes, ha="center", va="center", color="#8a8a8a")
    return _png(figure)


def category_counts_png(groups: Mapping[str, Mapping[str, int]], title: str) -> bytes:
    """One panel per group (e.g. ``npi``, ``hcpcs``), one labelled horizontal bar per non-zero category.

    Categories keep the caller's order (statuses from settled to unsettled, kinds in table order);
    statuses get fixed colours so ``ok`` is green on every chart.
    """
    from matplotlib.figure import Figure

    shown = {name: {k: v for k, v in counts.items() if v} for name, counts in groups.items()}
    rows = max([1, *(len(c) for c in shown.values())])
    height = 0.9 + 0.28 * rows
    figure = Figure(figsize=(WIDTH_INCHES, max(height, 2.0)), layout="constrained")
    figure.suptitle(title, x=0.01, ha="left", fontsize=11)
    panels = figure.subplots(1, max(len(shown), 1), squeeze=False)[0]
    for axes, (name, counts) in zip(panels, shown.items(), strict=False):
        labels = list(counts)[::-1]  # first category on top
        values = [counts[label] for label in labels]
        colors = [STATUS_COLORS.get(label, BAR_COLOR) for label in labels]
        bars = axes.barh(labels, values, color=colors)
        axes.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=8)
        axes.set_title(f"{name} ({sum(values):,})", loc="left", fontsize=10)
        axes.spines[["top", "right"]].set_visible(False)
        axes.tick_params(axis="y", labelsize=8)
        axes.set_xticks([])
        axes.margins(x=0.25)
        axes.set_ylim(len(labels) - rows - 0.5, len(labels) - 0.5)  # same bar height in every panel, top-aligned
        if not values:
            axes.set_yticks([])
            axes.text(0.5, 0.5, "none", transform=axes.transAxes, ha="center", va="center", color="#8a8a8a")
    return _png(figure)


def amounts_by_group_png(values: Mapping[str, Sequence[float]], title: str, money: bool = True) -> bytes:
    """One horizontal box per group (log scale: amounts run from cents to tens of thousands), with its count;
    dollar or plain (e.g. a ratio) axis labels."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    groups = sorted((g for g, v in values.items() if v), key=lambda g: -len(values[g]))[:12]
    figure = Figure(figsize=(WIDTH_INCHES, 0.9 + 0.35 * max(len(groups), 2)), layout="constrained")
    axes = figure.add_subplot()
    if groups:
        data = [[max(v, 0.01) for v in values[g]] for g in groups]
        box = axes.boxplot(data, vert=False, patch_artist=True, widths=0.6, showfliers=False)
        for patch in box["boxes"]:
            patch.set_facecolor(BAR_COLOR)
            patch.set_alpha(0.6)
        axes.set_yticks(range(1, len(groups) + 1), [f"{g} ({len(values[g]):,})" for g in groups], fontsize=8)
        axes.set_xscale("log")
        if money:
            axes.xaxis.set_major_formatter(FuncFormatter(_money))
    else:
        axes.text(0.5, 0.5, "no rows", transform=axes.transAxes, ha="center", va="center", color="#8a8a8a")
    axes.set_title(title, loc="left", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def image_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    """Markdown metadata showing ``png`` inline (a data URI: the picture travels with the event, no file to serve)."""
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def labelled_values_png(values: Mapping[str, float], title: str, money: bool = True) -> bytes:
    """One vertical bar per label (e.g. a state) in the caller's order; dollar or plain axis labels."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    labels = list(values)
    figure = Figure(figsize=(WIDTH_INCHES * 1.4, 3.0), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(labels, [values[label] for label in labels], color=BAR_COLOR)
    axes.tick_params(axis="x", labelsize=7, rotation=90)
    if money:
        axes.yaxis.set_major_formatter(FuncFormatter(_money))
    axes.set_title(title, loc="left", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    if not labels:
        axes.text(0.5, 0.5, "no rows", transform=axes.transAxes, ha="center", va="center", color="#8a8a8a")
    return _png(figure)
