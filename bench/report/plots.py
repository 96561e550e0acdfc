"""Leaderboard plots (matplotlib, Agg backend, imported lazily): SVG strings or PNG bytes.

1. :func:`quality_vs_rtf` — one quality metric against RTF, one colour per system, with the
   Pareto front (RTF is always maximised; the metric follows its direction).
2. :func:`metric_vs_steps` — a metric against steps (log2 axis), one line per (system, sampler).
3. :func:`spectrograms` — log-mel spectrograms of one prompt+seed across a system's step counts.

A plot that lacks data comes back as a :class:`Plot` with ``note`` set and no image: never an
exception. RTF = seconds of audio generated per wall-clock second (higher is faster).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np

from bench.report.load import ReportError, audio_path, read_mono
from bench.report.tables import arrow, metric_directions, metric_names, several_runs, sort_rows


@dataclass
class Plot:
    """A rendered figure (``svg`` text or ``png`` bytes) or, when data was missing, a ``note``."""

    title: str
    svg: str | None = None
    png: bytes | None = None
    note: str | None = None


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


def _figure(width: float, height: float):
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


def _finish(title: str, fig, fmt: str) -> Plot:
    data = render(fig, fmt)
    return Plot(title, svg=data) if fmt == "svg" else Plot(title, png=data)


def plain(text) -> str:
    """Text from a results file, shown literally by matplotlib (no mathtext between '$' signs)."""
    return str(text).replace("$", r"\$")


def series_label(row: dict, multi: bool, with_sampler: bool = False) -> str:
    """'system', 'system/sampler', prefixed by 'run: ' when rows come from several runs."""
    label = f"{row['system']}/{row['sampler']}" if with_sampler else str(row["system"])
    return plain(f"{row['run']}: {label}" if multi else label)


def _ok_value(row: dict, metric: str):
    m = row["metrics"].get(metric)
    return m["value"] if m and m.get("status") == "ok" else None


def _group(rows: list[dict], label) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in sort_rows(rows):
        groups.setdefault(label(row), []).append(row)
    return groups


def quality_vs_rtf(rows: list[dict], metric: str, fmt: str = "svg") -> Plot:
    """Scatter of ``metric`` vs RTF per system, steps annotated, with the Pareto front."""
    title = f"{metric} vs RTF (Pareto front)"
    if metric not in metric_directions(rows):
        return Plot(title, note=f"no metric {metric!r} in these runs")
    up = metric_directions(rows)[metric]
    pts = [r for r in rows if _ok_value(r, metric) is not None and _positive(r["speed"].get("rtf"))]
    if not pts:
        return Plot(title, note=f"skipped: no row has both an 'ok' {metric} value and an RTF")
    fig = _figure(7.0, 4.6)
    ax = fig.add_subplot()
    multi = several_runs(rows)
    for label, group in _group(pts, lambda r: series_label(r, multi)).items():
        xs, ys = [r["speed"]["rtf"] for r in group], [_ok_value(r, metric) for r in group]
        ax.scatter(xs, ys, label=label, s=36, zorder=3)
        for r, x, y in zip(group, xs, ys):
            ax.annotate(f"{r['steps']}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    _draw_front(ax, [(r["speed"]["rtf"], _ok_value(r, metric)) for r in pts], up)
    _style_rtf_axes(ax, metric, up)
    return _finish(title, fig, fmt)


def _style_rtf_axes(ax, metric: str, up: bool) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("RTF (audio s per wall-clock s, higher is faster) →")
    ax.set_ylabel(plain(f"{metric} {arrow(up)}"))
    ax.set_title(plain(f"{metric} vs speed; labels = steps"), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


def _draw_front(ax, points: list[tuple[float, float]], higher_is_better: bool) -> None:
    front = [points[i] for i in pareto_front(points, higher_is_better)]
    xs, ys = zip(*front)
    ax.plot(xs, ys, "--", color="black", lw=1.2, zorder=2, label="Pareto front")
    ax.scatter(xs, ys, s=110, facecolors="none", edgecolors="black", zorder=4)


def metric_vs_steps(rows: list[dict], metric: str, fmt: str = "svg") -> Plot:
    """``metric`` vs steps (log2 x-axis), one line per (system, sampler), CI as a band."""
    title = f"{metric} vs steps"
    ok = [r for r in rows if _ok_value(r, metric) is not None and r["steps"] >= 1]
    if not ok:
        return Plot(title, note=f"skipped: no 'ok' value of {metric} in any row with steps >= 1")
    up = metric_directions(rows)[metric]
    multi = several_runs(rows)
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    for label, group in _group(ok, lambda r: series_label(r, multi, with_sampler=True)).items():
        steps = [r["steps"] for r in group]
        line = ax.plot(steps, [_ok_value(r, metric) for r in group], marker="o", label=label)[0]
        lo, hi = _ci_arrays(group, metric)
        ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    _log2_steps_axis(ax, sorted({r["steps"] for r in ok}))
    ax.set_ylabel(plain(f"{metric} {arrow(up)}"))
    ax.set_title(plain(title), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(title, fig, fmt)


def _log2_steps_axis(ax, steps: list[int]) -> None:
    """Log2 x-axis with the step counts themselves as plain tick labels."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.set_xticks(steps)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("steps (log2 axis)")


