"""Training task of the shared autoencoder: L1 log-mel reconstruction with a small latent penalty.

The loss is ``|r − m|₁ + |r − m|² + β·mean(z²)`` with ``r = dec(enc(m))`` on globally normalised
log-mel ``m``. L1 alone is median-seeking and dominated by the silent floor (most bins of a tone
clip are silent): the autoencoder shaved narrow tonal peaks by ~25 dB. The squared term makes
missing a peak expensive. β = 1e-3 keeps the latent compact so the teacher's denoising stays
well scaled. Per-channel latent
statistics are measured on the training set after training and stored in the module buffers.
"""
from __future__ import annotations

from typing import Any

import torch

from systems.components.autoencoder import MelAutoencoder
from systems.components.mel import MelFrontend
from systems.components.presets import Preset
from systems.training.loop import seeded_order

LATENT_PENALTY = 1e-3


class AutoencoderTask:
    kind = "autoencoder"

    def __init__(self, preset: Preset, wav: torch.Tensor) -> None:
        self.preset = preset
        self.config = preset.ae_key()
        self.frontend = MelFrontend(preset.mel)
        self.logmel = batched_logmel(self.frontend, wav)
        with torch.random.fork_rng():  # weights depend on the preset's seed only, not on prior RNG use
            torch.manual_seed(preset.ae_train.seed)
            self.net = MelAutoencoder(preset.mel.n_mels, preset.ae)
        self.net.mel_mean.fill_(self.logmel.mean().item())
        self.net.mel_std.fill_(self.logmel.std().item())

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"ae": self.net}

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.net.parameters(), lr=self.preset.ae_train.lr, weight_decay=0.0)

    def batch(self, update: int) -> torch.Tensor:
        t = self.preset.ae_train
        return self.logmel[seeded_order(len(self.logmel), t.batch, update, t.seed)]

    def loss(self, batch: torch.Tensor, generator: torch.Generator,
             ) -> tuple[torch.Tensor, dict[str, Any], int]:
        z = self.net.encode_raw(batch)
        recon = self.net.decoder(z)
        target = (batch - self.net.mel_mean) / self.net.mel_std
        l1 = (recon - target).abs().mean()
        mse = (recon - target).pow(2).mean()
        penalty = z.pow(2).mean()
        loss = l1 + mse + LATENT_PENALTY * penalty
        return loss, {"l1": l1.item(), "mse": mse.item(), "z2": penalty.item()}, 0


@torch.no_grad()
def batched_logmel(frontend: MelFrontend, wav: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Log-mel of many clips, a batch at a time (bounded memory)."""
    n = wav.shape[-1] - wav.shape[-1] % (2 * frontend.config.hop)  # whole latent frames only
    return torch.cat([frontend.logmel(wav[i: i + batch, :n]) for i in range(0, len(wav), batch)])


@torch.no_grad()
def fit_latent_stats(net: MelAutoencoder, logmel: torch.Tensor, batch: int = 64) -> None:
    """Store per-channel latent mean and std over the training set (accumulated in float64)."""
    total = torch.zeros(net.config.latent_channels, dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    count = 0
    for i in range(0, len(logmel), batch):
        z = net.encode_raw(logmel[i: i + batch]).double()
        total += z.sum(dim=(0, 2))
        total_sq += z.pow(2).sum(dim=(0, 2))
        count += z.shape[0] * z.shape[2]
    mean = total / count
    net.latent_mean.copy_(mean.float())
    net.latent_std.copy_((total_sq / count - mean**2).clamp_min(1e-12).sqrt().float())
