"""``bench eval --shard I/N`` and ``bench merge``: embarrassingly parallel extraction without torchrun.

A shard (e.g. one task of a cluster job array) embeds its share of the generated and reference
clips with every embedding backend the metrics need, and keeps the outputs as its **state**: an
embedding cache of its own, ``OUT/shard-I-of-N/cache`` (content-keyed float32 ``.npz`` files, the
same entries a 1-process run caches), beside ``OUT/shard-I-of-N.json`` (the settings and the ids
and hashes of the clips it embedded). Shards own canonical batches (items ``[b·B, (b+1)·B)``, B =
``--batch-size``; batch b → shard b mod N), so every clip is embedded in the batch a 1-process run
embeds it in. ``bench merge OUT`` refuses a missing shard or shards made with other settings,
gathers the shard states into one cache in item order, and runs the unchanged evaluation on it:
every embedding is a cache hit, the metrics and the bootstrap see the items in the 1-process
order, so the results equal a 1-process ``bench eval`` (signal metrics such as SI-SDR read the
audio at merge time). A shard whose ``.json`` exists is finished: re-running it (a retried
array task) does nothing.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.extract import Extractor, IOConfig
from bench.settings import SettingsError
from common.dist import owned_batches

SHARD = re.compile(r"^(\d+)/(\d+)$")
#: the evaluation settings every shard of one merge must share
SHARED_KEYS = ("gen", "ref", "metrics", "prompts", "gen_where", "ref_where", "batch_size", "io", "shards")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` → (I, N) with 0 ≤ I < N, or a SettingsError saying how to write it."""
    match = SHARD.match(text.strip())
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise SettingsError(f"--shard {text!r}: write I/N with 0 <= I < N (shard I of N, counted from 0), "
                            "e.g. --shard 0/4")
    return int(match.group(1)), int(match.group(2))


def shard_name(index: int, count: int) -> str:
    return f"shard-{index}-of-{count}"


def shard_settings(gen, ref, metrics, prompts, gen_where, ref_where, batch_size, io: IOConfig,
                   count: int) -> dict[str, Any]:
    return {"gen": str(gen), "ref": None if ref is None else str(ref), "metrics": list(metrics),
            "prompts": None if prompts is None else str(prompts), "gen_where": gen_where,
            "ref_where": ref_where, "batch_size": batch_size, "io": asdict(io), "shards": count}


