"""``python -m bench adherence``: prompt adherence of a system on the procedural SFX set vs steps.

For each sampler and step count, the system generates one clip per test prompt (seed = item
index, so every system and step count starts from the same noise), and the signal-processing
analysis of :mod:`common.sfx.analysis` scores whether each clip has the attributes its prompt
states. The table also shows the score of the real rendered clips (the analysis's ceiling) and
the chance level. Writes ``adherence.json`` and ``adherence.md`` into a new folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def add_parser(sub) -> None:
    p = sub.add_parser("adherence", help="prompt adherence vs steps on the procedural SFX set",
                       description=__doc__)
    p.add_argument("--system", default="teacher")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--samplers", default="heun,euler", help="comma-separated sampler names")
    p.add_argument("--steps", default=None,
                   help="comma-separated step counts (default: the system's default steps)")
    p.add_argument("--guidance", type=float, default=None, help="CFG scale (1 = none; default: preset's)")
    p.add_argument("--n", type=int, default=64, help="number of test prompts")
    p.add_argument("--split", default="test", choices=["test", "heldout", "train"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="new output folder (never overwritten)")
    p.set_defaults(func=run)


def parse_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"error: expected comma-separated integers, got {text!r}") from None
    return values


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} already holds results; choose a new --out folder", file=sys.stderr)
        return 2
    from bench.speed import peak_ram_mb
    from common.sfx.analysis import chance_level
    from common.sfx.dataset import make_items
    from systems import get_system
    from systems.components.shared import load_components

    start = time.perf_counter()
    cls = get_system(args.system)
    components = load_components(args.preset, args.device)
    system = cls.from_components(components)
    load_s = time.perf_counter() - start
    items = make_items(args.split, args.n, seed=0)
    rows = reference_rows(items, components)
    for sampler in args.samplers.split(","):
        for steps in parse_ints(args.steps) if args.steps else cls.info.default_steps:
            rows.append(measure(system, items, sampler.strip(), steps, args.guidance, args.batch_size))
            print(format_row(rows[-1]), flush=True)
    result = {"system": args.system, "config": system.config(), "split": args.split, "n": len(items),
              "chance_level": chance_level(), "rows": rows, "load_or_train_s": load_s,
              "wall_s": time.perf_counter() - start, "peak_rss_mb": peak_ram_mb()}
    write(out, result)
    print(markdown(result))
    return 0


def reference_rows(items, components) -> list[dict]:
    """Ceilings: the real rendered clips, and the same clips through autoencoder + Griffin-Lim."""
    import torch

    from common.sfx.analysis import adherence_batch
    from common.sfx.dataset import render_item

    ae = components.ae
    sr, attrs = ae.sample_rate, [it.attrs for it in items]
    wavs = np.stack([render_item(it, sr, components.preset.clip_duration_s) for it in items])
    real = summarise("real clips", None, None, adherence_batch(list(wavs), sr, attrs))
    x = torch.from_numpy(wavs.astype(np.float32))
    recon = torch.cat([ae.decode(ae.encode(x[i: i + 16])) for i in range(0, len(x), 16)])
    row = summarise("AE + Griffin-Lim", None, None, adherence_batch(list(recon.numpy()), sr, attrs))
    row.update(reconstruction_quality(ae.frontend, x[:, : recon.shape[1]], recon))
    return [real, row]


def reconstruction_quality(frontend, x, y) -> dict:
    """Log-mel L1 (natural log) and spectral convergence ‖|Y|−|X|‖_F/‖X‖_F of a reconstruction."""
    mel_l1 = float((frontend.logmel(y) - frontend.logmel(x)).abs().mean())
    sx, sy = frontend.stft(x).abs(), frontend.stft(y).abs()
    return {"logmel_l1": mel_l1, "spectral_convergence": float((sy - sx).norm() / sx.norm())}


def measure(system, items, sampler: str, steps: int, guidance, batch_size: int) -> dict:
    from common.sfx.analysis import adherence_batch
    from systems.api import GenRequest

    wavs, nfe, gen_s = [], 0, 0.0
    for i in range(0, len(items), batch_size):
        chunk = items[i: i + batch_size]
        request = GenRequest(prompts=[it.caption for it in chunk], seeds=list(range(i, i + len(chunk))),
                             steps=steps, guidance=guidance, sampler=sampler)
        t0 = time.perf_counter()
        result = system.generate(request)
        gen_s += time.perf_counter() - t0
        wavs.extend(result.audio)
        nfe = result.nfe
    audio_s = sum(len(w) for w in wavs) / system.sample_rate
    scores = adherence_batch(wavs, system.sample_rate, [it.attrs for it in items])
    row = summarise(sampler, steps, nfe, scores)
    row.update(generate_s=gen_s, rtf=audio_s / gen_s)
    return row


def summarise(sampler, steps, nfe, results) -> dict:
    scores = np.array([r.score for r in results], dtype=np.float64)
    attributes = sorted(results[0].matches)
    per_attribute = {a: float(np.mean([r.matches[a] for r in results])) for a in attributes}
    stderr = float(scores.std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else 0.0
    return {"sampler": sampler, "steps": steps, "nfe": nfe, "adherence": float(scores.mean()),
            "stderr": stderr, "per_attribute": per_attribute}


def format_row(row: dict) -> str:
    return (f"{row['sampler']:>10} steps={row['steps']!s:>3} nfe={row['nfe']!s:>3} "
            f"adherence={row['adherence']:.3f}±{row['stderr']:.3f}")


def markdown(result: dict) -> str:
    attrs = list(result["rows"][0]["per_attribute"])
    head = "| sampler | steps | NFE | adherence (± s.e.) | " + " | ".join(attrs) + " | RTF |"
    lines = [head, "|" + "---|" * (5 + len(attrs))]
    for r in result["rows"]:
        cells = [r["sampler"], str(r["steps"] or "–"), str(r["nfe"] or "–"),
                 f"{r['adherence']:.3f} ± {r['stderr']:.3f}",
                 *(f"{r['per_attribute'][a]:.2f}" for a in attrs),
                 f"{r['rtf']:.1f}" if "rtf" in r else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    recon = next((r for r in result["rows"] if "logmel_l1" in r), None)
    if recon:
        lines.append(f"\nAutoencoder + Griffin-Lim reconstruction of the real clips: log-mel L1 "
                     f"{recon['logmel_l1']:.3f} (natural log), spectral convergence "
                     f"{recon['spectral_convergence']:.3f}.")
    lines.append(f"\nChance level: {result['chance_level']:.3f}. n = {result['n']} {result['split']} "
                 f"prompts. RTF = seconds of audio generated per wall second. "
                 f"Peak RSS {result['peak_rss_mb']:.0f} MB.")
    return "\n".join(lines)


def write(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "adherence.json").write_text(json.dumps(result, indent=2))
    (out / "adherence.md").write_text(markdown(result) + "\n")
