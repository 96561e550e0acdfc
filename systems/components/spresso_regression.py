"""S-PRESSO's deterministic decoder ablation: the same codes decoded without diffusion.

S-PRESSO's claim (§2.4) is that a *diffusion* decoder turns codes at ~1 kbps into plausible audio
where a deterministic decoder trained with a reconstruction loss returns the blurred conditional
mean. The shared autoencoder's decoder cannot read z directly (z runs at the latent rate / t with
d_z = C/c channels), so the ablation maps z to the AE's latents with the smallest learned bridge
and then uses the AE's own decoder (and Griffin-Lim): ``h(z_q) = x̂0`` trained with MSE to x0 on
the same quantised codes the diffusion decoder sees in stage 3. Everything upstream — g_ψ, the
quantiser, the payload — is shared, so the two rows differ only in the decoder.

``h``: a linear lift of each z frame to ``width``, nearest-neighbour upsampling by t (trimmed to F
latent frames, as f_φ does), pre-norm transformer blocks with rotary positions (g_ψ's blocks), a
final LayerNorm and a linear map to the C latent channels.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from systems.api import SystemInputError
from systems.components.spresso_net import EncoderBlock


class RegressionDecoder(nn.Module):
    """h: ``z [B, d_z, ⌈F/t⌉] → x̂0 [B, C, F]`` (see the module docstring)."""

    def __init__(self, z_channels: int, latent_channels: int, time_factor: int, width: int = 128,
                 depth: int = 4, heads: int = 4, mlp_ratio: float = 4.0, rope_base: float = 10000.0) -> None:
        super().__init__()
        if width % heads or (width // heads) % 2:
            raise SystemInputError(f"regression decoder width {width} must split into {heads} heads of even "
                                   "size (RoPE rotates pairs of dimensions)")
        self.z_channels, self.latent_channels, self.time_factor = z_channels, latent_channels, time_factor
        self.settings = {"z_channels": z_channels, "latent_channels": latent_channels,
                         "time_factor": time_factor, "width": width, "depth": depth, "heads": heads,
                         "mlp_ratio": float(mlp_ratio), "rope_base": float(rope_base)}
        self.lift = nn.Linear(z_channels, width)
        self.blocks = nn.ModuleList(EncoderBlock(width, heads, mlp_ratio, rope_base) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.to_latent = nn.Linear(width, latent_channels)

    def forward(self, z: torch.Tensor, frames: int) -> torch.Tensor:
        expected = math.ceil(frames / self.time_factor)
        if z.dim() != 3 or z.shape[1] != self.z_channels or z.shape[-1] != expected:
            raise SystemInputError(f"the regression decoder takes z [B, {self.z_channels}, ⌈{frames}/"
                                   f"{self.time_factor}⌉] for {frames} latent frames, got {tuple(z.shape)}")
        h = self.lift(z.transpose(1, 2)).repeat_interleave(self.time_factor, dim=1)[:, :frames]
        for block in self.blocks:
            h = block(h)
        return self.to_latent(self.norm(h)).transpose(1, 2)

    def config(self) -> dict:
        return dict(self.settings)
