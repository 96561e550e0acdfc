"""``python -m bench content-preservation``: SoundCTM's content-preservation experiment (its Table 7).

For the first N prompts × S seeds of ``sfx-mini``, LPAPS between each item's ``--few``-step and
``--many``-step output (same prompt, same initial noise) for ``soundctm`` at γ = 0, 0.2, 0.5, 1 and
``cd`` (ping-pong multistep), beside two bounds on real clips: the autoencoder's reconstruction of
a clip vs the clip, and two real renders of the same prompt. Mean with a bootstrap 95 % CI per row.
Systems are trained (or reused from the component store) under the preset's shared budget.
Writes ``content.json`` and ``content.md`` (and a few listening examples) into a new folder; an
interrupted run into the same folder with the same settings resumes. See ``bench.content``.
"""
from __future__ import annotations

import argparse
import sys

from bench.content import DEFAULTS


def add_parser(sub) -> None:
    p = sub.add_parser("content-preservation", description=__doc__,
                       help="LPAPS between few- and many-step outputs from the same noise (SoundCTM Table 7)")
    p.add_argument("--out", required=True, help="new output folder (never overwritten)")
    p.add_argument("--preset", default="tiny", help="size preset of the shared components (tiny: CPU)")
    p.add_argument("--prompts", type=int, default=DEFAULTS["prompts"],
                   help=f"first N prompts of sfx-mini (default {DEFAULTS['prompts']}: fits a 2-core CPU)")
    p.add_argument("--seeds", type=int, default=DEFAULTS["seeds"],
                   help=f"seeds (initial noises) per prompt (default {DEFAULTS['seeds']})")
    p.add_argument("--backend", default=DEFAULTS["backend"],
                   help="embedding backend with layers for LPAPS (aisfx: offline; clap-laion-music: "
                        "CLAP-LPAPS; mel: plumbing only)")
    p.add_argument("--few", type=int, default=DEFAULTS["few"], help="the fewer step count (default 1)")
    p.add_argument("--many", type=int, default=DEFAULTS["many"], help="the larger step count (default 16)")
    p.add_argument("--bootstrap", type=int, default=DEFAULTS["bootstrap"],
                   help="bootstrap replicates for the CIs")
    p.add_argument("--examples", type=int, default=2, help="pairs per row written as FLAC examples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.content import ContentError, markdown, run_content
    from metrics.threads import apply_torch_threads
    from systems.api import SystemInputError

    apply_torch_threads()  # one thread policy for torch (metrics.threads): $FASTAUDIO_TORCH_THREADS
    try:
        result = run_content(args.out, preset=args.preset, prompts=args.prompts, seeds=args.seeds,
                             backend=args.backend, few=args.few, many=args.many, n_boot=args.bootstrap,
                             seed=args.seed, examples=args.examples, device=args.device,
                             progress=not args.quiet)
    except (ContentError, SystemInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(result))
    print(f"\nwrote {args.out}/content.json and {args.out}/content.md")
    return 0
