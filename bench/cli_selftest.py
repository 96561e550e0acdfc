"""``python -m bench gate-selftest --baseline FILE --out DIR``: the gate must fail planted regressions.

Runs the baseline's protocol once per plant (``bench.gate_selftest``: teacher weights perturbed,
sampler steps silently halved) into ``DIR/<plant>`` and checks each run against the baseline.
Exit 0 when every plant fails the gate (the gate works), 1 when a plant slips through, 2 on an
input error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("gate-selftest", help="check that the regression gate fails planted regressions",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, metavar="FILE", help="the committed baseline")
    p.add_argument("--out", required=True, metavar="DIR", help="new folder for the planted runs")
    p.add_argument("--plants", default=None, help="comma-separated plants (default: all)")
    p.add_argument("--perturb-scale", type=float, default=None,
                   help="teacher-perturbed: noise as a fraction of each weight tensor's std (default 0.3)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.check import BaselineError, load_baseline
    from bench.gate_selftest import PERTURB_SCALE, PLANTS, run_plant
    from bench.protocols import get_protocol

    plants = [p.strip() for p in (args.plants or ",".join(PLANTS)).split(",") if p.strip()]
    unknown = sorted(set(plants) - set(PLANTS))
    out = Path(args.out)
    try:
        baseline = load_baseline(args.baseline)
        if unknown:
            raise BaselineError(f"unknown plant(s) {unknown}; known: {sorted(PLANTS)}")
        if out.exists():
            raise BaselineError(f"{out} exists; choose a new --out (runs are never overwritten)")
        protocol = get_protocol(baseline["protocol"]["name"])
        scale = PERTURB_SCALE if args.perturb_scale is None else args.perturb_scale
        if not 0 < scale < 10:
            raise BaselineError(f"--perturb-scale must lie in (0, 10), got {scale}")
    except (BaselineError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    findings = [run_plant(name, protocol, baseline, out / name, not args.quiet, scale) for name in plants]
    out.mkdir(parents=True, exist_ok=True)
    (out / "selftest.json").write_text(json.dumps(findings, indent=2))
    for f in findings:
        state = "caught" if f["gate_failed"] else "MISSED"
        print(f"{f['plant']}: {state} — {f['summary']}")
        for line in f["regressed"][:12]:
            print(f"    {line}")
    return 0 if all(f["gate_failed"] for f in findings) else 1
