"""Size presets of the shared components: ``tiny`` (a 2-core CPU, minutes) and ``base`` (a GPU).

Both run the same code; ``base`` is wider and deeper, at 44.1 kHz with 5-s clips. A preset fully
determines the trained components, so its dictionaries are hashed into their cache keys.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from systems.components.autoencoder import AEConfig
from systems.components.dit import DiTConfig
from systems.components.mel import MelConfig

# Bump when the procedural data, the architectures or the training maths change what a preset
# trains into: it is part of every component's cache key (a stale checkpoint is never reused).
COMPONENT_CODE_VERSION = 2


@dataclass(frozen=True)
class TrainConfig:
    updates: int
    batch: int
    lr: float
    warmup: int = 100
    ema: float = 0.999
    seed: int = 0


@dataclass(frozen=True)
class Preset:
    name: str
    mel: MelConfig
    clip_duration_s: float
    ae: AEConfig
    ae_train: TrainConfig
    teacher: DiTConfig
    teacher_train: TrainConfig
    p_uncond: float = 0.1  # CFG dropout (systems-reference §2.0)
    p_mean: float = -1.2  # EDM ln σ ~ N(P_mean, P_std²)
    p_std: float = 1.2
    data: dict[str, Any] = field(default_factory=lambda: {"source": "sfx", "n_train": 2000, "seed": 0})
    max_prompt_tokens: int = 64
    sampling: dict[str, Any] = field(default_factory=lambda: {
        "sampler": "heun", "steps": 16, "guidance": 3.0, "grid": "karras",
        "sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0,
    })

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def ae_key(self) -> dict[str, Any]:
        """Everything the trained autoencoder depends on (the data generator's version included)."""
        return {"mel": asdict(self.mel), "clip_duration_s": self.clip_duration_s, "ae": asdict(self.ae),
                "train": asdict(self.ae_train), "data": self.data, "code": COMPONENT_CODE_VERSION}

    def teacher_key(self, text_config: dict[str, Any]) -> dict[str, Any]:
        """Everything the trained teacher depends on (the autoencoder's key included)."""
        return {"ae": self.ae_key(), "text": text_config, "dit": asdict(self.teacher),
                "train": asdict(self.teacher_train), "p_uncond": self.p_uncond,
                "p_mean": self.p_mean, "p_std": self.p_std}


TINY = Preset(
    name="tiny",
    mel=MelConfig(sample_rate=16000, n_fft=1024, hop=256, n_mels=64),
    clip_duration_s=2.048,
    ae=AEConfig(channels=64, latent_channels=16, blocks=1),
    # 2 500 updates (3 000 until sfx-mini v4; loss 0.054 at 3 000 vs 0.056 at 2 500): the time
    # goal of a cold `make bench` with every system (≤ 30 min on a 2-core CPU)
    ae_train=TrainConfig(updates=2500, batch=32, lr=2e-3),
    teacher=DiTConfig(in_channels=16, width=128, depth=4, heads=4, patch=2),
    # 2 000 updates (3 000 until sfx-mini v4): the teacher's budget is also LAFMA's (a system trained
    # from scratch gets the teacher's own budget), and a cold `make bench` with every system must
    # stay within 30 min on a 2-core CPU; 3 000 → 2 000 saves ~145 s twice (loss 0.133 → ~0.15).
    teacher_train=TrainConfig(updates=2000, batch=32, lr=1e-3, warmup=200),
)

BASE = Preset(
    name="base",
    mel=MelConfig(sample_rate=44100, n_fft=2048, hop=512, n_mels=128, griffin_lim_iters=64),
    clip_duration_s=5.0,
    ae=AEConfig(channels=256, latent_channels=32, blocks=3),
    ae_train=TrainConfig(updates=50_000, batch=32, lr=5e-4, warmup=1000),
    teacher=DiTConfig(in_channels=32, width=512, depth=12, heads=8, patch=1),
    teacher_train=TrainConfig(updates=200_000, batch=64, lr=2e-4, warmup=2000, ema=0.9999),
    data={"source": "sfx", "n_train": 20000, "seed": 0},
    max_prompt_tokens=128,
)

# For tests and smoke runs only: trains in seconds and generates noise-like audio.
MICRO = replace(
    TINY, name="micro",
    mel=replace(TINY.mel, griffin_lim_iters=4),
    data={"source": "sfx", "n_train": 48, "seed": 0},
    ae_train=replace(TINY.ae_train, updates=20, batch=16, warmup=5),
    teacher=replace(TINY.teacher, width=32, depth=2, heads=2),
    teacher_train=replace(TINY.teacher_train, updates=20, batch=16, warmup=5),
)

PRESETS: dict[str, Preset] = {"tiny": TINY, "base": BASE, "micro": MICRO}


def get_preset(name: str, **overrides: Any) -> Preset:
    """A preset by name, with top-level fields replaced by ``overrides`` (tests shrink it)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides) if overrides else PRESETS[name]
