"""Consistency trajectory distillation of the CFG teacher (SoundCTM, Saito et al. 2025; CTM, Kim et al.
2024), in the teacher's EDM form: systems-reference §2.2 (1) with the CPU reductions of (5).

Noise levels: the teacher's Karras grid of N points t_0 = σ_max > … > t_{N−1} = σ_min (no 0:
:func:`ctm_grid`). Each sample of an update draws (:meth:`CTMTask.draw`, in this order)

- k ~ P(k) ∝ k on {1 … N−1} (CTM's "weighted" teacher-step count), n ~ U{0 … N−1−k},
  m ~ U{n+k … N−1}; t = t_n, u = t_{n+k}, s = t_m (s ≤ u < t);
- ω ~ U[ω_min, ω_max] (the student's CFG input and the teacher's CFG scale);
- caption dropout with probability ``p_uncond`` (SoundCTM's ``uncond_prob``): the row's condition
  becomes the null condition, for the student, the teacher's ODE and the feature network alike;
- ε, then the DSM draws (σ', ε').

Then, with x_t = x0 + t·ε:

- ``est = G_θ(x_t, t, s, c, ω)`` (:func:`~systems.components.ctm_dit.ctm_jump`);
- ``x_u`` = k teacher Heun steps t_n → t_{n+k} on the PF-ODE of ``D_∅ + ω(D_c − D_∅)`` (both CFG
  branches in one doubled-batch call: cd's :func:`guided_denoise` and :func:`heun_step`), and
  ``tgt = G_θ⁻(x_u, u, s, c, ω)`` by the target network θ⁻ (no gradient); s = u gives tgt = x_u;
- ``L_ctm = mean_b d(est, tgt)``, λ(t, s) = 1 ("uniform"). ``distance = "features"`` (SoundCTM):
  ``d = Σ_l mean_{tokens, width} (n(φ_l(est)) − n(φ_l(tgt)))²`` with φ_l the frozen teacher's
  hidden states after DiT block l at level s, text-conditioned without CFG, on the input scaled
  by c_in(s) (``EDMDenoiser.features(x, s, c)`` applies c_in(s) itself, so it gets the raw point),
  and n(·) the unit normalisation along axis 1, the token axis (LPIPS-style,
  ``f / (‖f‖₂ + 1e-10)``; :func:`feature_distance`). ``distance = "l2"``: plain mean squared
  error in latent space (the ablation ``soundctm-l2``);
- DSM: σ' "half-lognormal" (the first ⌈B/2⌉ rows ln σ' ~ N(−1.2, 1.2²), the others σ' = Karras(u'),
  u' ~ U[0, 0.7], i.e. σ' ∈ [≈0.32, σ_max]), x_σ' = x0 + σ'·ε',
  ``L_dsm = mean_b λ(σ')·mean((g_θ(x_σ', σ', σ', c, ω) − x0)²)``, λ(σ) = (σ² + σ_d²)/(σσ_d)²;
- ``β = clip(‖∇_W L_ctm‖ / (‖∇_W L_dsm‖ + 1e-4), 0, 1e3)``, detached, W = the DiT's last output
  layer (``net.out.weight``; the VQGAN/CTM ``calculate_adaptive_weight``), and
  ``L = L_ctm + λ_dsm·β·L_dsm``.

One network serves as both of SoundCTM's students (the reading of "conditional and unconditional
students trained together", which SoundCTM gets from caption dropout in its dataset): rows whose
caption was dropped train ``G_θ(·, ∅, ω)`` on the teacher's unconditional ODE (with c = ∅ the CFG
combination is D_∅ for every ω), the others ``G_θ(·, c, ω)`` on the CFG-ω ODE; ν-sampling mixes
the two at generation.

The target network θ⁻ ← μθ⁻ + (1 − μ)θ (μ = ``target_ema``) is one of the task's modules, updated
at the start of each ``loss`` call from the student the previous step left (as in
:mod:`systems.tasks.consistency_distillation`), so the trainer checkpoints it and a resumed run is
bitwise equal to an unbroken one.

Online teacher NFE per update, counted exactly: Σ over the batch of 4·k (each Heun step to a level
> 0, which every step here is, costs 2 evaluations, each with the conditional and the null branch;
a dropped row's two branches are both the null condition and are still evaluated and counted).
The feature distance's 2 forward passes of the frozen teacher per sample (one of them with a
backward pass) are the loss network, not targets: they are not charged to the budget, and the
log reports them (``feature_evals``).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Mapping

import torch

from systems.components.ctm_dit import ctm_inner, ctm_jump
from systems.components.edm import Cond, EDMDenoiser, drop_condition
from systems.samplers.base import per_sample
from systems.samplers.grids import karras
from systems.tasks.consistency_distillation import TEACHER_NFE_PER_STEP, guided_denoise, heun_step
from systems.tasks.student_target import StudentTargetTask, ema_update

DISTANCES = ("features", "l2")
DSM_P_MEAN, DSM_P_STD = -1.2, 1.2   # the lognormal half of "half-lognormal" (EDM's training σ)
DSM_KARRAS_U_MAX = 0.7              # the Karras half: u' ~ U[0, 0.7] on the continuous Karras ramp
BETA_MAX = 1e3                      # adaptive weight clip (systems-reference §2.2 (1))
BETA_EPS = 1e-4                     # in the denominator (VQGAN's calculate_adaptive_weight, as CTM's)
NORM_EPS = 1e-10                    # LPIPS' normalize_tensor


def ctm_grid(n_grid: int, sampling: Mapping[str, Any]) -> torch.Tensor:
    """The Karras grid of ``n_grid`` levels σ_max … σ_min (float64; no trailing 0)."""
    return karras(n_grid, sigma_min=sampling["sigma_min"], sigma_max=sampling["sigma_max"],
                  rho=sampling["rho"])[:-1]


def karras_ramp(u: torch.Tensor, sampling: Mapping[str, Any]) -> torch.Tensor:
    """σ at position u ∈ [0, 1] of the continuous Karras ramp (u = 0: σ_max, u = 1: σ_min)."""
    rho = sampling["rho"]
    hi, lo = sampling["sigma_max"] ** (1 / rho), sampling["sigma_min"] ** (1 / rho)
    return (hi + u * (lo - hi)) ** rho


def unit_tokens(feature: torch.Tensor) -> torch.Tensor:
    """``f / (‖f‖₂ + 1e-10)`` along axis 1 (the token axis of [B, tokens, width] DiT features)."""
    return feature / (feature.norm(dim=1, keepdim=True) + NORM_EPS)


def feature_distance(teacher: EDMDenoiser, est: torch.Tensor, tgt: torch.Tensor, s: torch.Tensor,
                     cond: Cond) -> torch.Tensor:
    """Per-sample ``Σ_l mean (n(φ_l(c_in(s)·est; s, c)) − n(φ_l(c_in(s)·tgt; s, c)))²`` [B]; the gradient
    reaches ``est`` through the frozen teacher, ``tgt`` is a constant."""
    text = {"tokens": cond["tokens"], "mask": cond["mask"]}
    ours = teacher.features(est, s, text)
    with torch.no_grad():
        theirs = teacher.features(tgt, s, text)
    return sum((unit_tokens(a) - unit_tokens(b)).pow(2).mean(dim=(1, 2)) for a, b in zip(ours, theirs))


def l2_distance(est: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared difference in latent space [B]."""
    return (est - tgt).pow(2).mean(dim=tuple(range(1, est.ndim)))


