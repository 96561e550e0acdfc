"""``cd``: consistency distillation of the shared EDM teacher with a CFG-aware student (Song et al.
2023 CD; ConsistencyTTA, Bai et al. 2024, systems-reference §2.5).

Training (:mod:`systems.tasks.consistency_distillation`): on the teacher's Karras grid with N = 18
intervals, the student f_θ(x, σ, c, w) (the teacher's DiT plus a zero-initialised guidance
embedding, :mod:`systems.components.guided_dit`) matches its EMA target f_θ⁻ one teacher Heun step
(with CFG at the sample's own w) further down the probability-flow ODE; the teacher runs online,
4 evaluations per sample per update. Generation: ping-pong (Song et al. 2023, Alg. 1) on the
training grid subsampled to k steps (:func:`step_grid`), with NO CFG branch: the request's guidance
is the student's w input, so NFE = steps.

Settings (``train_defaults``) and their sources:

- N = 18 (ConsistencyTTA's Karras grid), w ~ U[0, 5] (ConsistencyTTA's U[0, w_max]; w_max = 5 is the
  reference's small-scale value), target EMA 0.95 and weight decay 1e-4 (ConsistencyTTA), AdamW lr
  1e-4 (the reference's small-scale value; ConsistencyTTA: 1e-5 on TANGO), gradient clip 1.0;
- eval EMA 0.995 (deviation: ConsistencyTTA's 0.999 leaves 0.999^800 ≈ 45 % of the teacher in the
  average after the 800-update accelerator budget);
- weighting "uniform", λ = 1 (Song et al. 2023 CD; deviation from ConsistencyTTA's min(SNR, 5),
  kept as ``weighting = "min_snr5"``). Why: on an x0-space loss with SNR = σ_data²/σ², min(SNR, 5)
  gives σ_max = 80 the weight 0.25/6400 ≈ 4e-5 (and at most 1e-3 to every level above σ = 16), so
  the high-noise levels that one-step sampling starts from would barely be trained;
- at the last interval (σ_{n+1} = 0) the target is the data x0 (ConsistencyTTA); every level,
  the first included, is noised as x0 + σ·ε (ConsistencyTTA uses pure noise at its first index;
  at σ_max = 80 the SNR is ≈ 4e-5, so x0 + σ_max·ε is pure noise to within that);
- not reproduced: bf16, ConsistencyTTA's optional CLAP fine-tuning stage.

Generation refuses a guidance outside the trained range [w_min, w_max] (the student has never seen
it) and more steps than the training grid has intervals.

Sanity check (stored with the training report): on training captions with held-out seeds, the RMSE
of cd's one-step output to the teacher's Heun-N CFG-w ODE solution from the same initial noise
must be below the teacher's own one-step x̂0's RMSE to it (w = the system's default guidance).
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import torch

from systems.api import GenRequest, SystemInfo, SystemInputError, check_steps
from systems.components.edm import EDMDenoiser
from systems.components.guided_dit import GuidedDiT, guided_from_teacher
from systems.sanity import ode_sanity
from systems.settings_checks import ema_decays, guidance_input, guidance_range, int_at_least
from systems.tasks.consistency_distillation import WEIGHTINGS, ConsistencyDistillationTask, training_grid
from systems.tasks.student_target import student_fit_plan
from systems.trained import TrainedDenoiserSystem
from systems.training.budget import Budget
from systems.training.fit import FitPlan

CODE_VERSION = 1  # bump when the training maths change what a given key trains into


def step_grid(steps: int, grid: torch.Tensor) -> torch.Tensor:
    """The training grid (N intervals) subsampled to ``steps``: levels at indices round(i·N/steps),
    i = 0 … steps − 1 (half rounds up), then 0. steps = 1: [σ_max, 0]; steps = N: the whole grid."""
    steps, n = check_steps(steps), len(grid) - 1
    if steps > n:
        raise SystemInputError(f"cd samples on its {n}-interval training grid, so at most {n} steps; got "
                               f"{steps} (train with a larger n_grid for more)")
    index = torch.tensor([(2 * i * n + steps) // (2 * steps) for i in range(steps)])
    return torch.cat([grid[index], grid.new_zeros(1)])


class ConsistencyDistillation(TrainedDenoiserSystem):
    info = SystemInfo(
        name="cd",
        paper="Consistency distillation (Song et al. 2023), CFG-aware student (ConsistencyTTA 2024)",
        samplers=("pingpong",), default_steps=(1, 2, 4), test_steps=1,
    )
    trained_from = "teacher"
    default_sampler, default_guidance = "pingpong", 3.0
    network_class = GuidedDiT
    train_defaults = {"n_grid": 18, "w_min": 0.0, "w_max": 5.0, "lr": 1e-4, "weight_decay": 1e-4,
                      "target_ema": 0.95, "ema": 0.995, "grad_clip": 1.0, "weighting": "uniform", "seed": 0,
                      "sanity_items": 64}
    test_settings = {"sanity_items": 4}

    def _bind(self, components) -> None:
        super()._bind(components)
        self.grid = "karras_subsampled"   # what noise_grid samples on (recorded in config and cache keys)
        self._fitted = dict(self.train_defaults)   # the settings of the bound weights (set by fit)

    def fit(self, budget: Budget, *, settings: Mapping[str, Any] | None = None, **kwargs):
        report = super().fit(budget, settings=settings, **kwargs)
        self._fitted = self.train_settings(settings)   # only once the weights are bound
        return report

    # -- generation: the request's guidance is the student's input, one call per step
    def noise_grid(self, steps: int) -> torch.Tensor:
        return step_grid(steps, training_grid(self._fitted["n_grid"], self.components.preset.sampling))

    def _sample(self, sampler, request: GenRequest, cond, null, guidance: float):
        """The base sampling loop with w inside the condition and no CFG branch (w = 1 below means
        "call the conditional model once": NFE = steps)."""
        w = self._student_guidance(guidance, len(request.prompts))
        return super()._sample(sampler, request, {**cond, "guidance": w}, null, 1.0)

    def _student_guidance(self, guidance: float, batch: int) -> torch.Tensor:
        trained = (self._fitted["w_min"], self._fitted["w_max"])
        return guidance_input(guidance, trained, "guidance", ("w_min", "w_max"), self.info.name,
                              batch, self.components.device)

    # -- training
    def fit_plan(self, settings: dict[str, Any], batch: int, budget: Budget) -> FitPlan:
        self._check_settings(settings)
        return student_fit_plan(self, settings, batch, CODE_VERSION)

    def _check_settings(self, settings: Mapping[str, Any]) -> None:
        """Before any training: a CFG range, a grid, a weighting and EMA rates that make sense."""
        name = self.info.name
        guidance_range(settings, ("w_min", "w_max"), "w", self.guidance, name)
        int_at_least(settings, "n_grid", 2, "a Karras grid of 2 intervals or more; with 1 every target is x0",
                     name)
        int_at_least(settings, "sanity_items", 1, "the sanity check needs at least one item", name)
        if settings["weighting"] not in WEIGHTINGS:
            raise SystemInputError(f"cd: weighting must be one of {WEIGHTINGS}, got "
                                   f"{settings['weighting']!r}")
        ema_decays(settings, ("target_ema", "ema"), name)

    def _task(self, key: dict, settings: dict, batch: int) -> ConsistencyDistillationTask:
        data = self.training_data()
        student = guided_from_teacher(self.components.teacher).train()
        target = copy.deepcopy(student)
        return ConsistencyDistillationTask(self.info.name, key, student, target, self.components.teacher,
                                           data, settings, batch, self.components.preset.sampling)

    # -- the sanity check: one step lands nearer the teacher's ODE solution than the teacher's own jump
    def sanity(self, student: EDMDenoiser, settings: Mapping[str, Any]) -> dict[str, Any]:
        """cd's one call (w as input) vs the teacher's one CFG evaluation (``ode_sanity``)."""
        def one_step(x, sigma, cond, w):
            return student.eval()(x, sigma, {**cond, "guidance": w})

        return ode_sanity(self, one_step, settings, "cd",
                          "RMSE of the one-step x̂0 from σ_max·ε to the reference (latent units)")
