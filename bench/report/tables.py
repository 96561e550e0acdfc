"""The leaderboard tables as plain-text cells, shared by the Markdown and HTML writers.

Two tables, both with the floor and ceiling rows on top (labelled, e.g. "real clips — floor"):

- the **headline** table: the headline metrics, each followed by its floor-to-ceiling position
  (:mod:`bench.report.anchors`), then speed and cost (NFE, RTF, peak RAM);
- the **full** table: every metric, headline ones first, with "⚠ does not resolve" (etc.) in
  the header of each metric that does not resolve, then NFE and every speed column.

System rows follow, sorted by system, then steps (plus a run column when rows come from several
runs). A cell is "best" only where the CIs separate the best system row from all others
(:mod:`bench.report.best`). RTF = seconds of audio generated per wall-clock second (higher is faster).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.report.anchors import (
    POSITION_NOTE,
    anchor_index,
    anchor_label,
    has_anchors,
    is_anchor,
    role,
    row_position,
)
from bench.report.best import metric_entry, separated_best
from bench.report.cells import (
    AE_REF,
    AE_REF_NOTE,
    DOWN,
    FLAG_NOTES,
    RTF_NOTE,
    UP,
    arrow,
    fmt_number,
    fmt_position,
    format_metric,
    metric_directions,
    row_nfe,
    several_runs,
    sort_rows,
    system_label,
    used_flags,
)
from bench.report.headline import View

ID_HEADER = ("system", "sampler", "steps", "guidance")
# (key in the row's speed dict, or "nfe"; header; csv column)
SPEED_COLUMNS = (
    ("nfe", "NFE", "nfe"),
    ("rtf", f"RTF {UP}", "rtf_audio_s_per_wall_s"),
    ("latency_s", f"latency (s) {DOWN}", "latency_s"),
    ("throughput_clips_per_s", f"throughput (clips/s) {UP}", "throughput_clips_per_s"),
    ("peak_ram_mb", f"peak RAM (MB) {DOWN}", "peak_ram_mb"),
    ("peak_vram_mb", f"peak VRAM (MB) {DOWN}", "peak_vram_mb"),
    ("int8_rtf", f"RTF int8 {UP}", "int8_rtf_audio_s_per_wall_s"),  # edge-cpu profile only
)
HEADLINE_SPEED = ("nfe", "rtf", "peak_ram_mb")
ROLE_ORDER = {"floor": 0, "ceiling": 1}


@dataclass(frozen=True)
class Column:
    """One table column: its header text, kind ('id', 'metric', 'position', 'speed') and metric."""

    head: str
    kind: str
    metric: str | None = None
    mark: str | None = None  # e.g. "⚠ does not resolve" for a metric that does not resolve

    @property
    def text(self) -> str:
        return f"{self.head} {self.mark}" if self.mark else self.head

    @property
    def numeric(self) -> bool:
        return self.kind in ("position", "speed") or self.head in ("steps", "guidance")


@dataclass
class Table:
    """Header, ordered rows and their text cells; ``best`` holds (row index, column index) pairs."""

    columns: list[Column]
    rows: list[dict]
    cells: list[list[str]]
    best: set[tuple[int, int]]

    def role(self, i: int) -> str:
        return role(self.rows[i])


def speed_value(row: dict, key: str):
    """A speed column's number (NFE from the row itself, see :func:`row_nfe`)."""
    return row_nfe(row) if key == "nfe" else row["speed"].get(key)


def ordered_rows(rows: list[dict]) -> list[dict]:
    """Floor and ceiling rows first (by run), then the system rows sorted by :func:`sort_rows`."""
    anchors = sorted((r for r in rows if is_anchor(r)),
                     key=lambda r: (str(r.get("run", "")), ROLE_ORDER[role(r)]))
    return anchors + sort_rows([r for r in rows if not is_anchor(r)])


