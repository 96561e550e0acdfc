"""Regression gate: compare a benchmark run (``results.json``) with a committed baseline.

A baseline (JSON) records, per row and gated metric, the value to hold, its CI and direction::

    {"protocol": {"name": "sfx-mini", "version": 3, "hash": "ab12..."},   # hash optional
     "created_from": {"git": "abc123", "run": "runs/sfx-mini-20261122"},  # informational
     "gated": {"rule": "...", "metrics": ["adherence", "kad@yamnet", ...]},  # informational
     "default_tolerance": {"rel": 0.10, "abs": 0.0},
     "tolerances": {"adherence": {"abs": 0.05}, "speed.nfe": {"abs": 0}},
     "rows": {"teacher/heun/8": {"adherence": {"value": 0.76, "ci_low": 0.71, "ci_high": 0.80,
                                               "higher_is_better": true}, ...}}}

**The rule.** Numbers differ across machines (float kernels change a retrained model) and the
sample is finite, so a value is only *regressed* when it is worse than the baseline by more
than both

- the **practical margin** ``max(abs, rel · |baseline|)`` (``tolerances`` / ``default_tolerance``), and
- the **statistical uncertainty** ``k · sqrt(h_run² + h_baseline²)``: ``sqrt(h_run² + h_base²)``
  is the half-width of an approximate 95 % interval of the difference of two independent
  estimates (h = half-width of each side's 95 % bootstrap CI; a side without one contributes 0),
  and ``k = z(1 − α/2m) / z(0.975)`` widens it for the **m** gated comparisons at once
  (Bonferroni, family-wise α = 0.05): 168 comparisons at 95 % each would fail a clean run ~8
  times by chance. Measured: a run retrained from scratch with another torch thread count
  differed from its baseline by up to 1.47 × sqrt(h_run² + h_base²) (PRDC coverage and recall,
  whose bootstrap sees item sampling, not training noise), so the per-comparison 95 % rule
  (k = 1) failed a clean run in 5 of 160 comparisons; k = 1.85 at m = 160 passes it and still
  fails planted defects (``bench gate-selftest``). ``family_alpha`` in a baseline overrides α.

*Improved* is the mirror image (never a failure); everything else is ``ok``. A baseline metric
missing from the run, or present with a status other than ``ok``, fails (``missing`` /
``unavailable``). Which metrics a baseline holds is decided when it is written: by default the
metrics that **resolve** in the baseline run (``bench.resolution``: the teacher's fewest and
most steps are told apart beyond their CIs), plus prompt adherence and ``speed.nfe`` (exact);
metrics that do not resolve at the protocol's size would only gate noise. Rows of the run that
the baseline lacks are listed once as ``new``. Speed fields (``speed.<field>``) are compared only
when the baseline lists them. Anchor rows (floor/ceiling) are gated like rows.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

VERDICTS = ("ok", "improved", "regressed", "missing", "unavailable", "new")
FAILURES = frozenset({"regressed", "missing", "unavailable"})
DEFAULT_TOLERANCE = {"rel": 0.10, "abs": 0.0}
ADHERENCE_TOLERANCE = {"abs": 0.05}
SPEED_PREFIX = "speed."
DEFAULT_SPEED_FIELDS = ("speed.nfe",)
FAMILY_ALPHA = 0.05  # family-wise error rate of the whole gate (Bonferroni over its comparisons)
CI_LEVEL = 0.95  # the level of the runs' bootstrap CIs, whose half-widths are combined
# speed fields where more is better (RTF = seconds of audio per wall second); all others are costs
SPEED_HIGHER_IS_BETTER = frozenset({"rtf"})
_REL_EPS, _ABS_EPS = 1e-9, 1e-12


class BaselineError(ValueError):
    """An unusable baseline or run, or a protocol mismatch between them (an input error)."""


@dataclass(frozen=True)
class Comparison:
    """One (row, metric) of the gate; ``delta`` = value − baseline (None when not comparable)."""

    row_id: str
    metric: str
    baseline: float | None
    value: float | None
    slack: float | None
    delta: float | None
    verdict: str
    note: str = ""
    uncertainty: float | None = None

    @property
    def failed(self) -> bool:
        """Whether this comparison fails the gate."""
        return self.verdict in FAILURES


# ---------------------------------------------------------------- loading and validation


def _read_json(path: Path, what: str) -> object:
    """Parse a JSON file, turning I/O and syntax problems into :class:`BaselineError`."""
    if not path.is_file():
        raise BaselineError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read {what} as JSON ({exc})") from None


def is_number(x: object) -> bool:
    """A finite int/float that is not a bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _require(cond: bool, source: str, key: str, msg: str) -> None:
    """Raise a :class:`BaselineError` naming the file and the key when ``cond`` is false."""
    if not cond:
        raise BaselineError(f"{source}: {key} {msg}")


