"""Audio I/O: decode (soundfile), validate, resample (soxr), channel policy, peak normalisation.

Policies (documented in README "Input policy"):
- unreadable/corrupt file, NaN/Inf samples, empty file: ``AudioInputError`` naming the file;
- longer than ``max_duration_s`` (default 600 s): error before decoding (checked from the header);
- silence is valid audio: peak normalisation leaves it at zero and it is reported as a warning;
- any channel count is read; ``to_mono`` averages channels; stereo conventions keep L/R.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")
RESAMPLER = "soxr-HQ"  # recorded in every result and cache key
DEFAULT_MAX_DURATION_S = 600.0
SILENCE_PEAK = 1e-8  # below this a clip counts as digital silence


class AudioInputError(ValueError):
    """A file the evaluation cannot use; the message names the file and the fix."""


@dataclass
class AudioBatch:
    """A batch of clips at one rate. ``samples[i]``: [channels, n_i] float32."""

    ids: list[str]
    samples: list[np.ndarray]
    sample_rate: int
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def audio_info(path: Path, max_duration_s: float = DEFAULT_MAX_DURATION_S) -> sf._SoundFileInfo:
    """Header of ``path``; raises if unreadable, empty or longer than ``max_duration_s``."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for corrupt/unknown files
        raise AudioInputError(
            f"{path}: cannot read audio ({exc}). Re-export it as WAV/FLAC/OGG, or remove it "
            "from the folder/manifest."
        ) from exc
    if info.frames == 0:
        raise AudioInputError(f"{path}: file has no samples; regenerate it or remove it")
    duration_s = info.frames / info.samplerate
    if duration_s > max_duration_s:
        raise AudioInputError(
            f"{path}: {duration_s:.1f} s is longer than max_duration_s={max_duration_s:g} s. "
            "Trim it, or raise the limit with --max-duration-s if you really mean to embed it."
        )
    return info


def read_audio(path: Path, max_duration_s: float = DEFAULT_MAX_DURATION_S) -> tuple[np.ndarray, int]:
    """Decode ``path`` to [channels, samples] float32 and its rate, validating samples."""
    audio_info(path, max_duration_s)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioInputError(f"{path}: decoding failed ({exc}); the file is corrupt") from exc
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioInputError(
            f"{path}: {bad} NaN/Inf samples. Fix the generator (e.g. clamp or nan_to_num) and "
            "re-export; metrics on such audio are meaningless."
        )
    return np.ascontiguousarray(data.T), int(rate)


def to_mono(x: np.ndarray) -> np.ndarray:
    """[channels, n] -> [n] by averaging channels (fadtk/kadtk convention)."""
    return x.mean(axis=0) if x.ndim == 2 else x


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample [channels, n] or [n] with soxr (HQ); identity when rates match."""
    if rate_in == rate_out:
        return x.astype(np.float32, copy=False)
    import soxr

    y = soxr.resample(x.T if x.ndim == 2 else x, rate_in, rate_out, quality="HQ")
    return np.ascontiguousarray(y.T if x.ndim == 2 else y, dtype=np.float32)


def is_silent(x: np.ndarray) -> bool:
    return float(np.max(np.abs(x))) < SILENCE_PEAK if x.size else True


def peak_normalize(x: np.ndarray, peak_dbfs: float = -1.0) -> np.ndarray:
    """Scale so the absolute peak is ``peak_dbfs``; silence is returned unchanged (no 0/0)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak < SILENCE_PEAK:
        return x
    return (x * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)


def pad_to(x: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad the last axis to at least ``n`` samples."""
    if x.shape[-1] >= n:
        return x
    width = [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])]
    return np.pad(x, width)
