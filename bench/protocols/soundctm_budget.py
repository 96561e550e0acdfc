"""``soundctm-budget``: is SoundCTM's few-step quality limited by the shared teacher-NFE cap?

Under the shared accelerator budget (800 updates × 32, wall cap 900 s, 200 000 teacher NFE) SoundCTM
stops near update 135: its online targets cost ≈ 1 490 teacher NFE per update (32 samples × E[k] ≈
11.7 Heun steps × 2 evaluations × 2 CFG branches). This protocol trains the same system for the
budget's 800 updates with the NFE cap lifted (and a 3 600-s wall cap so the updates fit on a 2-core
CPU) and samples it at 1, 4 and 16 steps next to the teacher's Euler 1 and ``cd`` at 1 step, on
sfx-mini's prompts, noise, references and metrics. It is a diagnostic, not a leaderboard entry:
SoundCTM's rows in sfx-mini and in its card keep the shared budget, like every accelerator.
"""
from dataclasses import replace

from bench.protocols.base import SystemEntry
from bench.protocols.budgets import budget_for
from bench.protocols.sfx_mini import PROTOCOL as SFX_MINI

SHARED = budget_for("teacher", "tiny")
LIFTED = replace(SHARED, max_teacher_nfe=None, max_wall_s=3600.0)

PROTOCOL = replace(
    SFX_MINI, name="soundctm-budget", version=1,
    description="sfx-mini v6's prompts and metrics; soundctm trained 800 updates without the teacher-NFE cap "
                "(1, 4, 16 steps) beside the teacher's Euler 1 and cd 1 (a budget diagnostic)",
    systems=(SystemEntry("teacher", samplers=("euler",), steps=(1,)),
             SystemEntry("cd", samplers=("pingpong",), steps=(1,), budget=SHARED),
             SystemEntry("soundctm", samplers=("ctm_gamma",), steps=(1, 4, 16), budget=LIFTED)),
)
