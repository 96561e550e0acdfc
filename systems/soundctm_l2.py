"""``soundctm-l2``: SoundCTM's ablation with the plain latent-space l2 distance in place of the
teacher-feature distance (``distance = "l2"``).

Same teacher, budget, sampler and every other setting as ``soundctm`` (:mod:`systems.soundctm`); the
paper's claim it tests: the distance measured in the teacher's own features beats l2 in latent space.
"""
from __future__ import annotations

from systems.api import SystemInfo
from systems.soundctm import SoundCTM


class SoundCTML2(SoundCTM):
    info = SystemInfo(name="soundctm-l2", paper="SoundCTM ablation: l2 distance in latent space, not teacher "
                      "features", samplers=("ctm_gamma",), default_steps=(1, 2, 4, 8, 16), test_steps=1)
    train_defaults = {**SoundCTM.train_defaults, "distance": "l2"}
