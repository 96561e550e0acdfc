"""The training budgets of a size preset: one for every accelerator, the teacher's for scratch systems.

The rules of "one budget" (printed in every report):

- every accelerator distilled or post-trained from the shared teacher gets the same number of
  updates at the same batch size from the same teacher checkpoint (``ACCELERATOR``), with the
  same wall-clock and teacher-NFE caps (online and offline evaluations count alike);
- a system trained from scratch gets the teacher's own budget (its updates and batch size).

The wall cap is a safety stop, set well above the measured time on a 2-core CPU so that it never
binds on a healthy machine (a run it stops says ``stopped_by: max_wall_s``, and its weights then
differ from a full run's).
"""
from __future__ import annotations

from systems.training.budget import Budget

RULES = {
    "teacher": "distilled/post-trained accelerators: the same updates at the same batch size from the same "
               "teacher checkpoint, with the same wall-clock and teacher-NFE caps (online + offline)",
    "scratch": "systems trained from scratch: the teacher's own budget (its updates and batch size)",
}

#: the accelerator budget per size preset (tiny: ≤ 5 min on a 2-core CPU)
ACCELERATOR = {
    "tiny": Budget(max_updates=800, batch=32, max_wall_s=900.0, max_teacher_nfe=200_000),
    "micro": Budget(max_updates=4, batch=4, max_wall_s=300.0, max_teacher_nfe=20_000),
}
SCRATCH_WALL_S = {"tiny": 1800.0, "micro": 300.0}


def teacher_budget(preset) -> Budget:
    """The teacher's own budget (from its preset, a name or a Preset), for systems trained from scratch."""
    from systems.components.presets import get_preset

    preset = get_preset(preset) if isinstance(preset, str) else preset
    train = preset.teacher_train
    return Budget(max_updates=train.updates, batch=train.batch, max_wall_s=SCRATCH_WALL_S.get(preset.name))


def budget_for(trained_from: str, preset) -> Budget:
    """The budget a system trained ``from`` "teacher" or "scratch" gets at ``preset`` (name or Preset)."""
    if trained_from == "scratch":
        return teacher_budget(preset)
    if trained_from != "teacher":
        raise ValueError(f"trained_from must be 'teacher' or 'scratch', got {trained_from!r}")
    name = preset if isinstance(preset, str) else preset.name
    if name not in ACCELERATOR:
        raise KeyError(f"no accelerator budget for preset {name!r}; known: {sorted(ACCELERATOR)}")
    return ACCELERATOR[name]
