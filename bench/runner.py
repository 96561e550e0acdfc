"""The benchmark runner: a protocol × its systems → generated audio → metrics and speed → results.json.

Layout of a run folder (never overwritten; ``resume=True`` continues an interrupted one)::

    config.json        the protocol definition, version and hash
    environment.json   git hash, package versions, device
    rows/<system>/<sampler>/<steps>/
        audio/*.flac   generated clips (24-bit), manifest.csv (id, path, caption, attributes)
        row.json       the finished row: metrics with CIs, speed, NFE, timings
    results.json       every row plus the run's timings (written last)

Resume: a row with ``row.json`` is finished and loaded as is; inside an unfinished row, clips
already on disk are not generated again. Generations are also cached across runs by a content
key (system config, sampler, steps, guidance, duration, prompt, seed), and the evaluation
engine caches embeddings, so an unchanged re-run costs little.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from bench.paths import cache_root, shared_dir
from bench.protocols.base import Protocol, SystemEntry

ADHERENCE = "adherence"
ROW_CACHE_VERSION = 2  # bump when the evaluation engine changes what it computes


class RunError(ValueError):
    """A run that cannot start or continue; the message says how to fix it."""


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
    """Run every (system, sampler, steps) row of ``protocol`` into ``out_dir``; returns the results."""
    from bench.provenance import environment
    from systems.components.shared import load_components

    clock = Clock(time.perf_counter(), {})
    out = claim_run_dir(Path(out_dir), protocol, resume)
    write_json(out / "environment.json", environment(device))
    items, ref_manifest = prompt_items(protocol), reference_manifest(protocol)
    t0 = time.perf_counter()
    components = load_components(protocol.preset, device, progress=progress)
    clock.add("load", time.perf_counter() - t0)
    rows = []
    for entry in protocol.systems:
        system = build_system(entry, components)
        for sampler in entry.samplers:
            for steps in entry.steps:
                rows.append(run_row(protocol, entry, system, sampler, steps, items, ref_manifest, out,
                                    clock, progress, speed, cache, speed_profile))
    results = {"protocol": {"name": protocol.name, "version": protocol.version, "hash": protocol.hash()},
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "environment": json.loads((out / "environment.json").read_text()),
               "components": components.config(), "rows": rows, "timings": clock.summary()}
    write_json(out / "results.json", results)
    return results


def claim_run_dir(out: Path, protocol: Protocol, resume: bool) -> Path:
    """Create ``out`` (or check it holds an unfinished run of the same protocol when resuming)."""
    config = {"protocol": protocol.definition(), "hash": protocol.hash()}
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
        from bench.sfx.dataset import make_items

        return [(it.caption, {k: v or "" for k, v in it.attrs.to_dict().items()})
                for it in make_items(spec["split"], spec["n"], seed=spec.get("seed", 0))]
    if spec["source"] == "manifest":
        from bench.sources import load_source

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
    from bench.sfx.dataset import make_items, write_manifest
    from systems.components.presets import get_preset

    preset = get_preset(protocol.preset)
    key = _key({"ref": spec, "sr": preset.mel.sample_rate, "dur": preset.clip_duration_s, "v": 1})
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


def run_row(protocol, entry, system, sampler, steps, items, ref_manifest, out, clock, progress, speed,
            cache=True, speed_profile=None):
    """One (system, sampler, steps) row: generate (resumable), evaluate, score adherence, time it."""
    row_id = f"{entry.system}/{sampler}/{steps}"
    row_dir = out / "rows" / entry.system / sampler / str(steps)
    if (row_dir / "row.json").exists():
        return json.loads((row_dir / "row.json").read_text())
    t0 = time.perf_counter()
    nfe = generate_row(system, sampler, steps, entry.guidance, protocol.duration_s, items, row_dir, progress,
                       cache)
    clock.add("generate", time.perf_counter() - t0)
    t0 = time.perf_counter()
    if cache:
        metrics = cached_row_metrics(protocol, system, sampler, steps, entry.guidance, items, ref_manifest,
                                     row_dir)
    else:
        metrics = evaluate_row(protocol, row_dir, items, ref_manifest, system.sample_rate, False)
    clock.add("evaluate", time.perf_counter() - t0)
    row = {"row_id": row_id, "system": entry.system, "sampler": sampler, "steps": steps,
           "guidance": system.guidance if entry.guidance is None else entry.guidance, "nfe": nfe,
           "metrics": metrics, "audio": audio_index(out, row_dir, items)}
    row["speed"] = {"skipped": True}
    if speed:
        from bench.speed import measure_speed

        t0 = time.perf_counter()
        row["speed"] = measure_speed(system, items, sampler, steps, entry.guidance, protocol, nfe,
                                     speed_profile)
        clock.add("speed", time.perf_counter() - t0)
    write_json(row_dir / "row.json", row)
    return row


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
    """Content key of one clip: every setting that changes it."""
    return _key({"system": system.config(), "sampler": request.sampler, "steps": request.steps,
                 "guidance": request.guidance, "duration_s": request.duration_s, "prompt": item.prompt,
                 "seed": item.seed, "format": "flac24-v1"})


def _key(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:24]


def write_audio_atomic(path: Path, wav: np.ndarray, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(tmp, np.asarray(wav, dtype=np.float32), sample_rate, format="FLAC", subtype="PCM_24")
    os.replace(tmp, path)


def write_row_manifest(row_dir: Path, items: list[GenItem]) -> Path:
    columns = ["id", "path", "caption", *sorted({k for it in items for k in it.meta})]
    path = row_dir / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for it in items:
            writer.writerow({"id": it.item_id, "path": f"audio/{it.item_id}.flac", "caption": it.prompt,
                             **it.meta})
    return path


def audio_index(out: Path, row_dir: Path, items: list[GenItem]) -> list[dict]:
    """Where each clip of a row lies, relative to the run folder (the report's players read it)."""
    return [{"item_id": it.item_id, "prompt": it.prompt, "seed": it.seed,
             "path": (row_dir / "audio" / f"{it.item_id}.flac").relative_to(out).as_posix()} for it in items]


def cached_row_metrics(protocol, system, sampler, steps, guidance, items, ref_manifest: Path,
                       row_dir: Path) -> dict:
    """Row metrics, reused across runs when the clips, the reference set and the metric settings
    are unchanged (the key covers each clip's generation key, a fingerprint of the reference
    files, the metric specs, bootstrap size and seed)."""
    from systems.api import GenRequest

    request = GenRequest(prompts=[items[0].prompt], seeds=[items[0].seed], steps=steps, guidance=guidance,
                         duration_s=protocol.duration_s, sampler=sampler)
    clips = [generation_key(system, replace(request, prompts=(it.prompt,), seeds=(it.seed,)), it)
             for it in items]
    key = _key({"clips": clips, "meta": [it.meta for it in items], "ids": [it.item_id for it in items],
                "ref": reference_fingerprint(ref_manifest), "metrics": list(protocol.metrics),
                "bootstrap": protocol.bootstrap, "seed": protocol.seed, "v": ROW_CACHE_VERSION})
    path = cache_root() / "rows" / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    metrics = evaluate_row(protocol, row_dir, items, ref_manifest, system.sample_rate, False)
    if all(m.get("status") == "ok" for m in metrics.values()):
        # an unavailable or failed metric depends on this machine (weights, packages): retry next time
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, metrics)
    return metrics


