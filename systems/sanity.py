"""The sanity check of a one-step student distilled from the teacher's CFG ODE (``cd``, ``soundctm``).

On training captions with held-out seeds, the student's one-step output from σ_max·ε is compared
with the teacher's Heun-N solution at the system's CFG from the same ε, beside the teacher's own
one-step x̂0: a working distillation lands much closer. The reference's teacher NFE are reported,
never charged to the budget (it is an evaluation, stored with the training report).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from systems.api import GenRequest
from systems.samplers.guidance import classifier_free
from systems.teacher import TeacherSystem

SANITY_SEED_OFFSET = 1_000_000  # held-out seeds, far from the protocols' item seeds (training draws none)

#: ``one_step(x [B, ...], sigma_max [B], cond, w [B]) -> output [B, ...]``
OneStep = Callable[[torch.Tensor, torch.Tensor, Mapping[str, torch.Tensor], torch.Tensor], torch.Tensor]


@torch.no_grad()
def ode_sanity(system, one_step: OneStep, settings: Mapping[str, Any], label: str, measure: str) -> dict:
    """RMSEs to the teacher's Heun-``n_grid`` solution; keys ``{label}_rmse`` and ``{label}_closer``."""
    items, w = system.caption_items(settings["sanity_items"], SANITY_SEED_OFFSET), float(system.guidance)
    prompts, seeds = [p for p, _ in items], [s for _, s in items]
    teacher = TeacherSystem.from_components(system.components, sampler="heun", guidance=w, grid="karras")
    eps, reference, nfe = teacher.sample_latents(GenRequest(prompts, seeds, steps=settings["n_grid"]))
    cond, null = system._conditions(prompts)
    sigma_max = float(system.components.preset.sampling["sigma_max"])
    x = sigma_max * eps.to(reference.device)
    sigma = torch.full((len(items),), sigma_max, device=x.device)
    ours = one_step(x, sigma, cond, torch.full_like(sigma, w))
    theirs = classifier_free(system.components.teacher, cond, null, w)(x, sigma)
    rmse = {who: float((out - reference).pow(2).mean().sqrt())
            for who, out in ((label, ours), ("teacher", theirs))}
    return {"n_items": len(items), "held_out_seeds_from": SANITY_SEED_OFFSET, "guidance": w,
            "reference": f"the teacher's heun {settings['n_grid']}-step ODE at CFG {w:g} from the same ε",
            "measure": measure, f"{label}_rmse": rmse[label], "teacher_one_step_rmse": rmse["teacher"],
            f"{label}_closer": rmse[label] < rmse["teacher"], "reference_teacher_nfe": nfe * len(items)}
