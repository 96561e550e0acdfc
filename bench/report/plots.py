"""Leaderboard plots (matplotlib, Agg backend, imported lazily): SVG strings or PNG bytes.

1. :func:`quality_vs_rtf` — the protocol's Pareto metric against RTF, one colour per (system, sampler),
   the Pareto front (RTF is always maximised; the metric follows its direction), and the floor
   and ceiling values as horizontal reference lines. The log RTF axis carries a few round,
   plainly labelled ticks (:func:`log_ticks`) and no minor labels, so labels never overprint.
2. :func:`bench.report.grid.metric_grid` — every metric against steps, one small panel each.
3. :func:`bench.report.spectro.spectrograms` — log-mel spectrograms across a system's steps.

A plot that lacks data comes back as a :class:`Plot` with ``note`` set and no image: never an
exception. RTF = seconds of audio generated per wall-clock second (higher is faster).
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

from bench.report.anchors import anchor_label, is_anchor, ok_value, system_rows
from bench.report.cells import arrow, metric_directions, several_runs, sort_rows, system_label

# tick multipliers per decade, densest first; the densest series that fits is used
TICK_SERIES = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 5), (1, 3), (1,))
ANCHOR_STYLE = {"floor": {"color": "#2f7d4f", "ls": "-"}, "ceiling": {"color": "#b0602a", "ls": "--"}}


@dataclass
class Plot:
    """A rendered figure (``svg`` text or ``png`` bytes) or, when data was missing, a ``note``."""

    title: str
    svg: str | None = None
    png: bytes | None = None
    note: str | None = None
    wide: bool = False  # drawn across the page's full width


def pareto_front(points: list[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of the non-dominated points, by increasing x; x (RTF) is maximised.

    Point j dominates i when it is at least as good on both axes and better on one; y is
    maximised when ``higher_is_better`` and minimised otherwise. Equal points both stay.
    """
    sign = 1.0 if higher_is_better else -1.0
    scored = [(x, sign * y) for x, y in points]

    def dominated(i: int) -> bool:
        xi, yi = scored[i]
        return any(xj >= xi and yj >= yi and (xj > xi or yj > yi) for xj, yj in scored)

    front = [i for i in range(len(points)) if not dominated(i)]
    return sorted(front, key=lambda i: (points[i][0], sign * points[i][1]))


def _series_ticks(lo: float, hi: float, mults: tuple[int, ...]) -> list[float]:
    """Every ``m × 10^k`` in [lo, hi] (decimal-exact, e.g. 0.3 not 0.30000000000000004)."""
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks = [float(f"{m}e{k}") for k in range(k0, k1 + 1) for m in mults]
    return [t for t in ticks if lo * (1 - 1e-12) <= t <= hi * (1 + 1e-12)]


def _round_sig(x: float, digits: int = 2) -> float:
    return float(f"{x:.{digits}g}")


def log_ticks(lo: float, hi: float, max_ticks: int = 5) -> list[float]:
    """2 to ``max_ticks`` round tick values for a log axis spanning [lo, hi] (0 < lo ≤ hi).

    The densest of the 1–9, 1-2-5, 1-3 and decade series that fits; a range wider than
    ``max_ticks`` decades takes every n-th decade; a range too narrow for two round values gets
    its ends and geometric middle, rounded to 2 significant digits.
    """
    if not (0 < lo <= hi) or not math.isfinite(hi):
        raise ValueError(f"log_ticks needs 0 < lo <= hi < inf, got lo={lo}, hi={hi}")
    candidates = [_series_ticks(lo, hi, mults) for mults in TICK_SERIES]
    fitting = [ticks for ticks in candidates if 2 <= len(ticks) <= max_ticks]
    if fitting:
        return fitting[0]
    decades = candidates[-1]
    if len(decades) > max_ticks:
        return decades[::math.ceil(len(decades) / max_ticks)]
    middle = math.sqrt(lo * hi)
    return sorted({_round_sig(x) for x in (lo, middle, hi)})


def tick_label(value: float) -> str:
    """A plain tick label: 0.5, 20, 300, 1e+05 (no mathtext, no offset)."""
    return f"{value:g}"


def figure(width: float, height: float):
    """A pyplot-free Agg figure (no global state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


_SVG_DROP = [r"<\?xml[^>]*\?>", r"<!DOCTYPE[^>]*>", r"<metadata>.*?</metadata>",
             r'\s+xmlns(:\w+)?="[^"]*"']


def render(fig, fmt: str) -> str | bytes:
    """SVG text ready to inline in HTML (no prolog, metadata or namespace URLs) or PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Software": None} if fmt == "png" else {"Creator": None})
    if fmt == "png":
        return buf.getvalue()
    text = buf.getvalue().decode("utf-8")
    for pattern in _SVG_DROP:
        text = re.sub(pattern, "", text, flags=re.DOTALL)
    return text.strip()


def finish(title: str, fig, fmt: str, wide: bool = False) -> Plot:
    data = render(fig, fmt)
    return Plot(title, svg=data, wide=wide) if fmt == "svg" else Plot(title, png=data, wide=wide)


