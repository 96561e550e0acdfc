"""The report of codec runs (protocols with ``kind="codec"``): one row per (codec, operating point).

:func:`write_codec_report` writes ``leaderboard.md``, ``leaderboard.csv`` and one self-contained
``leaderboard.html`` (:mod:`bench.report.codec_html`, with the rate–quality plot of
:mod:`bench.report.codec_plots` and original/decoded players). Tables:

- **leaderboard**: per row the measured kbps (payload bytes × 8 / duration, mean over clips
  with its CI), the protocol's headline metrics and ``adherence_retained``, the number of decode
  seeds, and encode and decode RTF (seconds of audio per wall-clock second: higher is faster);
- **all metrics**: every metric;
- **decode-seed spread** (stochastic codecs only): each metric's values over the decode seeds
  and their sample standard deviation.

Anchors (a codec whose payload is nominal, e.g. the 3.5-kHz low-pass anchor) head every table,
labelled "anchor", their kbps flagged "nominal": they are never shown as low-bitrate codecs. A
value is bold only where its CI separates it from every other (non-anchor) row.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from bench.report.best import metric_entry, separated_best
from bench.report.cells import DOWN, UP, arrow, fmt_number, format_metric, metric_directions, several_runs
from bench.report.load import ReportError, Run, protocol_label
from bench.report.tables import Column, Table

KBPS, RETAINED, ADHERENCE = "kbps", "adherence_retained", "adherence"
DECODE_SPREAD = "decode_spread"   # the decode-seed spread of a stochastic codec (bench.codec_rows)
ANCHOR_ROLE = "anchor"
RTF_NOTE = "RTF = seconds of audio per wall-clock second (higher is faster; > 1 = faster than real time)."
FLAG_NOTES = {"nominal": "nominal = an anchor's rate label (16-bit PCM at its bandwidth), not a payload",
              "n<=d": "n≤d = Fréchet distance from no more clips than embedding dimensions (rank-deficient)"}
SPEED = (("encode_rtf", f"encode RTF {UP}"), ("decode_rtf", f"decode RTF {UP}"))
FILES = ("leaderboard.md", "leaderboard.csv", "leaderboard.html")


def is_codec_run(run: Run) -> bool:
    return run.protocol.get("kind") == "codec"


def check_codec_runs(runs: list[Run]) -> bool:
    """True when every run is a codec run, False when none is; a mix is a ReportError."""
    kinds = {is_codec_run(run) for run in runs}
    if kinds == {True, False}:
        names = ", ".join(f"{run.name} ({'codec' if is_codec_run(run) else 'text-to-audio'})" for run in runs)
        raise ReportError(f"codec runs and text-to-audio runs cannot share one report ({names}); report "
                          "them separately")
    return kinds == {True}


def is_anchor_row(row: dict) -> bool:
    return bool(row.get("anchor"))


def operating_point(row: dict) -> str:
    """``bitrate_kbps=6``, plus ``steps=N`` for a decoder with steps; "default" when neither."""
    parts = [f"{k}={v}" for k, v in (row.get("operating_point") or {}).items()]
    parts += [f"steps={row['decode_steps']}"] if row.get("decode_steps") else []
    return ", ".join(parts) or "default"


def row_label(row: dict) -> str:
    """The row's name in tables and players; an anchor says that it is one."""
    label = str(row["system"])
    return f"{label} — anchor (nominal rate, not a codec)" if is_anchor_row(row) else label


def ordered_codec_rows(rows: list[dict]) -> list[dict]:
    """Anchors first, then by system, measured kbps, operating point and run."""
    def key(row: dict) -> tuple:
        kbps = (row["metrics"].get(KBPS) or {}).get("value") or 0.0
        return (not is_anchor_row(row), str(row["system"]), kbps, operating_point(row),
                str(row.get("run", "")))
    return sorted(rows, key=key)


def metric_order(runs: list[Run], rows: list[dict]) -> tuple[list[str], list[str]]:
    """(headline metrics, every metric): kbps first, the protocol's headline, adherence_retained."""
    names = [n for n in dict.fromkeys(n for r in rows for n in r["metrics"]) if n != KBPS]
    declared = [n for run in runs for n in run.protocol.get("headline") or []]
    headline = [n for n in dict.fromkeys(declared) if n in names] or names[:4]
    if RETAINED in names and RETAINED not in headline:
        headline.append(RETAINED)
    rest = [n for n in names if n not in headline]
    return [KBPS, *headline], [KBPS, *headline, *rest]


