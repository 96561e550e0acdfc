"""``audioturbo``: rectified diffusion on the shared teacher (Zhao et al. 2025, arXiv 2505.22106).

Phase A draws couplings (ε, x0' = ODE_teacher(σ_max·ε, prompt)) with the teacher's deterministic
sampler and CFG into the content-addressed pair cache (:mod:`systems.training.pairs`); their
teacher evaluations are charged to the budget as offline teacher NFE. Phase B retrains a copy of
the teacher in its own EDM parametrisation on the stored ε
(:mod:`systems.tasks.rectified_diffusion`). Generation: the teacher's Euler/DDIM on its Karras
grid at any step count, with CFG (systems-reference §2.1).

Settings (``train_defaults``) and their sources — AudioTurbo published neither its pair count,
solver, steps, CFG nor its learning rate (systems-reference §7.1), so Rectified Diffusion's
reference values are the fallback, scaled to a 2-core CPU:

- pairs: 1024 (2 seeds × 512 training captions; the CPU recipe says 4096) from the teacher's
  own deterministic sampler, Heun with 10 steps on its Karras grid (19 NFE; the recipe: Heun/DPM++
  32 — 10 keeps the pairs within the 5-min training goal), at CFG 3 (the teacher's default; RD: 5);
- AdamW lr 1e-4 (RD: 5e-6 on SD; a tiny network tolerates more), weight decay 1e-3, gradient
  clip 1.0, CFG dropout 0.1 with the project's null prompt, pseudo-Huber c = 1e-3 (RD code);
- EMA 0.995 of the weights (RD's EMA is not documented; a short budget needs a short half-life);
- noise levels σ of the retraining: ``sigma_dist = "karras"``, the continuous form of the
  teacher's sampling grid (σ_min … σ_max = 80, ρ = 7), not the teacher's EDM training
  distribution (ln σ ~ N(−1.2, 1.2²), ``"teacher"``). RD/AudioTurbo retrain on their VP teacher's
  training distribution, t ~ U{0…999}, which spans the whole sampling path; the EDM log-normal
  puts ~0.02 % of its mass above σ = 20, so a student trained on it never sees the levels its
  first (and, at one step, only) step starts from. Measured on the 3 000-update tiny teacher
  (1 000 updates; RMSE of the one-step x̂0 to the paired x0' on 64 held-out seeds; the teacher's one-step
  x̂0: 0.40): "teacher" 0.29, "karras" 0.20 (2× closer; 0.13 on training pairs); at σ = 1 both
  are ~2× closer than the teacher (0.05 vs 0.12), so the coupling is learned where trained;
- inference CFG 1.5 (RD's evaluation), Euler on the teacher's Karras grid (RD: DDIM "trailing").

Sanity check (stored with the training report): at one step, the student's x̂0 = D(σ_max·ε)
must be far closer to the paired x0' than the teacher's one-step x̂0, on held-out seeds.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from systems.api import GenRequest, SystemInfo, SystemInputError
from systems.components.edm import EDMDenoiser, pad_tokens
from systems.components.teacher_task import encode_captions
from systems.samplers import get_sampler
from systems.samplers.guidance import classifier_free
from systems.tasks.rectified_diffusion import RectifiedDiffusionTask
from systems.teacher import TeacherSystem
from systems.trained import TrainedDenoiserSystem
from systems.training.budget import Budget
from systems.training.fit import FitPlan
from systems.training.pairs import PairCache, Pairs

CODE_VERSION = 1  # bump when the training maths change what a given key trains into
SANITY_SEED_OFFSET = 1_000_000  # held-out seeds: never used by a training pair
PAIR_BATCH = 128


class AudioTurbo(TrainedDenoiserSystem):
    info = SystemInfo(
        name="audioturbo",
        paper="AudioTurbo (Zhao et al. 2025): rectified diffusion on teacher ODE pairs, arXiv 2505.22106",
        samplers=("euler", "ddim"), default_steps=(1, 2, 3, 5, 10), test_steps=1,
    )
    trained_from = "teacher"
    default_sampler, default_guidance = "euler", 1.5
    train_defaults = {"n_pairs": 1024, "pair_sampler": "heun", "pair_steps": 10, "pair_guidance": 3.0,
                      "lr": 1e-4, "weight_decay": 1e-3, "grad_clip": 1.0, "p_uncond": 0.1, "huber_c": 1e-3,
                      "ema": 0.995, "seed": 0, "sanity_items": 64, "sigma_dist": "karras"}
    test_settings = {"n_pairs": 16, "pair_steps": 2, "sanity_items": 4}

    # -- phase A: pairs
    def pair_spec(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Everything the pairs depend on besides (prompt, seed)."""
        sampler = get_sampler(settings["pair_sampler"])
        if sampler.stochastic:
            raise SystemInputError(f"audioturbo pairs need the teacher's deterministic ODE sampler; "
                                   f"{sampler.name!r} is stochastic (use heun, euler, ddim or dpmpp_2m)")
        preset = self.components.preset
        return {"teacher": self.components.hashes["teacher"], "sampler": sampler.name,
                "steps": int(settings["pair_steps"]), "guidance": float(settings["pair_guidance"]),
                "grid": preset.sampling["grid"], "sampling": dict(preset.sampling),
                "duration_s": preset.clip_duration_s}

    def pairs(self, settings: Mapping[str, Any], items, progress: bool = False) -> Pairs:
        spec = self.pair_spec(settings)
        teacher = TeacherSystem.from_components(self.components, sampler=spec["sampler"],
                                                guidance=spec["guidance"], grid=spec["grid"])

        def make(prompts, seeds):
            parts = [teacher.sample_latents(GenRequest(prompts[i: i + PAIR_BATCH], seeds[i: i + PAIR_BATCH],
                                                       steps=spec["steps"]))
                     for i in range(0, len(prompts), PAIR_BATCH)]
            return (torch.cat([p[0] for p in parts]).cpu(), torch.cat([p[1] for p in parts]).cpu(),
                    parts[0][2])
        return PairCache().get(spec, items, make, progress)

    # -- phase B: retraining
    def fit_plan(self, settings: dict[str, Any], batch: int, budget: Budget) -> FitPlan:
        self._check_pair_cost(settings, budget)
        key = self.teacher_store_key(settings, CODE_VERSION)
        return FitPlan(kind=self.info.name, key=key, module="student", seed=settings["seed"],
                       ema_decay=settings["ema"], grad_clip=settings["grad_clip"],
                       make_task=lambda full_key: self._task(full_key, settings, batch),
                       extra=lambda task: {"sanity": self.sanity(task.student, settings)})

    def _check_pair_cost(self, settings, budget: Budget) -> None:
        branches = 1 if settings["pair_guidance"] in (0.0, 1.0) else 2  # CFG runs both branches
        nfe = get_sampler(settings["pair_sampler"]).nfe(settings["pair_steps"]) * branches
        total = nfe * settings["n_pairs"]
        if budget.max_teacher_nfe is not None and total >= budget.max_teacher_nfe:
            raise SystemInputError(f"audioturbo: {settings['n_pairs']} pairs cost {total} teacher NFE, "
                                   f"which leaves nothing of the budget's {budget.max_teacher_nfe}; lower "
                                   "n_pairs or pair_steps, or raise max_teacher_nfe")

    def _task(self, key: dict, settings: dict, batch: int) -> RectifiedDiffusionTask:
        items = self.caption_items(settings["n_pairs"])
        pairs = self.pairs(settings, items, progress=True)
        tokens, mask = encode_captions(self.components.text, [p for p, _ in items])
        null_tokens, null_mask = self.components.text.null(1)
        null = dict(zip(("tokens", "mask"), pad_tokens(null_tokens, null_mask, tokens.shape[1])))
        preset = self.components.preset
        student = self.build_network(self.components.teacher.state_dict()).train()
        noise = {"p_mean": preset.p_mean, "p_std": preset.p_std, **{k: preset.sampling[k] for k in
                                                                     ("sigma_min", "sigma_max", "rho")}}
        return RectifiedDiffusionTask(self.info.name, key, student, pairs, tokens, mask, null, settings,
                                      batch, noise)

    # -- the sanity check of the issue: one step lands near the paired x0'
    @torch.no_grad()
    def sanity(self, student: EDMDenoiser, settings: Mapping[str, Any]) -> dict[str, Any]:
        """RMSE of the one-step x̂0 = D(σ_max·ε) to the paired x0', student vs teacher, on held-out
        seeds (new pairs; their teacher NFE are reported, not charged) and on training pairs."""
        n = settings["sanity_items"]
        out = {"n_items": n, "held_out_seeds_from": SANITY_SEED_OFFSET,
               "reference": f"x0' of the teacher's {settings['pair_sampler']} {settings['pair_steps']}-step "
                            f"ODE at CFG {settings['pair_guidance']} from the same ε",
               "measure": "RMSE of the one-step x̂0 = D(σ_max·ε) to x0' (latent units)"}
        for name, items in (("held_out", self.caption_items(n, seed_offset=SANITY_SEED_OFFSET)),
                            ("training", self.caption_items(min(n, settings["n_pairs"])))):
            pairs = self.pairs(settings, items)
            out.update(self._one_step_errors(student.eval(), items, pairs, settings, name))
            out[f"{name}_teacher_nfe"] = pairs.teacher_nfe
        return out

    def _one_step_errors(self, student, items, pairs: Pairs, settings, name: str) -> dict[str, float]:
        cond, null = self._conditions([p for p, _ in items])
        sigma_max = float(self.components.preset.sampling["sigma_max"])
        x = sigma_max * pairs.eps.to(self.components.device)
        sigma = torch.full((len(items),), sigma_max, device=x.device)
        out = {}
        for w in sorted({1.0, float(settings["pair_guidance"])}):
            for who, net in (("student", student), ("teacher", self.components.teacher)):
                estimate = classifier_free(net, cond, null, w)(x, sigma)
                out[f"{name}_{who}_rmse_cfg{w:g}"] = float((estimate.cpu() - pairs.x0).pow(2).mean().sqrt())
        return out
