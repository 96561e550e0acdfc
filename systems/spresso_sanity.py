"""S-PRESSO's sanity check, stored with the report of each diffusion stage: is the condition used?

On held-out clips (the procedural set's ``test`` split, never trained on), the latents S-PRESSO
reconstructs from z = g_ψ(x0) (stage 3: from the quantised z_q) are compared with x0, beside the
latents the teacher samples unconditionally (null text, no CFG, no audio condition) from the same
initial noise on the same Heun grid. A decoder that ignored its condition would do no better than
the teacher's unconditional sample; one that uses it lands much closer. Both MSEs are reported,
with ``x0``'s own power (the MSE of predicting zeros) for scale. Nothing here is charged to a
budget: it is an evaluation.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from systems.components.edm import EDMDenoiser
from systems.data import sfx_clips
from systems.noise import initial_noise
from systems.tasks.spresso import quantise

SANITY_SPLIT = "test"          # held out: the teacher and S-PRESSO train on the "train" split
SANITY_SEED = 1_000_000        # initial-noise seed of every sanity item (far from protocol seeds)


def held_out_latents(system, n: int) -> tuple[torch.Tensor, list[str]]:
    """x0 [n, C, F] of the first ``n`` clips of the held-out split at the preset's clip length, and ids."""
    preset, rate = system.components.preset, system.sample_rate
    clips = sfx_clips(SANITY_SPLIT, n, 0, rate, round(preset.clip_duration_s * rate), progress=False)
    return system.latents(clips.wav.numpy()), list(clips.ids)


@torch.no_grad()
def reconstruction_sanity(system, denoiser: EDMDenoiser, settings: Mapping[str, Any],
                          quantizer=None) -> dict[str, Any]:
    """Latent MSEs to x0 of S-PRESSO's reconstruction and of the teacher's unconditional sample."""
    n, steps = settings["sanity_items"], settings["sanity_steps"]
    x0, ids = held_out_latents(system, n)
    z = denoiser.net.encode(x0)
    if quantizer is not None:
        z = quantise(quantizer, z)
    eps = initial_noise(ids, [SANITY_SEED] * n, tuple(x0.shape[1:]), device=x0.device)
    ours = system.sample(denoiser.eval(), eps, steps, audio_cond=z)
    theirs = system.sample(system.components.teacher, eps, steps)
    mse = {who: float((x - x0).pow(2).mean()) for who, x in (("spresso", ours), ("teacher", theirs))}
    return {"n_items": n, "split": f"sfx/{SANITY_SPLIT}", "seed": SANITY_SEED, "steps": steps,
            "sampler": "heun", "quantised": quantizer is not None,
            "measure": "latent MSE to x0 (normalised AE latents)", "spresso_mse": mse["spresso"],
            "teacher_unconditional_mse": mse["teacher"], "x0_power": float(x0.pow(2).mean()),
            "condition_used": mse["spresso"] < mse["teacher"]}


@torch.no_grad()
def regression_sanity(system, denoiser: EDMDenoiser, decoder, settings: Mapping[str, Any],
                      quantizer=None) -> dict[str, Any]:
    """Latent MSE to x0 of the regression decoder's ``h(z_q)`` on the same held-out clips, beside x0's
    power: h must beat predicting zeros, or the ablation row compares with a broken decoder."""
    n = settings["sanity_items"]
    x0, _ = held_out_latents(system, n)
    z = denoiser.net.encode(x0)
    if quantizer is not None:
        z = quantise(quantizer, z)
    mse = float((decoder.eval()(z, x0.shape[-1]) - x0).pow(2).mean())
    power = float(x0.pow(2).mean())
    return {"n_items": n, "split": f"sfx/{SANITY_SPLIT}", "quantised": quantizer is not None,
            "measure": "latent MSE to x0 (normalised AE latents)", "regression_mse": mse, "x0_power": power,
            "beats_zeros": mse < power}
