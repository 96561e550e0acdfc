"""SoundCTM's student network: the teacher's DiT with an ω input and a target-level s input
(Saito et al. 2025, SoundCTM; Kim et al. 2024, CTM; systems-reference §2.2).

The student is a trajectory model ``G_θ(x, t, s, c, ω)``: it jumps along the teacher's CFG-ω
probability-flow ODE from noise level t down to s ≤ t. In CTM's parametrisation
(``ctm/karras_diffusion.py``):

- inner, "edm": ``g_θ(x, t, s) = c_skip(t)·x + c_out(t)·F_θ(c_in(t)·x, ¼ln t, ¼ln s, ω, c)``, the
  teacher's own EDM preconditioning at the *start* level t (:func:`ctm_inner`);
- outer, "euler": ``G_θ(x, t, s) = (s/t)·x + (1 − s/t)·g_θ(x, t, s)`` (:func:`ctm_jump`), a DDIM/Euler
  jump, exact when g is the ODE's denoiser; ``G(x, t, t) = x``.

:class:`CTMDiT` is :class:`~systems.components.guided_dit.GuidedDiT` (ω embedding, key ``"omega"``)
whose global conditioning vector also embeds s through the **same** time MLP as t:

    c = MLP_time(Fourier(1000·¼ln t)) + pooled text + Lin_ω(Fourier(1000·ω)) + A·MLP_time(Fourier(1000·¼ln s))

Architectural choice (systems-reference §2.2 (5)): SoundCTM's DiT adds the s-term (and the ω
sinusoid) with no gate, so its student differs from the teacher at step 0. Here both are behind
zero-initialised linear maps: ``Lin_ω`` is GuidedDiT's, and ``A`` (:attr:`CTMDiT.s_gate`, a
``width × width`` linear without bias) gates the s-term. At initialisation the student is then
the teacher for every (s, ω): ``g_θ(x, t, s) = D(x, t)`` and ``G_θ`` is the teacher's exact-for-D
DDIM jump, so distillation starts from the teacher's function. A linear rather than a scalar gate
because Adam moves each weight by about lr per update: a scalar gate could reach only ~lr·updates
(≈ 0.16 after 800 updates at lr 2e-4) of the paper's weight 1, while the linear's output sums
width such steps; it can represent the paper's ungated sum (A = I). The time MLP itself stays
shared (the paper's point: s lives in the same embedding space as t).
"""
from __future__ import annotations

import torch
from torch import nn

from systems.api import SystemInputError
from systems.components.dit import DiTConfig, sinusoid
from systems.components.edm import Cond, EDMDenoiser
from systems.components.guided_dit import GuidedDiT
from systems.samplers.base import per_sample

OMEGA_KEY = "omega"   # the condition key of the CFG scale ω the student takes (one per sample)
S_KEY = "s"           # the condition key of the target noise level s (one per sample, σ units)
OWN_KEYS = ("guidance_embed.weight", "guidance_embed.bias", "s_gate.weight")   # not in the teacher


class CTMDiT(GuidedDiT):
    """``GuidedDiT`` (``omega=`` [B]) that also requires ``s=`` [B], the target level σ_s > 0."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__(cfg, key=OMEGA_KEY)
        self.s_gate = nn.Linear(cfg.width, cfg.width, bias=False)
        nn.init.zeros_(self.s_gate.weight)   # at init: the s-term is 0, the teacher's c for every s

    def conditioning(self, c_noise, tokens, mask, **extra):
        """GuidedDiT's (c, text) with ``c += A·MLP_time(sinusoid(1000·¼ln s))``."""
        s = _levels(extra.pop(S_KEY, None), c_noise)
        c, text = super().conditioning(c_noise, tokens, mask, **extra)
        s_noise = s.to(c_noise.dtype).log() / 4.0   # c_noise(s) = ¼ ln s, the teacher's time input
        s_term = self.s_gate(self.time_mlp(sinusoid(s_noise * 1000.0, self.cfg.fourier_dim)))
        return c + s_term.to(c.dtype), text


def _levels(s, c_noise: torch.Tensor) -> torch.Tensor:
    if s is None:
        raise SystemInputError(f"CTMDiT needs the target level: put {S_KEY!r} (a [B] tensor of σ_s > 0, one "
                               f"per sample) in the condition next to 'tokens', 'mask' and {OMEGA_KEY!r}")
    s = torch.as_tensor(s, device=c_noise.device)
    if s.shape != c_noise.shape:
        raise SystemInputError(f"{S_KEY!r} must hold one level per sample, shape {tuple(c_noise.shape)}; got "
                               f"shape {tuple(s.shape)}")
    if not bool((s > 0).all()):
        raise SystemInputError(f"{S_KEY!r} must be > 0 (the network embeds ¼ ln s); land on σ_min, not 0")
    return s


def ctm_from_teacher(teacher: EDMDenoiser) -> EDMDenoiser:
    """An ``EDMDenoiser(CTMDiT)`` holding the teacher's weights and zero ω and s embeddings.

    Strict about everything else: the only keys the teacher may lack are the student's own.
    """
    student = EDMDenoiser(CTMDiT(teacher.net.cfg), sigma_data=teacher.sigma_data)
    result = student.load_state_dict(teacher.state_dict(), strict=False)
    own = {f"net.{name}" for name in OWN_KEYS}
    if result.unexpected_keys or set(result.missing_keys) != own:
        raise RuntimeError(f"the teacher's weights do not fit CTMDiT beyond its ω and s embeddings: missing "
                           f"{result.missing_keys}, unexpected {result.unexpected_keys}")
    return student.to(next(teacher.parameters()).device)


def ctm_inner(student: EDMDenoiser, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor, cond: Cond,
              omega: torch.Tensor) -> torch.Tensor:
    """``g_θ(x, t, s, c, ω) = c_skip(t)·x + c_out(t)·F_θ(c_in(t)·x, ¼ln t, ¼ln s, ω, c)`` (t, s, ω: [B])."""
    return student(x, t, {"tokens": cond["tokens"], "mask": cond["mask"], OMEGA_KEY: omega, S_KEY: s})


def ctm_jump(student: EDMDenoiser, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor, cond: Cond,
             omega: torch.Tensor) -> torch.Tensor:
    """``G_θ(x, t, s, c, ω) = (s/t)·x + (1 − s/t)·g_θ(x, t, s, c, ω)``: the jump from level t to s ≤ t."""
    ratio = per_sample((s / t).to(x.dtype), x)
    return ratio * x + (1 - ratio) * ctm_inner(student, x, t, s, cond, omega)
