"""The teacher's DiT with a guidance input: a CFG-aware student (systems-reference §3).

ConsistencyTTA's student takes the CFG scale w as an input, SoundCTM's takes ω: one network call
then stands for the guided pair ``D_∅ + w(D_c − D_∅)``, so sampling needs no unconditional branch.
The embedding follows the reference's row "CFG-conditioned student embedding":
``sinusoid(1000·w, fourier_dim)`` (the same features as the noise level, scaled like
``c_noise·1000``) → a zero-initialised ``nn.Linear(fourier_dim, width)`` added to the global
conditioning vector c (the sum of the time and pooled-text embeddings, which every adaLN
modulation reads). Zero initialisation makes a student copied from the teacher equal to it for
every w at the start, so distillation starts from the teacher's function, not from noise.

``GuidedDiT(cfg, key="omega")`` names the input differently (SoundCTM's ω); a subclass adding a
further input pops its own keyword in ``conditioning`` and passes the rest up.
"""
from __future__ import annotations

import torch
from torch import nn

from systems.api import SystemInputError
from systems.components.dit import DiT, DiTConfig, sinusoid
from systems.components.edm import EDMDenoiser

GUIDANCE_SCALE = 1000.0   # w ↦ 1000·w before the sinusoid, like c_noise (ConsistencyTTA's w·1000)


class GuidedDiT(DiT):
    """``DiT`` whose ``forward``/``trunk`` require ``<key>=`` a per-sample guidance scale [B]."""

    def __init__(self, cfg: DiTConfig, key: str = "guidance") -> None:
        super().__init__(cfg)
        self.key = key
        self.guidance_embed = nn.Linear(cfg.fourier_dim, cfg.width)
        nn.init.zeros_(self.guidance_embed.weight)   # at init: c + 0, the teacher's output for every w
        nn.init.zeros_(self.guidance_embed.bias)

    def conditioning(self, c_noise, tokens, mask, **extra):
        """The teacher's (c, text) with ``c += Linear(sinusoid(1000·w))``; w is ``extra[self.key]``."""
        guidance = self._guidance(extra.pop(self.key, None), c_noise)
        c, text = super().conditioning(c_noise, tokens, mask, **extra)
        embedding = self.guidance_embed(sinusoid(GUIDANCE_SCALE * guidance, self.cfg.fourier_dim))
        return c + embedding.to(c.dtype), text

    def _guidance(self, guidance, c_noise: torch.Tensor) -> torch.Tensor:
        """The guidance as a [B] tensor on c_noise's device, or a SystemInputError saying what to pass."""
        if guidance is None:
            raise SystemInputError(f"GuidedDiT needs the CFG scale: put {self.key!r} (a [B] tensor, one w "
                                   "per sample) in the condition next to 'tokens' and 'mask'")
        guidance = torch.as_tensor(guidance, device=c_noise.device)
        if guidance.shape != c_noise.shape:
            raise SystemInputError(f"{self.key!r} must hold one value per sample, shape "
                                   f"{tuple(c_noise.shape)}; got shape {tuple(guidance.shape)}")
        return guidance


def guided_from_teacher(teacher: EDMDenoiser, key: str = "guidance") -> EDMDenoiser:
    """An ``EDMDenoiser(GuidedDiT)`` holding the teacher's weights and a zero guidance embedding.

    Strict about everything else: the only keys the teacher may lack are the embedding's.
    """
    student = EDMDenoiser(GuidedDiT(teacher.net.cfg, key), sigma_data=teacher.sigma_data)
    result = student.load_state_dict(teacher.state_dict(), strict=False)
    own = {f"net.{name}" for name in ("guidance_embed.weight", "guidance_embed.bias")}
    if result.unexpected_keys or set(result.missing_keys) != own:
        raise RuntimeError(f"the teacher's weights do not fit GuidedDiT beyond its guidance embedding: "
                           f"missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    return student.to(next(teacher.parameters()).device)