def _check_tolerance(tol: object, source: str, key: str) -> None:
    """A tolerance is ``{"rel"?: x >= 0, "abs"?: x >= 0}`` and nothing else."""
    _require(isinstance(tol, dict), source, key, "must be an object like {\"rel\": 0.1, \"abs\": 0.0}")
    for k, v in tol.items():
        _require(k in ("rel", "abs"), source, f"{key}.{k}", "is not a tolerance key (use 'rel' or 'abs')")
        _require(is_number(v) and v >= 0, source, f"{key}.{k}", f"must be a number >= 0, got {v!r}")


def _check_protocol(protocol: object, source: str) -> None:
    """``protocol`` needs a string ``name`` and an integer ``version``."""
    _require(isinstance(protocol, dict), source, "protocol", "must be an object with name and version")
    _require(isinstance(protocol.get("name"), str) and protocol["name"] != "", source,
             "protocol.name", "must be a non-empty string")
    version = protocol.get("version")
    _require(isinstance(version, int) and not isinstance(version, bool), source,
             "protocol.version", f"must be an integer, got {version!r}")


def _check_entry(entry: object, source: str, key: str) -> None:
    """A baseline entry is ``{"value": finite number, "higher_is_better": bool[, ci_low, ci_high]}``."""
    _require(isinstance(entry, dict), source, key, "must be an object with value and higher_is_better")
    _require(is_number(entry.get("value")), source, f"{key}.value",
             f"must be a finite number, got {entry.get('value')!r}")
    for bound in ("ci_low", "ci_high"):
        _require(entry.get(bound) is None or is_number(entry[bound]), source, f"{key}.{bound}",
                 f"must be a finite number or absent, got {entry.get(bound)!r}")
    _require(isinstance(entry.get("higher_is_better"), bool), source, f"{key}.higher_is_better",
             f"must be true or false, got {entry.get('higher_is_better')!r}")


def _check_rows(rows: object, source: str) -> None:
    """``rows`` maps row ids to non-empty maps of metric name -> entry."""
    _require(isinstance(rows, dict) and len(rows) > 0, source, "rows",
             "must be a non-empty object mapping row ids to metrics")
    for row_id, metrics in rows.items():
        key = f"rows[{row_id!r}]"
        _require(isinstance(metrics, dict) and len(metrics) > 0, source, key,
                 "must be a non-empty object mapping metric names to {value, higher_is_better}")
        for metric, entry in metrics.items():
            _check_entry(entry, source, f"{key}[{metric!r}]")


def validate_baseline(baseline: object, source: str = "<baseline>") -> dict:
    """Check a baseline's structure; return it with ``default_tolerance``/``tolerances`` filled in."""
    _require(isinstance(baseline, dict), source, "(top level)", "must be a JSON object")
    _check_protocol(baseline.get("protocol"), source)
    _check_rows(baseline.get("rows"), source)
    default = baseline.get("default_tolerance", DEFAULT_TOLERANCE)
    _check_tolerance(default, source, "default_tolerance")
    tolerances = baseline.get("tolerances", {})
    _require(isinstance(tolerances, dict), source, "tolerances", "must be an object metric -> tolerance")
    for metric, tol in tolerances.items():
        _check_tolerance(tol, source, f"tolerances[{metric!r}]")
    alpha = baseline.get("family_alpha", FAMILY_ALPHA)
    _require(is_number(alpha) and 0 < alpha < 1, source, "family_alpha",
             f"must lie in (0, 1), got {alpha!r}")
    return {**baseline, "default_tolerance": default, "tolerances": tolerances}


def load_baseline(path: str | Path) -> dict:
    """Read and validate a baseline file; errors name the file and the offending key."""
    path = Path(path)
    return validate_baseline(_read_json(path, "baseline file"), str(path))


def validate_run(run: object, source: str = "<run>") -> dict:
    """Check the parts of a run's ``results.json`` the gate reads (extra keys are tolerated)."""
    _require(isinstance(run, dict), source, "(top level)", "must be a JSON object")
    _check_protocol(run.get("protocol"), source)
    rows = run.get("rows")
    _require(isinstance(rows, list), source, "rows",
             "must be a list of rows (is this a benchmark run? `bench eval` results have no rows)")
    anchors = run.get("anchors") or []
    _require(isinstance(anchors, list), source, "anchors", "must be a list of anchor rows")
    seen: set[str] = set()
    for i, row in enumerate(rows + anchors):
        _require(isinstance(row, dict) and isinstance(row.get("row_id"), str), source,
                 f"rows[{i}].row_id", "must be a string")
        _require(row["row_id"] not in seen, source, f"rows[{i}].row_id", f"{row['row_id']!r} is duplicated")
        seen.add(row["row_id"])
        _require(isinstance(row.get("metrics", {}), dict), source, f"rows[{i}].metrics", "must be an object")
        _require(isinstance(row.get("speed", {}), dict), source, f"rows[{i}].speed", "must be an object")
    return run


