"""Test doubles for the contract tests, registered only through a fake entry point.

``OneStep`` (a generator with its own one-step solver: no sampler choice, no CFG),
``ToyAccelerator`` (the same, trainable) and ``FrameCodec`` (8-bit frame levels at 50 Hz) keep
the contract; the ``Broken*`` classes each break one rule, so the checks can be seen to catch it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from systems.api import (
    Accelerator,
    Codec,
    Encoded,
    GenRequest,
    GenResult,
    SystemInfo,
    TextToAudio,
    check_options,
)
from systems.training import Budget, TrainReport


class OneStep(TextToAudio):
    """The shared item noise, shifted per channel by the prompt's mean token embedding, through
    the shared decoder in one step."""

    info = SystemInfo(name="one-step", paper="test double: a one-step generator", default_steps=(1,))

    def __init__(self, components, scale: float = 0.5) -> None:
        self.components, self.scale = components, float(scale)
        self.sample_rate = components.ae.sample_rate

    @classmethod
    def from_components(cls, components, **config: Any) -> OneStep:
        check_options(config, ("scale",), cls.info.name)
        return cls(components, **config)

    def load(self, device: str = "cpu") -> OneStep:
        return self

    def config(self) -> dict[str, Any]:
        return {**super().config(), "scale": self.scale, **self.components.config()}

    def latent_shape(self, duration_s: float | None) -> tuple[int, int]:
        preset, ae = self.components.preset, self.components.ae
        frames = ae.frames_for(duration_s or preset.clip_duration_s)
        return ae.latent_channels, -(-frames // preset.teacher.patch) * preset.teacher.patch

    @torch.inference_mode()
    def generate(self, request: GenRequest) -> GenResult:
        self.sampler_of(request)
        check_options(request.options, (), self.info.name)
        tokens, mask = self.components.text.encode(request.prompts)
        mean = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        eps = self.draw_noise(request)
        z = self.scale * eps + mean[:, : eps.shape[1], None]
        n = round((request.duration_s or self.components.preset.clip_duration_s) * self.sample_rate)
        audio = self.components.ae.decode(z)[:, :n].clamp(-1, 1)
        return GenResult(self.finish(audio.cpu().numpy().astype(np.float32)), self.sample_rate, nfe=1)

    def draw_noise(self, request: GenRequest) -> torch.Tensor:
        return self.initial_noise(request)

    def finish(self, audio: np.ndarray) -> np.ndarray:
        return audio


class OneStepTwin(OneStep):
    """The same settings under another name: its clips must never share a cache key with OneStep's."""

    info = SystemInfo(name="one-step-twin", default_steps=(1,))


class ForgetsItsName(OneStep):
    info = SystemInfo(name="forgets-its-name", default_steps=(1,))

    def config(self) -> dict[str, Any]:
        return {"scale": self.scale}


class ClaimsAnotherName(OneStep):
    info = SystemInfo(name="claims-another-name", default_steps=(1,))

    def config(self) -> dict[str, Any]:
        return {"system": "teacher"}


class ToyAccelerator(OneStep, Accelerator):
    """``fit`` shrinks the noise scale by ``shrink`` per update, for the budget's updates."""

    info = SystemInfo(name="toy-accelerator", paper="test double: an accelerator", default_steps=(1,))
    train_defaults = {"shrink": 0.99}

    def fit(self, budget: Budget, *, settings=None, store=None, progress: bool = True) -> TrainReport:
        from systems.trained import require_batch

        settings = self.train_settings(settings)
        batch = require_batch(budget, self.info.name)
        updates = budget.max_updates or 1
        self.scale = 0.5 * settings["shrink"] ** updates
        self.report = TrainReport(updates=updates, wall_s=0.0, online_teacher_nfe=0, offline_teacher_nfe=0,
                                  examples_seen=updates * batch, stopped_by="max_updates",
                                  resumed_from_update=None, budget=budget.to_dict())
        return self.report

    def training_record(self) -> dict:
        return {"updates": self.report.updates, "batch": self.report.budget["batch"]}


class FrameCodec(Codec):
    """Each 20-ms frame's mean level in 8 bits: 400 bit/s, a codec in form only."""

    info = SystemInfo(name="toy-codec", paper="test double: a codec")
    frame_hz, bits = 50, 8

    def __init__(self, components) -> None:
        self.sample_rate = components.ae.sample_rate
        self.hop = self.sample_rate // self.frame_hz

    @classmethod
    def from_components(cls, components, **config: Any) -> FrameCodec:
        check_options(config, (), cls.info.name)
        return cls(components)

    def load(self, device: str = "cpu") -> FrameCodec:
        return self

    def encode(self, audio: np.ndarray) -> Encoded:
        audio = np.asarray(audio, dtype=np.float32)
        frames = -(-audio.shape[1] // self.hop)
        padded = np.pad(audio, ((0, 0), (0, frames * self.hop - audio.shape[1])))
        level = padded.reshape(len(audio), frames, self.hop).mean(-1)
        codes = np.round((np.clip(level, -1, 1) + 1) / 2 * 255).astype(np.uint8)
        return Encoded(codes, None, self.sample_rate / self.hop, frames * self.bits, audio.shape[1],
                       self.sample_rate)

    def decode(self, encoded: Encoded, *, steps: int | None = None, seed: int = 0) -> np.ndarray:
        level = encoded.codes.astype(np.float32) / 255 * 2 - 1
        return np.repeat(level, self.hop, axis=1)[:, : encoded.num_samples].astype(np.float32)

    def bitrate_kbps(self) -> float:
        return self.sample_rate / self.hop * self.bits / 1000


class BrokenBatchCoupled(OneStep):
    """Peak-normalises the batch as a whole: a clip's level depends on its batch-mates."""

    def finish(self, audio: np.ndarray) -> np.ndarray:
        return (0.9 * audio / max(np.abs(audio).max(), 1e-9)).astype(np.float32)


class BrokenGlobalNoise(OneStep):
    """Adds noise from the global generator: not reproducible."""

    def draw_noise(self, request: GenRequest) -> torch.Tensor:
        eps = self.initial_noise(request)
        return eps + torch.randn(eps.shape)


class BrokenOwnNoise(OneStep):
    """Seeded per item, but from its own generators: not the noise every other system starts from."""

    def draw_noise(self, request: GenRequest) -> torch.Tensor:
        shape = self.latent_shape(request.duration_s)
        return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(seed))
                            for seed in request.seeds])


class BrokenDitheringCodec(FrameCodec):
    """Dithers its output from the global generator: decoding is not deterministic."""

    def decode(self, encoded: Encoded, *, steps: int | None = None, seed: int = 0) -> np.ndarray:
        out = super().decode(encoded, steps=steps, seed=seed)
        return np.clip(out + 1e-3 * np.random.standard_normal(out.shape), -1, 1).astype(np.float32)


class BrokenEmptyPayloadCodec(FrameCodec):
    """Reports a payload of 0 bits."""

    def encode(self, audio: np.ndarray) -> Encoded:
        return replace(super().encode(audio), payload_bits=0)
