"""A codec row's numbers: metrics vs the originals, decode-seed spread, retained adherence, kbps, RTF.

- **metrics**: the protocol's metrics on the first decode seed's clips against the original clips
  (paired metrics pair each decoded clip with its original by id), with the evaluation engine's
  seeded bootstrap CIs, cached like every row's (``bench.row_metrics``, keyed by the decoded
  clips' content hashes).
- **seed_spread** (stochastic codecs only): each metric on every decode seed's clips (without a
  bootstrap) and ``std`` = the sample standard deviation (ddof = 1) over the seeds.
- **decode_spread** (stochastic codecs only): the mel distance between the clips decoded with the
  first two decode seeds, paired by clip, with the engine's bootstrap CI (the same clip draws as
  every row's metrics, so rows compare pairwise): how far two decodes of one payload lie apart,
  S-PRESSO's decoding variability. A deterministic decoder's is 0 by construction and not computed.
- **adherence_retained** = adherence(decoded) / adherence(originals): how much of what the
  procedural analysis reads back from the original it still reads from the decoded clip. Its CI
  comes from the two bootstraps' paired replicates (the same clips drawn on both sides: the
  engine seeds a metric's draws by its name and the clip count, and both sets list the clips in
  the same order).
- **kbps**: the measured rate (``bench.codec_payload.kbps_metric``).
- **speed**: encode and decode RTF = seconds of audio per wall-clock second (higher is faster, the
  project's one RTF convention, as for generation),
  summed over the row's batches on this machine (``bench.codec_coding``).
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench import row_metrics
from bench.anchors import clip_hashes
from bench.codec_coding import Coding, seed_folder

ADHERENCE, RETAINED = "adherence", "adherence_retained"
RTF_DEFINITION = "seconds of audio per wall-clock second (higher is faster; > 1 = faster than real time)"
SPREAD_DEFINITION = "sample standard deviation (ddof=1) of the metric over the decode seeds"
DECODE_SPREAD = "decode_spread"
DECODE_SPREAD_METRIC = "mel_distance"
DECODE_SPREAD_DEFINITION = ("mel distance between the clips of decode seeds 0 and 1 (paired by clip): how "
                            "far two decodes of one payload lie apart (stochastic codecs only)")


def evaluate_decoded(protocol, manifest: Path, refs: dict[str, Path], fingerprint: dict, cache: bool,
                     bootstrap: bool = True) -> dict:
    """The protocol's metrics on one seed's decoded clips vs the originals (cached by clip content)."""
    p = protocol if bootstrap else replace(protocol, bootstrap=0)
    key = row_metrics.row_key(p, ["codec", *clip_hashes(manifest)], refs, fingerprint) if cache else None
    return row_metrics.cached_metrics(key, lambda: row_metrics.evaluate_sets(p, manifest, refs))


def seed_spread(per_seed: list[dict], seeds: tuple[int, ...]) -> dict:
    """Per metric 'ok' on every seed: the values, their mean and sample std (ddof = 1)."""
    out = {}
    for name in per_seed[0]:
        values = [m.get(name, {}).get("value") for m in per_seed]
        if any(v is None for v in values):
            continue
        out[name] = {"seeds": list(seeds), "values": values, "mean": float(np.mean(values)),
                     "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return out


def decode_spread(protocol, row_dir: Path, seeds: tuple[int, ...], cache: bool) -> dict | None:
    """The mel distance between the decodes of seeds 0 and 1 with its bootstrap CI (None: one seed)."""
    if len(seeds) < 2:
        return None
    second, first = (seed_folder(row_dir, k) / "manifest.csv" for k in (1, 0))
    key = row_metrics.row_key(protocol, ["spread", *clip_hashes(second), *clip_hashes(first)], {}, {}) \
        if cache else None
    metrics = row_metrics.cached_metrics(key, lambda: row_metrics.evaluate_one(
        protocol, second, first, [DECODE_SPREAD_METRIC], ""))
    return {**metrics[DECODE_SPREAD_METRIC], "definition": DECODE_SPREAD_DEFINITION}


def retained_adherence(decoded: dict | None, original: dict | None, level: float = 0.95) -> dict | None:
    """adherence(decoded) / adherence(originals) with a paired-bootstrap CI; None without adherence."""
    from metrics.intervals import bootstrap_interval

    if not decoded or not original:
        return None
    base = {"higher_is_better": True, "ci_low": None, "ci_high": None}
    if decoded.get("status") != "ok" or original.get("status") != "ok" or not original["value"] > 0:
        return {**base, "status": "error", "value": None,
                "reason": "adherence of the decoded or of the original clips is missing or zero"}
    value = decoded["value"] / original["value"]
    out = {**base, "status": "ok", "value": value, "details": {"decoded": decoded["value"],
                                                               "originals": original["value"]}, "flags": []}
    a, b = decoded.get("replicates"), original.get("replicates")
    if a and b and len(a) == len(b) and all(x > 0 for x in b):
        ratios = [x / y for x, y in zip(a, b)]
        ci = bootstrap_interval(value, ratios, level, (0.0, math.inf))
        out.update(ci_low=ci["ci"][0], ci_high=ci["ci"][1],
                   ci_method=ci["ci_method"] + " (paired replicates of both adherences)")
    return out


def speed_record(coding: Coding, device: str) -> dict:
    """Encode and decode RTF (audio s / wall s, as generation rows' RTF) and the wall times behind them."""
    import torch

    decode_s = float(np.mean(coding.decode_s))
    return {"encode_rtf": coding.audio_s / coding.encode_s, "decode_rtf": coding.audio_s / decode_s,
            "encode_wall_s": coding.encode_s, "decode_wall_s": decode_s,
            "decode_wall_s_per_seed": coding.decode_s, "audio_s": coding.audio_s, "batch": coding.batch,
            "device": device, "torch_threads": torch.get_num_threads(), "rtf_definition": RTF_DEFINITION,
            "timing": "one untimed warm-up, then each batch's encode and decode call; file I/O excluded"}


def audio_entries(out: Path, row_dir: Path, clips, originals_dir: Path) -> list[dict]:
    """Each clip's decoded file and its original (relative to the run folder) for the report's players."""
    def rel(path: Path) -> str:
        return path.relative_to(out).as_posix()

    return [{"item_id": c.item_id, "prompt": c.caption, "path": rel(row_dir / "audio" / f"{c.item_id}.flac"),
             "original": rel(originals_dir / "audio" / f"{c.item_id}{c.path.suffix}")} for c in clips]