def load_run(path: str | Path) -> dict:
    """Read a run's ``results.json`` (``path`` is the run folder or the file itself)."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    return validate_run(_read_json(file, "run results"), str(file))


# ---------------------------------------------------------------- comparison


def check_protocol(run: dict, baseline: dict) -> None:
    """Raise :class:`BaselineError` when run and baseline come from different protocols."""
    have, want = run["protocol"], baseline["protocol"]
    keys = ["name", "version"] + (["hash"] if have.get("hash") and want.get("hash") else [])
    diff = [f"{k} {want.get(k)!r} (baseline) != {have.get(k)!r} (run)" for k in keys
            if have.get(k) != want.get(k)]
    if diff:
        raise BaselineError("protocol mismatch: " + "; ".join(diff)
                            + ". The baseline is for another protocol: regenerate it with "
                              "`python -m bench check RUN --write-baseline FILE` from a run of this protocol")


def tolerance_for(baseline: dict, metric: str) -> dict:
    """The tolerance of ``metric``: its own entry if any (missing keys = 0), else the default."""
    tol = baseline.get("tolerances", {}).get(metric)
    if tol is None:
        tol = baseline.get("default_tolerance", DEFAULT_TOLERANCE)
    return {"rel": float(tol.get("rel", 0.0)), "abs": float(tol.get("abs", 0.0))}


def slack_for(tolerance: dict, reference: float) -> float:
    """Allowed slack = max(abs, rel · |reference|)."""
    return max(tolerance.get("abs", 0.0), tolerance.get("rel", 0.0) * abs(reference))


def _beyond(amount: float, slack: float, reference: float) -> bool:
    """``amount > slack`` with a float guard, so a difference exactly at the slack passes."""
    eps = max(_ABS_EPS, _REL_EPS * max(abs(slack), abs(reference)))
    return amount > slack + eps


def judge(reference: float, value: float, slack: float, higher_is_better: bool,
          uncertainty: float = 0.0) -> str:
    """``regressed``/``improved``/``ok``: worse (better) by more than both the margin and the
    statistical uncertainty of the difference."""
    worse = (reference - value) if higher_is_better else (value - reference)
    bound = max(slack, uncertainty)
    if _beyond(worse, bound, reference):
        return "regressed"
    return "improved" if _beyond(-worse, bound, reference) else "ok"


def half_width(entry: dict) -> float:
    """Half the width of an entry's CI; 0 when it has none."""
    lo, hi = entry.get("ci_low"), entry.get("ci_high")
    return (hi - lo) / 2 if is_number(lo) and is_number(hi) else 0.0


def uncertainty_of(run_entry: dict, baseline_entry: dict, scale: float = 1.0) -> float:
    """``scale`` × sqrt(h_run² + h_baseline²): the half-width of the difference of two independent
    estimates, widened by the multiple-comparison factor (``family_scale``)."""
    return scale * math.hypot(half_width(run_entry), half_width(baseline_entry))


def family_scale(m: int, alpha: float = FAMILY_ALPHA, level: float = CI_LEVEL) -> float:
    """k = z(1 − α/2m) / z((1 + level)/2): per-comparison CI half-widths widened so that m
    comparisons together fail a clean run with probability ≤ α (Bonferroni, normal approximation)."""
    from scipy.special import ndtri

    if m <= 1:
        return float(ndtri(1 - alpha / 2) / ndtri((1 + level) / 2))
    return float(ndtri(1 - alpha / (2 * m)) / ndtri((1 + level) / 2))


def gated_count(baseline: dict) -> int:
    """How many comparisons of the baseline carry a statistical uncertainty (speed fields do not)."""
    return sum(not m.startswith(SPEED_PREFIX) for metrics in baseline["rows"].values() for m in metrics)


