"""S-PRESSO's diffusion-autoencoder training, stages 1 and 3 (systems-reference §2.4, "(1) Training").

One ``TrainTask`` serves both stages; ``stage`` says which:

- **Stage 1** (continuous): ``z = g_ψ(x0)`` with gradient, so the latent encoder g_ψ, the condition
  projector f_φ, the zero-initialised audio input and the LoRA adapters train jointly ("update ψ, φ,
  LoRA"); the teacher's own weights stay frozen.
- **Stage 3** (decoder fine-tune on codes): g_ψ and the quantiser Q are frozen, so
  ``z_q = Q.decode(Q.encode(g_ψ(x0)))`` is a constant of each clip and is computed once for the whole
  training set up front (the beam search of QINCo2 would otherwise run every update on the same
  inputs); f_φ, the audio input and LoRA train (§2.4 leaves "which modules exactly" open [?]: every
  module downstream of the codes, none upstream).

The loss is the teacher's own EDM objective (:func:`~systems.components.edm.edm_loss`:
ln σ ~ N(P_mean, P_std²), λ(σ) = (σ² + σ_d²)/(σσ_d)², the preset's values) with the audio condition
in the condition dict, and the caption replaced by the null condition with probability ``p_txt``
("text embeddings receive heavy dropout so the model relies on the audio condition"; 0.9, the
reference's [?] value). The optimiser (Adam, §2.4 (5)) holds only the parameters the stage trains:
the trainer's gradient clipping also sees only those (it reads ``requires_grad``).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from systems.components.edm import EDMDenoiser, drop_condition, edm_loss
from systems.components.spresso_net import AUDIO_COND_KEY, SPressoDiT
from systems.training.loop import seeded_order

STAGES = (1, 3)
ENCODE_CHUNK = 256   # clips per g_ψ call when precomputing stage 3's conditions (bounds memory only)


def frames_of(z: torch.Tensor) -> torch.Tensor:
    """z [B, d_z, Fz] as the vectors a quantiser codes, [B·Fz, d_z] (clip-major, frame order kept)."""
    return z.transpose(1, 2).reshape(-1, z.shape[1])


def from_frames(vectors: torch.Tensor, clips: int) -> torch.Tensor:
    """Inverse of :func:`frames_of`: [B·Fz, d_z] → [B, d_z, Fz]."""
    return vectors.reshape(clips, -1, vectors.shape[1]).transpose(1, 2)


@torch.no_grad()
def quantise(quantizer, z: torch.Tensor) -> torch.Tensor:
    """z_q = Q.decode(Q.encode(z)) frame by frame, same shape, dtype and device as z [B, d_z, Fz]."""
    codes = quantizer.encode(frames_of(z).cpu())
    return from_frames(quantizer.decode(codes), z.shape[0]).to(z)


@torch.no_grad()
def encode_latents(net: SPressoDiT, latents: torch.Tensor, chunk: int = ENCODE_CHUNK) -> torch.Tensor:
    """z = g_ψ(x0) [N, d_z, Fz] of every latent clip [N, C, F], in chunks (no gradient)."""
    return torch.cat([net.encode(part) for part in latents.split(chunk)])


def stage_parameters(net: SPressoDiT, stage: int) -> list[nn.Parameter]:
    """The parameters ``stage`` trains, with ``requires_grad`` set to match (teacher frozen first).

    Stage 1: g_ψ, f_φ, the audio input and LoRA; stage 3: the same without g_ψ (frozen with Q).
    """
    if stage not in STAGES:
        raise ValueError(f"S-PRESSO trains in stages {STAGES} (stage 2 is the offline quantiser fit), "
                         f"got {stage!r}")
    net.freeze_base()
    if stage == 3:
        net.encoder.requires_grad_(False)
    return [param for param in net.trainable_parameters() if param.requires_grad]


class SPressoTask:
    """``TrainTask`` of S-PRESSO's stage 1 or 3 on the teacher's training latents (see the module)."""

    def __init__(self, kind: str, config: Mapping[str, Any], denoiser: EDMDenoiser, data: Mapping[str, Any],
                 settings: Mapping[str, Any], batch: int, *, stage: int, quantizer=None) -> None:
        if not isinstance(denoiser.net, SPressoDiT):
            raise TypeError(f"SPressoTask trains an EDMDenoiser around an SPressoDiT, got "
                            f"{type(denoiser.net).__name__}")
        if (stage == 3) != (quantizer is not None):
            raise ValueError("stage 3 needs the fitted quantiser (and stage 1 takes none)")
        self.kind, self.config, self.stage = kind, dict(config), stage
        self.denoiser, self.net = denoiser, denoiser.net
        self.latents, self.tokens, self.mask = data["latents"], data["tokens"], data["mask"]
        self.null = data["null"]
        self.settings, self.batch_size = dict(settings), batch
        self.trained = stage_parameters(self.net, stage)
        self.quantised = quantise(quantizer, encode_latents(self.net, self.latents)) if stage == 3 else None

    def modules(self) -> dict[str, nn.Module]:
        return {"spresso": self.denoiser}

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.trained, lr=self.settings["lr"])

    def batch(self, update: int) -> dict[str, torch.Tensor]:
        idx = seeded_order(len(self.latents), self.batch_size, update, self.settings["seed"])
        batch = {"x0": self.latents[idx], "tokens": self.tokens[idx], "mask": self.mask[idx]}
        if self.quantised is not None:
            batch["z"] = self.quantised[idx]
        return batch

    def loss(self, batch: Mapping[str, torch.Tensor], generator: torch.Generator):
        x0 = batch["x0"]
        b = x0.shape[0]
        drop = torch.rand(b, generator=generator, device=generator.device) < self.settings["p_txt"]
        null = {key: value.expand(b, *value.shape[1:]) for key, value in self.null.items()}
        cond = drop_condition({"tokens": batch["tokens"], "mask": batch["mask"]}, null, drop.to(x0.device))
        z = self.net.encode(x0) if self.stage == 1 else batch["z"]
        cond[AUDIO_COND_KEY] = z
        loss = edm_loss(self.denoiser, x0, cond, generator, self.settings["p_mean"], self.settings["p_std"])
        scalars = {"dropped": float(drop.float().mean()), "z_rms": float(z.detach().pow(2).mean().sqrt())}
        return loss, scalars, 0
