"""Content-addressed embedding cache, outside the data folders.

Key = SHA-256 of (backend config incl. version and weights hash, every I/O setting, the audio
file's content hash). Values are float32 ``.npz`` files written atomically (temp + rename);
only finite arrays are stored. An entry that cannot be read back (truncated, corrupt,
non-finite) is deleted, counted as a miss and reported in ``warnings``, so the caller recomputes
it. An entry lacking a key the caller needs (written by an older version) is a plain miss. A
cache folder that cannot be created or written is refused up front (``check_usable``); a write
that fails mid-run (disk full) turns writing off for the rest of the run and is reported.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class CacheUnusableError(ValueError):
    """The cache folder cannot be created or written; the message says how to fix it."""


def cache_key(backend_config: dict, io_config: dict, audio_sha256: str) -> str:
    blob = json.dumps({"backend": backend_config, "io": io_config, "audio": audio_sha256},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = self.misses = 0
        self.writable = True
        self.warnings: list[str] = []

    def check_usable(self) -> None:
        """Create the cache folder and write a probe file into it, before any work is done."""
        if self.root is None:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise CacheUnusableError(
                f"cache folder {self.root} is unusable ({exc.strerror or exc}); set FASTAUDIO_CACHE to "
                "a writable folder, or pass --no-cache") from None

    def _path(self, backend: str, key: str) -> Path:
        return self.root / "embeddings" / backend / key[:2] / f"{key}.npz"

    def get(self, backend: str, key: str, required: Sequence[str] = ()) -> dict[str, Any] | None:
        """The entry, or None (a miss) if absent, unreadable or lacking a ``required`` key."""
        if self.root is None or not (p := self._path(backend, key)).exists():
            self.misses += 1
            return None
        try:
            out = _load(p)
        except UNREADABLE as exc:
            out = None
            self._discard(p, f"unreadable: {type(exc).__name__}: {exc}")
        if out is not None and not all(np.isfinite(a).all() for a in _arrays(out)):
            out = None
            self._discard(p, "holds NaN/Inf values")
        if out is None or not set(required) <= out.keys():
            self.misses += 1
            return None
        self.hits += 1
        return out

    def _discard(self, path: Path, why: str) -> None:
        self.warnings.append(f"cache entry {path} {why}; deleted and recomputed")
        with contextlib.suppress(OSError):  # it is overwritten by the recomputed entry anyway
            path.unlink()

    def put(self, backend: str, key: str, value: dict[str, Any]) -> None:
        if self.root is None or not self.writable:
            return
        arrays = {k: np.asarray(v, np.float32) for k, v in value.items() if k != "layers"}
        arrays.update({f"layer_{i}": np.asarray(v, np.float32)
                       for i, v in enumerate(value.get("layers") or [])})
        if not all(np.isfinite(a).all() for a in arrays.values()):
            raise ValueError("refusing to cache NaN/Inf values; callers check outputs first")
        path = self._path(backend, key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)  # atomic: a reader never sees a half-written entry
        except OSError as exc:
            self.writable = False
            self.warnings.append(f"writing the embedding cache failed ({exc}); the rest of this run "
                                 "was not cached")
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def _load(path: Path) -> dict[str, Any]:
    with np.load(path) as z:
        out: dict[str, Any] = {k: z[k] for k in z.files if not k.startswith("layer_")}
        layers = sorted((k for k in z.files if k.startswith("layer_")), key=lambda k: int(k[6:]))
        if layers:
            out["layers"] = [z[k] for k in layers]
    return out


def _arrays(entry: dict[str, Any]) -> list[np.ndarray]:
    return [v for k, v in entry.items() if k != "layers"] + list(entry.get("layers") or [])
