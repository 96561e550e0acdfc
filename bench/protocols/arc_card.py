"""``arc-card``: what ARC's reproduction card runs (``bench reproduce arc``).

sfx-mini's prompts, references and metrics, with the rows ARC's claims read:

- the teacher with Euler at 1, 2, 4, 8, 16 steps (naive step reduction at ARC's step counts) and
  at its default point, Heun 16 with CFG 3;
- ``arc`` (ping-pong, no CFG) at 1, 2, 4, 8 steps, and at 8 steps with its network dynamically
  quantised to int8 (the quality int8 costs);
- the ablations at ARC's default 8 steps: ``arc-no-contrastive`` and ``arc-lsgan``;
- ``cd`` (consistency distillation, CFG distilled in) at 1, 2, 4 steps.

All accelerators train from the same teacher checkpoint under the shared budget. The rows also
shared with ``sfx-mini`` come from the generation and metric caches after a ``make bench``.

**Diversity set** (CCDS as ARC measures it): ARC generated 24 clips per prompt on 203 AudioCaps
prompts. On a 2-core CPU every row here gets 16 prompts × 8 generations (128 clips, 28 pairs per
prompt; 64 of them are the main set's clips of those prompts, from the cache): 8 per prompt
keeps a row's extra cost at 64 clips, 16 prompts keep the prompt bootstrap of CCDS from being
decided by a handful of prompts. CCDS on it is reported as ``ccds@aisfx[div]``; recall and
coverage come from the main set (32 prompts × 4 against 128 references).
"""
from dataclasses import replace

from bench.protocols.base import DiversitySet, SystemEntry
from bench.protocols.budgets import budget_for
from bench.protocols.sfx_mini import PROTOCOL as SFX_MINI

BUDGET = budget_for("teacher", "tiny")

SYSTEMS = (
    SystemEntry("teacher", samplers=("euler",), steps=(1, 2, 4, 8, 16)),
    SystemEntry("teacher", samplers=("heun",), steps=(16,)),
    SystemEntry("arc", samplers=("pingpong",), steps=(1, 2, 4, 8), budget=BUDGET),
    SystemEntry("arc", samplers=("pingpong",), steps=(8,), config={"precision": "int8"}, budget=BUDGET),
    SystemEntry("arc-no-contrastive", samplers=("pingpong",), steps=(8,), budget=BUDGET),
    SystemEntry("arc-lsgan", samplers=("pingpong",), steps=(8,), budget=BUDGET),
    SystemEntry("cd", samplers=("pingpong",), steps=(1, 2, 4), budget=BUDGET),
)

PROTOCOL = replace(
    SFX_MINI, name="arc-card", version=1,
    description="sfx-mini v5's prompts and metrics; ARC, its ablations, its int8 copy, cd and the teacher; "
                "a 16-prompt × 8-generation diversity set per row (the ARC reproduction card)",
    systems=SYSTEMS,
    diversity=DiversitySet(prompts=16, generations=8, metrics=("ccds@aisfx",)),
)
