"""Every metric against steps as a grid of small multiples: one figure, one small panel per metric.

Panels share the x-axis (steps, log2, the step counts as plain labels) and a colour per
(system, sampler) series, with the CI as a band; the floor and ceiling values are horizontal
reference lines (solid green: floor, dashed brown: ceiling). Headline metrics come first; a
metric that does not resolve has "⚠ …" under its name. One legend serves all panels.
"""
from __future__ import annotations

import math
import textwrap

import numpy as np

from bench.report.anchors import ok_value, system_rows
from bench.report.cells import arrow, metric_directions, several_runs
from bench.report.plots import Plot, draw_anchor_lines, figure, finish, group_rows, plain, series_label

PANEL_W_IN, PANEL_H_IN, MAX_COLS = 3.0, 2.35, 4
TITLE_CHARS = 34
MARK_COLOUR = "#a04000"


def grid_shape(n_panels: int, max_cols: int = MAX_COLS) -> tuple[int, int]:
    """(rows, columns) of a grid holding ``n_panels`` panels, at most ``max_cols`` wide."""
    if n_panels < 1:
        raise ValueError("a grid needs at least one panel")
    cols = min(max_cols, n_panels)
    return math.ceil(n_panels / cols), cols


def plotted_metrics(rows: list[dict], metrics: list[str]) -> tuple[list[str], list[str]]:
    """(metrics with an 'ok' value in a system row with steps >= 1, the others)."""
    def drawable(name: str) -> bool:
        return any(ok_value(r, name) is not None and r["steps"] >= 1 for r in system_rows(rows))
    shown = [m for m in metrics if drawable(m)]
    return shown, [m for m in metrics if m not in shown]


def metric_grid(rows: list[dict], view, fmt: str = "svg") -> Plot:
    """The small-multiples figure of ``view.metrics`` (headline first); a note when nothing can be drawn."""
    title = "metrics vs steps"
    shown, skipped = plotted_metrics(rows, view.metrics)
    if not shown:
        return Plot(title, note="skipped: no metric has an 'ok' value in any row with steps >= 1")
    n_rows, n_cols = grid_shape(len(shown))
    fig = figure(PANEL_W_IN * n_cols, PANEL_H_IN * n_rows + 0.7)
    axes = fig.subplots(n_rows, n_cols, sharex=True, squeeze=False)
    colours = _series_colours(rows)
    for ax, name in zip(axes.flat, shown):
        _panel(ax, rows, name, view.mark(name), colours)
    _hide_unused(axes, len(shown))
    _shared_steps_axis(axes, sorted({r["steps"] for r in system_rows(rows) if r["steps"] >= 1}))
    _legend(fig, axes)
    if skipped:
        title += " (not drawn, no 'ok' value: " + ", ".join(skipped) + ")"
    return finish(title, fig, fmt, wide=True)


def _series_colours(rows: list[dict]) -> dict[str, str]:
    """One fixed colour per (system, sampler) series, the same in every panel."""
    multi = several_runs(rows)
    labels = list(group_rows(system_rows(rows), lambda r: series_label(r, multi, with_sampler=True)))
    palette = [f"C{i % 10}" for i in range(len(labels))]
    return dict(zip(labels, palette))


def wrap_name(text: str, width: int = TITLE_CHARS) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken after its colons where possible
    (option-laden names such as ``kl@yamnet:pair=prompt:unpaired=exclude`` have no spaces)."""
    spaced = text.replace(":", ": ")  # a break opportunity after every colon, removed again below
    return [line.replace(": ", ":") for line in textwrap.wrap(spaced, width, break_on_hyphens=False)]


def panel_title(name: str, up: bool, mark: str | None) -> str:
    """Metric name and arrow wrapped to the panel's width, the resolution mark on its own line."""
    return "\n".join(wrap_name(f"{name} {arrow(up)}")) + (f"\n{mark}" if mark else "")


def _panel(ax, rows: list[dict], name: str, mark: str | None, colours: dict[str, str]) -> None:
    multi = several_runs(rows)
    ok = [r for r in system_rows(rows) if ok_value(r, name) is not None and r["steps"] >= 1]
    for label, group in group_rows(ok, lambda r: series_label(r, multi, with_sampler=True)).items():
        steps = [r["steps"] for r in group]
        ax.plot(steps, [ok_value(r, name) for r in group], marker="o", ms=3.5, lw=1.4,
                color=colours[label], label=label)
        lo, hi = _ci_arrays(group, name)
        ax.fill_between(steps, lo, hi, color=colours[label], alpha=0.15, lw=0)
    draw_anchor_lines(ax, rows, name, multi)
    up = metric_directions(rows)[name]
    ax.set_title(plain(panel_title(name, up, mark)), fontsize=8.5, color=MARK_COLOUR if mark else "black")
    ax.tick_params(labelsize=7)
    ax.grid(True, which="major", alpha=0.3)


def _ci_arrays(group: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """CI bounds per row (NaN where absent, which leaves a gap in the band)."""
    def bound(r: dict, key: str) -> float:
        v = r["metrics"][metric].get(key)
        return float(v) if v is not None else np.nan
    return (np.array([bound(r, "ci_low") for r in group]), np.array([bound(r, "ci_high") for r in group]))


def _hide_unused(axes, n_used: int) -> None:
    """Hide the trailing empty cells; the panel above an empty cell keeps its step labels."""
    n_rows, n_cols = axes.shape
    for k in range(n_used, n_rows * n_cols):
        axes.flat[k].set_visible(False)
        above = k - n_cols
        if above >= 0:
            axes.flat[above].xaxis.set_tick_params(labelbottom=True)


def _shared_steps_axis(axes, steps: list[int]) -> None:
    """Log2 x-axis with the step counts themselves as plain tick labels (shared by all panels)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, ScalarFormatter

    ax = axes.flat[0]
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(steps))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if len(steps) == 1:
        ax.set_xlim(steps[0] / 2, steps[0] * 2)
    for bottom in axes[-1]:
        bottom.set_xlabel("steps", fontsize=8)


def _legend(fig, axes) -> None:
    """One legend above the grid with every series and reference line seen in any panel."""
    entries: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    fig.legend(list(entries.values()), list(entries), loc="outside upper center",
               ncols=min(len(entries), 4), fontsize=8, frameon=False)
