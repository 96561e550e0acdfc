"""Floor and ceiling rows of a protocol, and the autoencoded reference set.

Every leaderboard number needs two anchors to be read:

- **floor** (``system = "real"``): real clips scored exactly like a system row. For procedural
  prompts these are fresh renders of the *same prompts* (same count, same ids, a render seed no
  reference uses), so the floor is what "indistinguishable from real" scores at this sample
  size, with the same pairing for KL and the same per-prompt groups for CCDS. For manifest
  protocols (real audio) it is the reference set split against itself: a seeded half of the
  references (as the generated side) against the other half (then the floor's sample sizes
  differ from the system rows'; the report says which construction was used).
- **ceiling** (``system = "autoencoder"``): the floor's clips through the shared autoencoder and
  the Griffin-Lim decoder: the best any system that generates in this latent space can score.

The **autoencoded references** are the reference clips through the same autoencoder + decoder:
the second reference set of ``METRIC[ae-ref]`` (the decoder's own artefacts then no longer
dominate the distance, so differences between systems show).

Clips are written into the run folder (``anchors/<role>/``) with a manifest; the autoencoded
references live in the cache, keyed by the reference set and the autoencoder's hash.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from bench import row_metrics
from bench.keys import content_key, write_audio_atomic, write_json, write_manifest
from common.audio_io import resample, to_mono
from common.paths import cache_root
from common.sources import load_source
from metrics.embeddings.base import file_sha256

ANCHOR_VERSION = 1  # bump when how anchor clips are made changes
FLOOR_SEED_SALT = 7919  # mixes into the floor's render seeds: no reference item uses them
AE_BATCH = 16


@dataclass(frozen=True)
class AnchorSet:
    """One anchor row's inputs: its generated-side manifest and the references it is scored on."""

    role: str  # "floor" | "ceiling"
    system: str  # "real" | "autoencoder"
    label: str
    construction: str
    gen_manifest: Path
    ref_manifest: Path


def floor_render_seed(prompt_seed: int, generation: int) -> int:
    """A 63-bit render seed for generation ``g`` of a procedural prompt, distinct from its own."""
    state = np.random.SeedSequence([int(prompt_seed), FLOOR_SEED_SALT, int(generation)]).generate_state(2)
    return int(np.uint64(state[0]) >> np.uint64(1))


def write_clip(folder: Path, item_id: str, wav: np.ndarray, sample_rate: int) -> str:
    """One clip under ``folder/audio``; returns its manifest path."""
    rel = f"audio/{item_id}.flac"
    write_audio_atomic(folder / rel, wav, sample_rate)
    return rel


def render_floor(protocol, items, folder: Path, sample_rate: int, duration_s: float) -> Path:
    """Fresh renders of each procedural prompt, one per generated item (same ids as system rows)."""
    from common.sfx.attributes import SfxAttributes
    from common.sfx.synth import render

    prompt_seeds = prompt_seeds_of(protocol)
    rows = []
    for it in items:
        prompt_index, generation = parse_item_id(it.item_id)
        seed = floor_render_seed(prompt_seeds[prompt_index], generation)
        wav = render(SfxAttributes.from_dict(it.meta), seed, sample_rate, duration_s)
        rows.append({"id": it.item_id, "path": write_clip(folder, it.item_id, wav, sample_rate),
                     "caption": it.prompt, **it.meta})
    return write_manifest(folder, rows)


def prompt_seeds_of(protocol) -> list[int]:
    from common.sfx.dataset import make_items

    spec = protocol.prompts
    return [it.seed for it in make_items(spec["split"], spec["n"], seed=spec.get("seed", 0))]


def parse_item_id(item_id: str) -> tuple[int, int]:
    """``p0003-g1`` -> (3, 1): the runner's item ids carry prompt index and generation."""
    prompt, generation = item_id.split("-")
    return int(prompt[1:]), int(generation[1:])


def split_references(ref_manifest: Path, folder: Path, seed: int) -> tuple[Path, Path]:
    """A seeded half of the references (floor's generated side) and the other half (its refs)."""
    items = load_source(ref_manifest).items
    order = np.random.default_rng([seed, FLOOR_SEED_SALT]).permutation(len(items))
    half = len(items) // 2
    sides = {"gen": [items[i] for i in sorted(order[:half])], "ref": [items[i] for i in sorted(order[half:])]}
    paths = {}
    for side, chosen in sides.items():
        sub = folder / side
        sub.mkdir(parents=True, exist_ok=True)
        rows = [{**it.meta, "id": it.id, "path": str(it.path), "caption": it.prompt or ""} for it in chosen]
        paths[side] = write_manifest(sub, rows)
    return paths["gen"], paths["ref"]


