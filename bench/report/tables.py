"""The leaderboard as text: pure functions from merged rows to header/cells, Markdown and CSV.

One table row per (system, sampler, steps[, guidance]) — plus the run when rows come from
several runs — sorted by system, then steps. Metrics read ``value [ci_low, ci_high]`` with the
direction arrow in the header (↑ higher is better, ↓ lower is better); a metric that was not
computed reads ``n/a (reason)``. RTF = seconds of audio generated per wall-clock second
(higher is faster).
"""
from __future__ import annotations

import csv
import io

UP, DOWN = "↑", "↓"
RTF_NOTE = "RTF = seconds of audio generated per wall-clock second (higher is faster)."
LEGEND = (f"{UP} higher is better, {DOWN} lower is better. Metrics: value [CI low, CI high]; "
          f"n/a (reason) = not computed. {RTF_NOTE}")
ID_HEADER = ("system", "sampler", "steps", "guidance")
# (speed key, header, csv column)
SPEED_COLUMNS = (
    ("rtf", f"RTF {UP}", "rtf_audio_s_per_wall_s"),
    ("latency_s", f"latency (s) {DOWN}", "latency_s"),
    ("throughput_clips_per_s", f"throughput (clips/s) {UP}", "throughput_clips_per_s"),
    ("peak_ram_mb", f"peak RAM (MB) {DOWN}", "peak_ram_mb"),
    ("peak_vram_mb", f"peak VRAM (MB) {DOWN}", "peak_vram_mb"),
    ("int8_rtf", f"RTF int8 {UP}", "int8_rtf_audio_s_per_wall_s"),  # edge-cpu profile only
)


def arrow(higher_is_better: bool) -> str:
    """↑ for higher-is-better, ↓ for lower-is-better."""
    return UP if higher_is_better else DOWN


def several_runs(rows: list[dict]) -> bool:
    """True when the rows come from more than one run."""
    return len({row.get("run") for row in rows}) > 1


def sort_rows(rows: list[dict]) -> list[dict]:
    """Rows sorted by system, steps, sampler, guidance, run."""
    def key(row: dict) -> tuple:
        g = row.get("guidance")
        return (str(row["system"]), row["steps"], str(row["sampler"]),
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


def format_metric(metric: dict | None) -> str:
    """``value [ci_low, ci_high]``, ``value`` without a CI, or ``n/a (reason)``."""
    if metric is None:
        return "n/a (not measured)"
    if metric.get("status") != "ok":
        reason = metric.get("reason") or metric.get("error") or metric.get("status")
        return f"n/a ({reason})"
    text = fmt_number(metric["value"])
    lo, hi = metric.get("ci_low"), metric.get("ci_high")
    if lo is not None and hi is not None:
        text += f" [{fmt_number(lo)}, {fmt_number(hi)}]"
    return text


def row_nfe(row: dict):
    """The row's NFE (the row's own, else the speed profile's)."""
    return row.get("nfe") if row.get("nfe") is not None else row["speed"].get("nfe")


def metric_column_offset(rows: list[dict]) -> int:
    """Index of the first metric column in :func:`leaderboard_cells` (after run?, system..guidance)."""
    return len(ID_HEADER) + (1 if several_runs(rows) else 0)


def leaderboard_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, body) of the leaderboard as plain, unescaped text cells."""
    names, directions = metric_names(rows), metric_directions(rows)
    multi = several_runs(rows)
    header = (["run"] if multi else []) + list(ID_HEADER)
    header += [f"{name} {arrow(directions[name])}" for name in names]
    header += ["NFE"] + [head for _, head, _ in SPEED_COLUMNS]
    body = [_row_cells(row, names, multi) for row in sort_rows(rows)]
    return header, body


def _row_cells(row: dict, names: list[str], multi: bool) -> list[str]:
    cells = ([str(row.get("run", ""))] if multi else [])
    cells += [str(row["system"]), str(row["sampler"]), str(row["steps"]), fmt_number(row.get("guidance"))]
    cells += [format_metric(row["metrics"].get(name)) for name in names]
    cells += [fmt_number(row_nfe(row))]
    return cells + [fmt_number(row["speed"].get(key)) for key, _, _ in SPEED_COLUMNS]


def _md_escape(text: str) -> str:
    """Keep a cell on one line and out of Markdown/HTML syntax."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")


def _md_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_table(rows: list[dict]) -> str:
    """The leaderboard as a GitHub-flavoured Markdown table followed by its legend."""
    header, body = leaderboard_cells(rows)
    numeric = {"steps", "guidance", "NFE"} | {h for _, h, _ in SPEED_COLUMNS}
    align = ["---:" if h in numeric else "---" for h in header]
    out = [_md_line([_md_escape(c) for c in header]), _md_line(align)]
    out += [_md_line([_md_escape(c) for c in cells]) for cells in body]
    return "\n".join(out) + f"\n\n{LEGEND}\n"


def csv_columns(rows: list[dict]) -> list[str]:
    """CSV header: identity, speed, then value/ci_low/ci_high/status/reason/higher_is_better per metric."""
    cols = ["run"] if several_runs(rows) else []
    cols += ["row_id", "system", "sampler", "steps", "guidance", "nfe"]
    cols += [col for _, _, col in SPEED_COLUMNS]
    for name in metric_names(rows):
        cols += [f"{name}:{part}" for part in ("value", "ci_low", "ci_high", "status", "reason",
                                                 "higher_is_better")]
    return cols


def _csv_record(row: dict, names: list[str], directions: dict[str, bool]) -> dict:
    rec = {"run": row.get("run"), "row_id": row.get("row_id"), "system": row["system"],
           "sampler": row["sampler"], "steps": row["steps"], "guidance": row.get("guidance"),
           "nfe": row_nfe(row)}
    rec.update({col: row["speed"].get(key) for key, _, col in SPEED_COLUMNS})
    for name in names:
        m = row["metrics"].get(name, {"status": "not measured"})
        rec.update({f"{name}:value": m.get("value"), f"{name}:ci_low": m.get("ci_low"),
                    f"{name}:ci_high": m.get("ci_high"), f"{name}:status": m.get("status"),
                    f"{name}:reason": m.get("reason") or m.get("error"),
                    f"{name}:higher_is_better": directions[name]})
    return rec


def csv_text(rows: list[dict]) -> str:
    """The leaderboard as CSV with separate numeric columns (empty = missing).

    ``rtf_audio_s_per_wall_s`` is the RTF: seconds of audio per wall-clock second (higher is faster).
    """
    names, directions = metric_names(rows), metric_directions(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=csv_columns(rows), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sort_rows(rows):
        writer.writerow({k: ("" if v is None else v) for k, v in _csv_record(row, names, directions).items()})
    return buf.getvalue()