def adaptive_weight(loss_ctm: torch.Tensor, loss_dsm: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
    """``clip(‖∇_W L_ctm‖ / (‖∇_W L_dsm‖ + 1e-4), 0, 1e3)`` (detached; W = ``layer``; graphs retained)."""
    grad_ctm, = torch.autograd.grad(loss_ctm, layer, retain_graph=True, allow_unused=True)
    grad_dsm, = torch.autograd.grad(loss_dsm, layer, retain_graph=True, allow_unused=True)
    norm_ctm = grad_ctm.norm() if grad_ctm is not None else layer.new_zeros(())
    norm_dsm = grad_dsm.norm() if grad_dsm is not None else layer.new_zeros(())
    return (norm_ctm / (norm_dsm + BETA_EPS)).clamp(0.0, BETA_MAX).detach()


def weighted_k_probabilities(n_grid: int) -> torch.Tensor:
    """P(k) ∝ k on k = 1 … N−1 (index 0 ↔ k = 1), float64."""
    k = torch.arange(1, n_grid, dtype=torch.float64)
    return k / k.sum()


class CTMTask(StudentTargetTask):
    """``TrainTask`` of ``soundctm``: the student G_θ against its EMA target after k teacher Heun steps."""

    def __init__(self, kind: str, config: Mapping[str, Any], student: EDMDenoiser, target: EDMDenoiser,
                 teacher: EDMDenoiser, data: Mapping[str, Any], settings: Mapping[str, Any], batch: int,
                 sampling: Mapping[str, Any]) -> None:
        if settings["distance"] not in DISTANCES:
            raise ValueError(f"unknown distance {settings['distance']!r}: use one of {DISTANCES}")
        super().__init__(kind, config, student, target, teacher, data, settings, batch)
        self.sampling = dict(sampling)
        self.sigmas = ctm_grid(settings["n_grid"], sampling)

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.RAdam(self.student.parameters(), lr=self.settings["lr"],
                                 weight_decay=self.settings["weight_decay"])

    def last_layer(self) -> torch.Tensor:
        """W of the adaptive weight: the DiT's output projection (SoundCTM: the postprocess conv)."""
        return self.student.net.out.weight

    # -- the update
    def loss(self, batch: Mapping[str, torch.Tensor], generator: torch.Generator):
        ema_update(self.target, self.student, self.settings["target_ema"])   # after the previous step
        x0 = batch["x0"]
        d = {key: value.to(x0) if value.is_floating_point() else value.to(x0.device)
             for key, value in self.draw(x0.shape, generator).items()}
        b = x0.shape[0]
        null = {key: value.expand(b, *value.shape[1:]) for key, value in self.null.items()}
        cond = drop_condition({"tokens": batch["tokens"], "mask": batch["mask"]}, null, d["drop"])
        sigmas = self.sigmas.to(x0)
        t, u, s = sigmas[d["n"]], sigmas[d["n"] + d["k"]], sigmas[d["m"]]
        x_t = x0 + per_sample(t, x0) * d["eps"]
        est = ctm_jump(self.student, x_t, t, s, cond, d["omega"])
        with torch.no_grad():
            x_u, nfe = self.teacher_solve(x_t, d["n"], d["k"], cond, null, d["omega"])
            tgt = ctm_jump(self.target, x_u, u, s, cond, d["omega"])
        if self.settings["distance"] == "features":
            distance = feature_distance(self.teacher, est, tgt, s, cond)
        else:
            distance = l2_distance(est, tgt)
        loss_ctm = distance.mean()
        loss_dsm = self.dsm_loss(x0, d["sigma_dsm"], d["eps_dsm"], cond, d["omega"])
        beta = adaptive_weight(loss_ctm, loss_dsm, self.last_layer())
        loss = loss_ctm + self.settings["lambda_dsm"] * beta * loss_dsm
        scalars = {"loss_ctm": float(loss_ctm.detach()), "loss_dsm": float(loss_dsm.detach()),
                   "beta": float(beta), "mean_k": float(d["k"].double().mean()),
                   "dropped": float(d["drop"].float().mean()),
                   "feature_evals": 2 * b if self.settings["distance"] == "features" else 0}
        return loss, scalars, nfe

    def draw(self, shape, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """k, n, m [B] (long), ω [B], drop [B] (bool), ε, σ' [B], ε' from ``generator``, in that order."""
        b, st, device = shape[0], self.settings, generator.device
        n_grid = len(self.sigmas)
        k = torch.multinomial(weighted_k_probabilities(n_grid).to(device), b, replacement=True,
                              generator=generator) + 1
        unit = torch.rand(b, generator=generator, dtype=torch.float64, device=device)
        n = (unit * (n_grid - k)).floor().long().clamp(max=n_grid - 1 - k)          # U{0 … N−1−k}
        unit = torch.rand(b, generator=generator, dtype=torch.float64, device=device)
        m = n + k + (unit * (n_grid - n - k)).floor().long().clamp(max=n_grid - 1 - n - k)  # U{n+k … N−1}
        unit = torch.rand(b, generator=generator, dtype=torch.float64, device=device)
        omega = st["omega_min"] + (st["omega_max"] - st["omega_min"]) * unit
        drop = torch.rand(b, generator=generator, device=device) < st["p_uncond"]
        eps = torch.randn(tuple(shape), generator=generator, device=device)
        sigma_dsm = self.dsm_sigmas(b, generator)
        eps_dsm = torch.randn(tuple(shape), generator=generator, device=device)
        return {"k": k, "n": n, "m": m, "omega": omega, "drop": drop, "eps": eps, "sigma_dsm": sigma_dsm,
                "eps_dsm": eps_dsm}

    def dsm_sigmas(self, b: int, generator: torch.Generator) -> torch.Tensor:
        """Half-lognormal σ' [B] (float64): rows 0 … ⌈B/2⌉−1 lognormal, the rest on the Karras ramp."""
        device = generator.device
        lognormal = (torch.randn(b, generator=generator, dtype=torch.float64, device=device) * DSM_P_STD
                     + DSM_P_MEAN).exp()
        ramp = karras_ramp(DSM_KARRAS_U_MAX * torch.rand(b, generator=generator, dtype=torch.float64,
                                                         device=device), self.sampling)
        return torch.where(torch.arange(b, device=device) < math.ceil(b / 2), lognormal, ramp)

    def dsm_loss(self, x0, sigma, eps, cond: Cond, omega) -> torch.Tensor:
        """``mean_b λ(σ')·mean((g_θ(x0 + σ'ε', σ', σ', c, ω) − x0)²)``, λ the EDM weight."""
        sd = self.student.sigma_data
        denoised = ctm_inner(self.student, x0 + per_sample(sigma, x0) * eps, sigma, sigma, cond, omega)
        weight = (sigma**2 + sd**2) / (sigma * sd) ** 2
        return (weight * (denoised - x0).pow(2).mean(dim=tuple(range(1, x0.ndim)))).mean()

    @torch.no_grad()
    def teacher_solve(self, x: torch.Tensor, n: torch.Tensor, k: torch.Tensor, cond: Cond, null: Cond,
                      omega: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(x_u [B, ...], online teacher NFE): k_b CFG-ω Heun steps from t_{n_b} for every row b;
        step j runs on the rows with k_b > j, in one batch. NFE = Σ_b 4·k_b."""
        sigmas = self.sigmas.to(x)
        x = x.clone()
        for j in range(int(k.max())):
            rows = (k > j).nonzero().squeeze(1)
            sub, sub_null = ({key: value[rows] for key, value in c.items()} for c in (cond, null))
            denoise = partial(_guided, self.teacher, cond=sub, null=sub_null, w=omega[rows])
            x[rows] = heun_step(denoise, x[rows], sigmas[n[rows] + j], sigmas[n[rows] + j + 1])
        return x, TEACHER_NFE_PER_STEP * int(k.sum())


def _guided(teacher: EDMDenoiser, x, sigma, *, cond: Cond, null: Cond, w: torch.Tensor) -> torch.Tensor:
    return guided_denoise(teacher, x, sigma, cond, null, w)