def plain(text) -> str:
    """Text from a results file, shown literally by matplotlib (no mathtext between '$' signs)."""
    return str(text).replace("$", r"\$")


def series_label(row: dict, multi: bool, with_sampler: bool = False) -> str:
    """'system', 'system/sampler', prefixed by 'run: ' when rows come from several runs."""
    label = f"{system_label(row)}/{row['sampler']}" if with_sampler else system_label(row)
    return plain(f"{row['run']}: {label}" if multi else label)


def group_rows(rows: list[dict], label) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in sort_rows(rows):
        groups.setdefault(label(row), []).append(row)
    return groups


def draw_anchor_lines(ax, rows: list[dict], metric: str, multi: bool) -> None:
    """The floor and ceiling values of ``metric`` as labelled horizontal reference lines."""
    for row in (r for r in rows if is_anchor(r)):
        value = ok_value(row, metric)
        if value is None:
            continue
        label = f"{row['run']}: {anchor_label(row)}" if multi else anchor_label(row)
        ax.axhline(value, lw=1.1, zorder=1, label=plain(label), **ANCHOR_STYLE[row["role"]])


def quality_vs_rtf(rows: list[dict], metric: str, fmt: str = "svg", mark: str | None = None) -> Plot:
    """Scatter of ``metric`` vs RTF per system, steps annotated, with the Pareto front and anchors."""
    title = f"{metric} vs RTF (Pareto front)"
    if metric not in metric_directions(rows):
        return Plot(title, note=f"no metric {metric!r} in these runs")
    up = metric_directions(rows)[metric]
    pts = [r for r in system_rows(rows)
           if ok_value(r, metric) is not None and _positive(r["speed"].get("rtf"))]
    if not pts:
        return Plot(title, note=f"skipped: no row has both an 'ok' {metric} value and an RTF")
    fig = figure(7.6, 5.0)
    ax = fig.add_subplot()
    multi = several_runs(rows)
    for label, group in group_rows(pts, lambda r: series_label(r, multi, with_sampler=True)).items():
        xs, ys = [r["speed"]["rtf"] for r in group], [ok_value(r, metric) for r in group]
        ax.scatter(xs, ys, label=label, s=36, zorder=3)
        for r, x, y in zip(group, xs, ys):
            ax.annotate(f"{r['steps']}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    _draw_front(ax, [(r["speed"]["rtf"], ok_value(r, metric)) for r in pts], up)
    draw_anchor_lines(ax, rows, metric, multi)
    set_log_x(ax, [r["speed"]["rtf"] for r in pts])
    _style_rtf_axes(ax, metric, up, mark)
    fig.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return finish(title, fig, fmt)


def set_log_x(ax, xs: list[float]) -> None:
    """Log x-axis over ``xs`` (padded) with :func:`log_ticks` as plain labels and no minor labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    lo, hi = min(xs), max(xs)
    ax.set_xscale("log")
    ax.set_xlim(lo / 1.25, hi * 1.25)
    ax.xaxis.set_major_locator(FixedLocator(log_ticks(lo / 1.25, hi * 1.25)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(v)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _style_rtf_axes(ax, metric: str, up: bool, mark: str | None) -> None:
    ax.set_xlabel("RTF (audio s per wall-clock s, higher is faster) →")
    ax.set_ylabel(plain(f"{metric} {arrow(up)}"))
    title = f"{metric} vs speed; labels = steps" + (f"  {mark}" if mark else "")
    ax.set_title(plain(title), fontsize=10, color="#a04000" if mark else "black")
    ax.grid(True, which="major", alpha=0.3)


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


def _draw_front(ax, points: list[tuple[float, float]], higher_is_better: bool) -> None:
    front = [points[i] for i in pareto_front(points, higher_is_better)]
    xs, ys = zip(*front)
    ax.plot(xs, ys, "--", color="black", lw=1.2, zorder=2, label="Pareto front")
    ax.scatter(xs, ys, s=110, facecolors="none", edgecolors="black", zorder=4)


def safe_plot(title: str, build, *args, **kwargs) -> Plot:
    """Call a plot builder; any failure becomes a visible note, never an exception."""
    import matplotlib

    try:
        with matplotlib.rc_context({"svg.fonttype": "path"}):
            return build(*args, **kwargs)
    except Exception as exc:  # a report must still be written when one figure cannot be drawn
        return Plot(title, note=f"plot failed: {type(exc).__name__}: {exc}")


def report_plots(rows: list[dict], view) -> list[Plot]:
    """Every figure: Pareto on the view's metric, the metric-vs-steps grid, spectrograms per system."""
    from bench.report.grid import metric_grid
    from bench.report.spectro import spectrograms

    quality = view.pareto
    if quality is None:
        plots = [Plot("quality vs RTF", note="skipped: the runs have no metrics")]
    else:
        plots = [safe_plot(f"{quality} vs RTF (Pareto front)", quality_vs_rtf, rows, quality,
                           mark=view.mark(quality))]
    plots.append(safe_plot("metrics vs steps", metric_grid, rows, view))
    systems = sorted({str(r["system"]) for r in system_rows(rows)})
    return plots + [safe_plot(f"spectrograms: {s}", spectrograms, rows, s) for s in systems]
