"""leaderboard.csv, resolution.csv and training.csv: the report's numbers, machine readable.

leaderboard.csv has one line per row, floor and ceiling first (``role`` = floor / ceiling /
system, ``label`` = the anchor's human label), empty = missing. Per metric: ``value``,
``ci_low``, ``ci_high``, ``status``, ``reason``, ``higher_is_better``, ``flags`` (``;``-joined,
e.g. ``n<=d``) and ``position`` (between floor and ceiling, see :mod:`bench.report.anchors`);
``best_in`` lists the metrics whose best value the CIs separate on this row.
``rtf_audio_s_per_wall_s`` is the RTF: seconds of audio per wall-clock second (higher is faster).

resolution.csv has one line per metric (and run): the verdict, whether it is in the headline,
the rows compared, the difference with its CI, the half-widths and the rank agreement.

training.csv (runs that trained systems only) has one line per (run, system) with a training
record: ``trained_from``, ``updates``, ``batch``, ``examples_seen``, ``train_wall_s``,
``online_teacher_nfe``, ``offline_teacher_nfe``, ``peak_train_ram_mb``, ``stopped_by``
(see :mod:`bench.report.training`); empty = missing.
"""
from __future__ import annotations

import csv
import io

from bench.report import resolution, training
from bench.report.anchors import anchor_index, anchor_label, is_anchor, role, row_position
from bench.report.cells import metric_directions, several_runs
from bench.report.headline import View
from bench.report.load import Run
from bench.report.tables import SPEED_COLUMNS, Table, full_table, speed_value

METRIC_PARTS = ("value", "ci_low", "ci_high", "status", "reason", "higher_is_better", "flags", "position")


def csv_columns(rows: list[dict], metrics: list[str]) -> list[str]:
    """Identity and role, speed, best_in, then :data:`METRIC_PARTS` per metric."""
    cols = ["run"] if several_runs(rows) else []
    cols += ["role", "label", "row_id", "system", "sampler", "steps", "guidance"]
    cols += [col for _, _, col in SPEED_COLUMNS] + ["best_in"]
    return cols + [f"{name}:{part}" for name in metrics for part in METRIC_PARTS]


def _metric_record(row: dict, name: str, up: bool, anchors: dict) -> dict:
    m = row["metrics"].get(name, {"status": "not measured"})
    return {f"{name}:value": m.get("value"), f"{name}:ci_low": m.get("ci_low"),
            f"{name}:ci_high": m.get("ci_high"), f"{name}:status": m.get("status"),
            f"{name}:reason": m.get("reason") or m.get("error"), f"{name}:higher_is_better": up,
            f"{name}:flags": ";".join(m.get("flags") or []),
            f"{name}:position": row_position(row, name, anchors)}


def _record(table: Table, i: int, anchors: dict, directions: dict[str, bool]) -> dict:
    row = table.rows[i]
    rec = {"run": row.get("run"), "role": role(row), "label": anchor_label(row) if is_anchor(row) else None,
           "row_id": row.get("row_id"), "system": row["system"], "sampler": row["sampler"],
           "steps": row["steps"], "guidance": row.get("guidance"), "variant": row.get("variant", ""),
           "precision": row.get("precision", "fp32")}
    rec.update({col: speed_value(row, key) for key, _, col in SPEED_COLUMNS})
    rec["best_in"] = ";".join(table.columns[j].metric for (k, j) in sorted(table.best) if k == i)
    for name in [c.metric for c in table.columns if c.kind == "metric"]:
        rec.update(_metric_record(row, name, directions[name], anchors))
    return rec


def _write(columns: list[str], records: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: ("" if v is None else v) for k, v in rec.items()})
    return buf.getvalue()


def csv_text(rows: list[dict], view: View) -> str:
    """leaderboard.csv: every row (anchors first), every metric in the view's order."""
    table = full_table(rows, view)
    anchors, directions = anchor_index(rows), metric_directions(rows)
    records = [_record(table, i, anchors, directions) for i in range(len(table.rows))]
    return _write(csv_columns(rows, view.metrics), records)


def resolution_csv(runs: list[Run], view: View) -> str:
    """resolution.csv: one line per (run, metric) verdict; only the header for older runs."""
    columns = (["run"] if len(runs) > 1 else []) + list(resolution.CSV_COLUMNS)
    return _write(columns, resolution.records(runs, view))


def training_csv(rows: list[dict]) -> str:
    """training.csv: one line per (run, system) with a training record, raw numbers."""
    return _write(list(training.CSV_COLUMNS), training.csv_records(rows))
