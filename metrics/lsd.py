"""Log-spectral distance (LSD) between generated/decoded audio and its reference; lower is better.

``LSD = mean_t sqrt(mean_f (log10(|X_tf|² + ε) − log10(|Y_tf|² + ε))²)``, X = STFT of the
estimate, Y = of the reference, ε = 1e-10 (the form used for AudioLDM / NVSR-style super-
resolution evaluation; audioldm_eval ``audio_metrics`` writes it as ``log10(Y²/(X+1e-12)² +
1e-12)``, the same quantity up to where ε sits). Unit: log10 of power ("bels", no ×10), so
scaling a signal by a gives LSD = 2|log10 a| away from ε.

STFT: n_fft 2048, hop 512, periodic Hann window of n_fft samples, centred frames with reflect
padding (``torch.stft(center=True)`` / ``librosa.stft`` defaults). Multichannel clips are mixed
to mono (channel mean) first; lengths are aligned as in ``metrics.si_sdr.paired_audio``.
"""
from __future__ import annotations

import numpy as np

from metrics.base import MetricInfo, MetricInputError
from metrics.si_sdr import PairedMetric, paired_audio


def hann(n: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window('hann', n)``, ``torch.hann_window``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def stft_magnitude(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| [..., frames, n_fft//2 + 1] of signals x [..., samples]; centred, reflect, Hann."""
    x = np.asarray(x, np.float64)
    pad = n_fft // 2
    if x.ndim < 1 or x.shape[-1] <= pad:
        raise MetricInputError(f"STFT with n_fft={n_fft} needs signals longer than {pad} "
                               f"samples, got shape {x.shape}; use longer clips")
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]
    return np.abs(np.fft.rfft(frames * hann(n_fft), axis=-1))


def log_spectral_distance(est: np.ndarray, ref: np.ndarray, n_fft: int = 2048, hop: int = 512,
                          eps: float = 1e-10) -> float:
    """LSD between 1-d signals est and ref [samples] of equal length."""
    est, ref = np.asarray(est, np.float64), np.asarray(ref, np.float64)
    if est.shape != ref.shape:
        raise MetricInputError(f"LSD: shapes differ {est.shape} vs {ref.shape}")
    log_x = np.log10(stft_magnitude(est, n_fft, hop) ** 2 + eps)
    log_y = np.log10(stft_magnitude(ref, n_fft, hop) ** 2 + eps)
    return float(np.sqrt(np.mean((log_x - log_y) ** 2, axis=1)).mean())


class LogSpectralDistance(PairedMetric):
    """LSD of mono mixes, paired by id (``lsd``); lower is better."""

    info = MetricInfo(
        "lsd", higher_is_better=False, kind="paired", needs=("audio",),
        description="log-spectral distance, n_fft 2048 / hop 512, mono mix (audioldm_eval form)",
        needs_backend=False, domain=(0.0, np.inf),
    )
    options = {"n_fft": 2048, "hop": 512, "eps": 1e-10, "max_length_mismatch_s": 0.1}

    def pair_score(self, gen, ref, sample_rate: int | None) -> float:
        g, r = paired_audio(gen, ref, sample_rate, float(self.opts["max_length_mismatch_s"]),
                            "LSD")
        return log_spectral_distance(g.mean(axis=0), r.mean(axis=0), int(self.opts["n_fft"]),
                                     int(self.opts["hop"]), float(self.opts["eps"]))
