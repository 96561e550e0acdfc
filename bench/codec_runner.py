"""The codec runner: a codec protocol × its codecs → coded and decoded test clips → metrics → results.json.

``bench.runner.run_protocol`` hands a protocol with ``kind="codec"`` to :func:`run_codec_protocol`,
so ``python -m bench run codec-mini --out DIR`` is the same command as for text-to-audio.

The test clips are the protocol's ``reference`` set, rendered (procedural) into the cache as every
protocol's references are. Each codec entry runs at its operating point (``config``), and at
each of its decode step counts (``steps``; none: one row): every clip is encoded, its payload
written as bytes, read back and decoded (:mod:`bench.codec_coding`, :mod:`bench.codec_payload`),
three times with decode seeds for a stochastic codec, and the decoded clips, named after their
originals, are scored against the originals (:mod:`bench.codec_rows`). A trainable codec is
trained first under its entry's budget (:mod:`bench.codec_entries`).

Layout of a run folder (never overwritten; ``resume=True`` continues an interrupted one)::

    config.json, environment.json     as for text-to-audio runs
    originals/audio/*, manifest.csv   the test clips (copied: the report's players need them)
    rows/<codec>[/<operating point>][/steps<N>]/   see bench.codec_coding; row.json when finished
    results.json                      every row, the originals' adherence, definitions, timings

Resume: a row with ``row.json`` is loaded as is; in an unfinished row, finished batches are kept.
Coded clips are not cached across runs (coding is what the RTF measures); metrics are, keyed
by the decoded clips' content.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.codec_coding import OriginalClip, code_row, seed_folder
from bench.codec_entries import (
    DECODE_SEEDS,
    check_codec_entries,
    codec_row_name,
    decode_seeds,
    decode_steps,
    is_anchor_codec,
    is_stochastic,
    payload_label,
    train_codec,
)
from bench.codec_payload import KBPS_BASIS, kbps_metric
from bench.codec_rows import (
    ADHERENCE,
    DECODE_SPREAD,
    DECODE_SPREAD_DEFINITION,
    RETAINED,
    RTF_DEFINITION,
    SPREAD_DEFINITION,
    audio_entries,
    decode_spread,
    evaluate_decoded,
    retained_adherence,
    seed_spread,
    speed_record,
)
from bench.entries import RunError, row_variant
from bench.keys import write_json, write_manifest
from bench.protocols.base import Protocol
from bench.protocols.budgets import RULES
from bench.runner import Clock, build_system, claim_row_dir, claim_run_dir, reference_manifest


@dataclass
class CodecContext:
    """What every row of a codec run shares."""

    protocol: Protocol
    clips: list[OriginalClip]
    refs: dict[str, Path]
    out: Path
    clock: Clock
    progress: bool
    cache: bool
    fingerprint: dict
    device: str
    originals: dict  # the original clips' metrics (adherence), for adherence_retained


def run_codec_protocol(protocol: Protocol, out_dir: str | Path, *, resume: bool = False, device: str = "cpu",
                       progress: bool = True, cache: bool = True, **_ignored: Any) -> dict[str, Any]:
    """Run every (codec, operating point, decode steps) row of ``protocol`` into ``out_dir``; returns the
    results. The text-to-audio runner's ``speed``/``speed_profile`` do not apply: coding is always timed."""
    from bench import row_metrics
    from bench.provenance import environment
    from systems.components.shared import load_components

    clock = Clock(time.perf_counter(), {})
    check_codec_entries(protocol)
    out = claim_run_dir(Path(out_dir), protocol, resume)
    write_json(out / "environment.json", environment(device))
    ref_manifest = reference_manifest(protocol)
    clips = original_clips(ref_manifest)
    copy_originals(clips, out / "originals")
    t0 = time.perf_counter()
    components = load_components(protocol.preset, device, progress=progress)
    clock.add("load", time.perf_counter() - t0)
    fingerprint = row_metrics.metric_fingerprint(list(protocol.metrics))
    ctx = CodecContext(protocol, clips, {"raw": ref_manifest}, out, clock, progress, cache, fingerprint,
                       device, originals_metrics(protocol, ref_manifest, cache))
    rows, trained = [], False
    for entry in protocol.systems:
        codec = build_system(entry, components)
        training = train_codec(entry, codec, clock, progress)
        trained = trained or bool(training)
        for steps in decode_steps(entry):
            rows.append(run_codec_row(ctx, entry, codec, steps, training))
    results = {"protocol": codec_protocol_record(protocol),
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "environment": json.loads((out / "environment.json").read_text()),
               "components": components.config(), "metrics": fingerprint, "rows": rows, "anchors": [],
               "originals": {"manifest": "originals/manifest.csv", "n": len(clips), "metrics": ctx.originals},
               "definitions": {"kbps": KBPS_BASIS, "rtf": RTF_DEFINITION, "seed_spread": SPREAD_DEFINITION,
                               "decode_seeds": f"{DECODE_SEEDS} for a stochastic codec, else 1",
                               DECODE_SPREAD: DECODE_SPREAD_DEFINITION,
                               RETAINED: "adherence(decoded) / adherence(originals)"},
               **({"training_rules": dict(RULES)} if trained else {}),
               "timings": clock.summary()}
    write_json(out / "results.json", results)
    return results


def codec_protocol_record(protocol: Protocol) -> dict:
    return {"name": protocol.name, "version": protocol.version, "hash": protocol.hash(),
            "kind": protocol.kind, "headline": list(protocol.headline),
            "pareto_metric": protocol.pareto_metric, "preset": protocol.preset}