@dataclass
class CodecTable(Table):
    """A leaderboard table whose anchor rows are styled (and labelled) as anchors."""

    def role(self, i: int) -> str:
        return ANCHOR_ROLE if is_anchor_row(self.rows[i]) else "system"


def codec_table(rows: list[dict], metrics: list[str]) -> CodecTable:
    directions, multi = metric_directions(rows), several_runs(rows)
    columns = [Column("run", "id")] if multi else []
    columns += [Column("system", "id"), Column("operating point", "id")]
    columns += [Column(f"{'kbps (measured)' if m == KBPS else m} {arrow(directions[m])}", "metric", m)
                for m in metrics]
    columns += [Column("decode seeds", "speed", "seeds")] + [Column(h, "speed", k) for k, h in SPEED]
    ordered = ordered_codec_rows(rows)
    cells = [_cells(row, columns, multi) for row in ordered]
    return CodecTable(columns, ordered, cells, _best(ordered, columns, directions))


def _cells(row: dict, columns: list[Column], multi: bool) -> list[str]:
    cells = ([str(row.get("run", ""))] if multi else []) + [row_label(row), operating_point(row)]
    for col in columns[len(cells):]:
        if col.kind == "metric":
            cells.append(format_metric(row["metrics"].get(col.metric)))
        elif col.metric == "seeds":
            cells.append(str(len(row.get("decode_seeds") or [0])))
        else:
            cells.append(fmt_number(row["speed"].get(col.metric)))
    return cells


def _best(ordered: list[dict], columns: list[Column], directions: dict[str, bool]) -> set[tuple[int, int]]:
    """(row, column) of each quality metric's CI-separated best codec row (anchors, kbps and the decode
    spread excluded: a spread describes a decoder, it is not a quality to win)."""
    codecs = [i for i, r in enumerate(ordered) if not is_anchor_row(r)]
    best = set()
    for j, col in enumerate(columns):
        if col.kind != "metric" or col.metric in (KBPS, DECODE_SPREAD):
            continue
        pick = separated_best([metric_entry(ordered[i], col.metric) for i in codecs], directions[col.metric])
        if pick is not None:
            best.add((codecs[pick], j))
    return best