def _ci_arrays(group: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """CI bounds per row (NaN where absent, which leaves a gap in the band)."""
    def bound(r: dict, key: str) -> float:
        v = r["metrics"][metric].get(key)
        return float(v) if v is not None else np.nan
    return (np.array([bound(r, "ci_low") for r in group]), np.array([bound(r, "ci_high") for r in group]))


def all_metric_plots(rows: list[dict], fmt: str = "svg") -> list[Plot]:
    """One :func:`metric_vs_steps` plot per metric."""
    return [metric_vs_steps(rows, name, fmt) for name in metric_names(rows)]


def log_mel(samples: np.ndarray, rate: int, n_fft: int = 512, hop: int = 128, n_mels: int = 64) -> np.ndarray:
    """Log-mel power spectrogram in dB, [n_mels, frames], floored 80 dB below its peak."""
    from scipy.signal import stft

    x = samples if len(samples) >= n_fft else np.pad(samples, (0, n_fft - len(samples)))
    _, _, spec = stft(x, fs=rate, nperseg=n_fft, noverlap=n_fft - hop, boundary=None, padded=False)
    power = np.abs(spec) ** 2
    mel = mel_filterbank(rate, n_fft, n_mels) @ power
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max() - 80.0)


def mel_filterbank(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular HTK-mel filters, [n_mels, n_fft // 2 + 1]."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    edges = 700.0 * (10 ** (np.linspace(0, hz_to_mel(rate / 2), n_mels + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - freqs) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def spectrogram_rows(rows: list[dict], system: str) -> list[dict]:
    """The rows of ``system`` from its first run and first sampler, by increasing steps."""
    mine = [r for r in sort_rows(rows) if str(r["system"]) == system]
    if not mine:
        return []
    run = sorted(mine, key=lambda r: str(r.get("run", "")))[0].get("run")
    sampler = next(r["sampler"] for r in mine if r.get("run") == run)
    return [r for r in mine if r.get("run") == run and r["sampler"] == sampler]


def matching_entry(row: dict, ref: dict) -> dict | None:
    """The row's audio entry with the reference's prompt and seed (else its item_id)."""
    audio = row.get("audio") or []
    for keys in (("prompt", "seed"), ("item_id",)):
        if all(k in ref for k in keys):
            hit = next((a for a in audio if all(a.get(k) == ref[k] for k in keys)), None)
            if hit is not None:
                return hit
    return None


def _panel_data(row: dict, entry: dict | None, max_s: float) -> tuple[np.ndarray | None, str]:
    """(log-mel or None, message) for one step count."""
    if entry is None:
        return None, "no clip for this prompt+seed"
    try:
        samples, rate = read_mono(audio_path(row, entry), max_s)
    except ReportError as exc:
        return None, f"unreadable: {entry['path']} ({type(exc.__cause__).__name__})"
    if samples.size == 0:
        return None, f"empty: {entry['path']}"
    return log_mel(samples, rate), ""


def spectrograms(rows: list[dict], system: str, fmt: str = "png", max_s: float = 10.0) -> Plot:
    """Log-mel spectrograms of the first listed prompt+seed across the step counts of ``system``."""
    title = f"log-mel spectrograms: {system}"
    series = spectrogram_rows(rows, system)
    ref = next((r["audio"][0] for r in series if r.get("audio")), None)
    if ref is None:
        return Plot(title, note=f"skipped: no audio listed for system {system!r}")
    panels = [(r, *_panel_data(r, matching_entry(r, ref), max_s)) for r in series]
    specs = [s for _, s, _ in panels if s is not None]
    if not specs:
        return Plot(title, note=f"skipped: no readable audio for {system!r} ({panels[0][2]})")
    vmin, vmax = min(s.min() for s in specs), max(s.max() for s in specs)
    fig = _figure(max(2.3 * len(panels), 4.5), 2.9)
    for ax, (row, spec, message) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        _draw_panel(ax, row, spec, message, (vmin, vmax))
    prompt = str(ref.get("prompt", ref.get("item_id", ref["path"])))
    prompt = prompt if len(prompt) <= 70 else prompt[:67] + "…"
    seed = ref.get("seed", "?")
    fig.suptitle(plain(f"{system} / {series[0]['sampler']}: \u201c{prompt}\u201d (seed {seed})"), fontsize=9)
    return _finish(title, fig, fmt)


def _draw_panel(ax, row: dict, spec: np.ndarray | None, message: str, limits: tuple[float, float]) -> None:
    ax.set_title(f"{row['steps']} steps", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if spec is None:
        ax.text(0.5, 0.5, plain(message), ha="center", va="center", fontsize=7, wrap=True,
                transform=ax.transAxes)
        return
    ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=limits[0], vmax=limits[1])


def safe_plot(title: str, build, *args, **kwargs) -> Plot:
    """Call a plot builder; any failure becomes a visible note, never an exception."""
    import matplotlib

    try:
        with matplotlib.rc_context({"svg.fonttype": "path"}):
            return build(*args, **kwargs)
    except Exception as exc:  # a report must still be written when one figure cannot be drawn
        return Plot(title, note=f"plot failed: {type(exc).__name__}: {exc}")


def report_plots(rows: list[dict], quality: str | None) -> list[Plot]:
    """Every figure of the report: Pareto, metric-vs-steps per metric, spectrograms per system."""
    if quality is None:
        plots = [Plot("quality vs RTF", note="skipped: the runs have no metrics")]
    else:
        plots = [safe_plot(f"{quality} vs RTF (Pareto front)", quality_vs_rtf, rows, quality)]
    plots += [safe_plot(f"{m} vs steps", metric_vs_steps, rows, m) for m in metric_names(rows)]
    systems = sorted({str(r["system"]) for r in rows})
    return plots + [safe_plot(f"spectrograms: {s}", spectrograms, rows, s) for s in systems]
