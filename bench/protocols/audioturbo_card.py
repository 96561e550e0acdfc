"""``audioturbo-card``: what the AudioTurbo reproduction card runs (``bench reproduce audioturbo``).

``sfx-mini``'s prompts, references, metrics and rows (teacher Euler 1–16 and Heun 16, AudioTurbo
1–10, LAFMA 3–25), plus AudioTurbo's CFG sweep at 5 steps: guidance 1 (none), 3 and 5 beside its
default 1.5 (the sfx-mini row). Rows shared with ``sfx-mini`` come from the generation and
metric caches after a ``make bench``, so the card costs only its extra rows.
"""
from dataclasses import replace

from bench.protocols.base import SystemEntry
from bench.protocols.budgets import budget_for
from bench.protocols.sfx_mini import PROTOCOL as SFX_MINI

CFG_SWEEP = tuple(SystemEntry("audioturbo", samplers=("euler",), steps=(5,), guidance=w,
                              budget=budget_for("teacher", "tiny")) for w in (1.0, 3.0, 5.0))

#: sfx-mini v4's systems (v5 added arc and cd, which AudioTurbo's claims do not read)
V4_SYSTEMS = ("teacher", "audioturbo", "lafma")

PROTOCOL = replace(
    SFX_MINI, name="audioturbo-card", version=1,
    description="sfx-mini v4 plus AudioTurbo's CFG sweep at 5 steps (the AudioTurbo reproduction card)",
    systems=tuple(e for e in SFX_MINI.systems if e.system in V4_SYSTEMS) + CFG_SWEEP,
)