def autoencode(src_manifest: Path, folder: Path, ae) -> Path:
    """Every clip of ``src_manifest`` through the autoencoder + Griffin-Lim, same ids and columns."""
    import torch

    items = load_source(src_manifest).items
    rows = []
    for start in range(0, len(items), AE_BATCH):
        chunk = items[start:start + AE_BATCH]
        wavs = [_read_at(it.path, ae.sample_rate) for it in chunk]
        n = min(len(w) for w in wavs)
        recon = ae.decode(ae.encode(torch.from_numpy(np.stack([w[:n] for w in wavs]))))
        for it, wav in zip(chunk, recon.numpy()):
            rows.append({**it.meta, "id": it.id, "caption": it.prompt or "",
                         "path": write_clip(folder, it.id, np.clip(wav, -1, 1), ae.sample_rate)})
    return write_manifest(folder, rows)


def _read_at(path: Path, sample_rate: int) -> np.ndarray:
    wav, rate = sf.read(path, dtype="float32", always_2d=True)
    return resample(to_mono(wav.T), rate, sample_rate).astype(np.float32)


def autoencoded_references(ref_manifest: Path, ref_key: str, components) -> Path:
    """The reference set through the autoencoder, built once per (references, autoencoder)."""
    key = content_key({"ref": ref_key, "ae": components.hashes["autoencoder"], "v": ANCHOR_VERSION})
    folder = cache_root() / "ae-references" / key
    if not (folder / "manifest.csv").exists():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        autoencode(ref_manifest, tmp, components.ae)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    return folder / "manifest.csv"


def build_anchors(protocol, items, ref_manifest: Path, run_dir: Path, components) -> list[AnchorSet]:
    """The floor and ceiling sets of a run (written under ``run_dir/anchors``; reused on resume)."""
    root = run_dir / "anchors"
    floor_dir, ceiling_dir = root / "floor", root / "ceiling"
    if protocol.prompts["source"] == "sfx":
        construction = "fresh renders of the same prompts (same ids and sample size as the system rows)"
        if not (floor_dir / "manifest.csv").exists():
            preset = components.preset
            render_floor(protocol, items, floor_dir, preset.mel.sample_rate,
                         protocol.duration_s or preset.clip_duration_s)
        gen, ref = floor_dir / "manifest.csv", ref_manifest
    else:
        construction = "the reference set split in halves (half vs the other half)"
        gen, ref = split_references(ref_manifest, floor_dir, protocol.seed)
    if not (ceiling_dir / "manifest.csv").exists():
        autoencode(gen, ceiling_dir, components.ae)
    return [AnchorSet("floor", "real", "real clips (floor)", construction, gen, ref),
            AnchorSet("ceiling", "autoencoder", "real clips through autoencoder + Griffin-Lim (ceiling)",
                      construction + ", through the shared autoencoder and decoder",
                      ceiling_dir / "manifest.csv", ref)]


def run_anchors(ctx, components) -> list[dict]:
    """The floor and ceiling rows of a run (``ctx``: the runner's RunContext). Their metrics are
    cached like a row's, keyed by the content hash of every anchor clip."""
    t0 = time.perf_counter()
    rows = []
    for anchor in build_anchors(ctx.protocol, ctx.items, ctx.refs["raw"], ctx.out, components):
        folder = anchor.gen_manifest.parent
        done = folder / "anchor.json"
        if done.exists():
            rows.append(json.loads(done.read_text()))
            continue
        keys = [anchor.role, *clip_hashes(anchor.gen_manifest)]  # the clips' content, not their settings
        refs = {**ctx.refs, "raw": anchor.ref_manifest}
        metrics = row_metrics.cached_metrics(
            row_metrics.row_key(ctx.protocol, keys, refs, ctx.fingerprint) if ctx.cache else None,
            lambda a=anchor, r=refs: row_metrics.evaluate_sets(ctx.protocol, a.gen_manifest, r))
        row = anchor_row(anchor, metrics, ctx.out)
        write_json(done, row)
        rows.append(row)
    ctx.clock.add("anchors", time.perf_counter() - t0)
    return rows


def clip_hashes(manifest: Path) -> list[str]:
    """``id:sha256`` of every clip of a manifest: anchor metrics are cached by what was scored."""
    return [f"{it.id}:{file_sha256(it.path)}" for it in load_source(manifest).items]


def anchor_row(anchor, metrics: dict, out: Path) -> dict:
    """An anchor in the row schema (role floor/ceiling; no sampler, steps, NFE or speed)."""
    audio = [{"item_id": it.id, "prompt": it.prompt, "path": _relative(it.path, out)}
             for it in load_source(anchor.gen_manifest).items]
    return {"row_id": f"anchor/{anchor.role}", "role": anchor.role, "system": anchor.system, "sampler": "-",
            "steps": 0, "guidance": None, "nfe": None, "label": anchor.label,
            "construction": anchor.construction, "metrics": metrics, "audio": audio,
            "speed": {"skipped": True}}


def _relative(path: Path, out: Path) -> str:
    try:
        return path.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return str(path)
