"""``soundctm``: consistency trajectory distillation of the shared EDM teacher (SoundCTM, Saito et al.
2025, ICLR; CTM, Kim et al. 2024; systems-reference §2.2).

The student ``G_θ(x, t, s, c, ω)`` (:mod:`systems.components.ctm_dit`: the teacher's DiT plus a
target-level s embedded by the shared time MLP and a CFG-scale ω input, both zero-gated, so that
at initialisation g_θ(x, t, t) is the teacher's denoiser) learns anytime-to-anytime jumps along the
teacher's CFG-ω probability-flow ODE (:mod:`systems.tasks.ctm`): targets are k teacher Heun steps
followed by a jump of the EMA target network, the distance is measured in the teacher's own
per-block features, and a DSM term with SoundCTM's adaptive weight keeps g_θ(x, t, t) a denoiser.
One network trained with caption dropout is both the conditional and the unconditional student.

Generation: SoundCTM's γ-sampler (``ctm_gamma`` with ``sigma_min`` = the teacher's σ_min: S jumps on
the Karras grid of S + 1 levels σ_max … σ_min, landing on σ_min as the paper's sampler does;
:func:`soundctm_grid`), each jump ν-mixed, ``mixν = G(·, ∅, ω) + ν(G(·, c, ω) − G(·, ∅, ω))``, with
the request's guidance as ω for both branches. Generation options (``GenRequest.options``, or the
system's defaults given at construction, ``gamma=``, ``nu=``, which ``config()`` records):

- ``gamma`` ∈ [0, 1] (default 0: deterministic, the paper's content-preserving setting; 1: consistency
  multistep); γ > 0 draws its noise from the item's own sampler generator;
- ``nu`` ≥ 0 (default 1, the paper's default: the conditional student alone).

NFE per sample, counted per branch (one doubled-batch call counts 2): steps when ν = 1 (or ν = 0,
the unconditional student alone), 2·steps otherwise. ω is refused outside the trained range
[omega_min, omega_max] (the student has never seen it; SystemInputError), so are γ outside [0, 1]
and ν < 0. Default ω = 3: the middle of the small-scale training range U[1, 5], as the paper's
defaults sit mid-range of theirs (DiT: ω = 5 of U[1, 10]; UNet: 3.5 of U[2, 5]), and the teacher's
and ``cd``'s default CFG here, so the three are compared at one guidance.

Settings (``train_defaults``) and deviations from the paper's DiT recipe (systems-reference §2.2 (3)):

- ``n_grid`` 18 (paper: N = 40; the reference's CPU reduction: E[k] ≈ 11.7 instead of ≈ 26.3 teacher
  Heun steps per sample); k ~ P(k) ∝ k, n, m uniform as in the paper;
- ω ~ U[1, 5] (paper DiT: U[1, 10]; the reference's small-scale range);
- the ω sinusoid and the s-term pass zero-initialised linear maps (paper: added directly, no
  projection; :mod:`systems.components.ctm_dit` says why);
- RAdam lr 2e-4 (paper 8e-5), weight decay 0 (paper), gradient clip 1000 (paper);
- target EMA 0.99 (paper 0.999: too slow to follow ~1 k updates; the reference's value) and eval
  EMA 0.995 (paper 0.999, which would leave 0.999^800 ≈ 45 % of the teacher in the average after
  the 800-update accelerator budget; ``cd``'s value);
- λ_dsm 0.2 with β = clip(‖∇_W L_ctm‖/(‖∇_W L_dsm‖ + 1e-4), 0, 1e3) (paper DiT), half-lognormal σ';
- feature distance over all of the teacher's DiT blocks, unit-normalised along the token axis,
  λ(t, s) = 1 (paper); ``distance = "l2"`` is the ablation ``soundctm-l2``;
- caption dropout ``p_uncond`` 0.1 (SoundCTM's ``uncond_prob``) with the project's null condition
  (the encoding of "", the teacher's);
- the latents are the shared autoencoder's normalised latents (σ_data = 0.5, the teacher's), not
  SoundCTM's ×0.5-scaled VAE latents; no TANGO-style mixing augmentation (optional in the paper's
  recipe); no bf16; batch = the shared accelerator budget's.

The online teacher NFE of an update is Σ_b 4·k_b (Heun: 2 evaluations × CFG: 2 branches per
step), charged to the budget's ``max_teacher_nfe`` like any teacher evaluation; the feature
network's 2 frozen-teacher passes per sample are a loss network and not charged (logged as
``feature_evals``).

Sanity check (stored with the training report): on training captions with held-out seeds, the RMSE
of the one-step output G(σ_max·ε, σ_max, σ_min, c, ω) to the teacher's Heun-N CFG-ω ODE solution
from the same ε must be below the teacher's own one-step x̂0's RMSE to it (ω = the default guidance).
"""
from __future__ import annotations

