"""Training data for the shared components and accelerators: (waveform, caption) clips.

Two sources, one shape ([N, samples] float32 at the preset's rate, plus N captions):
- ``sfx``: the embedded procedural sound-effect set (:mod:`common.sfx`), made on demand;
- a CSV manifest (id, path, caption, ...), e.g. ESC-50 or a user's AudioCaps download, read with
  the audio I/O of :mod:`common.audio_io` (mono mix, soxr resampling), then cropped or zero-padded
  to the clip length. A manifest row without a caption is an error, never silently dropped.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from common.audio_io import pad_to, read_audio, resample, to_mono
from common.sfx.dataset import make_items, render_item
from common.sources import load_source


@dataclass
class Clips:
    """Fixed-length training clips with their captions."""

    wav: torch.Tensor  # [N, samples] float32
    captions: list[str]
    ids: list[str]
    origin: str

    def __len__(self) -> int:
        return len(self.captions)


def load_clips(spec: dict, sample_rate: int, clip_duration_s: float, progress: bool = True) -> Clips:
    """Clips of ``spec``: ``{"source": "sfx", "n_train", "seed"}`` or ``{"source": "manifest", "path"}``."""
    n_samples = round(sample_rate * clip_duration_s)
    if spec.get("source") == "sfx":
        return sfx_clips(spec.get("split", "train"), int(spec["n_train"]), int(spec.get("seed", 0)),
                         sample_rate, n_samples, progress)
    if spec.get("source") == "manifest":
        return manifest_clips(Path(spec["path"]), sample_rate, n_samples, spec.get("where"), progress)
    raise ValueError(f"unknown data source {spec.get('source')!r}: use 'sfx' or 'manifest' (with 'path')")


def sfx_clips(split: str, n: int, seed: int, sample_rate: int, n_samples: int,
              progress: bool = True) -> Clips:
    """``n`` procedural clips of ``split`` rendered at ``sample_rate``."""
    items = make_items(split, n, seed=seed)
    duration_s = n_samples / sample_rate
    rows = [render_item(it, sample_rate, duration_s)[:n_samples]
            for it in tqdm(items, desc=f"render sfx/{split}", disable=not progress, leave=False)]
    wav = torch.from_numpy(np.stack([pad_to(r, n_samples) for r in rows]).astype(np.float32))
    return Clips(wav, [it.caption for it in items], [it.id for it in items], f"sfx/{split}/seed{seed}")


def manifest_clips(path: Path, sample_rate: int, n_samples: int, where=None, progress: bool = True) -> Clips:
    """Clips of a manifest: mono, resampled, cropped or zero-padded to ``n_samples``."""
    source = load_source(path, where)
    missing = [it.id for it in source.items if not it.prompt]
    if missing:
        raise ValueError(f"{path}: rows without a caption: {missing[:5]}; training needs a caption "
                         "column (caption/prompt/text) on every row")
    rows = []
    for item in tqdm(source.items, desc=f"read {path.name}", disable=not progress, leave=False):
        audio, rate = read_audio(item.path)
        rows.append(pad_to(resample(to_mono(audio), rate, sample_rate)[:n_samples], n_samples))
    wav = torch.from_numpy(np.stack(rows).astype(np.float32))
    return Clips(wav, [it.prompt for it in source.items], [it.id for it in source.items], str(path))


def load_prompt_set(path: Path, column: str = "caption", limit: int | None = None) -> list[str]:
    """Prompts from a caption CSV (e.g. AudioCaps ``test.csv``): non-empty, de-duplicated, in file order."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no column {column!r}; columns are {reader.fieldnames}")
        seen: dict[str, None] = {}
        for row in reader:
            text = (row[column] or "").strip()
            if text:
                seen.setdefault(text, None)
    prompts = list(seen)
    return prompts[:limit] if limit else prompts


def training_captions(spec: dict, sample_rate: int, clip_duration_s: float) -> list[str]:
    """The captions of the training clips of ``spec``, in order, without rendering procedural audio."""
    if spec.get("source") == "sfx":
        items = make_items(spec.get("split", "train"), int(spec["n_train"]), seed=int(spec.get("seed", 0)))
        return [it.caption for it in items]
    return load_clips(spec, sample_rate, clip_duration_s, progress=False).captions
