"""``python -m bench quantizers``: QINCo2 vs plain residual VQ at equal bits on S-PRESSO's z frames.

Fits (or reuses from the component store) the ``spresso`` codecs with QINCo2 and with RVQ at one
operating point under the shared budget, codes the z frames of held-out clips with both, and
prints the MSE of every code prefix and the encode time (QINCo2 also with beam width 1). See
``bench.quantizer_compare``; ``--json FILE`` keeps the record.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.quantizer_compare import DEFAULTS


def add_parser(sub) -> None:
    p = sub.add_parser("quantizers", description=__doc__,
                       help="QINCo2 vs RVQ at equal bits on S-PRESSO's latent frames (MSE, encode time)")
    p.add_argument("--preset", default="tiny", help="size preset of the shared components (tiny: CPU)")
    for key, what in (("time_factor", "t: latent frames per z frame"),
                      ("codebook_steps", "M: codes per frame"),
                      ("codebook_size", "K: codewords per step (a power of 2)"),
                      ("clips", "held-out clips whose z frames are coded"),
                      ("repeats", "encode timings (the best is kept)")):
        p.add_argument(f"--{key.replace('_', '-')}", dest=key, type=int, default=DEFAULTS[key],
                       help=f"{what} (default {DEFAULTS[key]})")
    p.add_argument("--json", type=Path, help="also write the record to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.quantizer_compare import compare, fitted_codecs, markdown
    from metrics.threads import apply_torch_threads
    from systems.api import SystemInputError

    apply_torch_threads()
    op_point = {"time_factor": args.time_factor, "codebook_steps": args.codebook_steps,
                "codebook_size": args.codebook_size}
    if args.clips < 1 or args.repeats < 1:
        print("error: --clips and --repeats must be >= 1", file=sys.stderr)
        return 2
    try:
        record = compare(fitted_codecs(args.preset, op_point, not args.quiet), args.clips, args.repeats)
    except SystemInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0
