"""Planted regressions: does the regression gate catch what it is there to catch?

Each *plant* is a deliberate defect injected into an otherwise unchanged run of the protocol:

- ``teacher-perturbed``: every teacher weight gets seeded Gaussian noise of ``scale`` × that
  tensor's standard deviation (a damaged or wrongly converted checkpoint). Default 0.3: at 0.05
  the tiny teacher's outputs did not measurably change (adherence within ±0.03 of the baseline
  on every row), so no gate should fail it;
- ``steps-halved``: the teacher silently samples with half the requested steps (a sampler bug
  that still reports success).

The run is made with the plant active (its caches keyed apart, so no clean clip or row is
reused) and compared with the baseline; the self-test passes when **every** plant fails the
gate. A clean run of the same code must pass it: that half is shown by ``bench check`` on a run
trained from scratch (see README, "Regression gate").
"""
from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

PERTURB_SCALE = 0.3


@contextlib.contextmanager
def teacher_perturbed(scale: float = PERTURB_SCALE):
    """Load components as usual, then add noise to the teacher (and key its hash apart)."""
    import torch

    import systems.components.shared as shared

    original = shared.load_components

    def load(*args, **kwargs):
        components = original(*args, **kwargs)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in components.teacher.parameters():
                if p.numel() > 1:
                    p.add_(torch.randn(p.shape, generator=gen) * scale * p.std())
        components.hashes = {**components.hashes, "teacher": f"{components.hashes['teacher']}+noise{scale}"}
        return components

    shared.load_components = load
    try:
        yield
    finally:
        shared.load_components = original


@contextlib.contextmanager
def steps_halved():
    """The teacher generates with ``max(1, steps // 2)`` steps whatever it is asked for."""
    from systems.teacher import TeacherSystem

    generate, config = TeacherSystem.generate, TeacherSystem.config
    TeacherSystem.generate = lambda self, req: generate(self, replace(req, steps=max(1, req.steps // 2)))
    TeacherSystem.config = lambda self: {**config(self), "planted": "steps-halved"}
    try:
        yield
    finally:
        TeacherSystem.generate, TeacherSystem.config = generate, config


PLANTS = {"teacher-perturbed": teacher_perturbed, "steps-halved": steps_halved}


def run_plant(name: str, protocol, baseline: dict, out: Path, progress: bool = False,
              scale: float = PERTURB_SCALE) -> dict:
    """Run ``protocol`` with plant ``name`` active and gate it; returns the gate's findings."""
    from bench.check import compare, exit_code, summary
    from bench.runner import run_protocol

    plant = PLANTS[name](scale) if name == "teacher-perturbed" else PLANTS[name]()
    with plant:
        results = run_protocol(protocol, out, progress=progress, speed=False)
    comparisons = compare(results, baseline)
    caught = [f"{c.row_id} {c.metric}: {c.baseline:.4g} -> {c.value:.4g}"
              for c in comparisons if c.verdict == "regressed"]
    return {"plant": name, "scale": scale if name == "teacher-perturbed" else None,
            "gate_failed": exit_code(comparisons) == 1, "summary": summary(comparisons),
            "regressed": caught, "run": str(out)}
