"""``evaluate()``: generated vs reference audio -> every requested metric with a bootstrap CI.

Flow: sources -> specs -> per backend: availability, cached batched extraction -> one
accumulator per metric -> value + seeded percentile-bootstrap CI -> results.json (+ per_item.csv).
A metric that cannot run here is reported as ``unavailable`` with the reason; a metric whose
inputs are wrong is reported as ``error`` with the message; finished metrics are always written.
"""
from __future__ import annotations

import csv
import json
import shutil
import time
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.cache import EmbeddingCache
from bench.extract import Extractor, IOConfig
from bench.provenance import environment
from bench.settings import SettingsError, check_out_dir, check_run_settings
from bench.specs import MetricSpec, parse_specs
from common.paths import cache_root
from common.sources import Source, apply_prompts, load_source
from metrics import get_metric
from metrics.base import Features, MetricInputError
from metrics.embeddings import get_backend
from metrics.embeddings.base import BackendUnavailable
from metrics.intervals import bootstrap_interval, check_bootstrap_size, check_level

OFFLINE_DEFAULT = ("fd@aisfx", "kad@aisfx", "prdc@aisfx", "fd@yamnet", "kad@yamnet",
                   "prdc@yamnet", "is@yamnet", "fd@clap-laion-audio")


def default_metrics(gen: Source, ref: Source) -> list[str]:
    """The offline default set; KL pairs by id when ids match, else by prompt; CLAP if prompts."""
    specs = list(OFFLINE_DEFAULT)
    ref_ids = {it.id for it in ref.items}
    if all(it.id in ref_ids for it in gen.items):
        specs.append("kl@yamnet")
    elif all(it.prompt for it in gen.items + ref.items):  # unpaired clips listed in the result
        specs.append("kl@yamnet:pair=prompt:unpaired=exclude")
    if all(it.prompt for it in gen.items):
        specs.append("clap@clap-laion-audio")
    return specs


def evaluate(gen: str | Path, ref: str | Path | None = None, metrics: Sequence[str] | None = None,
             *, prompts: str | Path | None = None, out: str | Path | None = None,
             gen_where: dict | None = None, ref_where: dict | None = None, device: str = "cpu",
             batch_size: int = 16, bootstrap: int = 100, seed: int = 0, ci_level: float = 0.95,
             io: IOConfig = IOConfig(), cache_dir: str | Path | None = "default",
             backend_options: dict[str, dict] | None = None, progress: bool = True) -> dict:
    """Evaluate ``gen`` against ``ref`` (folders or manifests); returns (and writes) results."""
    t0 = time.perf_counter()
    # every setting is checked before any file is hashed; --out is created only by _write
    check_run_settings(batch_size=batch_size, bootstrap=bootstrap, seed=seed, ci_level=ci_level,
                       device=device)
    out_dir = check_out_dir(out)
    if isinstance(metrics, str):
        metrics = [metrics]
    specs = parse_specs(metrics) if metrics is not None else None  # [] is an error, None: defaults
    cache = EmbeddingCache(cache_root() if cache_dir == "default" else cache_dir)
    cache.check_usable()
    gen_src = load_source(gen, gen_where)
    ref_src = load_source(ref, ref_where) if ref is not None else Source("", [])
    if prompts is not None:
        apply_prompts(gen_src.items, Path(prompts))
    specs = specs if specs is not None else parse_specs(default_metrics(gen_src, ref_src))
    ext = Extractor(io, cache, batch_size, progress)
    session = _Session(gen_src, ref_src, ext, device, backend_options or {})
    results = {s.text: session.run_metric(s, bootstrap, seed, ci_level) for s in specs}
    results["_run"] = _run_record(session, gen_src, ref_src, io, bootstrap, seed, ci_level,
                                  batch_size, device, time.perf_counter() - t0)
    if out_dir is not None:
        _write(out_dir, results, session.per_item)
    return results