import copy
import math
from typing import Any, Mapping

import numpy as np
import torch

from systems.api import GenRequest, SystemInfo, SystemInputError, check_options
from systems.components.ctm_dit import CTMDiT, ctm_from_teacher, ctm_jump
from systems.components.edm import EDMDenoiser
from systems.noise import item_generators
from systems.samplers.grids import make_grid
from systems.samplers.guidance import NFECounter
from systems.sanity import ode_sanity
from systems.settings_checks import ema_decays, finite_number, guidance_input, guidance_range, int_at_least
from systems.tasks.ctm import DISTANCES, CTMTask
from systems.tasks.student_target import student_fit_plan
from systems.trained import TrainedDenoiserSystem
from systems.training.budget import Budget
from systems.training.fit import FitPlan

CODE_VERSION = 1  # bump when the training maths change what a given key trains into
GENERATION_OPTIONS = ("gamma", "nu")


def soundctm_grid(steps: int, sampling: Mapping[str, Any]) -> torch.Tensor:
    """The first S levels of the Karras grid of S + 1 levels σ_max … σ_min, then the contract's 0,
    which ``ctm_gamma(sigma_min=σ_min)`` reads as σ_min (S = ``steps``; float64)."""
    levels = make_grid("karras", steps + 1, sigma_min=sampling["sigma_min"], sigma_max=sampling["sigma_max"],
                       rho=sampling["rho"])
    return torch.cat([levels[:steps], levels.new_zeros(1)])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_gamma(gamma: Any) -> float:
    if not _is_number(gamma) or not 0.0 <= gamma <= 1.0:
        raise SystemInputError(f"gamma must be a number in [0, 1] (0 = deterministic jumps, the default; 1 = "
                               f"consistency multistep), got {gamma!r}")
    return float(gamma)


def check_nu(nu: Any) -> float:
    if not _is_number(nu) or not math.isfinite(nu) or nu < 0:
        raise SystemInputError(f"nu must be a finite number >= 0 (the mix G_∅ + ν(G_c − G_∅) of the two "
                               f"students: 1 = conditional only, the default; 0 = unconditional), got {nu!r}")
    return float(nu)


def nu_mixed_jump(network: EDMDenoiser, cond, null, omega: torch.Tensor, nu: float, counter: NFECounter):
    """``jump(x, t, s) = mixν(G(x, t, s, c, ω), G(x, t, s, ∅, ω))``; ``counter`` gets 1 per call for
    ν ∈ {0, 1} (one branch) and 2 otherwise (both branches, in one doubled-batch call)."""
    def jump(x, t, s):
        if nu in (0.0, 1.0):
            counter.add(1)
            return ctm_jump(network, x, t, s, cond if nu == 1.0 else null, omega)
        counter.add(2)
        both = {key: torch.cat([cond[key], null[key]]) for key in ("tokens", "mask")}
        out = ctm_jump(network, torch.cat([x, x]), torch.cat([t, t]), torch.cat([s, s]), both,
                       torch.cat([omega, omega]))
        a_cond, a_null = out[: x.shape[0]], out[x.shape[0]:]
        return a_null + nu * (a_cond - a_null)
    return jump


def _no_denoiser(x, sigma):
    raise RuntimeError("soundctm samples with its trajectory jump; the plain denoiser is never called")


