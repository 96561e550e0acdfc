"""leaderboard.md: the headline table, the resolution section and the full table, with their legend.

Floor and ceiling rows come first in each table with their label in italics (e.g.
*real clips — floor*); a value the CIs separate as best is in bold. Metrics that do not resolve
carry "⚠ …" in the full table's header. Runs that trained systems add a training section
(:mod:`bench.report.training`) after the full table. RTF = seconds of audio generated per wall-clock second
(higher is faster).
"""
from __future__ import annotations

from bench.report import resolution, training
from bench.report.headline import View
from bench.report.load import Run, protocol_label
from bench.report.tables import Table, full_table, headline_table, legend


def md_escape(text: str) -> str:
    """Keep a cell on one line and out of Markdown/HTML syntax."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")


def _emphasis(text: str, marker: str) -> str:
    """``text`` wrapped in ``marker`` (``*`` italic, ``**`` bold) with inner ``*``/``_`` escaped."""
    inner = md_escape(text).replace("*", "\\*").replace("_", "\\_")
    return f"{marker}{inner}{marker}"


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_table(table: Table) -> str:
    """A GitHub-flavoured Markdown table: anchors' labels in italics, separated bests in bold."""
    out = [_line([md_escape(c.text) for c in table.columns]),
           _line(["---:" if c.numeric else "---" for c in table.columns])]
    id_cols = [j for j, c in enumerate(table.columns) if c.kind == "id" and c.head == "system"]
    for i, cells in enumerate(table.cells):
        anchor = table.role(i) != "system"
        out.append(_line([_cell(text, (i, j) in table.best, anchor and j in id_cols)
                          for j, text in enumerate(cells)]))
    return "\n".join(out) + "\n"


def _cell(text: str, best: bool, label: bool) -> str:
    if best:
        return _emphasis(text, "**")
    return _emphasis(text, "*") if label else md_escape(text)


def simple_table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """A plain Markdown table (no emphasis); the ``numeric`` column indexes are right-aligned."""
    align = ["---:" if j in numeric else "---" for j in range(len(header))]
    out = [_line([md_escape(h) for h in header]), _line(align)]
    return "\n".join(out + [_line([md_escape(c) for c in row]) for row in rows]) + "\n"


def headline_intro(view: View) -> str:
    """One sentence: which metrics the headline shows and which it leaves out, and why."""
    shown = ", ".join(f"`{m}`" for m in view.headline) or "none"
    text = f"Headline metrics: {shown}; then speed and cost (NFE, RTF, peak RAM)."
    if view.left_out:
        text += " Left out: " + "; ".join(f"`{m}` ({why})" for m, why in view.left_out.items()) + "."
    return text


def resolution_section(runs: list[Run], view: View) -> str:
    recs = resolution.records(runs, view)
    if not recs:
        return "No resolution verdicts in these runs (older runs): every metric is shown unmarked.\n"
    body = [resolution.cells(r) for r in recs]
    return simple_table(resolution.header(recs), body) + f"\n{resolution.NOTE}\n"


def training_section(runs: list[Run], rows: list[dict]) -> str:
    """The training table, the budget rules ("One budget") and the early-stop warnings."""
    table = training.table(rows)
    parts = [training.INTRO + "\n", simple_table(table.header, table.cells, table.numeric)]
    rules = training.budget_rules(runs, rows)
    if rules:
        parts += [f"### {training.RULES_HEADING}\n", "\n".join(f"- {md_escape(r)}" for r in rules) + "\n"]
    warnings = training.warnings(rows)
    if warnings:
        parts.append("\n".join(f"> {md_escape(w)}" for w in warnings) + "\n")
    return "\n".join(parts)


def markdown_document(runs: list[Run], rows: list[dict], view: View) -> str:
    """leaderboard.md: title, protocol and runs, notes, headline, resolution, full table, legend, training."""
    protocols = ", ".join(sorted({protocol_label(run.protocol) for run in runs}))
    names = ", ".join(f"`{run.name}`" for run in runs)
    parts = [f"# Leaderboard\n\nProtocol {protocols}; runs: {names}.\n"]
    parts += ["\n".join(f"> {md_escape(note)}" for note in view.notes) + "\n"] if view.notes else []
    parts += ["## Headline\n", headline_intro(view) + "\n", markdown_table(headline_table(rows, view)),
              "## Resolution\n", resolution_section(runs, view),
              "## All metrics\n", markdown_table(full_table(rows, view)),
              "\n".join(f"- {md_escape(item)}" for item in legend(rows, view)) + "\n"]
    if training.has_training(rows):
        parts += ["## Training\n", training_section(runs, rows)]
    return "\n".join(parts)
