"""Well-known locations: the cache root and the optional ../shared folder beside the repo."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """Cache for embeddings and converted weights: $FASTAUDIO_CACHE or ~/.cache/fastaudio-bench."""
    root = os.environ.get("FASTAUDIO_CACHE") or Path.home() / ".cache" / "fastaudio-bench"
    return Path(root)


def shared_dir() -> Path | None:
    """The developers' ../shared folder (real audio, YAMNet) if present, else None."""
    candidate = Path(os.environ.get("FASTAUDIO_SHARED", REPO_ROOT.parent / "shared"))
    return candidate if candidate.is_dir() else None
