"""``mel``: weight-free, deterministic log-mel statistics (fast tests and smoke runs).

16 kHz; STFT 25 ms Hann window / 10 ms hop; 64 HTK mel bands; log(mel + 1e-6). Each
non-overlapping 0.5 s window (50 STFT frames) gives one 128-d frame: per-band mean and
standard deviation. Layers (for LPAPS): log-mel frames [T, 64] and 4x time-pooled [T/4, 64].
Not a perceptual embedding: use it to test plumbing, never to rank systems.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from metrics.embeddings.base import EmbeddingBackend

N_FFT, HOP, N_MELS, WINDOW_FRAMES = 400, 160, 64, 50


@lru_cache(maxsize=1)
def _filterbank() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=16000, n_fft=N_FFT, n_mels=N_MELS, htk=True).astype(np.float64)


def log_mel(x: np.ndarray) -> np.ndarray:
    """[n] mono 16 kHz -> [frames, 64] log-mel (frames = 1 + (n - 400) // 160)."""
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(1 + (len(x) - N_FFT) // HOP)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(N_FFT), axis=1)) ** 2
    return np.log(spec @ _filterbank().T + 1e-6)


def window_stats(mel: np.ndarray) -> np.ndarray:
    """[frames, 64] -> [windows, 128]: mean and std per full 0.5 s window (at least one)."""
    starts = range(0, max(len(mel) - WINDOW_FRAMES, 0) + 1, WINDOW_FRAMES)
    return np.stack([np.concatenate([mel[s:s + WINDOW_FRAMES].mean(0), mel[s:s + WINDOW_FRAMES].std(0)])
                     for s in starts])


def pool_time(mel: np.ndarray, factor: int = 4) -> np.ndarray:
    t = max(len(mel) // factor, 1)
    return mel[: t * factor].reshape(t, factor, -1).mean(axis=1) if len(mel) >= factor else mel


class MelStatistics(EmbeddingBackend):
    name, sample_rate, dim = "mel", 16000, 2 * N_MELS
    provides = frozenset({"embedding", "layers"})
    min_duration_s = 0.5

    def load(self, device: str = "cpu") -> None:
        self.device = device  # nothing to load: pure NumPy

    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        out = []
        for x in clips:
            mel = log_mel(np.asarray(x, np.float64))
            item = {"embedding": window_stats(mel).astype(np.float32)}
            if "layers" in want:
                item["layers"] = [mel.astype(np.float32), pool_time(mel).astype(np.float32)]
            out.append(item)
        return out
