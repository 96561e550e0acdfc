"""The diversity set of a row: many generations per prompt on a prompt subset (``Protocol.diversity``).

For each row the runner also generates the first K prompts × G seeds into
``rows/<row>/diversity/`` and scores ``DiversitySet.metrics`` on those clips alone; the results
join the row's metrics as ``METRIC[div]`` (e.g. ``ccds@aisfx[div]``). Clips shared with the main
set (same prompt and seed) come from the generation cache, and the metrics are cached like the
main set's (``bench.row_metrics``), so resuming or re-running costs only what changed.
"""
from __future__ import annotations

import time
from pathlib import Path

from bench import row_metrics
from bench.keys import content_key
from bench.protocols.base import DIVERSITY
from bench.specs import parse_specs

SUBDIR = "diversity"


def diversity_items(protocol) -> list:
    """(prompt, seed) items of the diversity set: prompt i < K × generation g < G, seed = seed + g."""
    from bench.runner import GenItem, _prompts

    spec = protocol.diversity
    prompts = _prompts(protocol.prompts)[: spec.prompts]
    return [GenItem(f"p{index:04d}-g{g}", prompt, protocol.seed + g, meta)
            for index, (prompt, meta) in enumerate(prompts) for g in range(spec.generations)]


def diversity_metrics(ctx, system, entry, sampler: str, steps: int, row_dir: Path) -> dict:
    """Generate (resumable, cached) and score the row's diversity set; ``{}`` without the option."""
    from bench.runner import clip_keys_of, generate_row

    protocol = ctx.protocol
    if protocol.diversity is None:
        return {}
    items = diversity_items(protocol)
    t0 = time.perf_counter()
    # rank 0 alone makes the diversity set of a sharded run: no collective inside
    generate_row(system, sampler, steps, entry.guidance, protocol.duration_s, items, row_dir / SUBDIR,
                 ctx.progress, ctx.cache, ctx.gen_batch, sharded=False)
    ctx.clock.add("generate", time.perf_counter() - t0)
    t0 = time.perf_counter()
    keys = None
    if ctx.cache:
        keys = clip_keys_of(system, sampler, steps, entry.guidance, protocol.duration_s, items)
    metrics = row_metrics.cached_metrics(_key(protocol, keys, ctx), lambda: _score(protocol, row_dir, ctx))
    ctx.clock.add("evaluate", time.perf_counter() - t0)
    return metrics


def _score(protocol, row_dir: Path, ctx) -> dict:
    specs = list(protocol.diversity.metrics)
    return row_metrics.evaluate_one(protocol, row_dir / SUBDIR / "manifest.csv", ctx.refs["raw"], specs,
                                    DIVERSITY)


def _key(protocol, clip_keys: list[str] | None, ctx) -> str | None:
    """Cache key: the clips, the references, the metric specs and versions, bootstrap and seed."""
    if clip_keys is None:
        return None
    specs = list(protocol.diversity.metrics)
    return content_key({"diversity": clip_keys, "ref": row_metrics.reference_fingerprint(ctx.refs["raw"]),
                        "metrics": specs, "fingerprint": _fingerprint(specs, ctx.fingerprint),
                        "bootstrap": protocol.bootstrap, "seed": protocol.seed,
                        "v": row_metrics.ROW_CACHE_VERSION})


def _fingerprint(specs: list[str], run_fingerprint: dict) -> dict:
    """The specs' entries of the run's metric fingerprint (computed once per run: backend configs
    hash weights, so they are not recomputed per row); equal to ``metric_fingerprint(specs)``."""
    return {spec.text: run_fingerprint[spec.text] for spec in parse_specs(specs)}
