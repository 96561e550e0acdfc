"""OpenL3 backends in stable-audio-metrics' FD_openl3 convention (``src/openl3_fd.py``).

mel256 front end, 512-d embeddings, 1 s windows every 0.5 s with ``center=True``. OpenL3
resamples anything that is not 48 kHz to 48 kHz internally (resampy ``kaiser_best``); this
backend's ``sample_rate`` is 48 kHz, so the engine's soxr output goes in unchanged and OpenL3's
resampler is never used. (SAM resamples to 44.1 kHz with soxr first and lets OpenL3 resample that
to 48 kHz, so its band limit is 22.05 kHz; resample to 44.1 kHz before the engine to match it.)

``channels=2`` (default) is SAM's stereo: L and R embedded separately and concatenated per frame
(1024-d), a mono clip duplicated to L = R. ``channels=1`` embeds the channel mean (512-d).
Implementation: ``openl3`` (TensorFlow, the reference) if importable, else ``torchopenl3``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from metrics.embeddings.base import (
    BackendUnavailable,
    EmbeddingBackend,
    install_hint,
)

OPENL3_SR = 48_000  # openl3.core.TARGET_SR
HOP_S = 0.5
INPUT_REPR = "mel256"
EMBEDDING_SIZE = 512
IMPLEMENTATIONS = ("openl3", "torchopenl3")


def openl3_frame_count(n: int, sr: int = OPENL3_SR, hop_s: float = HOP_S,
                       center: bool = True) -> int:
    """Frames OpenL3 returns for ``n`` samples at 48 kHz (openl3.core._get_num_windows)."""
    frame, hop = sr, int(hop_s * sr)
    n = n + frame // 2 if center else n
    return 1 if n <= frame else 1 + int(np.ceil((n - frame) / hop))


def channel_signals(clip: np.ndarray, n_channels: int) -> list[np.ndarray]:
    """[n] or [c, n] -> [mono] (channel mean) or [L, R] (mono duplicated to L = R, as SAM)."""
    x = np.asarray(clip, np.float32)
    x = x[None] if x.ndim == 1 else x
    if n_channels == 1:
        return [x.mean(axis=0)]
    return [x[0], x[0]] if x.shape[0] == 1 else [x[0], x[1]]


def installed_implementation() -> str | None:
    """The first importable OpenL3 package ("openl3" preferred), found without importing it."""
    return next((m for m in IMPLEMENTATIONS if importlib.util.find_spec(m) is not None), None)


def install_help() -> str:
    return (f"{install_hint('openl3', 'openl3')} (its install downloads the weights, so it fails "
            "without internet), or `pip install torchopenl3` (downloads its weights from GitHub "
            "into torch's hub cache on first use); either way weights need internet once, or pass "
            "weights=PATH (an openl3 .h5 file or a torchopenl3 .pth.tar state dict)")


class OpenL3Backend(EmbeddingBackend):
    """OpenL3 mel256/512 embeddings every 0.5 s; subclasses fix the content type."""

    sample_rate = OPENL3_SR
    dim = 2 * EMBEDDING_SIZE
    channels = "stereo"
    version = "1"
    content_type: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.n_channels = int(options.get("channels", 2))
        if self.n_channels not in (1, 2):
            raise ValueError(f"{self.name}: channels must be 1 or 2, got {self.n_channels}")
        # Instance values override the class defaults: the engine reads them after construction.
        self.channels = "stereo" if self.n_channels == 2 else "mono"
        self.dim = EMBEDDING_SIZE * self.n_channels
        self.implementation = str(options.get("implementation") or installed_implementation()
                                  or IMPLEMENTATIONS[0])
        self._model: Any = None

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(can run here, why not): openl3 or torchopenl3 importable."""
        if installed_implementation() is None:
            return False, (f"{cls.name}: neither openl3 nor torchopenl3 is installed; "
                           f"{install_help()}")
        return True, ""

    def weights_hint(self) -> str:
        return install_help()

    def load(self, device: str = "cpu") -> None:
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"{self.name}: implementation must be one of {IMPLEMENTATIONS}")
        path = self.given_weights()
        try:
            loader = self._load_tf if self.implementation == "openl3" else self._load_torch
            self._model = loader(path, device)
        except ImportError as e:
            raise BackendUnavailable(f"{self.name}: cannot import {self.implementation} ({e}); "
                                     f"{install_help()}") from e
        except OSError as e:  # missing .h5 next to openl3, or no internet for torchopenl3
            raise BackendUnavailable(f"{self.name}: OpenL3 weights unavailable ({e}); "
                                     f"{install_help()}") from e
        self.device = device

    def _load_tf(self, path: Path | None, device: str) -> Any:
        """Keras model from openl3 (weights beside the package, or ``path``)."""
        import openl3

        if path is not None:
            return openl3.models.load_audio_embedding_model_from_path(
                str(path), INPUT_REPR, EMBEDDING_SIZE)
        return openl3.models.load_audio_embedding_model(
            input_repr=INPUT_REPR, content_type=self.content_type, embedding_size=EMBEDDING_SIZE)

    def _load_torch(self, path: Path | None, device: str) -> Any:
        """torchopenl3 port (weights from torch's hub cache / GitHub, or ``path``)."""
        import torch
        import torchopenl3

        if path is None:
            model = torchopenl3.core.load_audio_embedding_model(
                INPUT_REPR, self.content_type, EMBEDDING_SIZE)
        else:
            model = torchopenl3.models.PytorchOpenl3(
                content_type=self.content_type, input_repr=INPUT_REPR,
                embedding_size=EMBEDDING_SIZE)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval().to(device)

    def _embed_signals(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        """Mono 48 kHz signals -> [frames, 512] each, hop 0.5 s, centred windows."""
        if self._model is None:
            raise BackendUnavailable(f"{self.name}: call load() before embedding")
        kw = dict(model=self._model, hop_size=HOP_S, center=True, verbose=False,
                  batch_size=int(self.options.get("batch_size", 32)))
        if self.implementation == "openl3":
            import openl3

            emb, _ = openl3.get_audio_embedding(signals, [OPENL3_SR] * len(signals), **kw)
            return [np.asarray(e, np.float32) for e in emb]
        import torch
        import torchopenl3

        tensors = [torch.as_tensor(s, dtype=torch.float64, device=self.device) for s in signals]
        emb, _ = torchopenl3.get_audio_embedding(tensors, OPENL3_SR, **kw)
        return [e.float().cpu().numpy() for e in emb]

    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        """[n] or [2, n] clips at 48 kHz -> {"embedding": [frames, 512 x channels]}."""
        out = []
        for clip in clips:
            per_channel = self._embed_signals(channel_signals(clip, self.n_channels))
            out.append({"embedding": np.concatenate(per_channel, axis=1)})
        return out

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["options"] = {k: v for k, v in cfg["options"].items()
                          if k not in ("weights", "batch_size")}
        path = self.weights_path()
        cfg.update(implementation=self.implementation, content_type=self.content_type,
                   input_repr=INPUT_REPR, embedding_size=EMBEDDING_SIZE, hop_s=HOP_S,
                   center=True, n_channels=self.n_channels,
                   weights=path.name if path else "package default", weights_sha256=self.weights_sha256())
        return cfg
