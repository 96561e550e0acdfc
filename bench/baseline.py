"""Making a regression-gate baseline from a run (``bench check RUN --write-baseline FILE``).

Which values a baseline holds decides what the gate checks (``bench.check`` compares): by
default the metrics that **resolve** in the run it is written from (``bench.resolution``), plus
prompt adherence and ``speed.nfe`` (exact), on every system and anchor row, each with its CI.
"""
from __future__ import annotations

from bench.check import (
    ADHERENCE_TOLERANCE,
    DEFAULT_SPEED_FIELDS,
    DEFAULT_TOLERANCE,
    SPEED_HIGHER_IS_BETTER,
    SPEED_PREFIX,
    BaselineError,
    gate_rows,
    is_number,
    run_value,
    validate_baseline,
    validate_run,
)

ALWAYS_GATED = ("adherence",)
GATED_RULE = ("metrics whose verdict in the baseline run's resolution table is 'resolves', plus "
              "adherence and speed.nfe")


def default_tolerances(metrics: list[str]) -> dict:
    """Per-metric defaults: abs 0.05 for ``adherence*``, exact (abs 0) for ``speed.nfe``."""
    out = {}
    for metric in metrics:
        if metric.startswith("adherence"):
            out[metric] = dict(ADHERENCE_TOLERANCE)
        elif metric == "speed.nfe":
            out[metric] = {"abs": 0}
    return out


def _row_entries(row: dict, metrics: list[str]) -> dict:
    """Baseline entries of one run row: the chosen names that are status-ok there."""
    out = {}
    for name in metrics:
        value, status, _ = run_value(row, name)
        if status == "ok":
            entry = {"value": value, "higher_is_better": _direction(row, name)}
            metric = row.get("metrics", {}).get(name, {})
            entry.update({k: metric[k] for k in ("ci_low", "ci_high") if is_number(metric.get(k))})
            out[name] = entry
    return out


def gated_metrics(run_results: dict) -> list[str]:
    """The default gate: metrics that resolve in this run, plus adherence and ``speed.nfe``."""
    table = run_results.get("resolution") or {}
    names = [n for n, v in table.items() if isinstance(v, dict) and v.get("verdict") == "resolves"]
    present = {m for row in gate_rows(run_results) for m in row.get("metrics", {})}
    return sorted(set(names) | (set(ALWAYS_GATED) & present)) + list(DEFAULT_SPEED_FIELDS)


def _direction(row: dict, name: str) -> bool:
    """higher_is_better of a run metric, or of a speed field (only RTF-like ones are ↑)."""
    if name.startswith(SPEED_PREFIX):
        return name[len(SPEED_PREFIX):] in SPEED_HIGHER_IS_BETTER
    hib = row["metrics"][name].get("higher_is_better")
    if not isinstance(hib, bool):
        raise BaselineError(f"run: rows[{row['row_id']!r}].metrics[{name!r}].higher_is_better "
                            f"must be true or false, got {hib!r}")
    return hib


def _run_git(run_results: dict) -> str | None:
    """The run's git commit if it records one (``git`` or ``_run.git``, string or {commit})."""
    meta = run_results.get("_run")
    git = run_results.get("git", meta.get("git") if isinstance(meta, dict) else None)
    return git.get("commit") if isinstance(git, dict) else git


def make_baseline(run_results: dict, tolerances: dict | None = None, metrics: list[str] | None = None,
                  *, source: str | None = None) -> dict:
    """A baseline holding the run's status-ok values of ``metrics`` (default: ``gated_metrics``).

    ``tolerances`` (metric -> {"rel"?, "abs"?}) override the per-metric defaults. ``source`` is
    the run's path. Speed fields are kept only for rows that have them (anchors have none).
    """
    run_results = validate_run(run_results)
    chosen = metrics if metrics is not None else gated_metrics(run_results)
    rows = {row["row_id"]: _row_entries(row, chosen) for row in gate_rows(run_results)}
    rows = {k: v for k, v in rows.items() if v}
    kept = sorted({m for entries in rows.values() for m in entries})
    absent = sorted(set(metrics or ()) - set(kept))
    if absent or not rows:
        raise BaselineError(f"run: nothing to baseline for {absent or 'any metric'}: "
                            "no row has it with status ok")
    tols = {**default_tolerances(kept), **(tolerances or {})}
    rule = GATED_RULE if metrics is None else "chosen with --metrics"
    baseline = {"protocol": _protocol_of(run_results), "created_from": {"git": _run_git(run_results),
                                                                         "run": source},
                "gated": {"rule": rule, "metrics": kept},
                "default_tolerance": dict(DEFAULT_TOLERANCE), "tolerances": tols, "rows": rows}
    return validate_baseline(baseline, "new baseline")


def _protocol_of(run_results: dict) -> dict:
    """The protocol identity (name, version and hash when the run has one)."""
    protocol = run_results["protocol"]
    return {k: protocol[k] for k in ("name", "version", "hash") if protocol.get(k) is not None}
