"""Command line: ``python -m bench {eval,train,run,adherence,content-preservation,report,check,
gate-selftest,list,reproduce,quantizers,merge,audiocaps-manifest,demo-data}`` (see ``--help`` of each)."""
from __future__ import annotations

import argparse
import sys

from bench import (
    cli_adherence,
    cli_audiocaps,
    cli_check,
    cli_content,
    cli_eval,
    cli_list,
    cli_quantizers,
    cli_report,
    cli_reproduce,
    cli_run,
    cli_selftest,
    cli_train,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cli_eval.add_parser(sub)
    cli_train.add_parser(sub)
    cli_run.add_parser(sub)
    cli_adherence.add_parser(sub)
    cli_content.add_parser(sub)
    cli_report.add_parser(sub)
    cli_check.add_parser(sub)
    cli_selftest.add_parser(sub)
    cli_list.add_parser(sub)
    cli_reproduce.add_parser(sub)
    cli_quantizers.add_parser(sub)
    cli_audiocaps.add_parser(sub)
    demo = sub.add_parser("demo-data", help="write a small synthetic gen/ref set (offline demo)")
    demo.add_argument("--out", required=True)
    demo.set_defaults(func=_demo_data)
    args = parser.parse_args(argv)
    return args.func(args)


def _demo_data(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench.demo_data import write_demo

    write_demo(Path(args.out))
    print(f"wrote {args.out}/gen.csv and {args.out}/ref.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
