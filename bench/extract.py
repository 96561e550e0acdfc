"""Turn items into per-clip ``Features`` for one backend: decode, channels, resample, embed, cache."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from tqdm import tqdm

from bench import audio_io
from bench.cache import EmbeddingCache, cache_key
from bench.sources import Item
from metrics.base import Features
from metrics.embeddings.base import EmbeddingBackend, file_sha256


@dataclass(frozen=True)
class IOConfig:
    """Every I/O setting that can change an embedding (part of the cache key)."""

    resampler: str = audio_io.RESAMPLER
    peak_dbfs: float | None = None  # None: no normalisation; SAM uses -1.0
    short_policy: str = "pad"  # clips under the backend's window are zero-padded and reported
    max_duration_s: float = audio_io.DEFAULT_MAX_DURATION_S

    def key(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "max_duration_s"}


def prepare_clip(x: np.ndarray, rate: int, backend: EmbeddingBackend, io: IOConfig) -> np.ndarray:
    """[channels, n] at ``rate`` -> what the backend takes (mono [n] or stereo [2, n])."""
    if backend.channels == "stereo":
        if x.shape[0] > 2:
            raise audio_io.AudioInputError(
                f"{x.shape[0]} channels; {backend.name} (stereo convention) takes 1 or 2")
        x = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x
    else:
        x = audio_io.to_mono(x)
    x = audio_io.resample(x, rate, backend.sample_rate)
    if io.peak_dbfs is not None:
        x = audio_io.peak_normalize(x, io.peak_dbfs)
    return audio_io.pad_to(x, int(np.ceil(backend.min_duration_s * backend.sample_rate)))


class Extractor:
    """Batched, cached feature extraction; remembers file hashes and what it had to report."""

    def __init__(self, io: IOConfig, cache: EmbeddingCache, batch_size: int = 16,
                 progress: bool = True) -> None:
        self.io, self.cache, self.batch_size, self.progress = io, cache, batch_size, progress
        self._sha: dict[str, str] = {}
        self.notes: dict[str, set[str]] = {"silent": set(), "padded": set()}

    def sha(self, item: Item) -> str:
        key = str(item.path)
        if key not in self._sha:
            self._sha[key] = file_sha256(item.path)
        return self._sha[key]

    def features(self, backend: EmbeddingBackend, items: Sequence[Item], want: frozenset[str],
                 label: str = "") -> list[Features]:
        config = {**backend.config(), "layers": "layers" in want}
        keys = [cache_key(config, self.io.key(), self.sha(it)) for it in items]
        outputs = [self.cache.get(backend.name, k) for k in keys]
        todo = [i for i, o in enumerate(outputs) if o is None]
        bar = tqdm(total=len(todo), desc=f"{backend.name} {label}".strip(), unit="clip",
                   disable=not self.progress or not todo, leave=False)
        for start in range(0, len(todo), self.batch_size):
            idx = todo[start:start + self.batch_size]
            clips = [self._load(items[i], backend) for i in idx]
            for i, out in zip(idx, backend.embed(clips, want)):
                self.cache.put(backend.name, keys[i], out)
                outputs[i] = out
            bar.update(len(idx))
        bar.close()
        return [_to_features(it, o) for it, o in zip(items, outputs)]

    def _load(self, item: Item, backend: EmbeddingBackend) -> np.ndarray:
        x, rate = audio_io.read_audio(item.path, self.io.max_duration_s)
        if audio_io.is_silent(x):
            self.notes["silent"].add(item.id)
        if x.shape[-1] < backend.min_duration_s * rate:
            self.notes["padded"].add(f"{item.id} ({x.shape[-1] / rate:.3f} s < "
                                     f"{backend.min_duration_s:.3f} s for {backend.name})")
        try:
            return prepare_clip(x, rate, backend, self.io)
        except audio_io.AudioInputError as exc:
            raise audio_io.AudioInputError(f"{item.path}: {exc}") from exc

    def signals(self, items: Sequence[Item], rate: int | None) -> list[Features]:
        """Raw audio [channels, n] for signal metrics, resampled to ``rate`` (None: native)."""
        out = []
        for it in items:
            x, r = audio_io.read_audio(it.path, self.io.max_duration_s)
            rate = target = rate or r  # None: every clip at the first clip's native rate
            out.append(Features(it.id, it.prompt, audio=audio_io.resample(x, r, target),
                                sample_rate=target))
        return out


def _to_features(item: Item, out: dict) -> Features:
    return Features(item.id, item.prompt, embedding=out.get("embedding"), logits=out.get("logits"),
                    layers=out.get("layers"))
