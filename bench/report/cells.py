"""Formatting primitives of the leaderboard: metric names and directions, numbers, metric cells.

A metric cell reads ``value [ci_low, ci_high]`` followed by its flags in parentheses (``n≤d``:
a Fréchet distance from no more clips than embedding dimensions, dominated by rank-deficiency
bias); a metric that was not computed reads ``n/a (reason)``. RTF = seconds of audio generated
per wall-clock second (higher is faster).
"""
from __future__ import annotations

UP, DOWN = "↑", "↓"
RTF_NOTE = "RTF = seconds of audio generated per wall-clock second (higher is faster)."
FLAG_TEXT = {"n<=d": "n≤d"}
FLAG_NOTES = {"n<=d": "n≤d = Fréchet distance from no more clips than embedding dimensions: dominated by "
                      "rank-deficiency bias, not comparable to the same metric at a larger size."}
AE_REF = "[ae-ref]"
AE_REF_NOTE = (f"METRIC{AE_REF} = the same metric scored against the references passed through the shared "
               "autoencoder and decoder (a second reference set on which the decoder's own artefacts no "
               "longer dominate).")


def arrow(higher_is_better: bool) -> str:
    """↑ for higher-is-better, ↓ for lower-is-better."""
    return UP if higher_is_better else DOWN


def several_runs(rows: list[dict]) -> bool:
    """True when the rows come from more than one run."""
    return len({row.get("run") for row in rows}) > 1


def system_label(row: dict) -> str:
    """The system's name plus what makes the row another version of it: its generation variant
    (e.g. ``soundctm nu1.5``) and a non-fp32 precision (``arc int8``)."""
    parts = [str(row["system"]), row.get("variant") or "", row.get("precision", "fp32")]
    return " ".join(p for p in parts[:2] if p) + ("" if parts[2] == "fp32" else f" {parts[2]}")


def sort_rows(rows: list[dict]) -> list[dict]:
    """Rows sorted by system (with its variant and precision), steps, sampler, guidance, run."""
    def key(row: dict) -> tuple:
        g = row.get("guidance")
        return (system_label(row), row["steps"], str(row["sampler"]),
                g is None, g if isinstance(g, (int, float)) else 0, str(row.get("run", "")))
    return sorted(rows, key=key)


def metric_names(rows: list[dict]) -> list[str]:
    """Metric names in order of first appearance."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row["metrics"]))
    return list(names)


def metric_directions(rows: list[dict]) -> dict[str, bool]:
    """Metric name -> higher_is_better (the first row that has it decides)."""
    out: dict[str, bool] = {}
    for row in rows:
        for name, metric in row["metrics"].items():
            out.setdefault(name, bool(metric["higher_is_better"]))
    return out


def default_quality_metric(rows: list[dict]) -> str | None:
    """The first higher-is-better metric, else the first metric, else None."""
    directions = metric_directions(rows)
    higher = [name for name, up in directions.items() if up]
    return (higher or list(directions) or [None])[0]


def fmt_number(x) -> str:
    """4 significant digits; '—' for a missing number."""
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)):
        return "—"
    return f"{x:.4g}"


def fmt_position(x: float | None) -> str:
    """A floor-to-ceiling position with two decimals; '—' when undefined."""
    return "—" if x is None else f"{x:.2f}"


def flag_text(flags) -> str:
    """' (n≤d)' for a metric's flags, '' when it has none."""
    if not flags:
        return ""
    return " (" + ", ".join(FLAG_TEXT.get(f, f) for f in flags) + ")"


def format_metric(metric: dict | None) -> str:
    """``value [ci_low, ci_high] (flags)``, ``value`` without a CI, or ``n/a (reason)``."""
    if metric is None:
        return "n/a (not measured)"
    if metric.get("status") != "ok":
        reason = metric.get("reason") or metric.get("error") or metric.get("status")
        return f"n/a ({reason})"
    text = fmt_number(metric["value"])
    lo, hi = metric.get("ci_low"), metric.get("ci_high")
    if lo is not None and hi is not None:
        text += f" [{fmt_number(lo)}, {fmt_number(hi)}]"
    return text + flag_text(metric.get("flags"))


def row_nfe(row: dict):
    """The row's NFE (the row's own, else the speed profile's)."""
    return row.get("nfe") if row.get("nfe") is not None else row["speed"].get("nfe")


def used_flags(rows: list[dict]) -> list[str]:
    """Every flag any 'ok' metric carries, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        for metric in row["metrics"].values():
            seen.update(dict.fromkeys(metric.get("flags") or []))
    return list(seen)
