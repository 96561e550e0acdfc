"""``lafma``: latent flow matching trained from scratch (Guan et al. 2024, LAFMA; code gwh22/LAFMA).

The same DiT backbone, latents (shared autoencoder), text encoder (MiniLM, the project's null
prompt for CFG dropout) and training clips as the teacher, but random initial weights and the
rectified-flow objective in LAFMA's time convention (:mod:`systems.tasks.flow_matching`).
Generation: Euler on LAFMA's uniform time grid from t = 1e-3 with CFG (default 3, LAFMA's
config), at any step count. It is not distilled, so it trains under the teacher's own budget
(updates, batch) — the rule for a system trained from scratch.

Deviations from LAFMA, recorded in ``train_defaults``: the teacher's optimiser recipe (AdamW lr
1e-3, 200 warm-up updates, cosine decay to 10 %, EMA 0.999, gradient clip 1) instead of LAFMA's
Adam lr 1e-4 with exponential decay and 1 000 warm-up steps, so that the two from-scratch models
differ only in their objective; a DiT instead of the AudioLDM UNet; MiniLM instead of FLAN-T5.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from systems.api import SystemInfo, SystemInputError
from systems.components.dit import DiT
from systems.components.shared import warmup_cosine
from systems.samplers.grids import flow_uniform
from systems.tasks.flow_matching import FlowDenoiser, FlowMatchingTask
from systems.trained import TrainedDenoiserSystem
from systems.training.budget import Budget
from systems.training.fit import FitPlan

CODE_VERSION = 1


class LAFMA(TrainedDenoiserSystem):
    info = SystemInfo(
        name="lafma",
        paper="LAFMA (Guan et al. 2024): latent flow matching from scratch, Interspeech 2024",
        samplers=("euler",), default_steps=(3, 5, 10, 25), test_steps=3,
    )
    trained_from = "scratch"
    default_sampler, default_guidance = "euler", 3.0
    train_defaults = {"lr": 1e-3, "warmup": 200, "ema": 0.999, "grad_clip": 1.0, "p_uncond": 0.1,
                      "t_min": 1e-3, "seed": 0}

    def _bind(self, components) -> None:
        super()._bind(components)
        self.grid = "flow_uniform"   # LAFMA's grid; an EDM grid would not match its time convention
        self.t_min = self.train_defaults["t_min"]

    def noise_grid(self, steps: int):
        return flow_uniform(steps, t_min=self.t_min)

    def fit(self, budget: Budget, *, settings=None, store=None, progress: bool = True, checkpoint_every=None):
        report = super().fit(budget, settings=settings, store=store, progress=progress,
                             checkpoint_every=checkpoint_every)
        self.t_min = float(self.train_settings(settings)["t_min"])
        return report

    def fit_plan(self, settings: dict[str, Any], batch: int, budget: Budget) -> FitPlan:
        hashes = self.components.hashes
        key = {"system": self.info.name, "autoencoder": hashes["autoencoder"],
               "text": self.components.text.config(), "data": self.components.preset.data,
               "dit": self.components.preset.teacher.to_dict(), "settings": settings, "code": CODE_VERSION}
        if budget.max_updates is None:   # the cosine schedule needs the run's length
            raise SystemInputError("lafma: its budget must fix max_updates (the learning-rate schedule "
                                   "spans the run); give Budget(max_updates=..., batch=...)")
        total = budget.max_updates
        return FitPlan(kind=self.info.name, key=key, module="flow", seed=settings["seed"],
                       ema_decay=settings["ema"], grad_clip=settings["grad_clip"],
                       lr_schedule=warmup_cosine(settings["warmup"], total),
                       make_task=lambda full_key: self._task(full_key, settings, batch))

    def _task(self, key: dict, settings: dict, batch: int) -> FlowMatchingTask:
        data = self.training_data()
        with torch.random.fork_rng():   # initial weights depend on the seed only
            torch.manual_seed(settings["seed"])
            flow = FlowDenoiser(DiT(self.components.preset.teacher)).to(self.components.device)
        return FlowMatchingTask(self.info.name, key, flow, data["latents"], data["tokens"], data["mask"],
                                data["null"], settings, batch)

    def build_network(self, weights: Mapping[str, Any]) -> FlowDenoiser:
        flow = FlowDenoiser(DiT(self.components.preset.teacher))
        flow.load_state_dict(weights)
        return flow.to(self.components.device).eval().requires_grad_(False)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "t_min": self.t_min}
