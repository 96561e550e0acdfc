"""Report sections a card asks for beyond its claims: metric tables and the fp32-vs-int8 check.

A ``MetricTable`` prints rows × metrics with each value's bootstrap interval (e.g. ARC's CCDS
table); the int8 section prints what ``bench.int8_compare`` measured. Missing values are "–".
"""
from __future__ import annotations

import math

from bench.cards.base import Card, MetricTable
from bench.cards.document import Block, Heading, Para, Table
from bench.cards.sections import DASH, fmt
from bench.cards.verdicts import usable_metric


def metric_table_blocks(card: Card, rows: list[dict]) -> list[Block]:
    blocks: list[Block] = []
    for table in card.tables:
        lines = tuple(_line(table, ref, rows) for ref in table.rows)
        blocks += [Heading(table.title), Para(table.text), Table(("row", *table.metrics), lines)]
    return blocks


def _line(table: MetricTable, ref, rows: list[dict]) -> tuple[str, ...]:
    row, why = ref.find(rows)
    if row is None:
        return (ref.label(), *([f"{DASH} ({why})"] + [DASH] * (len(table.metrics) - 1)))
    return (ref.label(), *(cell(row, metric) for metric in table.metrics))


def cell(row: dict, metric: str) -> str:
    """``value [low, high]`` of ``metric`` in ``row``, or why it is missing. A table shows an ok value
    without bootstrap replicates too (e.g. the measured kbps, a ratio whose CI comes from paired
    replicates): only a claim needs the replicates."""
    m, why = usable_metric(row, metric)
    if m is None:
        m = row.get("metrics", {}).get(metric) or {}
        value = m.get("value")
        if m.get("status") != "ok" or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{DASH} ({why})"
    low, high = m.get("ci_low"), m.get("ci_high")
    interval = f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
    return f"{m['value']:.4g}{interval}"


INT8_HEADER = ("precision", "NFE", "denoiser s/call", "end-to-end s/call", "peak RAM MB (call)",
               "RAM rise MB (call)", "network MB (serialised)")


def int8_blocks(card: Card, measured: dict | None) -> list[Block]:
    """The fp32-vs-int8 table and the ratios the paper reports (latency, memory)."""
    if card.int8_point is None:
        return []
    head: list[Block] = [Heading(f"Dynamic int8 on the edge-cpu profile: {card.int8_point.label()}")]
    if not measured:
        return head + [Para("Not measured: this report was judged from an existing run (--run); run "
                            "`python -m bench reproduce` without --run to time fp32 against int8.")]
    if "missing" in measured:
        return head + [Para(f"Not measured: {measured['missing']}.")]
    lines = tuple(_int8_line(label, measured[label]) for label in ("fp32", "int8"))
    return head + [Para(INT8_TEXT.format(threads=measured["threads"], rounds=measured["fp32"]["rounds"],
                                         batch=measured["fp32"]["batch"])),
                   Table(INT8_HEADER, lines), Para(_ratios(measured))]


def _int8_line(label: str, point: dict) -> tuple[str, ...]:
    return (label, fmt(point.get("nfe")), fmt(point.get("denoise_s")), fmt(point.get("wall_s")),
            fmt(point.get("peak_ram_mb")), fmt(point.get("ram_rise_mb")), fmt(point.get("model_mb")))


def _ratios(measured: dict) -> str:
    fp32, int8 = measured["fp32"], measured["int8"]
    parts = [f"{name} fp32/int8 = {fmt(_ratio(fp32.get(key), int8.get(key)))}"
             for name, key in (("denoiser time", "denoise_s"), ("end-to-end time", "wall_s"),
                               ("call peak RAM", "peak_ram_mb"), ("network size", "model_mb"))]
    return ("Ratios (> 1: int8 is faster or smaller): " + "; ".join(parts) + ". The paper, on a phone "
            "(as quoted in this card's summary): latency 15.3 s → 6.6 s (2.3×), peak memory "
            "6.5 GB → 3.6 GB (1.8×). The quality int8 costs is claim-judged from the int8 row.")


def _ratio(a, b):
    return a / b if a is not None and b else None


INT8_TEXT = ("fp32 and its dynamic-int8 copy (torch.ao.quantization.quantize_dynamic on every "
             "nn.Linear) timed in one process at {threads} torch threads (the edge profile's 4, or "
             "fewer on a machine with fewer cores): {rounds} interleaved rounds of batch-{batch} "
             "calls on the same prompts and noise, medians shown; memory: the process's resident "
             "high-water mark during a batch call (reset before it), its rise over the resident size "
             "before the call, and the serialised network.")
