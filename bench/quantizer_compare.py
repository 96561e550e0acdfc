"""QINCo2 against plain residual VQ at equal bits on S-PRESSO's latent frames (``bench quantizers``).

Both quantisers code the same vectors: the z frames g_ψ makes of held-out clips (the procedural
set's ``test`` split, never trained on) at one operating point (t, M, K). The two S-PRESSO codecs
share stage 1 (g_ψ), so their z are identical; each fits its quantiser offline in stage 2 on the
training set's z frames (or reuses the component store's fit). Reported per quantiser:

- **prefix MSE**: the per-entry MSE of the held-out z coded with the first m = 1 … M steps (bits
  m·log2 K per frame), and the relative error ``MSE / Var(z)``;
- **encode time**: wall-clock seconds to encode every held-out frame, best of ``repeats`` runs,
  per 1 000 frames; for QINCo2 also with beam width 1 (greedy search over its pre-selected
  candidates) to show what the beam search costs and buys.

Nothing here is charged to a budget: it is an evaluation of fitted quantisers.
"""
from __future__ import annotations

import copy
import time
from typing import Any

import torch

from systems.spresso_sanity import held_out_latents
from systems.tasks.spresso import frames_of

DEFAULTS = {"time_factor": 8, "codebook_steps": 4, "codebook_size": 64, "clips": 256, "repeats": 3}


def fitted_codecs(preset: str, op_point: dict[str, int], progress: bool) -> dict[str, Any]:
    """``{"qinco2": codec, "rvq": codec}`` at the operating point, fitted under the shared budget."""
    from bench.protocols.budgets import budget_for
    from systems.components.shared import load_components
    from systems.spresso import SPresso

    components = load_components(preset, progress=progress)
    codecs = {}
    for name in ("qinco2", "rvq"):
        codec = SPresso.from_components(components, quantizer=name, **op_point)
        codec.fit(budget_for(codec.trained_from, components.preset), progress=progress)
        codecs[name] = codec
    return codecs


def encode_seconds(quantizer, vectors: torch.Tensor, repeats: int) -> float:
    """Best-of-``repeats`` wall time of ``quantizer.encode(vectors)``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        quantizer.encode(vectors)
        best = min(best, time.perf_counter() - start)
    return best


def quantizer_record(quantizer, vectors: torch.Tensor, variance: float, repeats: int) -> dict[str, Any]:
    """Prefix MSEs, relative errors, bits and the encode time of one fitted quantiser."""
    mse = quantizer.prefix_mse(vectors)
    seconds = encode_seconds(quantizer, vectors, repeats)
    bits = quantizer.bits_per_vector // quantizer.steps
    return {"config": quantizer.config(), "bits_per_frame": [bits * (m + 1) for m in range(len(mse))],
            "mse_per_prefix": mse, "relative_mse_per_prefix": [v / variance for v in mse],
            "encode_s": seconds, "encode_ms_per_1000_frames": 1000.0 * 1000.0 * seconds / len(vectors)}


def greedy(quantizer):
    """The same fitted QINCo2 searching with beam width 1 (a shallow copy: the weights are shared)."""
    clone = copy.copy(quantizer)
    clone.beam, clone.chunk_vectors = 1, quantizer.chunk_vectors * quantizer.beam
    return clone


def compare(codecs: dict[str, Any], clips: int, repeats: int) -> dict[str, Any]:
    """The comparison record (see the module docstring) for fitted ``codecs`` of one op point."""
    reference = codecs["qinco2"]
    x0, _ = held_out_latents(reference, clips)
    with torch.no_grad():
        vectors = frames_of(reference._fitted.denoiser.net.encode(x0)).cpu()
    variance = float((vectors.double() - vectors.double().mean(0)).pow(2).mean())
    rows = {name: quantizer_record(codec._fitted.quantizer, vectors, variance, repeats)
            for name, codec in codecs.items()}
    rows["qinco2-greedy"] = quantizer_record(greedy(reference._fitted.quantizer), vectors, variance, repeats)
    stored = {name: codec.training_record()["stages"]["2"] for name, codec in codecs.items()}
    op_point = {k: getattr(reference, k) for k in ("time_factor", "codebook_steps", "codebook_size")}
    return {"op_point": op_point,
            "frames": int(len(vectors)), "clips": clips, "split": "sfx/test", "z_variance": variance,
            "threads": torch.get_num_threads(), "quantizers": rows,
            "fit": {name: {"wall_s": r.get("wall_s"), "train_mse_per_step": r.get("train_mse_per_step"),
                           "store": r.get("store")} for name, r in stored.items()}}


def markdown(record: dict[str, Any]) -> str:
    """The comparison as a Markdown table (one line per quantiser)."""
    op = record["op_point"]
    lines = [f"QINCo2 vs RVQ on {record['frames']} held-out z frames ({record['clips']} clips of "
             f"{record['split']}; t = {op['time_factor']}, M = {op['codebook_steps']}, "
             f"K = {op['codebook_size']}; "
             f"Var(z) = {record['z_variance']:.4g}; {record['threads']} torch threads)", "",
             "| quantiser | bits/frame | MSE per prefix | MSE / Var(z) at M | encode ms per 1000 frames |",
             "|---|---|---|---|---|"]
    for name, row in record["quantizers"].items():
        mse = ", ".join(f"{v:.4g}" for v in row["mse_per_prefix"])
        lines.append(f"| {name} | {'/'.join(map(str, row['bits_per_frame']))} | {mse} | "
                     f"{row['relative_mse_per_prefix'][-1]:.4g} | {row['encode_ms_per_1000_frames']:.3g} |")
    return "\n".join(lines)

