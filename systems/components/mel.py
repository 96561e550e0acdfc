"""Log-mel front end and its way back to a waveform (Griffin-Lim, no learned vocoder).

The autoencoder works on log-mel frames; waveforms come back through a non-negative inverse of
the mel filterbank followed by fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99) with a fixed
initial phase, so decoding is deterministic and independent of the batch. Griffin-Lim was chosen
over a learned vocoder so the tiny preset trains in minutes on a CPU; its reconstruction quality
is measured by ``tests/systems/test_components.py`` and reported in ``reports/``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

LOG_FLOOR = 1e-5  # amplitude floor before the log: -100 dB, below the 16-bit noise floor
NNLS_ITERS = 30


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256
    n_mels: int = 64
    fmin_hz: float = 0.0
    fmax_hz: float | None = None
    griffin_lim_iters: int = 32

    def to_dict(self) -> dict:
        return asdict(self)


class MelFrontend:
    """``logmel(wav [B, n]) -> [B, n_mels, n // hop]`` and ``invert(logmel) -> wav [B, frames*hop]``."""

    def __init__(self, config: MelConfig) -> None:
        self.config = config
        self._fb: torch.Tensor | None = None

    def filterbank(self) -> torch.Tensor:
        """Slaney-normalised mel filterbank [n_mels, n_fft // 2 + 1] (librosa's default)."""
        if self._fb is None:
            import librosa

            c = self.config
            fb = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels,
                                     fmin=c.fmin_hz, fmax=c.fmax_hz)
            self._fb = torch.from_numpy(fb.astype(np.float32))
        return self._fb

    def _window(self, device) -> torch.Tensor:
        return torch.hann_window(self.config.n_fft, device=device)

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """Complex STFT [B, bins, n // hop] (centred; the trailing frame is dropped)."""
        c = self.config
        spec = torch.stft(wav, c.n_fft, c.hop, window=self._window(wav.device), return_complex=True)
        return spec[..., : wav.shape[-1] // c.hop]

    def logmel(self, wav: torch.Tensor) -> torch.Tensor:
        """Natural-log mel magnitude of float32 audio [B, n]."""
        magnitude = self.stft(wav).abs()
        mel = torch.einsum("mf,bft->bmt", self.filterbank().to(wav.device), magnitude)
        return torch.log(mel.clamp_min(LOG_FLOOR))

    def invert(self, logmel: torch.Tensor, n_iter: int | None = None) -> torch.Tensor:
        """Waveform [B, frames*hop] from log-mel: pseudo-inverse magnitude + fast Griffin-Lim."""
        magnitude = self.mel_to_linear(logmel.exp())
        wav = self._griffin_lim(magnitude, n_iter or self.config.griffin_lim_iters)
        return wav.clamp(-1.0, 1.0)

    def mel_to_linear(self, mel: torch.Tensor, n_iter: int = NNLS_ITERS) -> torch.Tensor:
        """Non-negative S with fb·S ≈ mel: multiplicative updates for ‖fb S − M‖² (Lee & Seung 2001).

        The pseudo-inverse with clipping left 0.21 mean log-mel error on a chirp; 30 updates from
        S = fbᵀM leave 0.012.
        """
        fb = self.filterbank().to(mel.device)
        numerator = torch.einsum("mf,bmt->bft", fb, mel)
        gram = fb.T @ fb
        linear = numerator.clone()
        for _ in range(n_iter):
            linear = linear * numerator / torch.einsum("fg,bgt->bft", gram, linear).clamp_min(1e-10)
        return linear

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        c = self.config
        pad = torch.zeros_like(spec[..., :1])  # the dropped trailing frame
        full = torch.cat([spec, pad], dim=-1)
        return torch.istft(full, c.n_fft, c.hop, window=self._window(spec.device), length=length)

    def _griffin_lim(self, magnitude: torch.Tensor, n_iter: int) -> torch.Tensor:
        """Fast Griffin-Lim: x_k = P(c_k + α (c_k − c_{k−1})), α = 0.99 (Perraudin et al. eq. 4)."""
        length = magnitude.shape[-1] * self.config.hop
        phase = _fixed_phase(magnitude.shape[1:], magnitude.device)
        angles = torch.polar(torch.ones_like(magnitude), phase.expand_as(magnitude))
        previous = torch.zeros_like(angles)
        for _ in range(n_iter):
            rebuilt = self.stft(self._istft(magnitude * angles, length))
            accelerated = rebuilt + 0.99 * (rebuilt - previous)
            previous = rebuilt
            angles = accelerated / accelerated.abs().clamp_min(1e-8)
        return self._istft(magnitude * angles, length)


def _fixed_phase(shape, device) -> torch.Tensor:
    """A seeded uniform phase shared by every item, so decoding is deterministic."""
    gen = torch.Generator().manual_seed(0)
    return (torch.rand(tuple(shape), generator=gen) * 2 * torch.pi).to(device)
