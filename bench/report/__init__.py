"""``python -m bench report``: the leaderboard of one or more benchmark runs.

:func:`write_report` loads run folders (:mod:`bench.report.load`), and writes
``leaderboard.md`` and ``leaderboard.csv`` (:mod:`bench.report.tables`) and one self-contained
``leaderboard.html`` (:mod:`bench.report.html`) with the plots of :mod:`bench.report.plots`.
RTF = seconds of audio generated per wall-clock second (higher is faster).
"""
from __future__ import annotations

from pathlib import Path

from bench.report.load import ReportError, Run, load_run, load_runs, merge_rows, protocol_label
from bench.report.tables import csv_text, default_quality_metric, markdown_table, metric_names

__all__ = ["ReportError", "Run", "load_run", "load_runs", "merge_rows", "write_report",
           "resolve_quality", "markdown_document"]

FILES = ("leaderboard.md", "leaderboard.csv", "leaderboard.html")


def resolve_quality(rows: list[dict], quality: str | None) -> str | None:
    """The Pareto plot's metric: ``quality`` if the runs have it, else the default choice."""
    if quality is None:
        return default_quality_metric(rows)
    if quality not in metric_names(rows):
        known = ", ".join(metric_names(rows)) or "none"
        raise ReportError(f"--quality {quality!r} is not a metric of these runs (they have: {known})")
    return quality


def markdown_document(runs: list[Run], rows: list[dict]) -> str:
    """leaderboard.md: a title, the protocol(s) and runs, then the table and its legend."""
    protocols = ", ".join(sorted({protocol_label(run.protocol) for run in runs}))
    names = ", ".join(f"`{run.name}`" for run in runs)
    return f"# Leaderboard\n\nProtocol {protocols}; runs: {names}.\n\n{markdown_table(rows)}"


def write_report(run_paths: list[str | Path], out: str | Path, quality: str | None = None,
                 players: int = 3, allow_mixed: bool = False, max_clip_s: float = 10.0) -> list[Path]:
    """Load the runs and write the three leaderboard files into ``out`` (created); returns their paths."""
    from bench.report.html import build_html
    from bench.report.plots import report_plots

    runs = load_runs(list(run_paths), allow_mixed=allow_mixed)
    rows = merge_rows(runs)
    metric = resolve_quality(rows, quality)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    texts = (markdown_document(runs, rows), csv_text(rows),
             build_html(runs, rows, report_plots(rows, metric), players, max_clip_s))
    paths = [out / name for name in FILES]
    for path, text in zip(paths, texts):
        path.write_text(text, encoding="utf-8")
    return paths
