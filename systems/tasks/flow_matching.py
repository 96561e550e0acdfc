"""Latent flow matching from scratch, LAFMA's convention (systems-reference §1 and §2.5).

``x_t = t·x0 + (1 − t)·ε`` with t = 1 the data, velocity target ``v = x0 − ε``, t ~ U[t_min, 1],
mean squared error; the network sees ``999·t`` as its time input (LAFMA's scaling). CFG dropout
with the project's null prompt, as the teacher.

``FlowDenoiser`` wraps the velocity network as an EDM denoiser so the shared samplers and CFG run
it unchanged: with σ = (1 − t)/t and x̃ = x_t / t (an exact change of variables),
``D(x̃, σ) = x_t + (1 − t)·v̂(x_t, t)``. Euler in σ on the σ images of LAFMA's uniform time grid
is then exactly LAFMA's Euler in t (both are the first-order step x_t' = t'·x̂0 + (1 − t')·ε̂).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from systems.components.edm import drop_condition
from systems.training.loop import seeded_order

TIME_SCALE = 0.999  # the DiT multiplies its time input by 1000: the network sees 999·t


class FlowDenoiser(nn.Module):
    """``D(x̃ [B, C, F], σ [B], cond)`` around a velocity network ``net(x_t, time, tokens, mask)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, cond) -> torch.Tensor:
        return self.net(x_t, TIME_SCALE * t.reshape(-1), cond["tokens"], cond["mask"])

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond) -> torch.Tensor:
        t = (1.0 / (1.0 + sigma.to(x.dtype).reshape(-1))).view(-1, 1, 1)
        x_t = t * x
        return x_t + (1 - t) * self.velocity(x_t, t, cond)


class FlowMatchingTask:
    """``TrainTask`` of LAFMA: regress v = x0 − ε at x_t = t·x0 + (1 − t)·ε."""

    data_parallel = True   # the loss is a mean over independent examples (systems.training.data_parallel)

    def __init__(self, kind: str, config: Mapping[str, Any], flow: FlowDenoiser, latents: torch.Tensor,
                 tokens: torch.Tensor, mask: torch.Tensor, null: dict, settings: Mapping[str, Any],
                 batch: int) -> None:
        self.kind, self.config = kind, dict(config)
        self.flow, self.latents = flow, latents
        self.tokens, self.mask, self.null = tokens, mask, null
        self.settings, self.batch_size = dict(settings), batch

    def modules(self) -> dict[str, nn.Module]:
        return {"flow": self.flow}

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.flow.parameters(), lr=self.settings["lr"], weight_decay=0.0)

    def batch(self, update: int) -> dict[str, torch.Tensor]:
        idx = seeded_order(len(self.latents), self.batch_size, update, self.settings["seed"])
        return {"x0": self.latents[idx], "tokens": self.tokens[idx], "mask": self.mask[idx]}

    def loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator):
        x0 = batch["x0"]
        b, t_min = x0.shape[0], self.settings["t_min"]
        drop = torch.rand(b, generator=generator) < self.settings["p_uncond"]
        null = {k: v.expand(b, *v.shape[1:]) for k, v in self.null.items()}
        cond = drop_condition({"tokens": batch["tokens"], "mask": batch["mask"]}, null, drop)
        t = (t_min + (1 - t_min) * torch.rand(b, generator=generator)).to(x0).view(-1, 1, 1)
        eps = torch.randn(x0.shape, generator=generator).to(x0)
        v = self.flow.velocity(t * x0 + (1 - t) * eps, t, cond)
        return ((v - (x0 - eps)) ** 2).mean(), {"dropped": float(drop.float().mean())}, 0
