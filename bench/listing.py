"""What can run on this machine, and why not: embedding backends and metrics.

Used by ``bench eval --list`` and by the backends/metrics sections of ``bench list``. Rows are
data (tested); the ``print_*`` functions only format them.
"""
from __future__ import annotations

from dataclasses import dataclass

from metrics import ALIASES, METRICS, get_metric
from metrics.embeddings import EMBEDDINGS, get_backend


@dataclass(frozen=True)
class BackendRow:
    name: str
    available: bool
    provides: tuple[str, ...]
    why: str  # the backend's own availability text: what is missing and how to get it


@dataclass(frozen=True)
class MetricRow:
    name: str
    higher_is_better: bool | None  # None: the metric's class does not import
    runnable: tuple[str, ...]  # metric@backend combinations (or the bare name) that run here
    why_not: str  # "" when something runs here


def import_failure(target: str, exc: Exception) -> str:
    """One line for a registered ``module:attr`` that does not import."""
    return f"{target} does not import ({type(exc).__name__}: {exc})"


def backend_rows() -> list[BackendRow]:
    rows = []
    for name, target in EMBEDDINGS.items():
        try:
            cls = get_backend(name)
            ok, why = cls.availability()
        except Exception as exc:  # a broken plugin must not hide the others
            rows.append(BackendRow(name, False, (), import_failure(target, exc)))
            continue
        rows.append(BackendRow(name, ok, tuple(sorted(cls.provides)), why))
    return rows


def metric_rows(backends: list[BackendRow]) -> list[MetricRow]:
    return [_metric_row(name, backends) for name in METRICS]


def _metric_row(name: str, backends: list[BackendRow]) -> MetricRow:
    try:
        info = get_metric(name).info
    except Exception as exc:
        return MetricRow(name, None, (), import_failure(METRICS[name], exc))
    if not info.needs_backend:
        return MetricRow(name, info.higher_is_better, (name,), "")
    needed = set(info.needs) - {"audio"}
    capable = [b for b in backends if needed <= set(b.provides) | {"embedding"}]
    runnable = tuple(f"{name}@{b.name}" for b in capable if b.available)
    return MetricRow(name, info.higher_is_better, runnable, "" if runnable else _why_none(needed, capable))


def _why_none(needed: set[str], capable: list[BackendRow]) -> str:
    wants = ",".join(sorted(needed))
    if not capable:
        return f"needs {wants}, which no registered backend provides"
    names = ", ".join(b.name for b in capable)
    return f"needs {wants}: from {names}, unavailable here (see Embedding backends)"


def print_backends(rows: list[BackendRow]) -> None:
    print("Embedding backends:")
    for row in rows:
        state = "available  " if row.available else "UNAVAILABLE"
        print(f"  {row.name:18} {state} provides {','.join(row.provides):28} {row.why}")


def print_metrics(rows: list[MetricRow]) -> None:
    print("Metrics (metric@backend combinations that can run here):")
    for row in rows:
        arrow = {True: "higher is better", False: "lower is better", None: "?"}[row.higher_is_better]
        runs = ", ".join(row.runnable) or f"none here: {row.why_not}"
        print(f"  {row.name:13} {arrow:17} {runs}")
    print("\nAliases: " + ", ".join(f"{a} = {'+'.join(v)}" for a, v in ALIASES.items()))


def print_listing() -> None:
    """``bench eval --list``: backends, then metrics."""
    backends = backend_rows()
    print_backends(backends)
    print()
    print_metrics(metric_rows(backends))