def reference_fingerprint(manifest: Path) -> str:
    """Manifest text plus each audio file's size and modification time."""
    from bench.sources import load_source

    parts = [manifest.read_text(encoding="utf-8")]
    for item in load_source(manifest).items:
        stat = item.path.stat()
        parts.append(f"{item.path}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def evaluate_row(protocol, row_dir: Path, items, ref_manifest: Path, sample_rate: int,
                 progress: bool) -> dict:
    """Engine metrics against the reference set, plus prompt adherence on procedural prompts."""
    from bench.evaluate import evaluate

    specs = [m for m in protocol.metrics if m != ADHERENCE]
    raw = evaluate(row_dir / "manifest.csv", ref_manifest, specs, bootstrap=protocol.bootstrap,
                   seed=protocol.seed, progress=False) if specs else {}
    metrics = {name: to_row_metric(r) for name, r in raw.items() if not name.startswith("_")}
    if ADHERENCE in protocol.metrics:
        metrics[ADHERENCE] = adherence_metric(row_dir, items, sample_rate, protocol)
    return metrics


def to_row_metric(result: dict) -> dict:
    """The evaluation engine's record in the leaderboard schema (value, CI, direction, status)."""
    ci = result.get("ci") or [None, None]
    out = {"value": result.get("value"), "ci_low": ci[0], "ci_high": ci[1],
           "higher_is_better": bool(result.get("higher_is_better")), "status": result.get("status", "ok")}
    if out["status"] != "ok":
        out["value"] = None
        out["reason"] = result.get("reason") or result.get("error") or "unknown"
    return out


def adherence_metric(row_dir: Path, items, sample_rate: int, protocol) -> dict:
    """Mean procedural prompt adherence with a seeded percentile bootstrap CI over clips."""
    from bench.sfx.analysis import adherence_batch, chance_level
    from bench.sfx.attributes import SfxAttributes

    wavs = [sf.read(row_dir / "audio" / f"{it.item_id}.flac", dtype="float32")[0] for it in items]
    attrs = [SfxAttributes.from_dict(it.meta) for it in items]
    scores = np.array([r.score for r in adherence_batch(wavs, sample_rate, attrs)], dtype=np.float64)
    rng = np.random.default_rng(protocol.seed)
    boot = [scores[rng.integers(0, len(scores), len(scores))].mean() for _ in range(protocol.bootstrap)]
    low, high = (np.percentile(boot, [2.5, 97.5]) if boot else (scores.mean(), scores.mean()))
    return {"value": float(scores.mean()), "ci_low": float(low), "ci_high": float(high),
            "higher_is_better": True, "status": "ok", "chance_level": chance_level()}


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (a kill never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
