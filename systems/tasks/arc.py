"""ARC: adversarial relativistic-contrastive post-training (systems-reference §2.3), in EDM form.

The generator G is a copy of the teacher; one call ``x̂0 = G(x0 + σ_g·ε, σ_g, c)`` is its jump to
the data (RF's ``x_t − t·v`` is the same map after the exact RF ↔ EDM change of variables, §1).
The discriminator D is a truncated copy of the teacher's DiT (its first ``disc_depth`` blocks)
plus a small convolutional head giving a sequence of logits. Even updates train G, odd updates D
(one optimiser; the other network's parameters get no gradient in that update):

- relativistic pairing: real ``x0 + σ_d·ε'`` and fake ``x̂0 + σ_d·ε'`` share the prompt, σ_d and ε';
  ``L_G = softplus(D(real) − D(fake))``, ``L_R = softplus(−(D(real) − D(fake)))``;
- contrastive: ``L_C = softplus(−(D(real, c) − D(real, c̃)))`` with c̃ from a derangement over the
  batch's distinct captions (:mod:`systems.tasks.derangement`); ``L_D = L_R + λ_c·L_C``.
- ablations: ``contrastive_weight = 0`` (relativistic only) and ``adversarial = "lsgan"`` (least
  squares, Mao et al. 2017: ``L_G = (D(fake) − 1)²``, ``L_D = (D(real) − 1)² + D(fake)²``, the
  contrastive term kept).

Noise levels σ_g and σ_d are log-SNR uniform: λ ~ U[−6, 2], σ = e^{−λ} (stable-audio-tools'
logsnr convention t = sigmoid(−λ), σ = t/(1 − t)), clipped to the teacher's [σ_min, σ_max].
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from systems.components.edm import EDMDenoiser, drop_condition, edm_coefficients
from systems.tasks.derangement import caption_derangement
from systems.training.loop import seeded_order

LOGSNR_RANGE = (-6.0, 2.0)


def logsnr_sigma(b: int, generator: torch.Generator, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """σ [b] with λ = −ln σ uniform in [−6, 2], clipped to [σ_min, σ_max]."""
    lo, hi = LOGSNR_RANGE
    lam = lo + (hi - lo) * torch.rand(b, generator=generator)
    return torch.exp(-lam).clamp(sigma_min, sigma_max)


class Discriminator(nn.Module):
    """The teacher's first ``depth`` DiT blocks, then 2 × [Conv1d s2, GroupNorm, SiLU] → Conv1d → logits."""

    def __init__(self, teacher: EDMDenoiser, depth: int) -> None:
        super().__init__()
        total = len(teacher.net.blocks)
        if not 1 <= depth <= total:
            raise ValueError(f"the discriminator's depth must be 1 … {total} (the teacher's DiT has {total} "
                             f"blocks), got {depth}")
        import copy

        self.net, self.depth, self.sigma_data = copy.deepcopy(teacher.net), depth, teacher.sigma_data
        del self.net.blocks[depth:]            # a truncated copy: the unused blocks are not kept
        width = self.net.cfg.width
        groups = math.gcd(32, width)
        self.head = nn.Sequential(
            nn.Conv1d(width, width, 4, stride=2, padding=1), nn.GroupNorm(groups, width), nn.SiLU(),
            nn.Conv1d(width, width, 4, stride=2, padding=1), nn.GroupNorm(groups, width), nn.SiLU(),
            nn.Conv1d(width, 1, 1))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits [B, frames'] of ``x`` (an EDM noisy point at level ``sigma``) being real for ``cond``."""
        _, _, c_in, c_noise = edm_coefficients(sigma.to(x.dtype).reshape(-1), self.sigma_data)
        h = self.net.trunk(c_in.view(-1, 1, 1) * x, c_noise, cond["tokens"], cond["mask"], self.depth)
        return self.head(h.transpose(1, 2)).squeeze(1)


class ARCTask:
    """``TrainTask`` of ARC: alternating generator (even updates) and discriminator (odd) steps."""

    def __init__(self, kind: str, config: Mapping[str, Any], generator: EDMDenoiser,
                 discriminator: Discriminator, data: Mapping[str, Any], settings: Mapping[str, Any],
                 batch: int, noise: Mapping[str, float]):
        self.kind, self.config = kind, dict(config)
        # both networks train (the teacher's copies arrive frozen); the trainer's gradient clip
        # covers the parameters that require grad when it starts
        self.g, self.d = generator.requires_grad_(True), discriminator.requires_grad_(True)
        self.latents, self.tokens, self.mask = data["latents"], data["tokens"], data["mask"]
        self.captions, self.null = data["captions"], data["null"]
        self.settings, self.batch_size, self.noise = dict(settings), batch, dict(noise)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.g, "discriminator": self.d}

    def make_optimizer(self) -> torch.optim.Optimizer:
        params = list(self.g.parameters()) + list(self.d.parameters())
        return torch.optim.AdamW(params, lr=self.settings["lr"], weight_decay=0.0)

    def batch(self, update: int) -> dict[str, Any]:
        idx = seeded_order(len(self.latents), self.batch_size, update // 2, self.settings["seed"])
        return {"x0": self.latents[idx], "tokens": self.tokens[idx], "mask": self.mask[idx],
                "captions": [self.captions[i] for i in idx.tolist()], "phase": update % 2}

    def batch_examples(self, batch: Mapping[str, Any]) -> int:
        return int(batch["x0"].shape[0])

    def loss(self, batch: Mapping[str, Any], generator: torch.Generator):
        cond = {"tokens": batch["tokens"], "mask": batch["mask"]}
        x0 = batch["x0"]
        train_g = batch["phase"] == 0
        self.g.requires_grad_(train_g)
        self.d.requires_grad_(not train_g)
        fake0 = self._generate(x0, cond, generator, grad=train_g)
        sigma = self._sigma(x0.shape[0], generator).to(x0)
        eps = torch.randn(x0.shape, generator=generator).to(x0)     # shared re-noising noise
        real_logits = self.d(x0 + sigma.view(-1, 1, 1) * eps, sigma, cond)
        fake_logits = self.d(fake0 + sigma.view(-1, 1, 1) * eps, sigma, cond)
        lsgan = self.settings["adversarial"] == "lsgan"
        if train_g:
            loss = ((fake_logits - 1) ** 2).mean() if lsgan else F.softplus(real_logits - fake_logits).mean()
            return loss, {"loss_g": float(loss.detach())}, 0
        adversarial = (((real_logits - 1) ** 2).mean() + (fake_logits ** 2).mean()) if lsgan else \
            F.softplus(-(real_logits - fake_logits)).mean()
        real = x0 + sigma.view(-1, 1, 1) * eps
        contrastive = self._contrastive(real, sigma, cond, real_logits, batch, generator)
        loss = adversarial + self.settings["contrastive_weight"] * contrastive
        return loss, {"loss_adversarial": float(adversarial.detach()),
                      "loss_contrastive": float(contrastive.detach())}, 0

    def _sigma(self, b: int, generator: torch.Generator) -> torch.Tensor:
        return logsnr_sigma(b, generator, self.noise["sigma_min"], self.noise["sigma_max"])

    def _generate(self, x0, cond, generator: torch.Generator, grad: bool) -> torch.Tensor:
        """G's one-call jump x̂0 from x0 + σ_g·ε, with CFG dropout on its condition."""
        b = x0.shape[0]
        drop = torch.rand(b, generator=generator) < self.settings["p_uncond"]
        null = {k: v.expand(b, *v.shape[1:]) for k, v in self.null.items()}
        sigma = self._sigma(b, generator).to(x0)
        noisy = x0 + sigma.view(-1, 1, 1) * torch.randn(x0.shape, generator=generator).to(x0)
        with torch.set_grad_enabled(grad):
            return self.g(noisy, sigma, drop_condition(cond, null, drop))

    def _contrastive(self, real, sigma, cond, real_logits, batch, generator) -> torch.Tensor:
        if self.settings["contrastive_weight"] == 0 or len(set(batch["captions"])) < 2:
            return real_logits.new_zeros(())   # ablation off, or a batch of one caption: nothing to contrast
        other = caption_derangement(batch["captions"], generator)
        wrong = {k: v[other] for k, v in cond.items()}
        return F.softplus(-(real_logits - self.d(real, sigma, wrong))).mean()
