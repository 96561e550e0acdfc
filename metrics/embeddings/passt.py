"""PaSST backend (package ``hear21passt``, pip extra ``passt``): 32 kHz AudioSet tagger.

``hear21passt.base.get_basic_model(mode="all")`` returns ``concat(527 logits, 768 features)``.
Default ``window="first10s"`` is av-benchmark's convention (``av_bench/extract.py``): the first
10 s, truncated or zero-padded to 320000 samples, one frame per clip; ``embedding`` = the 768-d
features (``embed[:, 527:]``), ``logits`` = the 527 pre-activation AudioSet logits.
``window="sam"`` is stable-audio-metrics' KL windowing (``src/passt_kld.py``): 10 s windows
every 5 s, a short window zero-padded to 10 s only if it is longer than 1.5 s, one frame per
window. SAM then averages logits over windows and applies a softmax; that is the KL metric's job.
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from metrics.embeddings.base import (
    BackendUnavailable,
    EmbeddingBackend,
    install_hint,
    package_weights_availability,
)

PASST_SR = 32_000
WINDOW = 320_000  # 10 s: PaSST's training length
N_CLASSES = 527
ARCH = "passt_s_swa_p16_128_ap476"
CHECKPOINT = "passt-s-f128-p16-s10-ap.476-swa.pt"
URL = "https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/" + CHECKPOINT
ENV_VAR = "FASTAUDIO_PASST_WEIGHTS"
LABELS_ENV_VAR = "FASTAUDIO_AUDIOSET_LABELS"
# Front end of hear21passt.base.get_basic_model, repeated so a local weights file gets the same
# mel (the augmentation ranges are inactive in eval mode).
MEL_SETTINGS = dict(n_mels=128, sr=PASST_SR, win_length=800, hopsize=320, n_fft=1024, freqm=48,
                    timem=192, htk=False, fmin=0.0, fmax=None, norm=1, fmin_aug_range=10,
                    fmax_aug_range=2000)


def first_window(x: np.ndarray, size: int = WINDOW) -> np.ndarray:
    """[n] -> [size] float32: truncate, or zero-pad at the end (av-benchmark)."""
    out = np.zeros(size, np.float32)
    piece = np.asarray(x, np.float32)[:size]
    out[:len(piece)] = piece
    return out


def sam_window_bounds(n: int, sr: int = PASST_SR, window_s: float = 10.0, hop_s: float = 5.0,
                      min_frac: float = 0.15) -> list[tuple[int, int, bool]]:
    """(start, stop, zero-pad?) per SAM window; starts ``range(0, max(hop, n - hop), hop)``."""
    win, hop = int(window_s * sr), int(hop_s * sr)
    bounds = []
    for start in range(0, max(hop, n - hop), hop):
        stop = min(start + win, n)
        # SAM pads a short window only if it exceeds 15 % of the window; a shorter one is fed
        # unpadded (its comment says "discard", its code keeps it).
        bounds.append((start, stop, stop - start < win and stop - start > int(win * min_frac)))
    return bounds


def sam_windows(x: np.ndarray, sr: int = PASST_SR) -> list[np.ndarray]:
    """[n] -> float32 windows per ``sam_window_bounds`` (padded ones are exactly 10 s)."""
    x = np.asarray(x, np.float32)
    return [first_window(x[a:b], int(10.0 * sr)) if pad else x[a:b].copy()
            for a, b, pad in sam_window_bounds(len(x), sr)]


def parse_audioset_labels(text: str) -> list[str]:
    """AudioSet ``class_labels_indices.csv`` text (index,mid,display_name) -> names by index."""
    rows = list(csv.DictReader(io.StringIO(text)))
    names = [""] * len(rows)
    for row in rows:
        names[int(row["index"])] = row["display_name"]
    return names


class PasstBackend(EmbeddingBackend):
    """PaSST-S (AudioSet mAP .476, SWA): 768-d features and 527 AudioSet logits per frame."""

    name = "passt"
    sample_rate = PASST_SR
    dim = 768
    provides = frozenset({"embedding", "logits"})
    version = "1"
    weights_env_var = ENV_VAR

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.window = str(options.get("window", "first10s"))
        if self.window not in ("first10s", "sam"):
            raise ValueError(f"passt: window must be 'first10s' or 'sam', got {self.window!r}")
        self._model: Any = None

    @staticmethod
    def weights_hint() -> str:
        return (f"passt needs {CHECKPOINT} ({URL}): pass weights=PATH or set {ENV_VAR}=PATH; "
                "with internet, hear21passt downloads it into torch's hub cache on load()")

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(can run here, why not): hear21passt importable and any given weights path exists."""
        return package_weights_availability("passt", "hear21passt", "passt", "hear21passt", ENV_VAR,
                                            cls.weights_hint())

    def load(self, device: str = "cpu") -> None:
        try:
            import hear21passt.base as passt_base
        except ImportError as e:
            raise BackendUnavailable(f"passt: cannot import hear21passt ({e}); "
                                     f"{install_hint('passt', 'hear21passt')}") from e
        path = self.given_weights()
        # hear21passt prints the whole network while building it.
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                model = (self._from_file(path) if path
                         else passt_base.get_basic_model(mode="all"))
            except OSError as e:
                raise BackendUnavailable(f"passt weights unavailable ({e}). "
                                         f"{self.weights_hint()}") from e
        self._model, self.device = model.eval().to(device), device

    @staticmethod
    def _from_file(path: Path) -> Any:
        """get_basic_model(mode="all") with weights read from ``path`` instead of the hub."""
        import torch
        from hear21passt.models.passt import checkpoint_filter_fn, get_model
        from hear21passt.models.preprocess import AugmentMelSTFT
        from hear21passt.wrapper import PasstBasicWrapper

        net = get_model(arch=ARCH, pretrained=False)
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(checkpoint_filter_fn(state, net))
        return PasstBasicWrapper(mel=AugmentMelSTFT(**MEL_SETTINGS), net=net, mode="all")

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """[b, n] waveforms -> [b, 527 + 768] (logits, features)."""
        import torch

        if self._model is None:
            raise BackendUnavailable("passt: call load() before embedding")
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            out = self._model(torch.from_numpy(batch).to(self.device))
        return out.float().cpu().numpy()

    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        """Mono [n] clips at 32 kHz -> {"embedding": [frames, 768], "logits": [frames, 527]}."""
        mono = [np.asarray(c, np.float32) for c in clips]
        mono = [c.mean(axis=0) if c.ndim == 2 else c for c in mono]
        raw = ([self._forward(np.stack(sam_windows(c))) for c in mono] if self.window == "sam"
               else self._first10s(mono))
        out = []
        for r in raw:
            item: dict[str, Any] = {"embedding": r[:, N_CLASSES:]}
            if "logits" in want:
                item["logits"] = r[:, :N_CLASSES]
            out.append(item)
        return out

    def _first10s(self, mono: list[np.ndarray]) -> list[np.ndarray]:
        """Clips -> one [1, 1295] row each, batched (av-benchmark's first-10-s input)."""
        batch, rows = int(self.options.get("batch_size", 8)), []
        for i in range(0, len(mono), batch):
            out = self._forward(np.stack([first_window(c) for c in mono[i:i + batch]]))
            rows.extend(row[None] for row in out)
        return rows

    def label_names(self) -> list[str]:
        """The 527 AudioSet class names, from ``labels=PATH`` or ``$FASTAUDIO_AUDIOSET_LABELS``."""
        path = self.options.get("labels") or os.environ.get(LABELS_ENV_VAR)
        if not path or not Path(path).is_file():
            raise BackendUnavailable(
                "hear21passt ships no AudioSet class names: pass labels=PATH or set "
                f"{LABELS_ENV_VAR}=PATH to AudioSet's class_labels_indices.csv (527 rows: "
                "index,mid,display_name; from the AudioSet download page)")
        names = parse_audioset_labels(Path(path).read_text(encoding="utf-8"))
        if len(names) != N_CLASSES:
            raise BackendUnavailable(f"{path}: expected {N_CLASSES} AudioSet classes, "
                                     f"got {len(names)}")
        return names

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["options"] = {k: v for k, v in cfg["options"].items()
                          if k not in ("weights", "batch_size", "labels")}
        path = self.weights_path()
        cfg.update(arch=ARCH, checkpoint=path.name if path else CHECKPOINT,
                   weights_sha256=self.weights_sha256(), window=self.window,
                   window_rule=("first 10 s, truncate or zero-pad" if self.window == "first10s"
                                else "10 s windows, 5 s hop, zero-pad if > 1.5 s"))
        return cfg