def spread_rows(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The decode-seed spread table: per stochastic row and metric, 'mean ± std (v1, v2, v3)'."""
    stochastic = [r for r in ordered_codec_rows(rows) if r.get("seed_spread")]
    names = list(dict.fromkeys(n for r in stochastic for n in r["seed_spread"]))
    body = [[row_label(r), operating_point(r)] + [_spread_cell(r["seed_spread"].get(n)) for n in names]
            for r in stochastic]
    return ["system", "operating point", *names], body


def _spread_cell(entry: dict | None) -> str:
    if not entry:
        return "—"
    values = ", ".join(fmt_number(v) for v in entry["values"])
    return f"{fmt_number(entry['mean'])} ± {fmt_number(entry['std'])} ({values})"


def legend(runs: list[Run], rows: list[dict]) -> list[str]:
    out = [f"{UP} higher is better, {DOWN} lower is better. Metrics: value [CI low, CI high] vs the original "
           "clips (paired metrics pair each decoded clip with its original). Bold: the CIs separate the best "
           "codec from every other codec (anchors excluded).",
           "kbps (measured) = payload bytes × 8 / clip duration, mean over clips (container and headers "
           "included), with a bootstrap CI over clips.",
           "adherence_retained = adherence of the decoded clips / adherence of the originals"
           + _originals_note(runs) + "."]
    if any(is_anchor_row(r) for r in rows):
        out.append("anchor rows (top): " + FLAG_NOTES["nominal"] + ".")
    flags = {f for r in rows for m in r["metrics"].values() for f in m.get("flags") or []}
    out += [FLAG_NOTES[f] + "." for f in ("n<=d",) if f in flags]
    if any(r.get("seed_spread") for r in rows):
        out.append("stochastic decoders: metrics of the first decode seed; their spread over the seeds is in "
                   "the decode-seed spread table (sample std, ddof = 1).")
    return out + [RTF_NOTE + " Measured on the run's machine (see Runs)."]


def _originals_note(runs: list[Run]) -> str:
    values = []
    for run in runs:
        metric = (run.originals.get("metrics") or {}).get(ADHERENCE) if hasattr(run, "originals") else None
        if metric and metric.get("value") is not None:
            values.append(f"{run.name}: {fmt_number(metric['value'])}")
    return f" (originals' adherence: {'; '.join(values)})" if values else ""


def attach_originals(runs: list[Run]) -> None:
    """Each run's ``originals`` record from its results.json (the loader does not keep it)."""
    for run in runs:
        data = json.loads((Path(run.path) / "results.json").read_text(encoding="utf-8"))
        run.originals = data.get("originals") if isinstance(data.get("originals"), dict) else {}


def markdown_document(runs: list[Run], rows: list[dict]) -> str:
    from bench.report.markdown import markdown_table, md_escape, simple_table

    headline, every = metric_order(runs, rows)
    protocols = ", ".join(sorted({protocol_label(run.protocol) for run in runs}))
    names = ", ".join(f"`{r.name}`" for r in runs)
    parts = [f"# Codec leaderboard\n\nProtocol {protocols}; runs: {names}.\n",
             "## Leaderboard\n", markdown_table(codec_table(rows, headline)),
             "## All metrics\n", markdown_table(codec_table(rows, every))]
    header, body = spread_rows(rows)
    if body:
        parts += ["## Decode-seed spread\n", simple_table(header, body)]
    parts.append("\n".join(f"- {md_escape(item)}" for item in legend(runs, rows)) + "\n")
    return "\n".join(parts)


def csv_text(rows: list[dict], metrics: list[str]) -> str:
    """One line per row: identity, anchor flag, speed, then value/CI/status/flags/seed std per metric."""
    multi = several_runs(rows)
    parts = ("value", "ci_low", "ci_high", "status", "flags", "seed_std")
    columns = (["run"] if multi else []) + ["row_id", "system", "operating_point", "decode_steps", "anchor",
                                            "payload_label", "nominal_kbps", "decode_seeds", "encode_rtf",
                                            "decode_rtf"]
    columns += [f"{m}:{p}" for m in metrics for p in parts]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in ordered_codec_rows(rows):
        rec = {"run": row.get("run"), "row_id": row.get("row_id"), "system": row["system"],
               "operating_point": operating_point(row), "decode_steps": row.get("decode_steps"),
               "anchor": is_anchor_row(row), "payload_label": row.get("payload_label"),
               "nominal_kbps": row.get("nominal_kbps"), "decode_seeds": len(row.get("decode_seeds") or [0]),
               **{k: row["speed"].get(k) for k, _ in SPEED}}
        for m in metrics:
            entry = row["metrics"].get(m) or {"status": "not measured"}
            spread = (row.get("seed_spread") or {}).get(m) or {}
            rec.update({f"{m}:value": entry.get("value"), f"{m}:ci_low": entry.get("ci_low"),
                        f"{m}:ci_high": entry.get("ci_high"), f"{m}:status": entry.get("status"),
                        f"{m}:flags": ";".join(entry.get("flags") or []), f"{m}:seed_std": spread.get("std")})
        writer.writerow({k: ("" if v is None else v) for k, v in rec.items()})
    return buf.getvalue()


def write_codec_report(runs: list[Run], rows: list[dict], out: Path, players: int = 3,
                       max_clip_s: float = 10.0) -> list[Path]:
    """leaderboard.md, leaderboard.csv and leaderboard.html of codec runs into ``out`` (created)."""
    from bench.report.codec_html import build_codec_html
    from bench.report.codec_plots import rate_quality_plot
    from bench.report.plots import safe_plot

    attach_originals(runs)
    headline, every = metric_order(runs, rows)
    plot = safe_plot("rate–quality", rate_quality_plot, rows, headline[1:])
    texts = (markdown_document(runs, rows), csv_text(rows, every),
             build_codec_html(runs, rows, headline, every, plot, players, max_clip_s))
    out.mkdir(parents=True, exist_ok=True)
    for name, text in zip(FILES, texts):
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in FILES]
