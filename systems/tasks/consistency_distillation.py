"""Consistency distillation of the CFG teacher into a CFG-aware student (Song et al. 2023, Alg. 2;
ConsistencyTTA's recipe, systems-reference §2.5), in the teacher's EDM form.

The noise levels are the teacher's Karras grid with N intervals, σ_0 = σ_max > … > σ_{N−1} = σ_min,
σ_N = 0 (:func:`training_grid`). Each sample of an update draws

- a CFG scale w ~ U[w_min, w_max] (ConsistencyTTA's U[0, w_max]) and an interval n ~ U{0 … N−1};
- ``x_hi = x0 + σ_n·ε`` and one teacher Heun step to σ_{n+1} on the probability-flow ODE
  ``dx/dσ = (x − D_w(x, σ))/σ`` with ``D_w = D_∅ + w(D_c − D_∅)`` (Karras et al. 2022, Alg. 1
  lines 4–8; both CFG branches in one doubled-batch call, :func:`heun_step`);
- the target ``f_θ⁻(x_lo, σ_{n+1}, c, w)`` of the target network θ⁻, or x0 itself when σ_{n+1} = 0
  (ConsistencyTTA's convention: the boundary condition f(x, 0) = x, no teacher call);

and the loss is ``mean_b λ(σ_n)·mean((f_θ(x_hi, σ_n, c, w) − target)²)`` (Song et al. 2023 eq. 7 with
d = squared L2) with λ = 1 ("uniform") or ConsistencyTTA's min(SNR, 5), SNR = σ_data²/σ_n² ("min_snr5").

The target network is an EMA of the student, θ⁻ ← μθ⁻ + (1 − μ)θ with μ = ``target_ema`` after every
optimiser step (Song et al. 2023 Alg. 2, last line). It is one of the task's modules (no gradient),
so the trainer checkpoints and resumes it with the student; it is updated at the *start* of each
``loss`` call from the student the previous step left, which is the same sequence of targets as
updating right after the step (update 0 averages two identical networks: a no-op). The one lag is
the last step's average, which is never used.

Online teacher NFE per update: per-sample evaluations summed over the batch, 4 per sample whose
σ_{n+1} > 0 (a Heun step, 2 evaluations, each with CFG's 2 branches) and 0 for the others — the
convention of AudioTurbo's offline pairs (1024 pairs × 38).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from systems.components.edm import Cond, EDMDenoiser
from systems.samplers.base import per_sample
from systems.samplers.grids import make_grid
from systems.tasks.student_target import StudentTargetTask, ema_update

WEIGHTINGS = ("uniform", "min_snr5")
TEACHER_NFE_PER_STEP = 4   # Heun: 2 evaluations, each with the conditional and the null branch
MIN_SNR_CAP = 5.0          # ConsistencyTTA: λ = min(SNR, 5)


def training_grid(n_grid: int, sampling: Mapping[str, Any]) -> torch.Tensor:
    """The teacher's Karras grid with ``n_grid`` intervals (float64, ending at 0)."""
    return make_grid("karras", n_grid, sigma_min=sampling["sigma_min"], sigma_max=sampling["sigma_max"],
                     rho=sampling["rho"])


def guided_denoise(teacher: EDMDenoiser, x, sigma, cond: Cond, null: Cond, w: torch.Tensor):
    """``D_∅ + w(D_c − D_∅)`` with a per-sample w [B] (Ho & Salimans 2022, eq. 6 with w ↦ w − 1):
    both branches in one call on the doubled batch [2B] (cond and null padded alike)."""
    both = {key: torch.cat([cond[key], null[key]]) for key in cond}
    out = teacher(torch.cat([x, x]), torch.cat([sigma, sigma]), both)
    d_cond, d_null = out[: x.shape[0]], out[x.shape[0]:]
    return d_null + per_sample(w, x) * (d_cond - d_null)


def heun_step(denoise, x: torch.Tensor, sigma_hi: torch.Tensor, sigma_lo: torch.Tensor) -> torch.Tensor:
    """One Heun step of the PF-ODE from per-sample σ_hi to σ_lo > 0 (Karras et al. 2022, Alg. 1
    lines 4–8: Euler predictor, then the mean of the slopes (x − D)/σ at both ends)."""
    hi, lo = per_sample(sigma_hi, x), per_sample(sigma_lo, x)
    slope = (x - denoise(x, sigma_hi)) / hi
    x_euler = x + (lo - hi) * slope
    slope_next = (x_euler - denoise(x_euler, sigma_lo)) / lo
    return x + (lo - hi) * (slope + slope_next) / 2


