"""``arc-lsgan``: ARC's ablation with a least-squares adversarial loss (contrastive term kept).

Same teacher, budget and every other setting as ``arc`` (:mod:`systems.arc`); the paper's claim
it tests: with the contrastive term, the relativistic loss beats least squares.
"""
from __future__ import annotations

from systems.api import SystemInfo
from systems.arc import ARC


class ARCLeastSquares(ARC):
    info = SystemInfo(name="arc-lsgan", paper="ARC ablation: least-squares adversarial + contrastive",
                      samplers=("pingpong",), default_steps=(1, 2, 4, 8), test_steps=1)
    train_defaults = {**ARC.train_defaults, "adversarial": "lsgan"}
