"""``python -m bench check RUN --baseline FILE``: the regression gate of a benchmark run.

Compares RUN/results.json with a committed baseline and prints one line per (row, metric) plus a
summary. Exit code 0: no regression; 1: a metric regressed beyond its tolerance, or is missing
or unavailable in the run; 2: unreadable input or a protocol mismatch (regenerate the baseline).

``--write-baseline FILE`` writes a baseline from RUN instead (never over an existing file
unless ``--force``); ``--metrics a,b`` keeps only these metrics (``speed.<field>`` for speed
fields) and ``--tolerance metric=rel:0.1`` / ``metric=abs:0.05`` (repeatable) set tolerances.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_REGRESSION, EXIT_INPUT_ERROR = 0, 1, 2


def add_parser(sub) -> None:
    """Register the ``check`` sub-command."""
    p = sub.add_parser("check", help="regression gate: compare a run with a committed baseline",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="run folder holding results.json (or the file itself)")
    p.add_argument("--baseline", metavar="FILE", help="baseline JSON to compare the run with")
    p.add_argument("--write-baseline", metavar="FILE", help="write a baseline from RUN instead")
    p.add_argument("--force", action="store_true", help="with --write-baseline: overwrite FILE")
    p.add_argument("--metrics", help="with --write-baseline: comma-separated metrics to keep")
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=rel:X|abs:X",
                   help="with --write-baseline: a metric's tolerance (repeatable)")
    p.set_defaults(func=run)


def _input_error(message: str) -> int:
    """Print an input error and return exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT_ERROR


def parse_tolerances(items: list[str]) -> dict[str, dict[str, float]]:
    """``["fd@aisfx=rel:0.15", "adherence=abs:0.05"]`` -> ``{metric: {kind: value}}``.

    Repeating a metric with the other kind sets both (slack = max of the two).
    """
    out: dict[str, dict[str, float]] = {}
    for item in items:
        metric, _, spec = item.partition("=")
        kind, _, number = spec.partition(":")
        try:
            value = float(number)
        except ValueError:
            value = -1.0
        if not metric.strip() or kind not in ("rel", "abs") or not value >= 0:
            raise ValueError(f"--tolerance {item!r}: expected METRIC=rel:X or METRIC=abs:X with X >= 0")
        out.setdefault(metric.strip(), {})[kind] = value
    return out


def _split(text: str | None) -> list[str] | None:
    """Comma-separated names, or None."""
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _mode_error(args: argparse.Namespace) -> str | None:
    """Why the option combination is invalid, or None."""
    if bool(args.baseline) == bool(args.write_baseline):
        return "give exactly one of --baseline FILE (check) or --write-baseline FILE (create)"
    if args.baseline and (args.force or args.metrics or args.tolerance):
        return "--force, --metrics and --tolerance only apply with --write-baseline"
    return None


def run(args: argparse.Namespace) -> int:
    """Entry point of ``python -m bench check``."""
    from bench.check import BaselineError

    problem = _mode_error(args)
    if problem:
        return _input_error(problem)
    try:
        return write_baseline(args) if args.write_baseline else check(args)
    except (BaselineError, ValueError) as exc:
        return _input_error(str(exc))


def check(args: argparse.Namespace) -> int:
    """Compare RUN with the baseline, print the table and the summary, return 0 or 1."""
    from bench.check import compare, exit_code, format_table, load_baseline, load_run, summary

    comparisons = compare(load_run(args.run), load_baseline(args.baseline))
    print(format_table(comparisons))
    print(f"{summary(comparisons)} (run {args.run} vs baseline {args.baseline})")
    return exit_code(comparisons)


def write_baseline(args: argparse.Namespace) -> int:
    """Write a baseline made from RUN to ``--write-baseline`` (refusing to overwrite)."""
    from bench.baseline import make_baseline
    from bench.check import load_run

    target = Path(args.write_baseline)
    if target.exists() and not args.force:
        return _input_error(f"{target} already exists; pass --force to overwrite it")
    tolerances = parse_tolerances(args.tolerance)
    baseline = make_baseline(load_run(args.run), tolerances, _split(args.metrics), source=str(args.run))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(baseline, indent=2) + "\n", encoding="utf-8")
    n_values = sum(len(m) for m in baseline["rows"].values())
    print(f"wrote {target}: {len(baseline['rows'])} rows, {n_values} values")
    return EXIT_OK