def build_table(rows: list[dict], view: View, metrics: list[str], positions: bool,
                speed_keys: tuple[str, ...]) -> Table:
    """The table of ``metrics`` (plus position columns when ``positions``) and the speed columns."""
    directions, multi = metric_directions(rows), several_runs(rows)
    columns = [Column("run", "id")] if multi else []
    columns += [Column(h, "id") for h in ID_HEADER]
    for name in metrics:
        columns.append(Column(f"{name} {arrow(directions[name])}", "metric", name, view.mark(name)))
        if positions:
            columns.append(Column("position", "position", name))  # named by the column before it
    columns += [Column(head, "speed", key) for key, head, _ in SPEED_COLUMNS if key in speed_keys]
    ordered = ordered_rows(rows)
    anchors = anchor_index(rows)
    cells = [_row_cells(row, columns, anchors, multi) for row in ordered]
    return Table(columns, ordered, cells, best_cells(ordered, columns, directions))


def headline_table(rows: list[dict], view: View) -> Table:
    """Headline metrics with their positions (when the runs have anchors), NFE, RTF, peak RAM."""
    return build_table(rows, view, view.headline, positions=has_anchors(rows), speed_keys=HEADLINE_SPEED)


def full_table(rows: list[dict], view: View) -> Table:
    return build_table(rows, view, view.metrics, positions=False,
                       speed_keys=tuple(key for key, _, _ in SPEED_COLUMNS))


def _id_cells(row: dict, multi: bool) -> list[str]:
    cells = [str(row.get("run", ""))] if multi else []
    if is_anchor(row):
        return cells + [anchor_label(row), "—", "—", "—"]
    return cells + [system_label(row), str(row["sampler"]), str(row["steps"]),
                    fmt_number(row.get("guidance"))]


def _row_cells(row: dict, columns: list[Column], anchors: dict, multi: bool) -> list[str]:
    cells = _id_cells(row, multi)
    for col in columns[len(cells):]:
        if col.kind == "metric":
            cells.append(format_metric(row["metrics"].get(col.metric)))
        elif col.kind == "position":
            cells.append(fmt_position(row_position(row, col.metric, anchors)))
        else:
            cells.append(fmt_number(speed_value(row, col.metric)))
    return cells


def best_cells(ordered: list[dict], columns: list[Column],
               directions: dict[str, bool]) -> set[tuple[int, int]]:
    """(row, column) of each metric column's best system row, where the CIs separate it."""
    systems = [i for i, r in enumerate(ordered) if not is_anchor(r)]
    best = set()
    for j, col in enumerate(columns):
        if col.kind != "metric":
            continue
        pick = separated_best([metric_entry(ordered[i], col.metric) for i in systems], directions[col.metric])
        if pick is not None:
            best.add((systems[pick], j))
    return best


def legend(rows: list[dict], view: View) -> list[str]:
    """The notes that explain the tables' symbols, one sentence group per entry."""
    names = view.metrics
    out = [f"{UP} higher is better, {DOWN} lower is better. Metrics: value [CI low, CI high]; "
           "n/a (reason) = not computed. Best (bold / green) only where the best row's CI clears every "
           "other system row's CI."]
    out += [POSITION_NOTE] if has_anchors(rows) else []
    out += anchor_constructions(rows)
    if view.verdicts:
        out.append("⚠ = the metric does not separate the reference system's fewest and most steps at this "
                   "protocol's size (see Resolution); it is left out of the headline.")
    out += [FLAG_NOTES[f] for f in used_flags(rows) if f in FLAG_NOTES]
    if any(n.endswith(AE_REF) for n in names):
        out.append(AE_REF_NOTE)
    return out + [RTF_NOTE]


def anchor_constructions(rows: list[dict]) -> list[str]:
    """'real clips — floor: how its clips were made' for every anchor that says how."""
    out = [f"{anchor_label(r)}: {r['construction']}." for r in ordered_rows(rows)
           if is_anchor(r) and r.get("construction")]
    return list(dict.fromkeys(out))