def extract_shard(gen, ref, metrics: list[str] | None, shard: tuple[int, int], out: str | Path, *,
                  prompts=None, gen_where=None, ref_where=None, device: str = "cpu", batch_size: int = 16,
                  io: IOConfig = IOConfig(), backend_options: dict | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Embed shard ``(I, N)``'s canonical batches into ``out/shard-I-of-N/cache``; returns its record
    (``metrics`` None: the offline default set, as ``bench eval``)."""
    from bench.cache import EmbeddingCache
    from bench.evaluate import _Session, default_metrics
    from common.sources import Source, apply_prompts, load_source

    index, count = shard
    out = Path(out)
    record_path = out / f"{shard_name(index, count)}.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    gen_src = load_source(gen, gen_where)
    ref_src = load_source(ref, ref_where) if ref is not None else Source("", [])
    if prompts is not None:
        apply_prompts(gen_src.items, Path(prompts))
    metrics = list(metrics) if metrics is not None else default_metrics(gen_src, ref_src)
    cache = EmbeddingCache(out / shard_name(index, count) / "cache")
    cache.check_usable()
    extractor = Extractor(io, cache, batch_size, progress)
    session = _Session(gen_src, ref_src, extractor, device, backend_options or {})
    embedded = embed_shard(session, metrics, shard, batch_size)
    record = {"shard": index, "of": count,
              "settings": shard_settings(gen, ref, metrics, prompts, gen_where, ref_where, batch_size, io,
                                         count),
              "items": {side: [it.id for s in owned_batches(len(src.items), batch_size, index, count)
                               for it in src.items[s.start:s.stop]]
                        for side, src in (("gen", gen_src), ("ref", ref_src))},
              "backends": embedded, "unavailable": dict(session.unavailable),
              "cache": {"hits": cache.hits, "misses": cache.misses}}
    tmp = record_path.with_suffix(f".json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(record_path)   # written last: the shard is finished
    return record


def embed_shard(session, metrics: list[str], shard: tuple[int, int], batch_size: int,
                sides: tuple[str, ...] = ("gen", "ref")) -> list[str]:
    """Embed shard ``(I, N)``'s canonical batches of ``sides`` with every backend ``metrics`` need,
    through the session's extractor (and so into its cache); the "backend/side" pairs embedded."""
    from bench.evaluate import _uses_ref
    from bench.specs import parse_specs
    from metrics import get_metric

    embedded = []
    for spec in parse_specs(metrics):
        cls = get_metric(spec.metric)
        if spec.backend is None or session.backend(spec.backend) is None:
            continue   # signal metrics read audio at merge; an unavailable backend is reported there
        want = frozenset(n for n in cls.info.needs if n in ("layers",))
        for side in [s for s in sides if s == "gen" or _uses_ref(cls)]:
            items = (session.gen if side == "gen" else session.ref).items
            for span in owned_batches(len(items), batch_size, *shard):
                session.ext.features(session.backends[spec.backend], items[span.start:span.stop], want, side)
            embedded.append(f"{spec.backend}/{side}")
    return sorted(set(embedded))


def prefetch_embeddings(gen_manifest: Path, metrics: list[str], shard: tuple[int, int], *,
                        batch_size: int = 16, device: str = "cpu") -> list[str]:
    """A sharded run's share of one row's evaluation: this rank's canonical batches of the generated
    clips embedded into the run's cache (rank 0 then evaluates from cache hits, exactly)."""
    from bench.cache import EmbeddingCache
    from bench.evaluate import _Session
    from common.paths import cache_root
    from common.sources import Source, load_source

    session = _Session(load_source(gen_manifest), Source("", []),
                       Extractor(IOConfig(), EmbeddingCache(cache_root()), batch_size, False), device, {})
    return embed_shard(session, metrics, shard, batch_size, sides=("gen",))


def shard_records(folder: Path) -> list[dict[str, Any]]:
    """Every shard record in ``folder``, checked to be one complete set with one set of settings."""
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("shard-*-of-*.json"))]
    if not records:
        raise SettingsError(f"{folder} holds no shard-I-of-N.json: run `bench eval --shard I/N --out "
                            f"{folder}` for every I first")
    counts = {r["of"] for r in records}
    if len(counts) != 1:
        raise SettingsError(f"{folder} mixes shards of {sorted(counts)} shards; keep one N per folder")
    count = counts.pop()
    missing = sorted(set(range(count)) - {r["shard"] for r in records})
    if missing:
        raise SettingsError(f"{folder}: shard(s) {missing} of {count} are missing or unfinished; run "
                            f"`bench eval --shard I/{count}` for them (a finished shard is not redone)")
    first = records[0]["settings"]
    for r in records[1:]:
        other = {k for k in SHARED_KEYS if r["settings"].get(k) != first.get(k)}
        if other:
            raise SettingsError(f"{folder}: shard {r['shard']} was made with other settings "
                                f"({sorted(other)}) than shard 0; rerun it with the same options")
    return sorted(records, key=lambda r: r["shard"])


def merged_cache(folder: Path, records: list[dict[str, Any]]) -> Path:
    """One cache holding every shard's entries (hard links where possible), for the merge's evaluation."""
    target = folder / "merged-cache"
    for record in records:
        source = folder / shard_name(record["shard"], record["of"]) / "cache"
        for path in source.rglob("*.npz"):
            dest = target / path.relative_to(source)
            if dest.exists():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dest)
            except OSError:
                shutil.copyfile(path, dest)
    return target


def merge_shards(folder: str | Path, out: str | Path | None, *, device: str = "cpu", bootstrap: int = 100,
                 seed: int = 0, ci_level: float = 0.95, backend_options: dict | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Evaluate the shards' union as one run (see the module docstring); results as ``evaluate``."""
    from bench.evaluate import evaluate

    folder = Path(folder)
    records = shard_records(folder)
    s = records[0]["settings"]
    results = evaluate(s["gen"], s["ref"], s["metrics"], prompts=s["prompts"], out=out,
                       gen_where=s["gen_where"], ref_where=s["ref_where"], device=device,
                       batch_size=s["batch_size"], bootstrap=bootstrap, seed=seed, ci_level=ci_level,
                       io=IOConfig(**s["io"]), cache_dir=merged_cache(folder, records),
                       backend_options=backend_options, progress=progress)
    return results
