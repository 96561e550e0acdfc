"""``python -m bench reproduce PAPER --out DIR``: judge a paper's claims on our measurements.

Runs the paper card's protocol into DIR/run (resumable; trained systems, clips and metrics are
reused), or reads a finished run with ``--run RUN_DIR``, then judges every claim of the card as
supported / contradicted / inconclusive from paired-bootstrap intervals and writes
DIR/reproduction.md, DIR/reproduction.html and DIR/claims.json. A DIR that holds another card's
report is refused; the same card's report is rewritten. Exit codes: 0 report written (whatever
the verdicts); 2 an unknown paper or an unusable input.
"""
from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_INPUT_ERROR = 0, 2


def add_parser(sub) -> None:
    from bench.cards import CARDS

    p = sub.add_parser("reproduce", help="judge a paper's claims on our measurements (reproduction card)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paper", metavar="PAPER", help=f"reproduction card, one of: {', '.join(CARDS)}")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the report (and of the run)")
    p.add_argument("--run", metavar="RUN_DIR", help="judge this finished run instead of running the protocol")
    p.add_argument("--content", metavar="CONTENT_DIR",
                   help="cards with a content-preservation part (soundctm): judge this finished "
                        "`bench content-preservation` run instead of running one in DIR/content")
    p.add_argument("--device", default="cpu", help="device of the protocol run (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress output while running")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.cards import get_card
    from bench.reproduce import ReproduceError, reproduce
    from bench.runner import RunError
    from common.registry import UnknownNameError

    try:
        card = get_card(args.paper)
        outcome = reproduce(card, args.out, run_dir=args.run, content_dir=args.content, device=args.device,
                            progress=not args.quiet)
    except (UnknownNameError, ReproduceError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(summary(outcome))
    return EXIT_OK


def summary(outcome: dict) -> str:
    """Where the report is, then one line per claim: id, verdict, statement."""
    paths = outcome["paths"]
    lines = [f"reproduction report: {paths['reproduction.md']} (also {paths['reproduction.html']}, "
             f"{paths['claims.json']})"]
    lines += [f"  ({c['id']}) {c['verdict'].upper():12} {c['statement']}" for c in outcome["claims"]]
    return "\n".join(lines)
