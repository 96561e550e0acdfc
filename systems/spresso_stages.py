"""S-PRESSO's three training stages, each trained once and kept in the component store (§2.4 (1)).

Store layout (``<kind>-<hash of key>/``; every key carries ``CODE_VERSION``):

- ``spresso-s1``: stage 1, the continuous diffusion autoencoder (g_ψ, f_φ, audio input, LoRA on the
  frozen teacher). Key: the teacher's store key (teacher and autoencoder hashes, sampling) with the
  network settings (t, c, LoRA rank/alpha, encoder sizes), the optimiser settings, p_txt, the EDM
  P_mean/P_std, the sanity-check settings and the budget. **No quantiser setting**: every quantiser
  and code size of one (t, c) shares it, so the RVQ ablation and the QINCo2 rows differ only in
  stages 2 and 3.
- ``spresso-q``: stage 2, the quantiser fitted offline on every z frame of the training set. Key:
  the sha256 of g_ψ's weights (what z depends on), the training set's identity (component hashes,
  data spec), the quantiser's config (M, K, QINCo2's sizes …), the fit seed and epochs.
- ``spresso-s3``: stage 3, the decoder fine-tuned on quantised z. Key: the hashes of the stage-1
  and stage-2 keys, the stage-3 settings and its budget (a third of stage 1's updates).

- ``spresso-r`` (``decoder = "regression"`` only, instead of stage 3): the deterministic decoder
  ablation h (:mod:`systems.components.spresso_regression`) fitted by latent MSE on the same z_q.
  Key: the hashes of the stage-1 (and stage-2) keys, its settings and its budget: stage 1's plus
  stage 3's updates at the same batch, the decoder updates the diffusion decoder gets.

The continuous variant (``quantizer = "none"``) skips stages 2 and 3 (and codes z itself).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from systems.components.edm import EDMDenoiser
from systems.components.spresso_net import SPressoDiT, spresso_from_teacher
from systems.components.spresso_regression import RegressionDecoder
from systems.quantizers import get_quantizer
from systems.spresso_sanity import reconstruction_sanity, regression_sanity
from systems.tasks.spresso import SPressoTask, encode_latents, frames_of, quantise
from systems.tasks.spresso_regression import RegressionTask
from systems.training.budget import Budget, TrainReport
from systems.training.checkpoint import config_hash, load_checkpoint, save_checkpoint
from systems.training.fit import REPORT, FitPlan, fit_in_store, training_record
from systems.training.store import FINAL_FILE, ComponentStore

CODE_VERSION = 1   # bump when the training maths change what a given key trains into
KINDS = {1: "spresso-s1", 2: "spresso-q", 3: "spresso-s3", "r": "spresso-r"}
MODULE = "spresso"
NETWORK_SETTINGS = ("rank", "lora_alpha", "encoder_width", "encoder_depth", "encoder_heads")
TASK_SETTINGS = ("lr", "p_txt", "seed", "grad_clip", "sanity_items", "sanity_steps")
TRAINED = ("1", "3", "r")   # the stages trained by gradient steps (2 is the offline quantiser fit)
REGRESSION_SETTINGS = ("regression_width", "regression_depth", "encoder_heads", "lr", "seed", "grad_clip",
                       "sanity_items")


@dataclass
class Fitted:
    """The trained codec: its denoiser (g_ψ, and the diffusion decoder), its quantiser (None:
    continuous), the regression decoder of ``decoder="regression"``, each stage's record, the hash
    of the trained decoder (``weights_hash``) and of the encoder side (g_ψ + Q: what the codes mean)."""

    denoiser: EDMDenoiser
    quantizer: Any
    weights_hash: str
    stages: dict[str, dict]
    budgets: dict[str, Budget]
    encoder_hash: str
    regression: RegressionDecoder | None = None


# ---------------------------------------------------------------- networks and keys

def network_settings(system, settings: Mapping[str, Any]) -> dict[str, Any]:
    """SPressoDiT's keywords: the operating point's t and c plus the architecture settings."""
    return {"time_factor": system.time_factor, "channel_factor": system.channel_factor,
            **{key: settings[key] for key in NETWORK_SETTINGS}}


def new_network(system, settings: Mapping[str, Any]) -> EDMDenoiser:
    """The teacher with fresh g_ψ, f_φ and adapters; their init depends on the seed only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        return spresso_from_teacher(system.components.teacher, **network_settings(system, settings))


