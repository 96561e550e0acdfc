"""The shared latent autoencoder: waveform -> log-mel -> compact latent, and back.

A 1-D convolutional autoencoder over normalised log-mel frames with one stride-2 stage, so the
latent rate is ``sample_rate / (2 * hop)`` (31.25 frames/s for the tiny preset). After training,
latents are normalised per channel and scaled to std ``sigma_data`` (0.5), the scale the EDM
preconditioning assumes (systems-reference §4). Decoding returns to audio via Griffin-Lim
(:mod:`systems.components.mel`). Frozen inside every system.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from systems.components.mel import MelConfig, MelFrontend


@dataclass(frozen=True)
class AEConfig:
    channels: int = 128
    latent_channels: int = 16
    blocks: int = 2
    kernel: int = 5
    sigma_data: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


class ResBlock(nn.Module):
    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv1d(channels, channels, kernel, padding=kernel // 2),
            nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv1d(channels, channels, kernel, padding=kernel // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class MelAutoencoder(nn.Module):
    """log-mel [B, n_mels, T] <-> latent [B, Cz, T/2]; normalisation statistics live in buffers."""

    def __init__(self, n_mels: int, config: AEConfig) -> None:
        super().__init__()
        c, k = config.channels, config.kernel
        self.config = config
        self.encoder = nn.Sequential(
            nn.Conv1d(n_mels, c, k, padding=k // 2), *[ResBlock(c, k) for _ in range(config.blocks)],
            nn.Conv1d(c, c, 4, stride=2, padding=1), *[ResBlock(c, k) for _ in range(config.blocks)],
            nn.GroupNorm(8, c), nn.SiLU(), nn.Conv1d(c, config.latent_channels, 3, padding=1),
        )
        self.decoder = nn.Sequential(
            nn.Conv1d(config.latent_channels, c, 3, padding=1),
            *[ResBlock(c, k) for _ in range(config.blocks)],
            # nearest-neighbour upsampling + conv: a stride-2 transposed conv left a 31-Hz checkerboard
            # ripple that made steady tones read as click trains
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(c, c, 3, padding=1),
            *[ResBlock(c, k) for _ in range(config.blocks)],
            nn.GroupNorm(8, c), nn.SiLU(), nn.Conv1d(c, n_mels, k, padding=k // 2),
        )
        self.register_buffer("mel_mean", torch.zeros(()))
        self.register_buffer("mel_std", torch.ones(()))
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))

    def encode_raw(self, logmel: torch.Tensor) -> torch.Tensor:
        """Un-normalised latent of a log-mel batch."""
        return self.encoder((logmel - self.mel_mean) / self.mel_std)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Log-mel from an un-normalised latent."""
        return self.decoder(z) * self.mel_std + self.mel_mean

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        """Per-channel zero mean and std ``sigma_data``."""
        scale = self.config.sigma_data / self.latent_std
        return (z - self.latent_mean[:, None]) * scale[:, None]

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        scale = self.latent_std / self.config.sigma_data
        return z * scale[:, None] + self.latent_mean[:, None]


class LatentAutoencoder:
    """The frozen component systems use: ``encode(wav) -> z`` and ``decode(z) -> wav``."""

    def __init__(self, mel: MelConfig, net: MelAutoencoder) -> None:
        self.frontend = MelFrontend(mel)
        self.net = net.eval().requires_grad_(False)
        self.sample_rate = mel.sample_rate
        self.latent_channels = net.config.latent_channels
        self.samples_per_frame = 2 * mel.hop
        self.latent_rate_hz = mel.sample_rate / self.samples_per_frame
        self.sigma_data = net.config.sigma_data

    def frames_for(self, duration_s: float) -> int:
        """Latent frames covering at least ``duration_s`` (one frame minimum)."""
        return max(1, -(-round(duration_s * self.sample_rate) // self.samples_per_frame))

    def to(self, device) -> LatentAutoencoder:
        self.net.to(device)
        return self

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B, Cz, n // (2 hop)] of float32 audio [B, n]."""
        n = wav.shape[-1] - wav.shape[-1] % self.samples_per_frame
        return self.net.normalise(self.net.encode_raw(self.frontend.logmel(wav[..., :n])))

    @torch.inference_mode()
    def decode_logmel(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decode_raw(self.net.denormalise(z))

    @torch.inference_mode()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Audio [B, frames * 2 hop] in [-1, 1] via Griffin-Lim."""
        return self.frontend.invert(self.decode_logmel(z))
