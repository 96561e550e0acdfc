"""``python -m bench report RUN [RUN ...] --out DIR``: the leaderboard of one or more benchmark runs.

Writes ``leaderboard.md``, ``leaderboard.csv``, ``resolution.csv``, ``training.csv`` (when a
run trained systems) and one self-contained ``leaderboard.html``: a headline table (the
protocol's headline metrics that resolve, each system's position between the floor and ceiling
rows, NFE, RTF, peak RAM), the quality-vs-RTF Pareto plot, the resolution verdicts, the full
table, the training table (updates, examples, wall time, online/offline teacher NFE, peak
training RAM, and the budget rules), a grid of metric-vs-steps panels, spectrograms and audio
players. RTF = seconds of audio generated per wall-clock second (higher
is faster).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_INPUT_ERROR = 0, 2


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="leaderboard (Markdown, CSV, HTML) of one or more runs",
                       description=__doc__)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) holding results.json")
    p.add_argument("--out", required=True, help="output folder (created; must be empty unless --force)")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty --out folder")
    p.add_argument("--quality", metavar="METRIC",
                   help="metric of the Pareto plot (default: the protocol's pareto_metric, else the "
                        "first headline metric, else adherence)")
    p.add_argument("--players", type=int, default=3, metavar="N",
                   help="audio players per row in the HTML page (default 3; 0: none)")
    p.add_argument("--allow-mixed", action="store_true", help="allow runs of different protocols")
    p.set_defaults(func=run)


def check_out(out: Path, force: bool) -> str | None:
    """An error message when ``out`` cannot be written to, else None."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file; choose a folder"
    if out.is_dir() and any(out.iterdir()) and not force:
        return f"--out {out} already holds files; choose a new folder or pass --force"
    return None


def run(args: argparse.Namespace) -> int:
    from bench.report import ReportError, write_report

    out = Path(args.out)
    problem = check_out(out, args.force)
    if problem is None and args.players < 0:
        problem = f"--players must be >= 0, got {args.players}"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    try:
        paths = write_report(args.runs, out, quality=args.quality, players=args.players,
                             allow_mixed=args.allow_mixed)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    for path in paths:
        print(f"wrote {path}")
    print("note: RTF = seconds of audio generated (or coded) per wall-clock second (higher is faster)")
    return EXIT_OK