def load_network(system, settings: Mapping[str, Any], weights: Mapping[str, torch.Tensor]) -> EDMDenoiser:
    """The network holding ``weights`` (eval mode, frozen, on the components' device)."""
    denoiser = new_network(system, settings)
    denoiser.load_state_dict(weights)
    return denoiser.to(system.components.device).eval().requires_grad_(False)


def task_settings(system, settings: Mapping[str, Any]) -> dict[str, Any]:
    preset = system.components.preset
    return {**{key: settings[key] for key in TASK_SETTINGS}, "p_mean": preset.p_mean, "p_std": preset.p_std}


def stage1_key(system, settings: Mapping[str, Any]) -> dict[str, Any]:
    own = {**network_settings(system, settings), **task_settings(system, settings), "stage": 1}
    return system.teacher_store_key(own, CODE_VERSION)


def weights_hash(module: torch.nn.Module) -> str:
    """sha256 (16 hex) of a module's state: names, dtypes, shapes and bytes of every tensor."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- stages 1 and 3 (diffusion)

def stage1_plan(system, settings: Mapping[str, Any], batch: int) -> FitPlan:
    def make_task(key: dict) -> SPressoTask:
        denoiser = new_network(system, settings).to(system.components.device)
        return SPressoTask(KINDS[1], key, denoiser, system.training_data(), task_settings(system, settings),
                           batch, stage=1)

    return FitPlan(kind=KINDS[1], key=stage1_key(system, settings), module=MODULE, seed=settings["seed"],
                   ema_decay=None, grad_clip=settings["grad_clip"], make_task=make_task,
                   extra=lambda task: {"sanity": reconstruction_sanity(system, task.denoiser, settings)})


def stage3_budget(stage1_updates: int, settings: Mapping[str, Any], batch: int) -> Budget:
    """``stage3_fraction`` (1/3: the recipe's 500 : 1 500) of stage 1's updates, at the same batch."""
    return Budget(max_updates=max(1, math.ceil(stage1_updates * settings["stage3_fraction"])), batch=batch)


def stage3_plan(system, settings: Mapping[str, Any], batch: int, stage1_weights, quantizer,
                parents: Mapping[str, str]) -> FitPlan:
    def make_task(key: dict) -> SPressoTask:
        denoiser = load_network(system, settings, stage1_weights)
        return SPressoTask(KINDS[3], key, denoiser, system.training_data(), task_settings(system, settings),
                           batch, stage=3, quantizer=quantizer)

    key = {"system": system.info.name, "parents": dict(parents), "stage": 3, "code": CODE_VERSION,
           "settings": {**task_settings(system, settings), "stage3_fraction": settings["stage3_fraction"]}}
    def sanity(task: SPressoTask) -> dict[str, Any]:
        return {"sanity": reconstruction_sanity(system, task.denoiser, settings, quantizer)}

    return FitPlan(kind=KINDS[3], key=key, module=MODULE, seed=settings["seed"], ema_decay=None,
                   grad_clip=settings["grad_clip"], make_task=make_task, extra=sanity)


# ---------------------------------------------------------------- stage 2 (offline quantiser)

def new_quantizer(system, settings: Mapping[str, Any]):
    """An unfitted quantiser of the operating point (QINCo2-tiny / RVQ defaults otherwise)."""
    cls = get_quantizer(system.quantizer_name)
    return cls(system.z_channels, system.codebook_steps, system.codebook_size)


def stage2_key(system, settings: Mapping[str, Any], encoder_hash: str) -> dict[str, Any]:
    preset = system.components.preset
    return {"system": system.info.name, "encoder": encoder_hash, "stage": 2, "code": CODE_VERSION,
            "data": {"components": dict(system.components.hashes), "spec": dict(preset.data)},
            "quantizer": new_quantizer(system, settings).config(), "seed": settings["seed"],
            "epochs": settings["quantizer_epochs"]}


def fit_quantizer(system, settings: Mapping[str, Any], net: SPressoDiT, store: ComponentStore,
                  progress: bool) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(fitted quantiser, stored fit report, store key): fitted on every z frame unless stored."""
    key = stage2_key(system, settings, weights_hash(net.encoder))
    final = store.get_or_train(KINDS[2], key, lambda run_dir: _train_quantizer(
        system, settings, net, key, run_dir, progress))
    quantizer = new_quantizer(system, settings)
    quantizer.load_state_dict(load_checkpoint(final, kind=KINDS[2], config=key).tensors)
    report = json.loads((final.parent / REPORT).read_text(encoding="utf-8"))
    return quantizer, {**report, "store": str(final.parent)}, key


def _train_quantizer(system, settings: Mapping[str, Any], net: SPressoDiT, key: Mapping[str, Any],
                     run_dir: Path, progress: bool) -> None:
    z = encode_latents(net, system.training_data()["latents"])
    vectors = frames_of(z).cpu()
    quantizer = new_quantizer(system, settings)
    report = quantizer.fit(vectors, seed=settings["seed"], epochs=settings["quantizer_epochs"],
                           progress=progress)
    centred = vectors.double() - vectors.double().mean(0)
    report.update(kind=KINDS[2], n_clips=int(z.shape[0]), z_frames_per_clip=int(z.shape[2]),
                  z_variance=float(centred.pow(2).mean()))   # what the per-step MSEs compare with
    # the report first: final.safetensors marks the stage as done, so it is written last
    (run_dir / REPORT).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    save_checkpoint(run_dir / FINAL_FILE, quantizer.state_dict(), kind=KINDS[2], config=key)


# ---------------------------------------------------------------- stage r (regression decoder)

def new_regression(system, settings: Mapping[str, Any]) -> RegressionDecoder:
    """A fresh h for the operating point; its init depends on the seed only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        return RegressionDecoder(system.z_channels, system.components.ae.latent_channels, system.time_factor,
                                 width=settings["regression_width"], depth=settings["regression_depth"],
                                 heads=settings["encoder_heads"])


def regression_budget(stage1_updates: int, settings: Mapping[str, Any], batch: int) -> Budget:
    """Stage 1's plus stage 3's updates at the same batch: the updates the diffusion decoder gets."""
    return Budget(max_updates=stage1_updates + stage3_budget(stage1_updates, settings, batch).max_updates,
                  batch=batch)


def regression_plan(system, settings: Mapping[str, Any], batch: int, denoiser: EDMDenoiser, quantizer,
                    parents: Mapping[str, str]) -> FitPlan:
    def codes_of(latents):
        z = encode_latents(denoiser.net, latents)
        return z if quantizer is None else quantise(quantizer, z)

    def make_task(key: dict) -> RegressionTask:
        latents = system.training_data()["latents"]
        decoder = new_regression(system, settings).to(system.components.device)
        return RegressionTask(KINDS["r"], key, decoder, latents, codes_of(latents), settings, batch)

    key = {"system": system.info.name, "parents": dict(parents), "stage": "r", "code": CODE_VERSION,
           "settings": {k: settings[k] for k in REGRESSION_SETTINGS}}
    return FitPlan(kind=KINDS["r"], key=key, module="regression", seed=settings["seed"], ema_decay=None,
                   grad_clip=settings["grad_clip"], make_task=make_task,
                   extra=lambda task: {"sanity": regression_sanity(system, denoiser, task.decoder, settings,
                                                                   quantizer)})


def load_regression(system, settings: Mapping[str, Any], weights) -> RegressionDecoder:
    decoder = new_regression(system, settings)
    decoder.load_state_dict(weights)
    return decoder.to(system.components.device).eval().requires_grad_(False)


# ---------------------------------------------------------------- all stages

def run_stages(system, settings: Mapping[str, Any], budget: Budget, batch: int, store: ComponentStore,
               progress: bool) -> Fitted:
    """Stage 1 under ``budget``; then, unless continuous, stage 2; then stage 3 (diffusion decoder) or
    stage r (regression decoder), each trained or reused."""
    weights1, stored1 = fit_in_store(stage1_plan(system, settings, batch), budget, store, progress)
    hash1 = config_hash({**stage1_key(system, settings), "budget": budget.to_dict()})
    denoiser = load_network(system, settings, weights1)
    stages, budgets, parents = {"1": stored1}, {"1": budget}, {"stage1": hash1}
    quantizer = None
    if system.quantised:
        quantizer, stages["2"], key2 = fit_quantizer(system, settings, denoiser.net, store, progress)
        parents["stage2"] = config_hash(key2)
    encoder_hash = config_hash(parents)
    updates1 = stored1["train"]["updates"]
    if system.decoder == "regression":
        plan = regression_plan(system, settings, batch, denoiser, quantizer, parents)
        budgets["r"] = regression_budget(updates1, settings, batch)
        weights, stages["r"] = fit_in_store(plan, budgets["r"], store, progress)
        hash_r = config_hash({**plan.key, "budget": budgets["r"].to_dict()})
        return Fitted(denoiser, quantizer, hash_r, stages, budgets, encoder_hash,
                      load_regression(system, settings, weights))
    if quantizer is None:
        return Fitted(denoiser, None, hash1, stages, budgets, encoder_hash)
    plan3 = stage3_plan(system, settings, batch, weights1, quantizer, parents)
    budgets["3"] = stage3_budget(updates1, settings, batch)
    weights3, stages["3"] = fit_in_store(plan3, budgets["3"], store, progress)
    hash3 = config_hash({**plan3.key, "budget": budgets["3"].to_dict()})
    return Fitted(load_network(system, settings, weights3), quantizer, hash3, stages, budgets, encoder_hash)


def combined_report(fitted: Fitted) -> TrainReport:
    """One ``TrainReport`` over the stages: updates and examples of stages 1 + 3, the wall time of
    all three (the quantiser fit included), stage 1's stop reason and budget; history rows tagged."""
    runs = {stage: fitted.stages[stage]["train"] for stage in TRAINED if stage in fitted.stages}
    fit_wall = fitted.stages["2"]["wall_s"] if "2" in fitted.stages else 0.0
    history = [{**row, "stage": stage} for stage, run in runs.items() for row in run["history"]]
    first = runs["1"]
    return TrainReport(updates=sum(r["updates"] for r in runs.values()),
                       wall_s=sum(r["wall_s"] for r in runs.values()) + fit_wall, online_teacher_nfe=0,
                       offline_teacher_nfe=0, examples_seen=sum(r["examples_seen"] for r in runs.values()),
                       stopped_by=first["stopped_by"], resumed_from_update=first["resumed_from_update"],
                       history=history, budget=first["budget"])


def stage_records(fitted: Fitted) -> dict[str, Any]:
    """Per stage: the leaderboard's training columns (1, 3, r) or the quantiser's fit report (2)."""
    records = {stage: training_record(fitted.stages[stage], fitted.budgets[stage])
               for stage in TRAINED if stage in fitted.stages}
    if "2" in fitted.stages:
        records["2"] = dict(fitted.stages["2"])
    for stage in TRAINED:
        if stage in records:
            records[stage]["sanity"] = fitted.stages[stage].get("sanity")
    return dict(sorted(records.items()))
