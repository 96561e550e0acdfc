"""Items, splits and on-disk manifests of the embedded sound-effect set.

Splits:
- ``train`` and ``test``: attribute combinations outside the held-out set; the same combinations,
  different item seeds (the split name is part of every seed).
- ``heldout``: only the held-out combinations (~10 % of the 432, chosen by a hash of the
  combination), never produced by train/test: a compositional-generalisation split.

Attributes are drawn like ``sample_attributes`` (each attribute uniform) and re-drawn until the
combination belongs to the split. Everything follows from (split, index, seed).
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from common.sfx.attributes import ATTRIBUTES, SfxAttributes, all_combinations, sample_attributes
from common.sfx.captions import caption
from common.sfx.synth import render

SPLITS = ("train", "test", "heldout")
HELDOUT_FRACTION = 0.1
MAX_DRAWS = 10_000  # rejection sampling for the held-out split accepts ~1 draw in 10
AUDIO_FORMATS = {"flac": "PCM_24", "wav": "FLOAT"}  # 24-bit keeps -40 dBFS clips clean


@dataclass(frozen=True)
class SfxItem:
    """One clip: its id, caption, attributes and render seed."""

    id: str
    caption: str
    attrs: SfxAttributes
    seed: int


def is_heldout(attrs: SfxAttributes) -> bool:
    """Whether the combination belongs to the held-out split (hash of its key < 10 %)."""
    digest = hashlib.sha256(attrs.key().encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < HELDOUT_FRACTION


def heldout_combinations() -> list[SfxAttributes]:
    """Every held-out combination."""
    return [a for a in all_combinations() if is_heldout(a)]


def item_seed(split: str, index: int, seed: int = 0) -> int:
    """A 63-bit render seed unique to (split, index, seed)."""
    _check_split(split)
    state = np.random.SeedSequence([int(seed), SPLITS.index(split), int(index)]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def make_items(split: str, n: int, seed: int = 0) -> list[SfxItem]:
    """``n`` items of ``split``; deterministic in (split, n, seed), item i independent of n."""
    _check_split(split)
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    return [_item(split, i, seed) for i in range(n)]


def _item(split: str, index: int, seed: int) -> SfxItem:
    s = item_seed(split, index, seed)
    rng = np.random.default_rng([s, 1])  # attribute draws: a stream separate from the render's
    want_heldout = split == "heldout"
    for _ in range(MAX_DRAWS):
        attrs = sample_attributes(rng)
        if is_heldout(attrs) == want_heldout:
            return SfxItem(f"sfx-{split}-{seed}-{index:05d}", caption(attrs, s), attrs, s)
    raise RuntimeError(f"no {split} combination in {MAX_DRAWS} draws; check HELDOUT_FRACTION")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS}")


def render_item(item: SfxItem, sample_rate: int = 16000, clip_duration_s: float = 2.048) -> np.ndarray:
    """The item's clip (float32 [n])."""
    return render(item.attrs, item.seed, sample_rate, clip_duration_s)


def write_manifest(out_dir: str | Path, items: list[SfxItem], sample_rate: int = 16000,
                   clip_duration_s: float = 2.048, audio_format: str = "flac") -> Path:
    """Render ``items`` to ``out_dir/audio/<id>.<ext>`` and write ``out_dir/manifest.csv``.

    Columns: id, path (relative to the manifest), caption, one per attribute (direction empty
    for non-chirps), seed -- readable by ``common.sources.load_source``.
    """
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(f"audio_format={audio_format!r} is not one of {tuple(AUDIO_FORMATS)}")
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError("items have duplicate ids; build them with one make_items call per split")
    out = Path(out_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rows = [_write_audio(out, it, sample_rate, clip_duration_s, audio_format) for it in items]
    path = out / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "path", "caption", *ATTRIBUTES, "seed"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_audio(out: Path, item: SfxItem, sample_rate: int, clip_duration_s: float,
                 audio_format: str) -> dict[str, str]:
    rel = f"audio/{item.id}.{audio_format}"
    wav = render_item(item, sample_rate, clip_duration_s)
    sf.write(out / rel, wav, sample_rate, subtype=AUDIO_FORMATS[audio_format])
    attrs = {k: v or "" for k, v in item.attrs.to_dict().items()}
    return {"id": item.id, "path": rel, "caption": item.caption, **attrs, "seed": str(item.seed)}