def run_value(row: dict, metric: str) -> tuple[float | None, str, str]:
    """(value, status, note) of ``metric`` in a run row; status is ``ok``/``missing``/other."""
    if metric.startswith(SPEED_PREFIX):
        field = metric[len(SPEED_PREFIX):]
        value = row.get("speed", {}).get(field)
        if value is None and field == "nfe":  # NFE is a property of the row, measured or not
            value = row.get("nfe")
        return (value, "ok", "") if is_number(value) else (None, "missing", "no such speed field")
    entry = row.get("metrics", {}).get(metric)
    if not isinstance(entry, dict):
        return None, "missing", "metric not in run"
    status = entry.get("status", "ok")
    if status != "ok":
        return None, str(status), str(entry.get("reason") or entry.get("error") or f"status {status}")
    value = entry.get("value")
    return (value, "ok", "") if is_number(value) else (None, "unavailable", f"value {value!r}")


def compare_one(row_id: str, metric: str, entry: dict, row: dict | None, baseline: dict,
                scale: float = 1.0) -> Comparison:
    """Compare one baseline entry with the run row (``None``: the row is missing from the run)."""
    reference = entry["value"]
    slack = slack_for(tolerance_for(baseline, metric), reference)
    if row is None:
        return Comparison(row_id, metric, reference, None, slack, None, "missing", "row not in run")
    value, status, note = run_value(row, metric)
    if status != "ok":
        verdict = "missing" if status == "missing" else "unavailable"
        return Comparison(row_id, metric, reference, None, slack, None, verdict, note)
    run_entry = row.get("metrics", {}).get(metric, {}) if not metric.startswith(SPEED_PREFIX) else {}
    u = uncertainty_of(run_entry, entry, scale)
    verdict = judge(reference, value, slack, entry["higher_is_better"], u)
    return Comparison(row_id, metric, reference, value, slack, value - reference, verdict, uncertainty=u)


def gate_rows(run_results: dict) -> list[dict]:
    """The rows the gate reads: the system rows and the anchors (floor/ceiling)."""
    return list(run_results["rows"]) + list(run_results.get("anchors") or [])


def compare(run_results: dict, baseline: dict) -> list[Comparison]:
    """Every baseline (row, metric) against the run, then the run's rows the baseline lacks.

    Raises :class:`BaselineError` for malformed inputs or a protocol mismatch.
    """
    run_results = validate_run(run_results)
    baseline = validate_baseline(baseline)
    check_protocol(run_results, baseline)
    run_rows = {row["row_id"]: row for row in gate_rows(run_results)}
    scale = family_scale(gated_count(baseline), baseline.get("family_alpha", FAMILY_ALPHA))
    out = []
    for row_id, metrics in baseline["rows"].items():
        out += [compare_one(row_id, m, e, run_rows.get(row_id), baseline, scale) for m, e in metrics.items()]
    for row_id in run_rows:
        if row_id not in baseline["rows"]:
            out.append(Comparison(row_id, "*", None, None, None, None, "new", "row not in the baseline"))
    return out


def exit_code(comparisons: list[Comparison]) -> int:
    """1 when any comparison fails the gate (regressed, missing, unavailable), else 0."""
    return 1 if any(c.failed for c in comparisons) else 0


# ---------------------------------------------------------------- reporting


def _fmt(x: float | None, signed: bool = False) -> str:
    """Compact number, or a dash for None."""
    if x is None:
        return "-"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _cells(c: Comparison) -> list[str]:
    """Table cells of one comparison; failures get a ``!!`` mark and an upper-case verdict."""
    verdict = c.verdict.upper() if c.failed else c.verdict
    return ["!!" if c.failed else "", c.row_id, c.metric, _fmt(c.baseline), _fmt(c.value),
            _fmt(c.delta, signed=True), _fmt(c.slack), _fmt(c.uncertainty), verdict, c.note]


_NUMERIC = frozenset({3, 4, 5, 6, 7})


def _pad(cell: str, width: int, right: bool) -> str:
    """Pad a cell to ``width``, numbers right-aligned."""
    return cell.rjust(width) if right else cell.ljust(width)


def format_table(comparisons: list[Comparison]) -> str:
    """Fixed-width text table of the comparisons; failed lines start with ``!!``."""
    head = ["", "row", "metric", "baseline", "value", "delta", "margin", "uncertainty", "verdict", "note"]
    lines = [head, *(_cells(c) for c in comparisons)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(_pad(cell, w, i in _NUMERIC) for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
            for line in lines]
    text.insert(1, "-" * max(len(t) for t in text))
    return "\n".join(text)


def summary(comparisons: list[Comparison]) -> str:
    """One line: PASS/FAIL and the count of every verdict."""
    counts = {v: sum(c.verdict == v for c in comparisons) for v in VERDICTS}
    state = "FAIL" if exit_code(comparisons) else "PASS"
    return f"{state}: " + ", ".join(f"{counts[v]} {v}" for v in VERDICTS)
