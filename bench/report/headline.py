"""What the report leads with: the headline metrics, the resolution marks and the Pareto axis.

A run written with the resolution schema names, in ``protocol.headline``, the metrics its
headline table shows, in ``protocol.pareto_metric`` the quality axis of the quality-vs-speed
plot, and in ``resolution`` a verdict per metric (does the metric separate the reference
system's fewest and most steps?). A metric whose verdict is not "resolves" is marked in the full
table's header and left out of the headline. Over several runs a metric resolves only when it
resolves in every run that has a verdict for it.

Older runs lack these keys; then the headline shows every metric unmarked and :attr:`View.notes`
says so (the report prints the notes above its tables).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bench.report.cells import default_quality_metric, metric_names
from bench.report.load import ReportError, Run

RESOLVES = "resolves"
ADHERENCE = "adherence"


@dataclass
class View:
    """The report's reading instructions, derived from the runs."""

    metrics: list[str]  # every metric, headline ones first
    headline: list[str]
    verdicts: dict[str, str]  # metric -> combined verdict; empty when no run has verdicts
    pareto: str | None
    notes: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # headline candidate -> why not shown

    def mark(self, metric: str) -> str | None:
        """'⚠ does not resolve' (etc.) for a metric that does not resolve, None otherwise."""
        verdict = self.verdicts.get(metric)
        if verdict is None or verdict == RESOLVES:
            return None
        return "⚠ " + ("resolution not computed" if verdict == "not computed" else verdict)


def combined_verdicts(runs: list[Run], names: list[str]) -> dict[str, str]:
    """Metric -> 'resolves' when every run with verdicts says so, else the first other verdict.

    A metric missing from a run's resolution table counts as 'not computed' for that run.
    """
    tables = [run.resolution for run in runs if run.resolution is not None]
    out: dict[str, str] = {}
    for name in names if tables else []:
        verdicts = [t.get(name, {}).get("verdict", "not computed") for t in tables]
        out[name] = next((v for v in verdicts if v != RESOLVES), RESOLVES)
    return out


def protocol_headline(runs: list[Run]) -> list[str] | None:
    """The union of the runs' ``protocol.headline`` lists in order; None when no run has one."""
    lists = [run.protocol.get("headline") for run in runs]
    lists = [h for h in lists if isinstance(h, list)]
    if not lists:
        return None
    return list(dict.fromkeys(name for h in lists for name in h))


def build_view(runs: list[Run], rows: list[dict], quality: str | None = None) -> View:
    """The headline list, verdicts, Pareto metric and fallback notes for these runs' rows."""
    names = metric_names(rows)
    verdicts = combined_verdicts(runs, names)
    notes: list[str] = []
    declared = protocol_headline(runs)
    candidates = declared
    if candidates is None:
        notes.append("These runs name no headline metrics (written before headline/resolution support): "
                     "the headline table shows every metric.")
        candidates = names
    if not verdicts:
        notes.append("These runs carry no resolution verdicts: no metric is marked as unresolved, "
                     "and the headline is not filtered by resolution.")
    headline, left_out = _pick_headline(candidates, names, verdicts)
    if not any(r.get("role") in ("floor", "ceiling") for r in rows):
        notes.append("These runs have no floor/ceiling rows (anchors): positions between them "
                     "cannot be shown.")
    ordered = headline + [n for n in names if n not in headline]
    # without a declared headline, "the first headline metric" would be just the first column
    pareto, pareto_note = pick_pareto(runs, names, headline if declared is not None else [], rows, quality)
    notes += [pareto_note] if pareto_note else []
    return View(ordered, headline, verdicts, pareto, notes, left_out)


def _pick_headline(candidates: list[str], names: list[str],
                   verdicts: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(shown headline metrics, candidate -> reason it is left out)."""
    shown, left_out = [], {}
    for name in candidates:
        if name not in names:
            left_out[name] = "not in these runs"
        elif verdicts and verdicts.get(name) != RESOLVES:
            left_out[name] = verdicts.get(name, "not computed")
        else:
            shown.append(name)
    return shown, left_out


def pick_pareto(runs: list[Run], names: list[str], headline: list[str], rows: list[dict],
                quality: str | None) -> tuple[str | None, str | None]:
    """(metric of the quality-vs-speed plot, a note when the protocol's choice could not be used).

    Order: ``--quality``; the protocol's ``pareto_metric``; the first (declared and resolving)
    headline metric; adherence; the first higher-is-better metric.
    """
    if quality is not None:
        if quality not in names:
            raise ReportError(f"--quality {quality!r} is not a metric of these runs (they have: "
                              f"{', '.join(names) or 'none'})")
        return quality, None
    declared = next((run.protocol.get("pareto_metric") for run in runs if run.protocol.get("pareto_metric")),
                    None)
    if declared in names:
        return declared, None
    fallback = (headline or [m for m in (ADHERENCE,) if m in names] or [default_quality_metric(rows)])[0]
    note = (f"The protocol's pareto_metric {declared!r} is not in these runs; the quality-vs-speed plot "
            f"uses {fallback!r}." if declared else None)
    return fallback, note
