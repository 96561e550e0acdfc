"""Turn items into per-clip ``Features`` for one backend: decode, channels, resample, embed, cache.

Each clip's notes (digital silence; its length, for the zero-padding warning) are cached with
its embedding, so a warm run reports the same warnings as a cold one. Embeddings with NaN/Inf
are refused before they reach the cache. A file is hashed between two ``stat`` calls and decoded
only if it is still in that state, so the cache key always describes the audio decoded.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from tqdm import tqdm

from bench.cache import EmbeddingCache, cache_key
from bench.settings import SettingsError, io_problems
from common import audio_io
from common.sources import Item
from metrics.base import Features
from metrics.embeddings.base import EmbeddingBackend, file_sha256


@dataclass(frozen=True)
class IOConfig:
    """Every I/O setting that can change an embedding (part of the cache key)."""

    resampler: str = audio_io.RESAMPLER
    peak_dbfs: float | None = None  # None: no normalisation; SAM uses -1.0
    short_policy: str = "pad"  # clips under the backend's window are zero-padded and reported
    max_duration_s: float = audio_io.DEFAULT_MAX_DURATION_S

    def __post_init__(self) -> None:
        problems = io_problems(self.peak_dbfs, self.max_duration_s)
        if self.resampler != audio_io.RESAMPLER or self.short_policy != "pad":
            problems.append(f"only resampler={audio_io.RESAMPLER!r} and short_policy='pad' are "
                            f"implemented, got {self.resampler!r} and {self.short_policy!r}")
        if problems:
            raise SettingsError("; ".join(problems))

    def key(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "max_duration_s"}


#: per-clip notes cached beside the embedding: silent (0/1), native frames and rate (float32 is
#: exact for every clip short enough to be padded)
NOTE_KEYS = ("note_silent", "note_frames", "note_rate")


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


def entry_config(backend: EmbeddingBackend, want: frozenset[str]) -> dict:
    """The backend part of a cache key: its ``config()`` and what the entry holds.

    ``"layers"`` is False for embedding-only entries, so those keys do not depend on which layers
    a backend would give. A layered entry is keyed by the backend's own description of its layers
    (``config()["layers"]``, e.g. aisfx's blocks and input window) when it has one, else True:
    changing what a backend extracts as layers never reuses layers cached before.
    """
    config = backend.config()
    return {**config, "layers": config.get("layers", True) if "layers" in want else False}


class Extractor:
    """Batched, cached feature extraction; remembers file hashes and what it had to report."""

    def __init__(self, io: IOConfig, cache: EmbeddingCache, batch_size: int = 16,
                 progress: bool = True) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise SettingsError(f"--batch-size must be an integer >= 1, got {batch_size!r}")
        self.io, self.cache, self.batch_size, self.progress = io, cache, batch_size, progress
        self._sha: dict[str, tuple[str, audio_io.FileState]] = {}
        self.notes: dict[str, set[str]] = {"silent": set(), "padded": set()}

    def _hashed(self, item: Item) -> tuple[str, audio_io.FileState]:
        """(SHA-256, file state while hashing); refuses a file that changes while it is hashed."""
        key = str(item.path)
        if key not in self._sha:
            state = audio_io.file_state(item.path)  # also refuses FIFOs/devices before the open
            digest = file_sha256(item.path)
            audio_io.check_unchanged(item.path, state, "while it was hashed")
            self._sha[key] = (digest, state)
        return self._sha[key]

    def sha(self, item: Item) -> str:
        return self._hashed(item)[0]

    def features(self, backend: EmbeddingBackend, items: Sequence[Item], want: frozenset[str],
                 label: str = "") -> list[Features]:
        config = entry_config(backend, want)
        keys = [cache_key(config, self.io.key(), self.sha(it)) for it in items]
        required = ("embedding", *NOTE_KEYS, *(("layers",) if "layers" in want else ()))
        outputs = [self.cache.get(backend.name, k, required) for k in keys]
        self._embed_missing(backend, items, keys, outputs, want, label)
        for it, out in zip(items, outputs):
            self._remember(it, backend, out)
        return [_to_features(it, o) for it, o in zip(items, outputs)]

    def _embed_missing(self, backend: EmbeddingBackend, items: Sequence[Item], keys: list[str],
                       outputs: list, want: frozenset[str], label: str) -> None:
        """Fill the cache misses in ``outputs`` batch by batch, caching each finite result."""
        todo = [i for i, o in enumerate(outputs) if o is None]
        with tqdm(total=len(todo), desc=f"{backend.name} {label}".strip(), unit="clip",
                  disable=not self.progress or not todo, leave=False) as bar:  # closed on errors too
            for start in range(0, len(todo), self.batch_size):
                idx = todo[start:start + self.batch_size]
                loaded = [self._load(items[i], backend) for i in idx]
                embedded = backend.embed([clip for clip, _ in loaded], want)
                for i, out, (_, notes) in zip(idx, embedded, loaded, strict=True):
                    _check_finite(items[i], backend, out)  # NaN never reaches the cache or a metric
                    outputs[i] = {**out, **notes}
                    self.cache.put(backend.name, keys[i], outputs[i])
                bar.update(len(idx))

    def _load(self, item: Item, backend: EmbeddingBackend) -> tuple[np.ndarray, dict]:
        """The clip as the backend takes it, and its notes (cached with the embedding)."""
        x, rate = audio_io.read_audio(item.path, self.io.max_duration_s, expect=self._hashed(item)[1])
        notes = {"note_silent": np.array([float(audio_io.is_silent(x))]),
                 "note_frames": np.array([float(x.shape[-1])]), "note_rate": np.array([float(rate)])}
        try:
            return prepare_clip(x, rate, backend, self.io), notes
        except audio_io.AudioInputError as exc:
            raise audio_io.AudioInputError(f"{item.path}: {exc}") from exc

    def _remember(self, item: Item, backend: EmbeddingBackend, out: dict) -> None:
        """Silence and padding warnings from a clip's notes (fresh or from the cache alike)."""
        if out["note_silent"][0]:
            self.notes["silent"].add(item.id)
        frames, rate = float(out["note_frames"][0]), float(out["note_rate"][0])
        if frames < backend.min_duration_s * rate:
            self.notes["padded"].add(f"{item.id} ({frames / rate:.3f} s < "
                                     f"{backend.min_duration_s:.3f} s for {backend.name})")

    def signals(self, items: Sequence[Item], rate: int | None) -> list[Features]:
        """Raw audio [channels, n] for signal metrics, resampled to ``rate`` (None: native)."""
        out = []
        for it in items:
            x, r = audio_io.read_audio(it.path, self.io.max_duration_s)
            rate = target = rate or r  # None: every clip at the first clip's native rate
            out.append(Features(it.id, it.prompt, audio=audio_io.resample(x, r, target),
                                sample_rate=target, meta=dict(it.meta)))
        return out


def _check_finite(item: Item, backend: EmbeddingBackend, out: dict) -> None:
    arrays = [(k, v) for k, v in out.items() if k != "layers"]
    arrays += [(f"layer {i}", v) for i, v in enumerate(out.get("layers") or [])]
    bad = [k for k, v in arrays if not np.isfinite(np.asarray(v, np.float64)).all()]
    if bad:
        raise audio_io.AudioInputError(
            f"{item.path}: {backend.name} produced NaN/Inf values ({', '.join(bad)}) for this clip; "
            "they were not cached. Check the clip (extreme sample values?) or leave it out.")


def _to_features(item: Item, out: dict) -> Features:
    return Features(item.id, item.prompt, embedding=out.get("embedding"), logits=out.get("logits"),
                    layers=out.get("layers"))