class _Session:
    """Holds loaded backends and extracted features so each is computed once per run."""

    def __init__(self, gen: Source, ref: Source, ext: Extractor, device: str, options: dict):
        self.gen, self.ref, self.ext, self.device, self.options = gen, ref, ext, device, options
        self.backends: dict[str, Any] = {}
        self.unavailable: dict[str, str] = {}
        self.features: dict[tuple, list[Features]] = {}
        self.per_item: dict[str, dict[str, float]] = {}
        self.timings_s: dict[str, float] = {}

    def backend(self, name: str):
        if name not in self.backends and name not in self.unavailable:
            b = get_backend(name)(**self.options.get(name, {}))
            ok, why = b.availability()
            try:
                if not ok:
                    raise BackendUnavailable(why)
                t = time.perf_counter()
                b.load(self.device)
                self._tick(f"load {name}", t)
                self.backends[name] = b
            except BackendUnavailable as exc:
                self.unavailable[name] = str(exc)
        return self.backends.get(name)

    def feats(self, spec: MetricSpec, side: str, needs: tuple[str, ...]) -> list[Features]:
        items = (self.gen if side == "gen" else self.ref).items
        if spec.backend is None:
            return self.signals(side)
        want = frozenset(n for n in needs if n in ("layers",))
        key = (spec.backend, side, want)
        if key not in self.features:
            t = time.perf_counter()
            feats = self.ext.features(self.backends[spec.backend], items, want, side)
            if "text" in needs:
                self._add_text(self.backends[spec.backend], feats)
            self.features[key] = feats
            self._tick(f"embed {spec.backend} {side}", t)
        return self.features[key]

    def signals(self, side: str) -> list[Features]:
        """Raw audio for signal metrics; generated clips are resampled to the reference rate."""
        key = ("audio", side)
        if key not in self.features:
            ref = self.signals("ref") if side == "gen" and self.ref.items else []
            items = (self.gen if side == "gen" else self.ref).items
            self.features[key] = self.ext.signals(items, ref[0].sample_rate if ref else None)
        return self.features[key]

    def _add_text(self, backend, feats: list[Features]) -> None:
        missing = [f.id for f in feats if not f.prompt]
        if missing:
            raise MetricInputError(f"no prompt for ids {missing[:5]}: pass --prompts CSV or use a "
                                   "manifest with a caption column")
        prompts = sorted({f.prompt for f in feats})
        table = dict(zip(prompts, backend.embed_text(prompts)))
        for f in feats:
            f.text = table[f.prompt]

    def run_metric(self, spec: MetricSpec, n_boot: int, seed: int, level: float) -> dict:
        cls = get_metric(spec.metric)
        base = {"metric": spec.metric, "backend": spec.backend, "kind": cls.info.kind,
                "higher_is_better": cls.info.higher_is_better, "value": None, "ci": None,
                "n": 0}
        if spec.backend and self.backend(spec.backend) is None:
            return {**base, "status": "unavailable", "reason": self.unavailable[spec.backend]}
        try:
            return {**base, **self._compute(spec, cls, n_boot, seed, level)}
        except MetricInputError as exc:
            return {**base, "status": "error", "error": str(exc)}

    def _compute(self, spec, cls, n_boot, seed, level) -> dict:
        gen = self.feats(spec, "gen", cls.info.needs)
        ref = self.feats(spec, "ref", cls.info.needs) if _uses_ref(cls) else []
        t = time.perf_counter()
        metric = cls(**spec.options)
        metric.update_items(gen, ref)
        result = metric.compute()
        value = result.pop("value")
        self._tick(f"compute {spec.text}", t)
        self.per_item[spec.text] = metric.per_item()
        entry = {"status": "ok", "value": value, "n": len(gen), "n_ref": len(ref),
                 "settings": metric.settings(), "metric_version": cls.info.version, "details": result}
        if spec.backend:
            entry["backend_config"] = self.backends[spec.backend].config()
        t = time.perf_counter()
        entry.update(_ci(metric, value, gen, ref, n_boot, seed, level, spec.text))
        self._tick(f"bootstrap {spec.text}", t)
        return entry

    def _tick(self, what: str, since: float) -> None:
        self.timings_s[what] = round(self.timings_s.get(what, 0.0) + time.perf_counter() - since, 4)