def loss_weight(sigma: torch.Tensor, weighting: str, sigma_data: float) -> torch.Tensor:
    """λ(σ) [B]: 1 ("uniform") or min(σ_data²/σ², 5) ("min_snr5")."""
    if weighting == "uniform":
        return torch.ones_like(sigma)
    if weighting == "min_snr5":
        return (sigma_data**2 / sigma**2).clamp(max=MIN_SNR_CAP)
    raise ValueError(f"unknown weighting {weighting!r}: use one of {WEIGHTINGS}")


class ConsistencyDistillationTask(StudentTargetTask):
    """``TrainTask`` of ``cd``: the student f_θ against its EMA target on one teacher Heun step."""

    data_parallel = True   # the loss is a mean over independent examples (systems.training.data_parallel)

    def __init__(self, kind: str, config: Mapping[str, Any], student: EDMDenoiser, target: EDMDenoiser,
                 teacher: EDMDenoiser, data: Mapping[str, Any], settings: Mapping[str, Any], batch: int,
                 sampling: Mapping[str, Any]) -> None:
        super().__init__(kind, config, student, target, teacher, data, settings, batch)
        self.sigmas = training_grid(settings["n_grid"], sampling)
        loss_weight(torch.ones(1), self.settings["weighting"], 1.0)   # fail early if unknown

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.student.parameters(), lr=self.settings["lr"],
                                 weight_decay=self.settings["weight_decay"])

    def loss(self, batch: Mapping[str, torch.Tensor], generator: torch.Generator):
        ema_update(self.target, self.student, self.settings["target_ema"])   # after the previous step
        x0, cond = batch["x0"], {"tokens": batch["tokens"], "mask": batch["mask"]}
        w, sigma_hi, sigma_lo, eps = self.draw(x0.shape, generator)
        w, sigma_hi, sigma_lo, eps = (t.to(x0) for t in (w, sigma_hi, sigma_lo, eps))
        x_hi = x0 + per_sample(sigma_hi, x0) * eps
        target, nfe = self.consistency_target(x0, x_hi, sigma_hi, sigma_lo, cond, w)
        estimate = self.student(x_hi, sigma_hi, {**cond, "guidance": w})
        mse = (estimate - target).pow(2).mean(dim=tuple(range(1, x0.ndim)))
        loss = (loss_weight(sigma_hi, self.settings["weighting"], self.student.sigma_data) * mse).mean()
        scalars = {"mse": float(mse.mean().detach()), "data_target": float((sigma_lo == 0).float().mean())}
        return loss, scalars, nfe

    def draw(self, shape, generator: torch.Generator):
        """(w [B], σ_hi [B], σ_lo [B], ε [B, ...]) from ``generator`` (on its device), in that order."""
        b, s, device = shape[0], self.settings, generator.device
        unit = torch.rand(b, generator=generator, dtype=torch.float64, device=device)
        w = s["w_min"] + (s["w_max"] - s["w_min"]) * unit
        n = torch.randint(0, len(self.sigmas) - 1, (b,), generator=generator, device=device)
        eps = torch.randn(tuple(shape), generator=generator, device=device)
        sigmas = self.sigmas.to(device)
        return w, sigmas[n], sigmas[n + 1], eps

    @torch.no_grad()
    def consistency_target(self, x0, x_hi, sigma_hi, sigma_lo, cond: Cond, w):
        """(target [B, ...], online teacher NFE): x0 where σ_lo = 0, else f_θ⁻ after a teacher Heun step."""
        target = x0.clone()
        rows = (sigma_lo > 0).nonzero().squeeze(1)
        if len(rows) == 0:
            return target, 0
        sub = {key: value[rows] for key, value in cond.items()}
        null = {key: value.expand(len(rows), *value.shape[1:]) for key, value in self.null.items()}
        denoise = lambda x, sigma: guided_denoise(self.teacher, x, sigma, sub, null, w[rows])  # noqa: E731
        x_lo = heun_step(denoise, x_hi[rows], sigma_hi[rows], sigma_lo[rows])
        target[rows] = self.target(x_lo, sigma_lo[rows], {**sub, "guidance": w[rows]})
        return target, TEACHER_NFE_PER_STEP * len(rows)
