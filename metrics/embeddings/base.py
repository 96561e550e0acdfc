"""Embedding backend contract.

A backend turns mono (or, where a convention wants it, stereo) float32 audio at its own
``sample_rate`` into per-clip outputs: ``embedding`` [frames, dim], optionally ``logits``
[frames, classes] (pre-activation), ``layers`` (list of [tokens, channels]) and text
embeddings. Constructors are cheap; ``load(device)`` does the heavy work; optional packages are
imported inside the backend with an install hint (``BackendUnavailable``).
"""
from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np


class BackendUnavailable(RuntimeError):
    """The backend cannot run here; the message says what to install or download."""


class EmbeddingBackend(ABC):
    name: ClassVar[str]
    sample_rate: ClassVar[int]
    dim: ClassVar[int]
    #: what ``embed`` can return besides "embedding": "logits", "layers"; "text" = embed_text
    provides: ClassVar[frozenset[str]] = frozenset({"embedding"})
    #: "mono" (channel mean) or "stereo" (L and R embedded separately, concatenated)
    channels: ClassVar[str] = "mono"
    #: shorter clips are zero-padded to this before embedding (policy, reported per clip)
    min_duration_s: ClassVar[float] = 0.0
    version: ClassVar[str] = "1"
    #: environment variable naming a weights file (backends that load one)
    weights_env_var: ClassVar[str | None] = None

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.device = "cpu"
        self._sha: str | None = None

    def weights_hint(self) -> str:
        """How to obtain the weights (appended to unavailability messages)."""
        return ""

    def weights_path(self) -> Path | None:
        """A weights file from the ``weights`` option, else ``$weights_env_var``, else None."""
        return weights_option(self.options, self.weights_env_var)

    def given_weights(self) -> Path | None:
        """``weights_path()``, refusing a path that was given but is not a file."""
        path = self.weights_path()
        if path is not None and not path.is_file():
            raise BackendUnavailable(f"{path} does not exist. {self.weights_hint()}")
        return path

    def weights_sha256(self) -> str | None:
        """SHA-256 of the weights file when one exists (computed once), for the cache key."""
        path = self.weights_path()
        if self._sha is None and path is not None and path.is_file():
            self._sha = file_sha256(path)
        return self._sha

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(can run here, why not) without loading anything heavy."""
        return True, ""

    @abstractmethod
    def load(self, device: str = "cpu") -> None:
        """Load weights onto ``device``; raise ``BackendUnavailable`` with a fix if impossible."""

    @abstractmethod
    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        """Clips ([n] mono or [2, n] stereo float32 at ``sample_rate``) -> one dict per clip."""

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), d] text embeddings (joint audio-text backends only)."""
        raise BackendUnavailable(f"{self.name} has no text tower; use a CLAP backend")

    def label_names(self) -> list[str]:
        raise BackendUnavailable(f"{self.name} has no classifier head")

    def config(self) -> dict[str, Any]:
        """Everything that changes the output: keys the embedding cache."""
        return {"name": self.name, "version": self.version, "sample_rate": self.sample_rate,
                "channels": self.channels, "min_duration_s": self.min_duration_s,
                "options": {k: str(v) for k, v in sorted(self.options.items())}}


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def install_hint(extra: str, package: str) -> str:
    return (f"install it with `pip install -e '.[{extra}]'` (package {package}) "
            "inside the project's .venv")


def as_frames(x: Any) -> np.ndarray:
    """Embedding output -> float32 [frames, d] (a single vector becomes one frame)."""
    a = np.asarray(x, dtype=np.float32)
    return a[None, :] if a.ndim == 1 else a


def weights_option(options: dict, env_var: str | None = None) -> Path | None:
    """A weights file from the ``weights`` option, else ``$env_var``, else None."""
    path = options.get("weights") or (os.environ.get(env_var) if env_var else None)
    return Path(path).expanduser() if path else None


def package_weights_availability(name: str, module: str, extra: str, package: str,
                                 env_var: str, weights_hint: str) -> tuple[bool, str]:
    """(ok, why) for backends needing an optional package and, if given by env, a weights file."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return False, f"{name}: {package} is not installed; {install_hint(extra, package)}. {weights_hint}"
    env = os.environ.get(env_var)
    if env and not Path(env).is_file():
        return False, f"{env_var}={env} is not a file. {weights_hint}"
    return True, ""
