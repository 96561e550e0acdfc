"""``python -m bench report``: the leaderboard of one or more benchmark runs.

:func:`write_report` loads run folders (:mod:`bench.report.load`), decides what the report
leads with (:mod:`bench.report.headline`: headline metrics, resolution marks, Pareto axis), and
writes ``leaderboard.md`` (:mod:`bench.report.markdown`), ``leaderboard.csv`` and
``resolution.csv`` (:mod:`bench.report.csv_out`) and one self-contained ``leaderboard.html``
(:mod:`bench.report.html`) with the plots of :mod:`bench.report.plots`; runs that trained
systems also get ``training.csv`` and a training section (:mod:`bench.report.training`). Floor
and ceiling rows (:mod:`bench.report.anchors`) head every table. RTF = seconds of audio
generated per wall-clock second (higher is faster). Codec runs get their own page
(:mod:`bench.report.codec`: measured kbps, rate–quality plot, original/decoded players).
"""
from __future__ import annotations

from pathlib import Path

from bench.report.headline import View, build_view
from bench.report.load import ReportError, Run, load_run, load_runs, merge_rows

__all__ = ["ReportError", "Run", "View", "build_view", "load_run", "load_runs", "merge_rows", "write_report"]

FILES = ("leaderboard.md", "leaderboard.csv", "resolution.csv", "leaderboard.html")
TRAINING_FILE = "training.csv"  # only for runs with training records


def write_report(run_paths: list[str | Path], out: str | Path, quality: str | None = None,
                 players: int = 3, allow_mixed: bool = False, max_clip_s: float = 10.0) -> list[Path]:
    """Load the runs and write the leaderboard files into ``out`` (created); returns their paths."""
    from bench.report.codec import check_codec_runs, write_codec_report
    from bench.report.csv_out import csv_text, resolution_csv, training_csv
    from bench.report.html import build_html
    from bench.report.markdown import markdown_document
    from bench.report.plots import report_plots
    from bench.report.training import has_training

    runs = load_runs(list(run_paths), allow_mixed=allow_mixed)
    rows = merge_rows(runs)
    if check_codec_runs(runs):  # codec protocols: rows per (codec, operating point), rate–quality plot
        return write_codec_report(runs, rows, Path(out), players, max_clip_s)
    view = build_view(runs, rows, quality)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    texts = (markdown_document(runs, rows, view), csv_text(rows, view), resolution_csv(runs, view),
             build_html(runs, rows, view, report_plots(rows, view), players, max_clip_s))
    files = dict(zip(FILES, texts))
    if has_training(rows):
        files[TRAINING_FILE] = training_csv(rows)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in files]
