"""What consistency-style distillation tasks share (``cd``, ``soundctm``): a student trained against
an EMA target network of itself on the teacher's training latents, both checkpointed as modules."""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from systems.components.edm import EDMDenoiser
from systems.training.fit import FitPlan
from systems.training.loop import seeded_order


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, rate: float) -> None:
    """θ⁻ ← rate·θ⁻ + (1 − rate)·θ for every floating entry of the state dicts."""
    for mine, theirs in zip(target.state_dict().values(), online.state_dict().values()):
        if mine.is_floating_point():
            mine.lerp_(theirs.detach(), 1.0 - rate)


class StudentTargetTask:
    """The shared part of a ``TrainTask`` whose student learns against its EMA target ``target``
    (no gradient; a module, so the trainer checkpoints and resumes it) with a frozen ``teacher``."""

    def __init__(self, kind: str, config: Mapping[str, Any], student: EDMDenoiser, target: EDMDenoiser,
                 teacher: EDMDenoiser, data: Mapping[str, Any], settings: Mapping[str, Any],
                 batch: int) -> None:
        self.kind, self.config = kind, dict(config)
        self.student, self.target = student.requires_grad_(True), target.requires_grad_(False)
        self.teacher = teacher
        self.latents, self.tokens, self.mask = data["latents"], data["tokens"], data["mask"]
        self.null = data["null"]
        self.settings, self.batch_size = dict(settings), batch

    def modules(self) -> dict[str, nn.Module]:
        return {"student": self.student, "target": self.target}

    def batch(self, update: int) -> dict[str, torch.Tensor]:
        idx = seeded_order(len(self.latents), self.batch_size, update, self.settings["seed"])
        return {"x0": self.latents[idx], "tokens": self.tokens[idx], "mask": self.mask[idx]}


def student_fit_plan(system, settings: dict[str, Any], batch: int, code_version: int) -> FitPlan:
    """The ``FitPlan`` of a student/EMA-target system (``cd``, ``soundctm``): stored under the teacher
    key, the module ``student`` with its EMA and clip, and the system's sanity check in the report.
    ``system`` provides ``teacher_store_key``, ``_task(key, settings, batch)`` and ``sanity``."""
    key = system.teacher_store_key(settings, code_version)
    return FitPlan(kind=system.info.name, key=key, module="student", seed=settings["seed"],
                   ema_decay=settings["ema"], grad_clip=settings["grad_clip"],
                   make_task=lambda full_key: system._task(full_key, settings, batch),
                   extra=lambda task: {"sanity": system.sanity(task.student, settings)})
