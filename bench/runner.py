"""The benchmark runner: a protocol × its systems → generated audio → metrics and speed → results.json.

Layout of a run folder (never overwritten; ``resume=True`` continues an interrupted one)::

    config.json        the protocol definition, version and hash
    environment.json   git hash, package versions, device
    rows/<system>/<sampler>/<steps>[/cfg<W>]/
        audio/*.flac   generated clips (24-bit), manifest.csv (id, path, caption, attributes)
        row.json       the finished row: metrics with CIs, speed, NFE, timings, training
    anchors/<floor|ceiling>/   the floor and ceiling clips (bench.anchors) and anchor.json
    results.json       every row, the anchors, the resolution table and the timings (written last)

Resume: a row with ``row.json`` is finished and loaded as is; inside an unfinished row, clips
already on disk are not generated again. Generations are also cached across runs by a content
key (the system's ``cache_config()``: its registered name and config; sampler, steps, guidance,
duration, prompt, seed), and the evaluation engine caches embeddings, so an unchanged re-run
costs little.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from bench import row_metrics
from bench.anchors import run_anchors
from bench.diversity import diversity_metrics
from bench.entries import (  # noqa: F401  (RunError, check_entries: re-exported)
    RunError,
    check_entries,
    row_name,
    row_variant,
    train_system,
)
from bench.keys import content_key, write_audio_atomic, write_json, write_manifest
from bench.protocols.base import CODEC, Protocol, SystemEntry
from bench.protocols.budgets import RULES
from bench.resolution import resolution
from common.paths import cache_root, shared_dir


@dataclass(frozen=True)
class GenItem:
    item_id: str
    prompt: str
    seed: int
    meta: dict[str, str]


@dataclass
class Clock:
    """Wall time per phase; what is left of the total is the harness's own overhead."""

    start: float
    phases: dict[str, float]

    def add(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    def summary(self) -> dict[str, float]:
        total = time.perf_counter() - self.start
        overhead = max(0.0, total - sum(self.phases.values()))
        return {"total_s": total, **{f"{k}_s": v for k, v in self.phases.items()},
                "overhead_s": overhead, "overhead_fraction": overhead / total if total else 0.0}


def run_protocol(protocol: Protocol, out_dir: str | Path, *, resume: bool = False, device: str = "cpu",
                 progress: bool = True, speed: bool = True, cache: bool = True,
                 speed_profile: str | None = None) -> dict[str, Any]:
    """Run every (system, sampler, steps) row of ``protocol`` into ``out_dir``; returns the results.
    A codec protocol (``kind="codec"``) runs in :mod:`bench.codec_runner` instead."""
    from bench.provenance import environment
    from systems.components.shared import load_components

    if protocol.kind == CODEC:
        from bench.codec_runner import run_codec_protocol

        return run_codec_protocol(protocol, out_dir, resume=resume, device=device, progress=progress,
                                  cache=cache)
    clock = Clock(time.perf_counter(), {})
    check_entries(protocol)
    out = claim_run_dir(Path(out_dir), protocol, resume)
    write_json(out / "environment.json", environment(device))
    items, ref_manifest = prompt_items(protocol), reference_manifest(protocol)
    t0 = time.perf_counter()
    components = load_components(protocol.preset, device, progress=progress)
    clock.add("load", time.perf_counter() - t0)
    ctx = RunContext(protocol, items, reference_sets(protocol, ref_manifest, components), out, clock,
                     progress, cache, row_metrics.metric_fingerprint(all_metric_specs(protocol)))
    anchors = run_anchors(ctx, components) if protocol.anchors else []
    rows = []
    for entry in protocol.systems:
        system = build_system(entry, components)
        ctx.training = train_system(ctx, entry, system, components)
        for sampler in entry.samplers:
            for steps in entry.steps:
                rows.append(run_row(ctx, entry, system, sampler, steps, speed, speed_profile))
    results = {"protocol": protocol_record(protocol),
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "environment": json.loads((out / "environment.json").read_text()),
               "components": components.config(), "metrics": ctx.fingerprint, "rows": rows,
               "anchors": anchors, "training_rules": dict(RULES),
               "resolution": resolution(rows, protocol.metric_names(), **protocol.resolution),
               "timings": clock.summary()}
    write_json(out / "results.json", results)
    return results


@dataclass
class RunContext:
    """What every row of a run shares: the protocol, items, reference sets and run settings."""

    protocol: Protocol
    items: list[GenItem]
    refs: dict[str, Path]  # "raw": the references; "ae": the autoencoded references
    out: Path
    clock: Clock
    progress: bool
    cache: bool
    fingerprint: dict
    training: dict | None = None  # the training record of the system whose rows are running


def all_metric_specs(protocol: Protocol) -> list[str]:
    """The metric specs a run computes: main set, [ae-ref] and the diversity set's."""
    extra = list(protocol.diversity.metrics) if protocol.diversity else []
    return list(protocol.metrics) + list(protocol.ae_ref_metrics) + extra


def protocol_record(protocol: Protocol) -> dict:
    """The protocol identity and the report's reading instructions (headline, Pareto axis)."""
    return {"name": protocol.name, "version": protocol.version, "hash": protocol.hash(),
            "headline": list(protocol.headline), "pareto_metric": protocol.pareto_metric,
            "resolution": dict(protocol.resolution),
            **({"diversity": protocol.definition()["diversity"]} if protocol.diversity else {})}


def reference_sets(protocol: Protocol, ref_manifest: Path, components) -> dict[str, Path]:
    """The raw reference manifest, plus the autoencoded one when a metric is scored on it."""
    from bench.anchors import autoencoded_references

    refs = {"raw": ref_manifest}
    if protocol.ae_ref_metrics:
        refs["ae"] = autoencoded_references(ref_manifest, row_metrics.reference_fingerprint(ref_manifest),
                                            components)
    return refs


def claim_run_dir(out: Path, protocol: Protocol, resume: bool) -> Path:
    """Create ``out`` (or check it holds an unfinished run of the same protocol when resuming)."""
    config = {"protocol": protocol.definition(), "hash": protocol.hash()}
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder; choose a new folder for the run")
    if any(p.exists() and not p.is_dir() for p in out.parents):
        raise RunError(f"--out {out} lies under a file; choose a folder path")
    if (out / "config.json").exists():
        if not resume:
            raise RunError(f"{out} already holds a run; choose a new --out or pass --resume to continue it")
        stored = json.loads((out / "config.json").read_text())
        if stored.get("hash") != config["hash"]:
            raise RunError(f"{out} holds a run of another protocol definition ({stored.get('hash')}, now "
                           f"{config['hash']}); start a new run folder")
        return out
    if out.exists() and any(out.iterdir()):
        raise RunError(f"{out} exists and is not a run folder; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config)
    return out


def prompt_items(protocol: Protocol) -> list[GenItem]:
    """(prompt, seed) items: each prompt × ``generations_per_prompt`` seeds, in a fixed order."""
    spec, items = protocol.prompts, []
    for index, (prompt, meta) in enumerate(_prompts(spec)):
        for g in range(protocol.generations_per_prompt):
            seed = protocol.seed + g
            items.append(GenItem(f"p{index:04d}-g{g}", prompt, seed, meta))
    return items


def _prompts(spec: dict) -> list[tuple[str, dict[str, str]]]:
    if spec["source"] == "sfx":
        from common.sfx.dataset import make_items

        return [(it.caption, {k: v or "" for k, v in it.attrs.to_dict().items()})
                for it in make_items(spec["split"], spec["n"], seed=spec.get("seed", 0))]
    if spec["source"] == "manifest":
        from common.sources import load_source

        source = load_source(resolve_path(spec["path"]), spec.get("where"))
        prompts = [it.prompt for it in source.items if it.prompt]
        unique = list(dict.fromkeys(prompts)) if spec.get("unique_captions") else prompts
        return [(p, {}) for p in unique[: spec.get("n")]]
    raise RunError(f"unknown prompt source {spec['source']!r}: use 'sfx' or 'manifest'")


def resolve_path(text: str) -> Path:
    """Substitute ``{shared}`` (the developers' ../shared or $FASTAUDIO_SHARED)."""
    if "{shared}" in text:
        shared = shared_dir()
        if shared is None:
            raise RunError(f"{text} needs the shared data folder: put it at ../shared or set "
                           "FASTAUDIO_SHARED")
        text = text.replace("{shared}", str(shared))
    return Path(text)


def reference_manifest(protocol: Protocol) -> Path:
    """The reference set as a manifest; procedural references are rendered once into the cache."""
    spec = protocol.reference
    if spec["source"] == "manifest":
        return resolve_path(spec["path"])
    from common.sfx.dataset import make_items, write_manifest
    from systems.components.presets import get_preset

    preset = get_preset(protocol.preset)
    key = content_key({"ref": spec, "sr": preset.mel.sample_rate, "dur": preset.clip_duration_s, "v": 1})
    folder = cache_root() / "references" / key
    if not (folder / "manifest.csv").exists():
        items = make_items(spec["split"], spec["n"], seed=spec.get("seed", 0))
        tmp = folder.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        write_manifest(tmp, items, preset.mel.sample_rate, preset.clip_duration_s)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    return folder / "manifest.csv"


def build_system(entry: SystemEntry, components):
    from systems import get_system

    return get_system(entry.system).from_components(components, **entry.config)


def run_row(ctx: RunContext, entry, system, sampler, steps, speed: bool, speed_profile=None) -> dict:
    """One (system, sampler, steps) row: generate (resumable), evaluate, time it."""
    protocol, row_id = ctx.protocol, row_name(entry, sampler, steps)
    row_dir = ctx.out / "rows" / row_id
    system_key = claim_row_dir(row_dir, system)
    if (row_dir / "row.json").exists():
        return json.loads((row_dir / "row.json").read_text())
    t0 = time.perf_counter()
    nfe = generate_row(system, sampler, steps, entry.guidance, protocol.duration_s, ctx.items, row_dir,
                       ctx.progress, ctx.cache)
    ctx.clock.add("generate", time.perf_counter() - t0)
    t0 = time.perf_counter()
    clip_keys = clip_keys_of(system, sampler, steps, entry.guidance, protocol.duration_s, ctx.items)
    metrics = evaluate_row(ctx, row_dir / "manifest.csv", clip_keys)
    ctx.clock.add("evaluate", time.perf_counter() - t0)
    metrics.update(diversity_metrics(ctx, system, entry, sampler, steps, row_dir))
    row = {"row_id": row_id, "role": "system", "system": entry.system, "sampler": sampler, "steps": steps,
           "guidance": system.guidance if entry.guidance is None else entry.guidance, "nfe": nfe,
           "metrics": metrics, "audio": audio_index(ctx.out, row_dir, ctx.items), "system_key": system_key}
    if row_variant(entry):
        row["variant"] = row_variant(entry)
    if getattr(system, "precision", "fp32") != "fp32":
        row["precision"] = system.precision
    if ctx.training:
        row["training"] = ctx.training
    row["speed"] = {"skipped": True}
    if speed:
        from bench.speed import measure_speed

        t0 = time.perf_counter()
        row["speed"] = measure_speed(system, ctx.items, sampler, steps, entry.guidance, protocol, nfe,
                                     speed_profile)
        ctx.clock.add("speed", time.perf_counter() - t0)
    write_json(row_dir / "row.json", row)
    return row


def claim_row_dir(row_dir: Path, system) -> str:
    """The content key of the system's settings (trained weights included), written into the row
    folder; a resumed row made by other settings or weights (a retrained accelerator, a changed
    code version) is discarded, clips and all, instead of being mixed into this run."""
    key = content_key(system.cache_config())
    stamp = row_dir / "system_key.txt"
    if row_dir.exists() and (not stamp.exists() or stamp.read_text().strip() != key):
        shutil.rmtree(row_dir)
    row_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key + "\n")
    return key


def evaluate_row(ctx: RunContext, gen_manifest: Path, clip_keys: list[str] | None) -> dict:
    """The row's metrics, from the row-metric cache when every input is unchanged."""
    key = None
    if ctx.cache and clip_keys is not None:
        key = row_metrics.row_key(ctx.protocol, clip_keys + [json.dumps([it.meta for it in ctx.items])],
                                  ctx.refs, ctx.fingerprint)
    return row_metrics.cached_metrics(key, lambda: row_metrics.evaluate_sets(ctx.protocol, gen_manifest,
                                                                             ctx.refs))


def clip_keys_of(system, sampler, steps, guidance, duration_s, items) -> list[str]:
    """Each item's generation key (the content key of its clip)."""
    from systems.api import GenRequest

    request = GenRequest(prompts=[items[0].prompt], seeds=[items[0].seed], steps=steps, guidance=guidance,
                         duration_s=duration_s, sampler=sampler)
    one = [replace(request, prompts=(it.prompt,), seeds=(it.seed,)) for it in items]
    return [f"{it.item_id}:{generation_key(system, req, it)}" for it, req in zip(items, one)]


def generate_row(system, sampler, steps, guidance, duration_s, items, row_dir: Path, progress: bool,
                 cache: bool = True) -> int:
    """Write one clip per item (skipping clips already on disk); returns the NFE per sample."""
    from systems.api import GenRequest

    audio_dir = row_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    todo = [it for it in items if not (audio_dir / f"{it.item_id}.flac").exists()]
    nfe = _stored_nfe(row_dir)
    batch = 16
    for i in tqdm(range(0, len(todo), batch), desc=f"generate {sampler}/{steps}", disable=not progress,
                  leave=False):
        chunk = todo[i: i + batch]
        request = GenRequest(prompts=[it.prompt for it in chunk], seeds=[it.seed for it in chunk],
                             steps=steps, guidance=guidance, duration_s=duration_s, sampler=sampler)
        nfe = _generate_cached(system, request, chunk, audio_dir, cache)
        (row_dir / "nfe.json").write_text(json.dumps({"nfe": nfe}))
    write_row_manifest(row_dir, items)
    return nfe if nfe is not None else _nfe_of(system, sampler, steps, guidance, duration_s, items[0])


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


def generation_key(system, request, item: GenItem) -> str:
    """Content key of one clip: every setting that changes it, the system's registered name included."""
    return content_key({"system": system.cache_config(), "sampler": request.sampler, "steps": request.steps,
                        "guidance": request.guidance, "duration_s": request.duration_s, "prompt": item.prompt,
                        "seed": item.seed, "format": "flac24-v1"})


def write_row_manifest(row_dir: Path, items: list[GenItem]) -> Path:
    """The row's manifest: each item's clip, caption and procedural attributes."""
    return write_manifest(row_dir, [{"id": it.item_id, "path": f"audio/{it.item_id}.flac",
                                     "caption": it.prompt, **it.meta} for it in items])


def audio_index(out: Path, row_dir: Path, items: list[GenItem]) -> list[dict]:
    """Where each clip of a row lies, relative to the run folder (the report's players read it)."""
    return [{"item_id": it.item_id, "prompt": it.prompt, "seed": it.seed,
             "path": (row_dir / "audio" / f"{it.item_id}.flac").relative_to(out).as_posix()} for it in items]


