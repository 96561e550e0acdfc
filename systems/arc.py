"""``arc``: adversarial relativistic-contrastive post-training of the teacher (Novack et al. 2025, ARC).

No distillation target and no CFG at sampling: the generator (a copy of the teacher) is trained
only against a discriminator (the teacher's first ``disc_depth`` DiT blocks plus a convolutional
head) with the relativistic and contrastive losses of :mod:`systems.tasks.arc`. Sampling is
ping-pong (denoise fully, re-noise to the next level) on ARC's log-SNR-uniform grid from the
teacher's σ_max down (:func:`arc_grid`); N network calls, no CFG branch.

Settings (systems-reference §2.3 small-scale recipe; the paper's SAO-small values were not
recovered): discriminator = 2 of the tiny teacher's 4 blocks, AdamW lr 5e-5 for both networks,
λ_c = 1, CFG dropout 0.1 on G's condition, generator and discriminator noise levels log-SNR
uniform in [−6, 2] (the code's default is uniform; log-SNR matches the ping-pong grid), EMA
0.995 of G (the recipe's 0.999 would leave 0.999^800 ≈ 45 % of the teacher in the EMA after the
800-update budget), no R1/R2 penalty. The shared accelerator budget counts G and D updates together.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from systems.api import SystemInfo, SystemInputError
from systems.tasks.arc import LOGSNR_RANGE, ARCTask, Discriminator
from systems.tasks.derangement import DerangementError, check_derangeable
from systems.trained import TrainedDenoiserSystem
from systems.training.budget import Budget
from systems.training.fit import FitPlan

CODE_VERSION = 1


def arc_grid(steps: int, sigma_max: float) -> torch.Tensor:
    """ARC's ping-pong grid in σ: λ_i = linspace(−ln σ_max, 2, N + 1), σ_i = e^{−λ_i}, then σ_N = 0.

    stable-audio-tools spaces λ from −6 (t_0 := 1, pure noise); the EDM teacher's noise ends at
    σ_max = 80 (λ = −4.38), so the grid starts there and keeps ARC's uniform log-SNR spacing
    (levels above σ_max would repeat it). N network calls.
    """
    lam = torch.linspace(-math.log(sigma_max), LOGSNR_RANGE[1], steps + 1, dtype=torch.float64)
    sigmas = torch.exp(-lam)
    sigmas[0], sigmas[-1] = sigma_max, 0.0   # exactly the teacher's σ_max (exp∘log rounds)
    return sigmas


class ARC(TrainedDenoiserSystem):
    info = SystemInfo(
        name="arc", paper="ARC (Novack et al. 2025): adversarial relativistic-contrastive post-training",
        samplers=("pingpong",), default_steps=(1, 2, 4, 8), test_steps=1,
    )
    trained_from = "teacher"
    default_sampler, default_guidance = "pingpong", 1.0
    train_defaults = {"disc_depth": 2, "lr": 5e-5, "contrastive_weight": 1.0, "adversarial": "relativistic",
                      "p_uncond": 0.1, "ema": 0.995, "grad_clip": 1.0, "seed": 0}

    def _bind(self, components) -> None:
        super()._bind(components)
        self.grid = "arc_logsnr"   # what noise_grid samples on (recorded in config and cache keys)

    def noise_grid(self, steps: int):
        return arc_grid(steps, float(self.components.preset.sampling["sigma_max"]))

    def fit_plan(self, settings: dict[str, Any], batch: int, budget: Budget) -> FitPlan:
        self._check_settings(settings, batch)
        key = self.teacher_store_key(settings, CODE_VERSION)
        return FitPlan(kind=self.info.name, key=key, module="generator", seed=settings["seed"],
                       ema_decay=settings["ema"], grad_clip=settings["grad_clip"],
                       make_task=lambda full_key: self._task(full_key, settings, batch))

    def _check_settings(self, settings: Mapping[str, Any], batch: int) -> None:
        """Before any training: a discriminator the teacher can give, batches that can be deranged."""
        depth, total = settings["disc_depth"], len(self.components.teacher.net.blocks)
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= total:
            raise SystemInputError(f"arc: disc_depth must be an int in 1 … {total} (the teacher's DiT has "
                                   f"{total} blocks; the discriminator is a truncated copy), got {depth!r}")
        if settings["adversarial"] not in ("relativistic", "lsgan"):
            raise SystemInputError(f"arc: adversarial must be 'relativistic' or 'lsgan', got "
                                   f"{settings['adversarial']!r}")
        if settings["contrastive_weight"] > 0 and batch < 2:
            raise SystemInputError(f"arc: a batch of {batch} cannot be deranged: the contrastive term pairs "
                                   "every clip with another item's prompt; give Budget(batch=2 or more)")

    def _task(self, key: dict, settings: dict, batch: int) -> ARCTask:
        data = self.training_data()
        if settings["contrastive_weight"] > 0:
            try:
                check_derangeable(data["captions"], "the training data")
            except DerangementError as error:
                raise SystemInputError(f"arc: {error}") from None
        student = self.build_network(self.components.teacher.state_dict()).train()
        with torch.random.fork_rng():   # the head's initial weights depend on the seed only
            torch.manual_seed(settings["seed"])
            disc = Discriminator(self.components.teacher, settings["disc_depth"]).to(self.components.device)
        sampling = self.components.preset.sampling
        noise = {"sigma_min": sampling["sigma_min"], "sigma_max": sampling["sigma_max"]}
        return ARCTask(self.info.name, key, student, disc.train(), data, settings, batch, noise)
