"""The resolution section: per metric, does it separate the reference system's fewest and most steps?

One line per (run, metric) from results.json ``resolution``: the verdict, the two rows compared,
the difference most − fewest with its paired-bootstrap CI, both rows' CI half-widths, and the
rank agreement with prompt adherence (Spearman's ρ over the reference system's rows, oriented so
that +1 = the same order as adherence). Records keep numbers for the CSV; cells are text for the
Markdown and HTML tables.
"""
from __future__ import annotations

from bench.report.cells import fmt_number
from bench.report.headline import RESOLVES, View
from bench.report.load import Run

HEADER = ("metric", "verdict", "fewest → most steps", "difference [95 % CI]",
          "CI half-widths (fewest, most)", "rank agreement with adherence", "in headline", "reason")
CSV_COLUMNS = ("metric", "verdict", "in_headline", "fewest", "most", "difference", "difference_ci_low",
               "difference_ci_high", "half_width_fewest", "half_width_most", "rank_agreement", "reason")
NOTE = ("A metric resolves when the paired-bootstrap CI of (most − fewest steps) of the reference system "
        "excludes 0 in the direction prompt adherence shows. Rank agreement: Spearman's ρ between the "
        "metric's ranking of the reference system's rows and prompt adherence's (+1 = same order).")


def _pair(value, n: int = 2) -> list:
    """``value`` as a list of ``n`` items (None-padded) when it is a list, else n Nones."""
    items = list(value) if isinstance(value, (list, tuple)) else []
    return (items + [None] * n)[:n]


def record(metric: str, entry: dict, view: View) -> dict:
    """One metric's verdict entry flattened to CSV-ready numbers and strings."""
    lo, hi = _pair(entry.get("difference_ci"))
    h_few, h_most = _pair(entry.get("half_widths"))
    reason = entry.get("reason") or entry.get("rule")
    return {"metric": metric, "verdict": entry.get("verdict"), "in_headline": metric in view.headline,
            "fewest": entry.get("fewest"), "most": entry.get("most"), "difference": entry.get("difference"),
            "difference_ci_low": lo, "difference_ci_high": hi, "half_width_fewest": h_few,
            "half_width_most": h_most, "rank_agreement": entry.get("rank_agreement"), "reason": reason}


def records(runs: list[Run], view: View) -> list[dict]:
    """Every run's verdicts (a ``run`` key added when there are several runs), metrics in view order."""
    out = []
    for run in runs:
        table = run.resolution or {}
        for metric in [m for m in view.metrics if m in table] + [m for m in table if m not in view.metrics]:
            rec = record(metric, table[metric], view)
            out.append({"run": run.name, **rec} if len(runs) > 1 else rec)
    return out


def cells(rec: dict) -> list[str]:
    """The text cells of one record, in :data:`HEADER` order (plus the run first when present)."""
    diff = fmt_number(rec["difference"])
    if rec["difference_ci_low"] is not None and rec["difference_ci_high"] is not None:
        diff += f" [{fmt_number(rec['difference_ci_low'])}, {fmt_number(rec['difference_ci_high'])}]"
    rho = rec["rank_agreement"]
    line = [rec["metric"], str(rec["verdict"]),
            f"{rec['fewest'] or '—'} → {rec['most'] or '—'}", diff,
            f"{fmt_number(rec['half_width_fewest'])}, {fmt_number(rec['half_width_most'])}",
            "—" if rho is None else f"{rho:+.2f}", "yes" if rec["in_headline"] else "no",
            str(rec["reason"] or "")]
    return ([str(rec["run"])] if "run" in rec else []) + line


def header(recs: list[dict]) -> list[str]:
    return (["run"] if recs and "run" in recs[0] else []) + list(HEADER)


def resolves(rec: dict) -> bool:
    return rec["verdict"] == RESOLVES
