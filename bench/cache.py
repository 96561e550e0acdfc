"""Content-addressed embedding cache, outside the data folders.

Key = SHA-256 of (backend config incl. version and weights hash, every I/O setting, the audio
file's content hash). Values are float32 ``.npz`` files written atomically (temp + rename).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def cache_key(backend_config: dict, io_config: dict, audio_sha256: str) -> str:
    blob = json.dumps({"backend": backend_config, "io": io_config, "audio": audio_sha256},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = self.misses = 0

    def _path(self, backend: str, key: str) -> Path:
        return self.root / "embeddings" / backend / key[:2] / f"{key}.npz"

    def get(self, backend: str, key: str) -> dict[str, Any] | None:
        if self.root is None or not (p := self._path(backend, key)).exists():
            self.misses += 1
            return None
        with np.load(p) as z:
            out: dict[str, Any] = {k: z[k] for k in z.files if not k.startswith("layer_")}
            layers = sorted((k for k in z.files if k.startswith("layer_")), key=lambda k: int(k[6:]))
            if layers:
                out["layers"] = [z[k] for k in layers]
        self.hits += 1
        return out

    def put(self, backend: str, key: str, value: dict[str, Any]) -> None:
        if self.root is None:
            return
        arrays = {k: np.asarray(v, np.float32) for k, v in value.items() if k != "layers"}
        arrays.update({f"layer_{i}": np.asarray(v, np.float32)
                       for i, v in enumerate(value.get("layers") or [])})
        path = self._path(backend, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)  # atomic: a reader never sees a half-written entry
