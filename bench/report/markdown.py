"""leaderboard.md: the headline table, the resolution section and the full table, with their legend.

Floor and ceiling rows come first in each table with their label in italics (e.g.
*real clips — floor*); a value the CIs separate as best is in bold. Metrics that do not resolve
carry "⚠ …" in the full table's header. RTF = seconds of audio generated per wall-clock second
(higher is faster).
"""
from __future__ import annotations

from bench.report import resolution
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


def simple_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain Markdown table (no emphasis)."""
    out = [_line([md_escape(h) for h in header]), _line(["---"] * len(header))]
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


def markdown_document(runs: list[Run], rows: list[dict], view: View) -> str:
    """leaderboard.md: title, protocol and runs, notes, headline, resolution, full table, legend."""
    protocols = ", ".join(sorted({protocol_label(run.protocol) for run in runs}))
    names = ", ".join(f"`{run.name}`" for run in runs)
    parts = [f"# Leaderboard\n\nProtocol {protocols}; runs: {names}.\n"]
    parts += ["\n".join(f"> {md_escape(note)}" for note in view.notes) + "\n"] if view.notes else []
    parts += ["## Headline\n", headline_intro(view) + "\n", markdown_table(headline_table(rows, view)),
              "## Resolution\n", resolution_section(runs, view),
              "## All metrics\n", markdown_table(full_table(rows, view)),
              "\n".join(f"- {md_escape(item)}" for item in legend(rows, view)) + "\n"]
    return "\n".join(parts)
