"""Rectified diffusion on stored teacher couplings (AudioTurbo phase B; systems-reference §2.1).

The student is a copy of the teacher in the teacher's own EDM parametrisation. Each update takes
a batch of stored pairs (ε, x0', prompt), noises the *paired* data point with the *stored* noise,
``x̃ = x0' + σ·ε`` with σ from ``sigma_dist`` (:func:`draw_sigma`), drops
the prompt to the null condition with probability ``p_uncond`` (CFG dropout, the project's null
prompt), and regresses the denoiser output on x0' with the pseudo-Huber loss
``mean(√((D − x0')² + c²) − c)`` (Rectified Diffusion's code, c = 1e-3).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from systems.components.edm import EDMDenoiser, drop_condition
from systems.training.loop import seeded_order
from systems.training.pairs import Pairs


def pseudo_huber(error: torch.Tensor, c: float) -> torch.Tensor:
    """Mean of √(e² + c²) − c: ≈ e²/(2c) near 0, ≈ |e| far from it (Charbonnier)."""
    return (torch.sqrt(error**2 + c**2) - c).mean()


def draw_sigma(b: int, generator: torch.Generator, dist: str, noise: Mapping[str, float]) -> torch.Tensor:
    """σ [b] from ``dist``: "teacher" (EDM training: ln σ ~ N(P_mean, P_std²)) or "karras" (the
    continuous form of the sampler's grid: u ~ U[0, 1], σ = (σmax^{1/ρ} + u(σmin^{1/ρ} − σmax^{1/ρ}))^ρ,
    which covers the noise levels a few-step sampler actually visits, up to σ_max)."""
    if dist == "teacher":
        return (torch.randn(b, generator=generator) * noise["p_std"] + noise["p_mean"]).exp()
    if dist == "karras":
        rho = noise["rho"]
        hi, lo = noise["sigma_max"] ** (1 / rho), noise["sigma_min"] ** (1 / rho)
        return (hi + torch.rand(b, generator=generator) * (lo - hi)) ** rho
    raise ValueError(f"unknown sigma distribution {dist!r}: use 'teacher' or 'karras'")


class RectifiedDiffusionTask:
    """``TrainTask`` of AudioTurbo: the student regresses x0' from x0' + σ·ε (ε stored)."""

    data_parallel = True   # the loss is a mean over independent examples (systems.training.data_parallel)

    def __init__(self, kind: str, config: Mapping[str, Any], student: EDMDenoiser, pairs: Pairs,
                 tokens: torch.Tensor, mask: torch.Tensor, null: dict, settings: Mapping[str, Any],
                 batch: int, noise: Mapping[str, float]) -> None:
        self.kind, self.config = kind, dict(config)
        self.student, self.pairs = student.requires_grad_(True), pairs
        self.tokens, self.mask, self.null = tokens, mask, null
        self.settings, self.batch_size = dict(settings), batch
        self.noise = dict(noise)
        draw_sigma(1, torch.Generator(), self.settings["sigma_dist"], self.noise)  # fail early if unknown
        self.offline_teacher_nfe = pairs.teacher_nfe  # the budget charges the pairs' cost

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student}

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.student.parameters(), lr=self.settings["lr"],
                                 weight_decay=self.settings["weight_decay"])

    def batch(self, update: int) -> dict[str, torch.Tensor]:
        idx = seeded_order(len(self.pairs), self.batch_size, update, self.settings["seed"])
        return {"eps": self.pairs.eps[idx], "x0": self.pairs.x0[idx], "tokens": self.tokens[idx],
                "mask": self.mask[idx]}

    def loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator):
        x0, eps = batch["x0"], batch["eps"]
        b = x0.shape[0]
        drop = torch.rand(b, generator=generator) < self.settings["p_uncond"]
        null = {k: v.expand(b, *v.shape[1:]) for k, v in self.null.items()}
        cond = drop_condition({"tokens": batch["tokens"], "mask": batch["mask"]}, null, drop)
        sigma = draw_sigma(b, generator, self.settings["sigma_dist"], self.noise).to(x0)
        denoised = self.student(x0 + sigma.view(-1, 1, 1) * eps, sigma, cond)  # the paired ε
        loss = pseudo_huber(denoised - x0, self.settings["huber_c"])
        return loss, {"dropped": float(drop.float().mean())}, 0
