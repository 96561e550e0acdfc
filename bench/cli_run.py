"""``python -m bench run PROTOCOL --out DIR``: run a versioned protocol over its systems.

Trains or reuses the shared components of the protocol's preset, generates every (system,
sampler, steps) row with per-item seeds shared by all systems, evaluates it, measures its speed,
and writes ``results.json`` into a new run folder (``--resume`` continues a killed run).

Under ``torchrun --nproc-per-node N -m bench run …`` the ranks share the generation (canonical
batches, ``common.dist``) and rank 0 does the rest; a torchrun restart (``--max-restarts``) resumes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a benchmark protocol (e.g. sfx-mini)", description=__doc__)
    p.add_argument("protocol", help="protocol name (see --list)")
    p.add_argument("--out", help="new run folder (default: runs/<protocol>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run in --out")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurements")
    p.add_argument("--no-cache", action="store_true", help="recompute every clip and metric")
    p.add_argument("--speed-profile", choices=["cpu", "gpu", "edge-cpu"],
                   help="override the protocol's speed profile (edge-cpu: 4 threads, fp32 and int8)")
    p.add_argument("--gen-batch", type=int, default=16,
                   help="clips per generation call: the canonical batch that resume and torchrun ranks share "
                        "(default 16)")
    p.add_argument("--systems", type=system_names,
                   help="run only these of the protocol's systems, comma-separated "
                        "(e.g. stable-audio-open,teacher); the protocol is otherwise unchanged")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def system_names(text: str) -> list[str]:
    """``--systems a,b`` as names; an empty selection is refused (it would silently run everything)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one system, e.g. --systems stable-audio-open,teacher")
    return names


def run(args: argparse.Namespace) -> int:
    from bench.protocols import get_protocol
    from bench.runner import RunError, run_protocol
    from common import dist
    from common.registry import UnknownNameError
    from metrics.threads import apply_torch_threads
    from systems.api import SystemInputError

    apply_torch_threads()  # one thread policy for torch (metrics.threads): $FASTAUDIO_TORCH_THREADS
    dist.init_from_env(args.device)
    try:
        protocol = get_protocol(args.protocol)
        out = args.out or dist.broadcast(f"runs/{protocol.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        results = run_protocol(protocol, out, resume=args.resume or restarted(), device=args.device,
                               progress=not args.quiet, speed=not args.no_speed, cache=not args.no_cache,
                               speed_profile=args.speed_profile, gen_batch=args.gen_batch,
                               systems=args.systems)
    except (RunError, UnknownNameError, SystemInputError, dist.DistError) as exc:
        print(f"error{dist.rank_label()}: {exc}", file=sys.stderr)   # a system's own refusal, e.g. a setting
        return 2
    if dist.is_main():
        print(summary(results, out))
    return 0


def restarted() -> bool:
    """A torchrun restart of the workers (``--max-restarts``) continues the run instead of refusing it."""
    import os

    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0


def summary(results: dict, out: str) -> str:
    if results["protocol"].get("kind") == "codec":
        from bench.codec_runner import codec_summary

        return codec_summary(results, out)
    lines = [f"run folder: {out}", "where the time went: " + json.dumps(
        {k: round(v, 1) if k != "overhead_fraction" else round(v, 4) for k, v in results["timings"].items()})]
    for row in results["rows"]:
        adherence = row["metrics"].get("adherence", {}).get("value")
        rtf = row.get("speed", {}).get("rtf")
        lines.append(f"  {row['row_id']:<22} nfe={row['nfe']:<4} adherence={_fmt(adherence)} rtf={_fmt(rtf)}")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
