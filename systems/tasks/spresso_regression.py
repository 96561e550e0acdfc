"""Training task of S-PRESSO's deterministic decoder ablation (stage "r"; ``decoder="regression"``).

The regression decoder h (:mod:`systems.components.spresso_regression`) learns ``x̂0 = h(z_q)`` with
the latent MSE ``mean((h(z_q) − x0)²)`` — the loss whose minimiser is the conditional mean E[x0 | z_q],
the deterministic answer a diffusion decoder is meant to improve on. g_ψ and the quantiser are
frozen (they are the codec's encoder; the diffusion decoder's stage 3 freezes them too), so z_q is
a constant of each training clip and is computed once up front. Adam at the stage's ``lr``.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from systems.components.spresso_regression import RegressionDecoder
from systems.training.loop import seeded_order


class RegressionTask:
    """``TrainTask``: h fitted by latent MSE on (z_q, x0) pairs of the teacher's training clips."""

    def __init__(self, kind: str, config: Mapping[str, Any], decoder: RegressionDecoder,
                 latents: torch.Tensor, z: torch.Tensor, settings: Mapping[str, Any], batch: int) -> None:
        if latents.shape[0] != z.shape[0]:
            raise ValueError(f"one z per training clip: {z.shape[0]} z for {latents.shape[0]} latents")
        self.kind, self.config = kind, dict(config)
        self.decoder, self.latents, self.z = decoder, latents, z
        self.settings, self.batch_size = dict(settings), batch

    def modules(self) -> dict[str, nn.Module]:
        return {"regression": self.decoder}

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.decoder.parameters(), lr=self.settings["lr"])

    def batch(self, update: int) -> dict[str, torch.Tensor]:
        idx = seeded_order(len(self.latents), self.batch_size, update, self.settings["seed"])
        return {"x0": self.latents[idx], "z": self.z[idx]}

    def loss(self, batch: Mapping[str, torch.Tensor], generator: torch.Generator):
        x0 = batch["x0"]
        loss = (self.decoder(batch["z"], x0.shape[-1]) - x0).pow(2).mean()
        return loss, {}, 0
