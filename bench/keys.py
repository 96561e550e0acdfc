"""Content keys and the writers shared by the runner's caches and run folders (clips, manifests, JSON)."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf


def content_key(data: Any) -> str:
    """24 hex digits of SHA-256 over canonical JSON: equal settings, equal key."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:24]


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (a kill never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def write_audio_atomic(path: Path, wav: np.ndarray, sample_rate: int) -> None:
    """A 24-bit FLAC clip written to a temporary name, then renamed (a kill never leaves half a clip)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(tmp, np.asarray(wav, dtype=np.float32), sample_rate, format="FLAC", subtype="PCM_24")
    os.replace(tmp, path)


def write_manifest(folder: Path, rows: list[dict[str, str]]) -> Path:
    """``folder/manifest.csv``: id, path, caption, then the other columns in sorted order."""
    columns = ["id", "path", "caption", *sorted({k for r in rows for k in r} - {"id", "path", "caption"})]
    path = folder / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path
