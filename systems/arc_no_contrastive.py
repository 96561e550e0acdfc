"""``arc-no-contrastive``: ARC's ablation without the contrastive term (relativistic loss only).

Same teacher, budget and every other setting as ``arc`` (:mod:`systems.arc`); the paper's claim
it tests: without the contrastive term prompt adherence drops (and diversity rises).
"""
from __future__ import annotations

from systems.api import SystemInfo
from systems.arc import ARC


class ARCNoContrastive(ARC):
    info = SystemInfo(name="arc-no-contrastive", paper="ARC ablation: relativistic adversarial loss only",
                      samplers=("pingpong",), default_steps=(1, 2, 4, 8), test_steps=1)
    train_defaults = {**ARC.train_defaults, "contrastive_weight": 0.0}
