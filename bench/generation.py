"""Generating a row's clips: canonical batches, the cross-run generation cache, NFE and manifests.

A row's items are cut into *canonical batches* of ``GEN_BATCH`` clips (items ``[b·B, (b+1)·B)``):
the unit of generation, of resume (a batch whose clips are all on disk is skipped, a partial one is
generated whole, so a resumed row's batches are a fresh row's) and of sharding across the ranks of
a ``torchrun`` launch (batch b → rank b mod N, :func:`common.dist.owned_batches`): every clip is
generated in the same batch, so it is the same clip, whichever process made it. Clips are also
cached across runs by a content key (:func:`generation_key`).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from bench.keys import content_key, write_audio_atomic, write_manifest
from common import dist
from common.paths import cache_root

GEN_BATCH = 16   # clips per generation call: the canonical batch of a run (sharding and resume unit)


def clip_keys_of(system, sampler, steps, guidance, duration_s, items) -> list[str]:
    """Each item's generation key (the content key of its clip)."""
    from systems.api import GenRequest

    request = GenRequest(prompts=[items[0].prompt], seeds=[items[0].seed], steps=steps, guidance=guidance,
                         duration_s=duration_s, sampler=sampler)
    one = [replace(request, prompts=(it.prompt,), seeds=(it.seed,)) for it in items]
    return [f"{it.item_id}:{generation_key(system, req, it)}" for it, req in zip(items, one)]


def generate_row(system, sampler, steps, guidance, duration_s, items, row_dir: Path, progress: bool,
                 cache: bool = True, batch: int = GEN_BATCH, sharded: bool = True) -> int:
    """Write one clip per item in canonical batches of ``batch`` (this rank's share of them; a batch
    whose clips are all on disk is skipped); returns the NFE per sample (on rank 0). ``sharded=False``:
    this process generates every batch, with no collective (a set that rank 0 alone makes)."""
    from systems.api import GenRequest

    audio_dir = row_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    nfe = _stored_nfe(row_dir)
    shared = sharded and dist.active()   # this rank makes its share; rank 0 writes the row's files
    owned = dist.owned_batches(len(items), batch, *((dist.rank(), dist.world_size()) if shared else (0, 1)))
    for span in tqdm(owned, desc=f"generate {sampler}/{steps}", disable=not progress, leave=False):
        chunk = [items[i] for i in span]
        if all((audio_dir / f"{it.item_id}.flac").exists() for it in chunk):
            continue
        request = GenRequest(prompts=[it.prompt for it in chunk], seeds=[it.seed for it in chunk],
                             steps=steps, guidance=guidance, duration_s=duration_s, sampler=sampler)
        nfe = _generate_cached(system, request, chunk, audio_dir, cache)
        if not shared:
            (row_dir / "nfe.json").write_text(json.dumps({"nfe": nfe}))
    if shared:
        nfe = next((n for n in dist.gather(nfe) if n is not None), None)
        if dist.is_main():
            _write_nfe(row_dir, nfe)
            write_row_manifest(row_dir, items)
        dist.barrier()   # the manifest exists for every rank from here
        if not dist.is_main():
            return nfe
    else:
        write_row_manifest(row_dir, items)
    return nfe if nfe is not None else _nfe_of(system, sampler, steps, guidance, duration_s, items[0])


def _write_nfe(row_dir: Path, nfe: int | None) -> None:
    if nfe is not None:
        (row_dir / "nfe.json").write_text(json.dumps({"nfe": nfe}))


def _generate_cached(system, request, chunk, audio_dir: Path, use_cache: bool = True) -> int:
    """Generate the items missing from the cross-run generation cache; copy all into the row."""
    cache = cache_root() / "generations" if use_cache else audio_dir.parent / "generated"
    keys = [generation_key(system, request, it) for it in chunk]
    missing = [k for k in keys if not (cache / f"{k}.flac").exists()]
    nfe = _cached_nfe(cache, keys)
    if missing or nfe is None:
        result = system.generate(request)
        nfe = result.nfe
        for key, wav in zip(keys, result.audio):
            write_audio_atomic(cache / f"{key}.flac", wav, result.sample_rate)
            (cache / f"{key}.json").write_text(json.dumps({"nfe": nfe}))
    for key, item in zip(keys, chunk):
        shutil.copyfile(cache / f"{key}.flac", audio_dir / f"{item.item_id}.flac.tmp")
        os.replace(audio_dir / f"{item.item_id}.flac.tmp", audio_dir / f"{item.item_id}.flac")
    return nfe


def _cached_nfe(cache: Path, keys: list[str]) -> int | None:
    path = cache / f"{keys[0]}.json"
    return json.loads(path.read_text())["nfe"] if path.exists() else None


def _stored_nfe(row_dir: Path) -> int | None:
    path = row_dir / "nfe.json"
    return json.loads(path.read_text())["nfe"] if path.exists() else None


def _nfe_of(system, sampler, steps, guidance, duration_s, item) -> int:
    """NFE when every clip came from disk: one cheap generation of a single item."""
    from systems.api import GenRequest

    return system.generate(GenRequest(prompts=[item.prompt], seeds=[item.seed], steps=steps,
                                      guidance=guidance, duration_s=duration_s, sampler=sampler)).nfe


def generation_key(system, request, item) -> str:
    """Content key of one clip: every setting that changes it, the system's registered name included."""
    return content_key({"system": system.cache_config(), "sampler": request.sampler, "steps": request.steps,
                        "guidance": request.guidance, "duration_s": request.duration_s, "prompt": item.prompt,
                        "seed": item.seed, "format": "flac24-v1"})


def write_row_manifest(row_dir: Path, items: list) -> Path:
    """The row's manifest: each item's clip, caption and procedural attributes."""
    return write_manifest(row_dir, [{"id": it.item_id, "path": f"audio/{it.item_id}.flac",
                                     "caption": it.prompt, **it.meta} for it in items])
