"""``soundctm-card``: what SoundCTM's reproduction card runs (``bench reproduce soundctm``).

sfx-mini's prompts, references and metrics, with the rows SoundCTM's claims read:

- the teacher with Euler at 1, 2, 4, 8, 16 steps (the step counts SoundCTM is evaluated at; also the
  resolution reference of the non-inferiority margins) and at its default point, Heun 16 with CFG 3;
- ``soundctm`` with deterministic γ = 0 sampling at 1, 2, 4, 8, 16 steps (ν = 1, ω = 3: the
  conditional student alone), and with ν = 1.5 (``config={"nu": 1.5}``, rows ``…/nu1.5``: both
  students mixed, 2 NFE per step) at 1 and 4 steps;
- the ablation ``soundctm-l2`` (plain l2 in latent space instead of the teacher's features) at 1 and 4
  steps;
- ``cd`` (consistency distillation, ping-pong multistep) at 1, 2, 4 steps.

All accelerators train from the same teacher checkpoint under the shared budget; the rows shared
with ``sfx-mini`` come from the generation and metric caches after a ``make bench``. The content-
preservation experiment (γ = 0, 0.2, 0.5, 1 and cd, 1 vs 16 steps) is not a row of this protocol:
the card runs it beside the protocol (``bench.cards.content``).
"""
from dataclasses import replace

from bench.protocols.base import SystemEntry
from bench.protocols.budgets import budget_for
from bench.protocols.sfx_mini import PROTOCOL as SFX_MINI

BUDGET = budget_for("teacher", "tiny")

SYSTEMS = (
    SystemEntry("teacher", samplers=("euler",), steps=(1, 2, 4, 8, 16)),
    SystemEntry("teacher", samplers=("heun",), steps=(16,)),
    SystemEntry("soundctm", samplers=("ctm_gamma",), steps=(1, 2, 4, 8, 16), budget=BUDGET),
    SystemEntry("soundctm", samplers=("ctm_gamma",), steps=(1, 4), config={"nu": 1.5}, budget=BUDGET),
    SystemEntry("soundctm-l2", samplers=("ctm_gamma",), steps=(1, 4), budget=BUDGET),
    SystemEntry("cd", samplers=("pingpong",), steps=(1, 2, 4), budget=BUDGET),
)

PROTOCOL = replace(
    SFX_MINI, name="soundctm-card", version=1,
    description="sfx-mini v6's prompts and metrics; soundctm (γ = 0; ν = 1 and 1.5), soundctm-l2, cd and the "
                "teacher (the SoundCTM reproduction card)",
    systems=SYSTEMS,
)
