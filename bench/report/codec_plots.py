"""The rate–quality plot of codec runs: each quality metric against the measured kbps (log axis).

One panel per metric (the protocol's headline metrics and ``adherence_retained``), sharing the
log kbps axis (round, plainly labelled ticks: :func:`bench.report.plots.set_log_x`). Each codec
is one colour; its operating points are joined in order of rate and labelled with their
operating point; bars are the CIs (vertical: the metric's, horizontal: the kbps'). An anchor is
a hollow grey diamond labelled "anchor (nominal rate)": its x is a label, not a payload.
"""
from __future__ import annotations

from bench.report.cells import arrow, metric_directions, several_runs
from bench.report.codec import KBPS, is_anchor_row, operating_point
from bench.report.grid import grid_shape, panel_title
from bench.report.plots import Plot, figure, finish, plain, set_log_x

PANEL_W_IN, PANEL_H_IN, MAX_COLS = 3.6, 2.8, 3
ANCHOR_STYLE = {"marker": "D", "s": 44, "facecolors": "none", "edgecolors": "#6b7385", "zorder": 3}


def _ok(row: dict, name: str) -> dict | None:
    m = row["metrics"].get(name)
    return m if m and m.get("status") == "ok" and m.get("value") is not None else None


def _series(row: dict, multi: bool) -> str:
    label = f"{row['system']} (anchor, nominal rate)" if is_anchor_row(row) else str(row["system"])
    return plain(f"{row['run']}: {label}" if multi else label)


def _point_label(row: dict) -> str:
    text = operating_point(row)
    return "" if text == "default" else text.replace("bitrate_kbps=", "target ").replace("cutoff_hz=", "fc ")


def rate_quality_plot(rows: list[dict], metrics: list[str], fmt: str = "svg") -> Plot:
    """The panels of ``metrics`` vs kbps; a note when no row has both a kbps and a metric value."""
    title = "rate–quality: each metric vs measured kbps (log axis)"
    rated = [r for r in rows if _ok(r, KBPS) and r["metrics"][KBPS]["value"] > 0]
    shown = [m for m in metrics if any(_ok(r, m) for r in rated)]
    if not shown:
        return Plot(title, note="skipped: no row has both a measured kbps and an 'ok' quality metric")
    n_rows, n_cols = grid_shape(len(shown), MAX_COLS)
    fig = figure(PANEL_W_IN * n_cols, PANEL_H_IN * n_rows + 0.8)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    multi, directions = several_runs(rows), metric_directions(rows)
    series = list(dict.fromkeys(_series(r, multi) for r in rated if not is_anchor_row(r)))
    colours = {name: f"C{i % 10}" for i, name in enumerate(series)}
    xs = [r["metrics"][KBPS]["value"] for r in rated]
    for ax, name in zip(axes.flat, shown):
        _panel(ax, [r for r in rated if _ok(r, name)], name, colours, multi)
        ax.set_title(plain(panel_title(name, directions[name], None)), fontsize=8.5)
        set_log_x(ax, xs)
        ax.set_xlabel("kbps (measured) →", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    for k in range(len(shown), n_rows * n_cols):
        axes.flat[k].set_visible(False)
    handles: dict[str, object] = {}
    for ax in axes.flat[: len(shown)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside upper center",
               ncols=min(len(handles), 4), fontsize=8, frameon=False)
    return finish(f"{title}; {', '.join(f'{m} {arrow(directions[m])}' for m in shown)}", fig, fmt, wide=True)


def _panel(ax, rows: list[dict], name: str, colours: dict[str, str], multi: bool) -> None:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(_series(row, multi), []).append(row)
    for label, group in groups.items():
        group.sort(key=lambda r: r["metrics"][KBPS]["value"])
        x = [r["metrics"][KBPS]["value"] for r in group]
        y = [r["metrics"][name]["value"] for r in group]
        if is_anchor_row(group[0]):
            ax.scatter(x, y, label=label, **ANCHOR_STYLE)
        else:
            ax.errorbar(x, y, xerr=_err(group, KBPS), yerr=_err(group, name), color=colours[label],
                        marker="o", ms=4, lw=1.3, elinewidth=0.8, capsize=2, label=label, zorder=3)
        for r, xi, yi in zip(group, x, y):
            if _point_label(r):
                ax.annotate(plain(_point_label(r)), (xi, yi), textcoords="offset points", xytext=(4, 4),
                            fontsize=6.5)


def _err(group: list[dict], name: str):
    """Asymmetric error bars [[below], [above]] from the CIs (0 where a row has none)."""
    below, above = [], []
    for r in group:
        m = r["metrics"][name]
        lo, hi, v = m.get("ci_low"), m.get("ci_high"), m["value"]
        below.append(max(v - lo, 0.0) if lo is not None else 0.0)
        above.append(max(hi - v, 0.0) if hi is not None else 0.0)
    return [below, above]
