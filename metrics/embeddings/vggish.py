"""VGGish backend (package ``torchvggish``, pip extra ``vggish``): 16 kHz, 128-d per 0.96 s.

fadtk / audioldm_eval / gudgud96 convention: the harritaylor/torchvggish port, ``postprocess=False``
(no PCA, no 8-bit quantisation) and the last ReLU removed so embeddings are pre-activation like
Google's (torchvggish#24); clips shorter than 1 s are zero-padded to 1 s (fadtk ``min_len=1``,
fadtk#25). Framing is torchvggish's: 25 ms / 10 ms log-mel frames grouped into non-overlapping
96-frame examples, incomplete examples dropped.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from metrics.embeddings.base import (
    BackendUnavailable,
    EmbeddingBackend,
    install_hint,
    package_weights_availability,
)

VGGISH_SR = 16_000
CHECKPOINT = "vggish-10086976.pth"
URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/" + CHECKPOINT
ENV_VAR = "FASTAUDIO_VGGISH_WEIGHTS"
STFT_WIN, STFT_HOP = 400, 160  # 25 ms and 10 ms at 16 kHz (vggish_params)
EXAMPLE_FRAMES = 96  # 0.96 s examples, hop 0.96 s


def pad_to_min(x: np.ndarray, n_min: int = VGGISH_SR) -> np.ndarray:
    """[n] -> [max(n, n_min)]: zero-pad at the end (fadtk ``enforce_min_len``)."""
    x = np.asarray(x)
    return np.pad(x, (0, n_min - len(x))) if len(x) < n_min else x


def vggish_example_count(n: int) -> int:
    """Examples torchvggish makes from ``n`` samples at 16 kHz (mel_features.frame, twice)."""
    frames = 1 + (n - STFT_WIN) // STFT_HOP if n >= STFT_WIN else 0
    return 1 + (frames - EXAMPLE_FRAMES) // EXAMPLE_FRAMES if frames >= EXAMPLE_FRAMES else 0


class VggishBackend(EmbeddingBackend):
    """VGGish embeddings, pre-activation, no PCA."""

    name = "vggish"
    sample_rate = VGGISH_SR
    dim = 128
    min_duration_s = 1.0
    version = "1"
    weights_env_var = ENV_VAR

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._model: Any = None

    @staticmethod
    def weights_hint() -> str:
        return (f"vggish needs {CHECKPOINT} ({URL}, harritaylor/torchvggish): pass weights=PATH "
                f"or set {ENV_VAR}=PATH to that state dict; with internet, load() downloads it "
                "into torch's hub cache")

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(can run here, why not): torchvggish importable and any given weights path exists."""
        return package_weights_availability("vggish", "torchvggish", "vggish", "torchvggish", ENV_VAR,
                                            cls.weights_hint())

    def load(self, device: str = "cpu") -> None:
        try:
            import torch
            import torchvggish
        except ImportError as e:
            raise BackendUnavailable(f"vggish: cannot import torchvggish ({e}); "
                                     f"{install_hint('vggish', 'torchvggish')}") from e
        model = torchvggish.VGG(torchvggish.make_layers(), postprocess=False)
        model.load_state_dict(self._state_dict())
        # fadtk use_activation=False: drop the final ReLU so embeddings are pre-activation.
        model.embeddings = torch.nn.Sequential(*list(model.embeddings.children())[:-1])
        self._model, self.device = model.eval().to(device), device

    def _state_dict(self) -> dict[str, Any]:
        """The weights file's state dict, or torch hub's cached/downloaded copy."""
        import torch

        path = self.given_weights()
        try:
            if path is not None:
                return torch.load(path, map_location="cpu", weights_only=True)
            return torch.hub.load_state_dict_from_url(URL, map_location="cpu")
        except OSError as e:
            raise BackendUnavailable(f"vggish weights unavailable ({e}). "
                                     f"{self.weights_hint()}") from e

    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        """Mono [n] clips at 16 kHz -> {"embedding": [examples, 128]}."""
        import torch
        from torchvggish import vggish_input

        if self._model is None:
            raise BackendUnavailable("vggish: call load() before embedding")
        out = []
        for clip in clips:
            x = np.asarray(clip, np.float64)  # fadtk feeds float64 (int16 / 32768)
            x = pad_to_min(x.mean(axis=0) if x.ndim == 2 else x)
            examples = vggish_input.waveform_to_examples(x, VGGISH_SR, return_tensor=True)
            with torch.no_grad():
                emb = self._model(examples.detach().to(self.device))
            out.append({"embedding": emb.float().cpu().numpy().reshape(-1, self.dim)})
        return out

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["options"] = {k: v for k, v in cfg["options"].items() if k != "weights"}
        path = self.weights_path()
        cfg.update(checkpoint=path.name if path else CHECKPOINT, weights_sha256=self.weights_sha256(),
                   postprocess=False, last_relu=False, pad_to_s=1.0, example_s=0.96)
        return cfg
