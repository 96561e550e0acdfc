"""``yamnet``: Google's YAMNet AudioSet classifier as an int8 TFLite file (LiteRT interpreter).

16 kHz mono; 0.975 s patches (15600 samples: 96 log-mel frames of 10 ms plus the 25 ms STFT
window) every 0.48 s, the clip end zero-padded to a whole number of hops as YAMNet's own
``pad_waveform`` does. Per patch: the 1024-d embedding (global average pool) and the 521
pre-sigmoid logits (``dense/BiasAdd``), read from the interpreter by tensor name and checked
on load. The weights are int8: never compare with float-YAMNet numbers.

Model path: option ``model_path``, else $FASTAUDIO_YAMNET (file or folder), else
../shared/models/yamnet beside the repository.
"""
from __future__ import annotations

import csv
import math
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from common.paths import shared_dir
from metrics.embeddings.base import BackendUnavailable, EmbeddingBackend, file_sha256, install_hint

PATCH, PATCH_HOP, N_CLASSES, EMB_DIM = 15600, 7680, 521, 1024
EMBEDDING_TENSOR, LOGITS_TENSOR = "global_average_pooling2d/Mean", "dense/BiasAdd"
GET_MODEL = ("download yamnet.tflite and yamnet_class_map.csv (TensorFlow Hub / Kaggle "
             "'google/yamnet' TFLite) and pass --yamnet PATH or set FASTAUDIO_YAMNET")


def patch_starts(n_samples: int) -> list[int]:
    """Start samples of the patches: 1 + ceil(max(0, n - 15600) / 7680) of them."""
    n_hops = math.ceil(max(0, n_samples - PATCH) / PATCH_HOP)
    return [i * PATCH_HOP for i in range(n_hops + 1)]


def frame_patches(x: np.ndarray) -> np.ndarray:
    """[n] -> [patches, 15600] float32, zero-padded at the end."""
    starts = patch_starts(len(x))
    padded = np.zeros(starts[-1] + PATCH, np.float32)
    padded[: len(x)] = x
    return np.stack([padded[s:s + PATCH] for s in starts])


def find_model(option: str | os.PathLike | None) -> Path | None:
    """Resolve the .tflite path from the option, the environment, or ../shared."""
    for candidate in (option, os.environ.get("FASTAUDIO_YAMNET"),
                      shared_dir() and shared_dir() / "models" / "yamnet"):
        if candidate:
            p = Path(candidate)
            p = p / "yamnet.tflite" if p.is_dir() else p
            if p.is_file():
                return p
    return None


class YamnetBackend(EmbeddingBackend):
    name, sample_rate, dim = "yamnet", 16000, EMB_DIM
    provides = frozenset({"embedding", "logits"})
    min_duration_s = PATCH / 16000
    version = "yamnet-int8-tflite/1"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec("ai_edge_litert") is None:
            return False, "package ai-edge-litert missing: " + install_hint("litert", "ai-edge-litert")
        if find_model(None) is None:
            return False, "YAMNet TFLite model not found: " + GET_MODEL
        return True, ""

    def load(self, device: str = "cpu") -> None:
        self.path = find_model(self.options.get("model_path"))
        if self.path is None:
            raise BackendUnavailable("YAMNet TFLite model not found: " + GET_MODEL)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise BackendUnavailable(install_hint("litert", "ai-edge-litert")) from exc
        with warnings.catch_warnings():  # preserving tensors is how we read embedding + logits
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors.*")
            self.interp = Interpreter(model_path=str(self.path), num_threads=1,
                                      experimental_preserve_all_tensors=True)
        self.interp.allocate_tensors()
        self._bind_tensors()
        self.device = "cpu"  # TFLite runs on the CPU whatever device is asked for

    def _bind_tensors(self) -> None:
        """Find input/embedding/logits tensors by name and check their shapes (no assumptions)."""
        inp = self.interp.get_input_details()[0]
        if list(inp["shape"]) != [1, PATCH]:
            raise BackendUnavailable(f"{self.path}: input shape {inp['shape']}, expected [1, {PATCH}]")
        self.in_index = inp["index"]
        by_name = {d["name"]: d for d in self.interp.get_tensor_details()}
        self.emb_index = _tensor_index(by_name, EMBEDDING_TENSOR, [1, EMB_DIM], self.path)
        self.logit_index = _tensor_index(by_name, LOGITS_TENSOR, [1, N_CLASSES], self.path)

    def config(self) -> dict[str, Any]:
        path = find_model(self.options.get("model_path"))
        return {**super().config(), "model_sha256": file_sha256(path) if path else None}

    def label_names(self) -> list[str]:
        with open(Path(self.path).with_name("yamnet_class_map.csv"), newline="") as f:
            return [row["display_name"] for row in csv.DictReader(f)]

    def embed(self, clips: Sequence[np.ndarray], want: frozenset[str]) -> list[dict[str, Any]]:
        return [self._embed_one(np.asarray(x, np.float32)) for x in clips]

    def _embed_one(self, x: np.ndarray) -> dict[str, Any]:
        emb, logits = [], []
        for patch in frame_patches(x):  # the TFLite graph takes exactly one patch per call
            self.interp.set_tensor(self.in_index, patch[None])
            self.interp.invoke()
            emb.append(self.interp.get_tensor(self.emb_index)[0].copy())
            logits.append(self.interp.get_tensor(self.logit_index)[0].copy())
        return {"embedding": np.stack(emb), "logits": np.stack(logits)}


def _tensor_index(by_name: dict, suffix: str, shape: list[int], path) -> int:
    hits = [d for name, d in by_name.items() if name.endswith(suffix)]
    if len(hits) != 1 or list(hits[0]["shape"]) != shape:
        raise BackendUnavailable(f"{path}: no unique tensor '*{suffix}' of shape {shape}; "
                                 "is this the YAMNet TFLite model?")
    return hits[0]["index"]
