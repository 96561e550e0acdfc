"""Multi-resolution mel distance (DAC / audiotools ``MelSpectrogramLoss``); lower is better.

Convention implemented (DAC ``conf/base.yml`` settings of audiotools ``metrics/spectral.py``):
for each resolution r with window w_r in [32, 64, 128, 256, 512, 1024, 2048] and
n_mels_r in [5, 10, 20, 40, 80, 160, 320]:

- STFT: n_fft = w_r, hop = w_r / 4, periodic Hann window, centred, reflect padding
  (``torch.stft(center=True)``, ``match_stride=False``), magnitude |X| (``pow=1.0``);
- mel: ``|X| @ M_r.T`` with ``M_r = librosa.filters.mel(sr, n_fft=w_r, n_mels=n_mels_r,
  fmin=0, fmax=sr/2)`` (Slaney mel scale, Slaney area normalisation, as audiotools);
- ``L_r = mean |log10(max(mel_x, 1e-5)) − log10(max(mel_y, 1e-5))|`` over channels, frames, mels.

Value = mean over the 7 resolutions (``reduction=mean``, default). DAC's training loss is the
SUM over resolutions (``log_weight=1``, ``mag_weight=0``), i.e. 7× this value:
``reduction=sum`` reproduces it. Computed in float64 at the clip's own sample rate, so values
are comparable only between clips at the same rate.
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from scipy import sparse

from metrics.base import MetricInfo, MetricInputError
from metrics.lsd import stft_magnitude
from metrics.si_sdr import PairedMetric, paired_audio

WINDOWS = (32, 64, 128, 256, 512, 1024, 2048)
N_MELS = (5, 10, 20, 40, 80, 160, 320)
CLAMP = 1e-5


@lru_cache(maxsize=64)
def mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> sparse.csr_matrix:
    """Slaney mel filterbank [n_mels, n_fft//2 + 1] (``librosa.filters.mel`` defaults), float64.

    Kept sparse (each filter spans a few bins): the projection costs O(frames·bins), and small
    products avoid multithreaded BLAS start-up costs.
    """
    import librosa

    with warnings.catch_warnings():  # high-resolution banks leave some filters empty, as in DAC
        warnings.simplefilter("ignore")
        bank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0,
                                   fmax=None, dtype=np.float64)
    return sparse.csr_matrix(bank)


def log_mel(x: np.ndarray, sample_rate: int, window: int, n_mels: int) -> np.ndarray:
    """log10(max(mel magnitude, 1e-5)) [..., frames, n_mels] of signals x [..., samples]."""
    mag = stft_magnitude(x, window, window // 4)
    mel = (mel_filters(sample_rate, window, n_mels) @ mag.reshape(-1, mag.shape[-1]).T).T
    return np.log10(np.maximum(mel, CLAMP)).reshape(*mag.shape[:-1], n_mels)


def mel_distance(est: np.ndarray, ref: np.ndarray, sample_rate: int, windows=WINDOWS,
                 n_mels=N_MELS, reduction: str = "mean") -> float:
    """Multi-resolution log-mel L1 between est and ref [channels, samples] (or [samples])."""
    est, ref = (np.atleast_2d(np.asarray(a, np.float64)) for a in (est, ref))
    if est.shape != ref.shape or len(windows) != len(n_mels):
        raise MetricInputError(f"mel distance: shapes {est.shape} vs {ref.shape}, "
                               f"{len(windows)} windows vs {len(n_mels)} mel sizes")
    if reduction not in ("mean", "sum"):
        raise MetricInputError(f"mel distance reduction must be 'mean' or 'sum', got {reduction!r}")
    both, c = np.concatenate([est, ref]), est.shape[0]  # one STFT/matmul per resolution
    per_res = []
    for w, m in zip(windows, n_mels):
        logs = log_mel(both, sample_rate, w, m)
        per_res.append(np.abs(logs[:c] - logs[c:]).mean())  # = mean over channels of per-channel L1
    return float(np.sum(per_res) if reduction == "sum" else np.mean(per_res))


class MultiResolutionMelDistance(PairedMetric):
    """Multi-resolution mel distance, paired by id (``mel_distance``); lower is better."""

    info = MetricInfo(
        "mel_distance", higher_is_better=False, kind="paired", needs=("audio",),
        description="DAC/audiotools multi-resolution log10-mel L1, mean over 7 resolutions",
        needs_backend=False, domain=(0.0, np.inf),
    )
    options = {"reduction": "mean", "max_length_mismatch_s": 0.1}

    def pair_score(self, gen, ref, sample_rate: int | None) -> float:
        if sample_rate is None:
            raise MetricInputError("mel_distance needs the clips' sample_rate for its mel scale")
        g, r = paired_audio(gen, ref, sample_rate, float(self.opts["max_length_mismatch_s"]),
                            "mel_distance")
        return mel_distance(g, r, int(sample_rate), reduction=self.opts["reduction"])
