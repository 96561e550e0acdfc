"""Build (train once per config) or reuse the shared components, then freeze and inject them.

``load_components("tiny")`` returns the text encoder, the autoencoder and the EMA teacher. Each
trained component lives in the component store under ``<kind>-<config hash>/final.safetensors``;
the hash covers every setting that changes the weights (preset sizes, training schedule, data,
text encoder id), so a changed preset trains anew and an unchanged one is reused. Training runs
resume after a kill (``systems.training.loop``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from systems.components.ae_task import AutoencoderTask, fit_latent_stats
from systems.components.autoencoder import LatentAutoencoder, MelAutoencoder
from systems.components.dit import DiT
from systems.components.edm import EDMDenoiser
from systems.components.presets import Preset, get_preset
from systems.components.teacher_task import TeacherTask
from systems.components.text_encoder import MiniLMTextEncoder
from systems.data import load_clips
from systems.training.budget import Budget
from systems.training.checkpoint import load_checkpoint, save_checkpoint
from systems.training.loop import load_ema, train
from systems.training.store import ComponentStore

FINAL = "final.safetensors"


@dataclass
class Components:
    """What the harness builds once and shares with every system."""

    preset: Preset
    text: MiniLMTextEncoder
    ae: LatentAutoencoder
    teacher: EDMDenoiser
    device: torch.device
    hashes: dict[str, str] = field(default_factory=dict)
    reports: dict[str, dict] = field(default_factory=dict)
    #: derived data several systems of one process share (e.g. the accelerators' encoded training
    #: set: ~50 s per accelerator on a 2-core CPU); in memory only, never part of a key
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def config(self) -> dict:
        return {"preset": self.preset.name, "hashes": self.hashes}


def load_components(preset: str | Preset = "tiny", device: str = "cpu", *,
                    store: ComponentStore | None = None, train_missing: bool = True,
                    progress: bool = True) -> Components:
    """Text encoder, autoencoder and teacher for ``preset``, training what the store lacks."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    store = store or ComponentStore()
    text = MiniLMTextEncoder(preset.max_prompt_tokens).load("cpu")
    clips = _LazyClips(preset, progress)
    ae_path = _ensure(store, "autoencoder", preset.ae_key(), train_missing,
                      lambda run_dir: train_autoencoder(preset, clips.get(), run_dir, progress))
    ae = load_autoencoder(preset, ae_path)
    teacher_key = preset.teacher_key(text.config())
    teacher_path = _ensure(store, "teacher", teacher_key, train_missing,
                           lambda run_dir: train_teacher(preset, ae, text, clips.get(), run_dir, progress))
    teacher = load_teacher(preset, teacher_path, teacher_key)
    hashes = {"autoencoder": ae_path.parent.name, "teacher": teacher_path.parent.name}
    reports = {k: _report(p) for k, p in (("autoencoder", ae_path), ("teacher", teacher_path))}
    return Components(preset, text.load(device), ae.to(device), teacher.to(device), torch.device(device),
                      hashes, reports)


class _LazyClips:
    """Training clips, rendered only if something has to be trained."""

    def __init__(self, preset: Preset, progress: bool) -> None:
        self.preset, self.progress, self._clips = preset, progress, None

    def get(self):
        if self._clips is None:
            self._clips = load_clips(self.preset.data, self.preset.mel.sample_rate,
                                     self.preset.clip_duration_s, self.progress)
        return self._clips


def _ensure(store: ComponentStore, kind: str, key: dict, train_missing: bool, train_fn) -> Path:
    final = store.path(kind, key) / FINAL
    if not final.exists() and not train_missing:
        raise FileNotFoundError(f"no trained {kind} for this preset in {final.parent}; run "
                                f"`python -m bench train components` first")
    return store.get_or_train(kind, key, train_fn)


def _report(path: Path) -> dict:
    report = path.parent / "report.json"
    return json.loads(report.read_text()) if report.exists() else {}


def train_autoencoder(preset: Preset, clips, run_dir: Path, progress: bool = True) -> None:
    """Train, measure latent statistics, and write ``final.safetensors`` plus ``report.json``."""
    start = time.perf_counter()
    task = AutoencoderTask(preset, clips.wav)
    t = preset.ae_train
    report = train(task, Budget(max_updates=t.updates), run_dir / "train", seed=t.seed, ema_decay=None,
                   progress=progress, lr_schedule=warmup_cosine(t.warmup, t.updates))
    fit_latent_stats(task.net, task.logmel)
    _finish(run_dir, "autoencoder", task.net, preset.ae_key(), report, start, len(clips))


def train_teacher(preset: Preset, ae: LatentAutoencoder, text, clips, run_dir: Path,
                  progress: bool = True) -> None:
    """Train the EDM teacher; its EMA weights become ``final.safetensors``."""
    start = time.perf_counter()
    task = TeacherTask(preset, ae, text, clips.wav, clips.captions)
    t = preset.teacher_train
    report = train(task, Budget(max_updates=t.updates), run_dir / "train", seed=t.seed, ema_decay=t.ema,
                   progress=progress, lr_schedule=warmup_cosine(t.warmup, t.updates))
    load_ema(task, run_dir / "train")
    _finish(run_dir, "teacher", task.denoiser, task.config, report, start, len(clips))


def _finish(run_dir: Path, kind: str, module, key: dict, report, start: float, n_clips: int) -> None:
    save_checkpoint(run_dir / FINAL, module.state_dict(), kind=kind, config=key,
                    meta={"train": report.to_dict(), "n_clips": n_clips})
    summary = {"kind": kind, "train": report.to_dict(), "n_clips": n_clips,
               "total_wall_s": time.perf_counter() - start}
    (run_dir / "report.json").write_text(json.dumps(summary, indent=2))


def warmup_cosine(warmup: int, total: int):
    """LR multiplier: linear warm-up, then cosine decay to 10 % (a common DiT recipe)."""
    import math

    def schedule(update: int) -> float:
        if update < warmup:
            return (update + 1) / warmup
        progress = min(1.0, (update - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return schedule


def load_autoencoder(preset: Preset, path: Path) -> LatentAutoencoder:
    ckpt = load_checkpoint(path, kind="autoencoder", config=preset.ae_key())
    net = MelAutoencoder(preset.mel.n_mels, preset.ae)
    net.load_state_dict(ckpt.tensors)
    return LatentAutoencoder(preset.mel, net)


def load_teacher(preset: Preset, path: Path, key: dict) -> EDMDenoiser:
    ckpt = load_checkpoint(path, kind="teacher", config=key)
    denoiser = EDMDenoiser(DiT(preset.teacher), sigma_data=preset.ae.sigma_data)
    denoiser.load_state_dict(ckpt.tensors)
    return denoiser.eval().requires_grad_(False)