def _uses_ref(cls) -> bool:
    return cls.info.kind in ("distribution", "paired")


def _ci(metric, value: float, gen, ref, n_boot: int, seed: int, level: float, name: str) -> dict:
    """Seeded bootstrap CI kept inside the metric's domain, with the bootstrap bias and replicates.

    Method (median-recentred percentile interval ∩ ``metric.info.domain``) and why:
    ``metrics.intervals``. The bias ``mean(replicates) − value`` is reported, not subtracted.
    The generator is seeded by (seed, metric name) only: a metric's CI does not depend on which
    other metrics ran, and two rows with equally many clips (or prompts, pairs) in the same
    order draw the same indices in every replicate, so their ``replicates`` (the B values, in
    draw order) are paired: ``b_i − a_i`` are bootstrap replicates of the rows' difference.
    ``n_boot`` 0 disables the CI; 1 or a negative count is an input error.
    """
    if check_bootstrap_size(n_boot) == 0:
        return {"ci": None, "ci_method": "disabled (--bootstrap 0)"}
    level = check_level(level)
    n_boot = min(n_boot, getattr(metric, "max_bootstrap", n_boot))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    try:
        values = metric.bootstrap(gen, ref, n_boot, rng)
        out = bootstrap_interval(value, values, level, metric.info.domain)
    except MetricInputError as exc:  # the metric failed on a resample (e.g. NaN replicates)
        return {"ci": None, "ci_method": f"bootstrap failed: {exc}"}
    return {**out, "ci_method": f"{out['ci_method']}, seed={seed}",
            "replicates": [float(v) for v in values]}


def _run_record(session: _Session, gen: Source, ref: Source, io: IOConfig, n_boot, seed, level,
                batch_size, device, wall_s: float) -> dict:
    notes = session.ext.notes
    warnings = [f"silent clips (digital silence): {sorted(notes['silent'])}"] if notes["silent"] else []
    if notes["padded"]:
        warnings.append(f"zero-padded short clips: {sorted(notes['padded'])}")
    warnings += session.ext.cache.warnings  # unreadable entries recomputed, failed writes
    return {"settings": {"gen": gen.origin, "ref": ref.origin, "n_gen": len(gen.items),
                         "n_ref": len(ref.items), "io": asdict(io), "bootstrap": n_boot,
                         "seed": seed, "ci_level": level, "batch_size": batch_size,
                         "device": device},
            "backends": {n: b.config() for n, b in session.backends.items()},
            "unavailable_backends": session.unavailable, "warnings": warnings,
            "ignored_files": {"gen": gen.ignored_files, "ref": ref.ignored_files},
            "cache": {"hits": session.ext.cache.hits, "misses": session.ext.cache.misses},
            "timings_s": {**session.timings_s, "total": round(wall_s, 3)},
            "environment": environment(device)}


def _write(out_dir: Path, results: dict, per_item: dict[str, dict[str, float]]) -> None:
    """Create ``out_dir`` and write into it; on failure remove the folders this call created."""
    check_out_dir(out_dir)  # another run may have written there meanwhile
    created = next((p for p in [*reversed(out_dir.parents), out_dir] if not p.exists()), None)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_files(out_dir, results, per_item)
    except OSError as exc:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise SettingsError(f"--out {out_dir}: writing the results failed ({exc}); free some space "
                            "or choose another folder") from None


def _write_files(out_dir: Path, results: dict, per_item: dict[str, dict[str, float]]) -> None:
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, default=_json_default, allow_nan=False))
    tmp.replace(out_dir / "results.json")
    rows = [(m, i, v) for m, values in per_item.items() for i, v in values.items()]
    if rows:
        with open(out_dir / "per_item.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["metric", "id", "value"])
            w.writerows(rows)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