class SoundCTM(TrainedDenoiserSystem):
    info = SystemInfo(
        name="soundctm",
        paper="SoundCTM (Saito et al. 2025): consistency trajectory distillation with teacher features",
        samplers=("ctm_gamma",), default_steps=(1, 2, 4, 8, 16), test_steps=1,
    )
    trained_from = "teacher"
    default_sampler, default_guidance = "ctm_gamma", 3.0
    network_class = CTMDiT
    row_options = GENERATION_OPTIONS   # an entry's config={"nu": 1.5} is the row …/ctm_gamma/S/nu1.5
    train_defaults = {"n_grid": 18, "omega_min": 1.0, "omega_max": 5.0, "distance": "features",
                      "lambda_dsm": 0.2, "p_uncond": 0.1, "lr": 2e-4, "weight_decay": 0.0, "target_ema": 0.99,
                      "ema": 0.995, "grad_clip": 1000.0, "seed": 0, "sanity_items": 64}
    test_settings = {"sanity_items": 4}

    def __init__(self, *args, gamma: float = 0.0, nu: float = 1.0, **kwargs) -> None:
        self.gamma, self.nu = check_gamma(gamma), check_nu(nu)   # what a request naming none gets
        super().__init__(*args, **kwargs)

    def _bind(self, components) -> None:
        super()._bind(components)
        self.grid = "soundctm_karras"   # S + 1 Karras levels landing on σ_min (recorded in config)
        self._fitted = dict(self.train_defaults)   # the settings of the bound weights (set by fit)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "gamma": self.gamma, "nu": self.nu}

    def fit(self, budget: Budget, *, settings: Mapping[str, Any] | None = None, **kwargs):
        report = super().fit(budget, settings=settings, **kwargs)
        self._fitted = self.train_settings(settings)   # only once the weights are bound
        return report

    # -- generation
    def noise_grid(self, steps: int) -> torch.Tensor:
        return soundctm_grid(steps, self.components.preset.sampling)

    def generation_options(self, request: GenRequest) -> tuple[float, float]:
        """(γ, ν) of ``request``: its options, else the system's; unknown or bad ones refused."""
        check_options(request.options, GENERATION_OPTIONS, f"{self.info.name} (sampler 'ctm_gamma')")
        return (check_gamma(request.options.get("gamma", self.gamma)),
                check_nu(request.options.get("nu", self.nu)))

    def check_request_options(self, request: GenRequest, sampler) -> None:
        self.generation_options(request)

    @torch.inference_mode()
    def _sample(self, sampler, request: GenRequest, cond, null, guidance: float):
        gamma, nu = self.generation_options(request)
        omega = self._omega(guidance, len(request.prompts))
        grid = self.noise_grid(request.steps)
        eps = self.initial_noise(request).to(self.components.device)
        counter = NFECounter()
        jump = nu_mixed_jump(self.sampling_network(), cond, null, omega, nu, counter)
        generators = item_generators(request.prompts, request.seeds, stream="sampler")
        sigma_min = float(self.components.preset.sampling["sigma_min"])
        z = sampler(_no_denoiser, float(grid[0]) * eps, grid, generator=generators, gamma=gamma, jump=jump,
                    sigma_min=sigma_min)
        return z, counter.count

    def _omega(self, guidance: float, batch: int) -> torch.Tensor:
        trained = (self._fitted["omega_min"], self._fitted["omega_max"])
        return guidance_input(guidance, trained, "ω (its guidance input)", ("omega_min", "omega_max"),
                              self.info.name, batch, self.components.device)

    # -- training
    def fit_plan(self, settings: dict[str, Any], batch: int, budget: Budget) -> FitPlan:
        self._check_settings(settings)
        return student_fit_plan(self, settings, batch, CODE_VERSION)

    def _check_settings(self, settings: Mapping[str, Any]) -> None:
        """Before any training: an ω range, a grid, a distance and rates that make sense."""
        name = self.info.name
        guidance_range(settings, ("omega_min", "omega_max"), "ω", self.guidance, name)
        int_at_least(settings, "n_grid", 2, "a Karras grid of at least 2 levels, so that k >= 1 exists",
                     name)
        int_at_least(settings, "sanity_items", 1, "the sanity check needs at least one item", name)
        int_at_least(settings, "seed", 0, "a training seed", name)
        if settings["distance"] not in DISTANCES:
            raise SystemInputError(f"{name}: distance must be one of {DISTANCES} ('features': the teacher's "
                                   f"per-block features; 'l2': latent MSE), got {settings['distance']!r}")
        for key, lowest in (("lambda_dsm", 0.0), ("weight_decay", 0.0)):
            if finite_number(settings, key, name) < lowest:
                raise SystemInputError(f"{name}: {key} must be >= 0, got {settings[key]!r}")
        if finite_number(settings, "lr", name) <= 0:
            raise SystemInputError(f"{name}: lr must be > 0, got {settings['lr']!r}")
        if not 0 <= finite_number(settings, "p_uncond", name) <= 1:
            raise SystemInputError(f"{name}: p_uncond is a probability (caption dropout), got "
                                   f"{settings['p_uncond']!r}")
        if settings["grad_clip"] is not None and finite_number(settings, "grad_clip", name) <= 0:
            raise SystemInputError(f"{name}: grad_clip must be > 0 or None, got {settings['grad_clip']!r}")
        ema_decays(settings, ("target_ema", "ema"), name)

    def _task(self, key: dict, settings: dict, batch: int) -> CTMTask:
        data = self.training_data()
        student = ctm_from_teacher(self.components.teacher).train()
        target = copy.deepcopy(student)
        return CTMTask(self.info.name, key, student, target, self.components.teacher, data, settings, batch,
                       self.components.preset.sampling)

    # -- the sanity check: one jump lands nearer the teacher's ODE solution than the teacher's own
    def sanity(self, student: EDMDenoiser, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The one jump G(σ_max·ε, σ_max, σ_min, c, ω) vs the teacher's one CFG step (``ode_sanity``)."""
        sigma_min = float(self.components.preset.sampling["sigma_min"])

        def one_step(x, sigma, cond, w):
            return ctm_jump(student.eval(), x, sigma, torch.full_like(sigma, sigma_min), cond, w)

        return ode_sanity(self, one_step, settings, "student",
                          "RMSE of the one-step output from σ_max·ε to the reference (latent units)")
