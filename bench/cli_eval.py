"""``python -m bench eval``: evaluate a folder/manifest of generated audio against a reference.

Exit codes: 0 every metric ok; 1 a metric is ``error`` (or ``unavailable`` with ``--strict``);
2 an input problem (file, manifest, option, folder), printed as one ``error:`` paragraph.

Several processes: ``--shard I/N --out DIR`` embeds shard I's clips into ``DIR`` (a job-array task;
``python -m bench merge DIR --out RESULTS`` evaluates the union, equal to a 1-process run), and
under ``torchrun --nproc-per-node N -m bench eval …`` every rank embeds its shard and rank 0
merges (``bench.eval_shards``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cache import CacheUnusableError
from bench.extract import IOConfig
from bench.settings import SettingsError
from common.audio_io import AudioInputError
from common.registry import UnknownNameError
from common.sources import parse_where
from metrics.base import MetricInputError

EXIT_OK, EXIT_METRIC_ERROR, EXIT_INPUT_ERROR = 0, 1, 2
#: user-input problems: reported as one paragraph with exit code 2, never a traceback
INPUT_ERRORS = (AudioInputError, MetricInputError, UnknownNameError, SettingsError,
                CacheUnusableError, OSError)


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate generated audio against reference audio",
                       description=__doc__)
    p.add_argument("--gen", help="folder of audio files or CSV manifest (id, path[, caption])")
    p.add_argument("--ref", help="reference folder or manifest (distribution and paired metrics)")
    p.add_argument("--gen-where", nargs="*", metavar="COL=V[,V]", help="filter manifest rows")
    p.add_argument("--ref-where", nargs="*", metavar="COL=V[,V]", help="filter manifest rows")
    p.add_argument("--prompts", help="CSV with id and caption columns for the generated items")
    p.add_argument("--metrics", help="comma-separated metric@backend[:opt=val] (default: offline set)")
    p.add_argument("--out", help="output folder (must not hold results yet)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--bootstrap", type=int, default=100, help="bootstrap replicates (0: no CI, else >= 2)")
    p.add_argument("--ci-level", type=float, default=0.95, help="confidence level, in (0, 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--peak-dbfs", type=float, default=None, help="peak-normalise (SAM: -1)")
    p.add_argument("--max-duration-s", type=float, default=600.0)
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--yamnet", help="path to yamnet.tflite (or its folder)")
    p.add_argument("--strict", action="store_true", help="unavailable metrics are failures")
    p.add_argument("--list", action="store_true", help="what can run on this machine, and why not")
    p.add_argument("--shard", metavar="I/N",
                   help="embed only shard I of N into --out (merge with `bench merge`)")
    p.set_defaults(func=run)
    m = sub.add_parser("merge", help="evaluate the shards of `bench eval --shard I/N` as one run",
                       description="Evaluate the union of a folder of `bench eval --shard I/N` shards; the "
                                   "results equal a 1-process `bench eval` with the same settings.")
    m.add_argument("folder", help="the --out folder the shards were written to")
    m.add_argument("--out", help="output folder for results.json (must not hold results yet)")
    m.add_argument("--device", default="cpu")
    m.add_argument("--bootstrap", type=int, default=100, help="bootstrap replicates (0: no CI, else >= 2)")
    m.add_argument("--ci-level", type=float, default=0.95, help="confidence level, in (0, 1)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--yamnet", help="path to yamnet.tflite (or its folder)")
    m.add_argument("--strict", action="store_true", help="unavailable metrics are failures")
    m.set_defaults(func=run_merge)


def run(args: argparse.Namespace) -> int:
    if args.list:
        from bench.listing import print_listing

        print_listing()
        return EXIT_OK
    if not args.gen:
        print("error: --gen is required (or use --list)", file=sys.stderr)
        return EXIT_INPUT_ERROR
    from bench.evaluate import evaluate
    from common import dist

    if args.shard or dist.init_from_env(args.device):
        return run_sharded(args)
    try:
        results = evaluate(
            args.gen, args.ref, _split(args.metrics), prompts=args.prompts, out=args.out,
            gen_where=parse_where(args.gen_where), ref_where=parse_where(args.ref_where),
            device=args.device, batch_size=args.batch_size, bootstrap=args.bootstrap,
            seed=args.seed, ci_level=args.ci_level, cache_dir=None if args.no_cache else "default",
            io=IOConfig(peak_dbfs=args.peak_dbfs, max_duration_s=args.max_duration_s),
            backend_options={"yamnet": {"model_path": args.yamnet}} if args.yamnet else None)
    except INPUT_ERRORS as exc:  # OSError covers FileExistsError (--out already holds results)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print_results(results, args.out)
    return _exit_code(results, args.strict)


def _options(args) -> dict:
    return {"backend_options": {"yamnet": {"model_path": args.yamnet}} if args.yamnet else None}


def run_sharded(args: argparse.Namespace) -> int:
    """``--shard I/N``: embed one shard; under torchrun: every rank its shard, then rank 0 merges."""
    from bench.eval_shards import extract_shard, merge_shards, parse_shard
    from common import dist

    if not args.out:
        print("error: a sharded eval needs --out (the folder the shards and the merge share)",
              file=sys.stderr)
        return EXIT_INPUT_ERROR
    launched = dist.active()
    try:
        shard = (dist.rank(), dist.world_size()) if launched else parse_shard(args.shard)
        folder = Path(args.out) / "shards" if launched else Path(args.out)
        record = extract_shard(args.gen, args.ref, _split(args.metrics), shard, folder, prompts=args.prompts,
                               gen_where=parse_where(args.gen_where), ref_where=parse_where(args.ref_where),
                               device=args.device, batch_size=args.batch_size,
                               io=IOConfig(peak_dbfs=args.peak_dbfs, max_duration_s=args.max_duration_s),
                               progress=not launched or dist.is_main(), **_options(args))
        if launched:
            dist.barrier()
            results = dist.on_main(lambda: merge_shards(folder, args.out, device=args.device,
                                                        bootstrap=args.bootstrap, seed=args.seed,
                                                        ci_level=args.ci_level, **_options(args)))
    except INPUT_ERRORS + (dist.DistError,) as exc:
        print(f"error{dist.rank_label()}: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    if not launched:
        print(f"shard {shard[0]}/{shard[1]}: {sum(map(len, record['items'].values()))} clips embedded with "
              f"{', '.join(record['backends']) or 'no backend'} into {args.out}; merge the {shard[1]} shards "
              f"with `python -m bench merge {args.out} --out RESULTS`")
        return EXIT_OK
    if dist.is_main():
        print_results(results, args.out)
    return _exit_code(results, args.strict)


def run_merge(args: argparse.Namespace) -> int:
    from bench.eval_shards import merge_shards

    try:
        results = merge_shards(args.folder, args.out, device=args.device, bootstrap=args.bootstrap,
                               seed=args.seed, ci_level=args.ci_level, **_options(args))
    except INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print_results(results, args.out)
    return _exit_code(results, args.strict)


def _split(text: str | None) -> list[str] | None:
    """None (option absent: the defaults) or the listed names; ``--metrics ""`` gives []."""
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.4g}"


def print_results(results: dict, out: str | None) -> None:
    print(f"{'metric':34} {'value':>10}  {'95% CI':>23} {'n':>6}  dir  status")
    for name, r in results.items():
        if name == "_run":
            continue
        ci = f"[{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}]" if r.get("ci") else ""
        arrow = "↑" if r["higher_is_better"] else "↓"
        note = r.get("reason") or r.get("error") or r.get("details", {}).get("warning", "")
        print(f"{name:34} {_fmt(r['value']):>10}  {ci:>23} {r['n']:>6}  {arrow}    {r['status']}"
              + (f": {note}" if note else ""))
    for w in results["_run"]["warnings"]:
        print(f"warning: {w}")
    ignored = results["_run"]["ignored_files"]
    for side, files in ignored.items():
        if files:
            print(f"note: {len(files)} non-audio file(s) or linked folder(s) in --{side} not used: "
                  f"{files[:5]}{' ...' if len(files) > 5 else ''}")
    if out:
        print(f"wrote {Path(out) / 'results.json'}")


def _exit_code(results: dict, strict: bool) -> int:
    statuses = [r["status"] for k, r in results.items() if k != "_run"]
    if "error" in statuses or (strict and "unavailable" in statuses):
        return EXIT_METRIC_ERROR
    return EXIT_OK
