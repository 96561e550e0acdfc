"""The speed section of a codec card: measured rate and encode/decode RTF of every row of the run.

A text-to-audio card times its systems' default points against the teacher (speedup vs NFE ratio);
a codec has no teacher to be faster than, so its card reports what the codec run measured per row:
the payload rate and the encode and decode real-time factors on the run's machine (seconds of
audio per wall-clock second, higher is faster; ``bench.codec_rows``).
"""
from __future__ import annotations

from bench.cards.document import Block, Heading, Para, Table

HEADER = ("row", "kbps (measured)", "decode steps", "decode seeds", "encode RTF", "decode RTF")


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4g}"


def codec_speed_blocks(rows: list[dict]) -> list[Block]:
    """One line per codec row: measured kbps, decode steps and seeds, encode/decode RTF."""
    lines = []
    for row in rows:
        speed, kbps = row.get("speed") or {}, (row.get("metrics") or {}).get("kbps") or {}
        steps, seeds = (row.get("config") or {}).get("decode_steps"), len(row.get("decode_seeds") or [0])
        lines.append((str(row.get("row_id")), _fmt(kbps.get("value")), _fmt(steps), str(seeds),
                      _fmt(speed.get("encode_rtf")), _fmt(speed.get("decode_rtf"))))
    device = next((f"{r['speed'].get('device')}, {r['speed'].get('torch_threads')} torch threads"
                   for r in rows if r.get("speed")), "unknown")
    return [Heading("Speed"),
            Para(f"Measured in the codec run on its machine ({device}): RTF = seconds of audio per "
                 "wall-clock second (higher is faster; > 1 = faster than real time), summed over the "
                 "row's batches."),
            Table(HEADER, tuple(lines))]