def original_clips(ref_manifest: Path) -> list[OriginalClip]:
    """The test clips of the reference manifest, in its order."""
    from common.sources import load_source

    items = load_source(ref_manifest).items
    if not items:
        raise RunError(f"{ref_manifest} lists no clips; a codec protocol needs test clips")
    return [OriginalClip(it.id, it.path, it.prompt or "", {k: v for k, v in it.meta.items()
                                                          if k not in ("id", "path", "caption")})
            for it in items]


def copy_originals(clips: list[OriginalClip], folder: Path) -> None:
    """The test clips into the run folder (self-contained players), with their manifest."""
    rows = []
    for clip in clips:
        rel = f"audio/{clip.item_id}{clip.path.suffix}"
        if not (folder / rel).exists():
            (folder / "audio").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(clip.path, folder / (rel + ".tmp"))
            (folder / (rel + ".tmp")).replace(folder / rel)
        rows.append({"id": clip.item_id, "path": rel, "caption": clip.caption, **clip.meta})
    write_manifest(folder, rows)


def originals_metrics(protocol: Protocol, ref_manifest: Path, cache: bool) -> dict:
    """Adherence of the original clips (adherence_retained's denominator) when the protocol scores it."""
    from bench import row_metrics
    from bench.anchors import clip_hashes

    if ADHERENCE not in protocol.metrics:
        return {}
    key = row_metrics.row_key(protocol, ["originals", *clip_hashes(ref_manifest)], {}, {}) if cache else None
    return row_metrics.cached_metrics(
        key, lambda: row_metrics.evaluate_one(protocol, ref_manifest, None, [ADHERENCE], ""))


def run_codec_row(ctx: CodecContext, entry, codec, steps: int | None, training: dict) -> dict:
    """One (codec, operating point, decode steps) row: code (resumable), evaluate, time it."""
    row_id = codec_row_name(entry, steps)
    row_dir = ctx.out / "rows" / row_id
    system_key = claim_row_dir(row_dir, codec)
    if (row_dir / "row.json").exists():
        return json.loads((row_dir / "row.json").read_text())
    seeds, nominal = decode_seeds(codec, ctx.protocol), is_anchor_codec(codec)
    t0 = time.perf_counter()
    coding = code_row(codec, ctx.clips, row_dir, steps=steps, seeds=seeds, nominal=nominal,
                      progress=ctx.progress, desc=f"code {row_id}")
    ctx.clock.add("code", time.perf_counter() - t0)
    t0 = time.perf_counter()
    per_seed = [evaluate_decoded(ctx.protocol, seed_folder(row_dir, k) / "manifest.csv", ctx.refs,
                                 ctx.fingerprint, ctx.cache, bootstrap=k == 0) for k in range(len(seeds))]
    ctx.clock.add("evaluate", time.perf_counter() - t0)
    metrics = dict(per_seed[0])
    retained = retained_adherence(metrics.get(ADHERENCE), ctx.originals.get(ADHERENCE))
    if retained is not None:
        metrics[RETAINED] = retained
    spread = decode_spread(ctx.protocol, row_dir, seeds, ctx.cache)
    if spread is not None:
        metrics[DECODE_SPREAD] = spread
    metrics["kbps"] = kbps_metric(coding.bits, coding.clip_s, bootstrap=ctx.protocol.bootstrap,
                                  seed=ctx.protocol.seed, nominal=nominal)
    row = {"row_id": row_id, "role": "system", "kind": "codec", "system": entry.system, "sampler": "-",
           "steps": steps or 0, "decode_steps": steps, "guidance": None, "nfe": None,
           "operating_point": dict(entry.config), "config": codec.config(),
           "nominal_kbps": codec.bitrate_kbps(), "anchor": nominal, "payload_label": payload_label(codec),
           "stochastic": is_stochastic(codec), "decode_seeds": list(seeds), "metrics": metrics,
           "seed_spread": seed_spread(per_seed, seeds) if len(seeds) > 1 else None,
           "payload": {"bits_per_clip": coding.bits, "clip_s": coding.clip_s, "bytes_stored": not nominal},
           "speed": speed_record(coding, ctx.device),
           "audio": audio_entries(ctx.out, row_dir, ctx.clips, ctx.out / "originals"),
           "system_key": system_key}
    if row_variant(entry):
        row["variant"] = row_variant(entry)
    if training:
        row["training"] = training
    write_json(row_dir / "row.json", row)
    return row


def codec_summary(results: dict, out: str) -> str:
    """The console summary of a codec run: per row, the measured kbps, a few metrics, encode/decode RTF."""
    lines = [f"run folder: {out}", "where the time went: " + json.dumps(
        {k: round(v, 1) if k != "overhead_fraction" else round(v, 4) for k, v in results["timings"].items()}),
        f"RTF = {RTF_DEFINITION}"]
    for row in results["rows"]:
        m = row["metrics"]
        kbps = m["kbps"]["value"]
        label = " (nominal: anchor)" if row.get("anchor") else ""
        parts = [f"{name}={_fmt((m.get(name) or {}).get('value'))}"
                 for name in ("mel_distance", "si_sdr", ADHERENCE) if name in m]
        lines.append(f"  {row['row_id']:<28} kbps={kbps:.2f}{label} " + " ".join(parts)
                     + f" enc_rtf={row['speed']['encode_rtf']:.4f} dec_rtf={row['speed']['decode_rtf']:.4f}")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
