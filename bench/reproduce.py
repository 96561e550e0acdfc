"""Reproduce one paper: run (or read) its card's protocol, judge every claim, write the report.

``reproduce(card, out_dir)`` runs ``card.protocol`` into ``out_dir/run`` (resumable: trained
accelerators, clips and metrics are reused) or reads a finished ``run_dir/results.json``, judges
each claim from paired-bootstrap intervals (``bench.cards.claims``) and writes, next to each
other, ``reproduction.md``, ``reproduction.html`` (self-contained) and ``claims.json``. An
output folder holding another card's report is refused: reports are never overwritten across
cards.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from bench.cards import sections
from bench.cards import tables as card_tables
from bench.cards.base import Card
from bench.cards.claims import judge
from bench.cards.document import Block, to_html, to_markdown
from bench.cards.verdicts import ALPHA

REPORT_MD, REPORT_HTML, CLAIMS_JSON = "reproduction.md", "reproduction.html", "claims.json"
RUN_SUBDIR = "run"


class ReproduceError(ValueError):
    """An input that cannot be reproduced from; the message says what is wrong and the fix."""


def reproduce(card: Card, out_dir: str | Path, *, run_dir: str | Path | None = None,
              device: str = "cpu", progress: bool = True) -> dict:
    """Judge ``card`` on a run and write the report; returns ``{"card", "claims", "paths"}``."""
    out = Path(out_dir)
    check_out_dir(out, card.name)
    speed = None
    if run_dir is None:
        results, run_path = run_card_protocol(card, out, device, progress), out / RUN_SUBDIR
        speed = measure_default_points(card, device, progress)
        speed = {**speed, **measure_card_int8(card, device, progress)}
    else:
        results, run_path = load_results(Path(run_dir)), Path(run_dir)
    check_protocol(card, results, run_path)
    verdicts = judge_card(card, results)
    paths = write_outputs(card, results, verdicts, out, run_path, speed)
    return {"card": card.name, "claims": verdicts, "paths": paths, "speed": speed}


def measure_default_points(card: Card, device: str, progress: bool) -> dict:
    """Every system's default point timed in interleaved rounds in this process (bench.speed_compare)."""
    from bench.protocols import get_protocol
    from bench.runner import prompt_items
    from bench.speed_compare import build_point, compare_points, entry_for
    from systems.components.shared import load_components

    protocol = get_protocol(card.protocol)
    components = load_components(protocol.preset, device, progress=False)
    points, missing = {}, {}
    for system, (sampler, steps, *rest) in card.default_points.items():
        guidance = rest[0] if rest else None
        entry = entry_for(protocol, system, sampler, steps, guidance)
        if entry is None:
            missing[system] = {"missing": f"no entry of {card.protocol} runs {system} {sampler} {steps}"}
        else:
            points[system] = (build_point(entry, components), sampler, steps, guidance)
    timed = compare_points(points, prompt_items(protocol), protocol.duration_s, progress=progress)
    return {**timed, **missing}


def measure_card_int8(card: Card, device: str, progress: bool) -> dict:
    """``{"int8": ...}`` of the card's int8 point (bench.int8_compare); {} when it names none."""
    if card.int8_point is None:
        return {}
    from bench.int8_compare import measure_int8
    from bench.protocols import get_protocol
    from systems.components.shared import load_components

    if device != "cpu":
        return {INT8_KEY: {"missing": f"dynamic int8 runs on the CPU only; this run used {device}"}}
    protocol = get_protocol(card.protocol)
    components = load_components(protocol.preset, device, progress=False)
    return {INT8_KEY: measure_int8(card.int8_point, protocol, components, progress)}


INT8_KEY = "_int8"   # the speed record's key of the int8 measurement (not a system name)


def check_out_dir(out: Path, card_name: str) -> None:
    """Refuse a folder that holds another card's report (or a report of unknown origin)."""
    if not (out / REPORT_MD).exists():
        return
    owner = card_of(out)
    if owner != card_name:
        found = f"card {owner!r}" if owner else f"an unidentified card (no readable {CLAIMS_JSON})"
        raise ReproduceError(f"{out} already holds a reproduction report of {found}; reports of "
                             f"different cards are never overwritten: choose another --out")


def card_of(out: Path) -> str | None:
    """The card whose report ``out`` holds, from its claims.json."""
    try:
        return json.loads((out / CLAIMS_JSON).read_text()).get("card")
    except (OSError, ValueError, AttributeError):
        return None


def run_card_protocol(card: Card, out: Path, device: str, progress: bool) -> dict:
    """Run (or resume) the card's protocol into ``out/run``; trains what it needs, reuses caches."""
    from bench.protocols import get_protocol
    from bench.runner import run_protocol

    protocol = get_protocol(card.protocol)
    return run_protocol(protocol, out / RUN_SUBDIR, resume=True, device=device, progress=progress)


def load_results(run_dir: Path) -> dict:
    path = run_dir / "results.json"
    if not path.is_file():
        raise ReproduceError(f"{path} does not exist: pass --run a finished run folder (one that "
                             "`python -m bench run` completed), or leave --run out to run the protocol")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ReproduceError(f"{path} is not valid JSON ({exc}); rerun the protocol") from None


def check_protocol(card: Card, results: dict, run_path: Path) -> None:
    name = results.get("protocol", {}).get("name")
    if name != card.protocol:
        raise ReproduceError(f"{run_path} is a run of protocol {name!r}, but card {card.name!r} is "
                             f"judged on {card.protocol!r}: pass a run of {card.protocol!r} to --run, "
                             "or leave --run out to run it")


def judge_card(card: Card, results: dict) -> list[dict]:
    return [judge(claim, results, card.metrics) for claim in card.claims]


def report_blocks(card: Card, results: dict, verdicts: list[dict], run_path: Path,
                  speed: dict | None = None) -> list[Block]:
    rows = results.get("rows", [])
    teacher = results.get("protocol", {}).get("resolution", {}).get("system", "teacher")
    points = {k: v for k, v in (speed or {}).items() if k != INT8_KEY}
    timing = sections.measured_speed_blocks(card, points, teacher) if points else \
        sections.speed_blocks(card, rows, teacher)
    int8 = card_tables.int8_blocks(card, (speed or {}).get(INT8_KEY))
    return [*sections.title_blocks(card), *sections.paper_number_blocks(card, rows),
            *sections.claim_blocks(verdicts), *card_tables.metric_table_blocks(card, rows),
            *sections.training_blocks(rows), *timing, *int8, *sections.deviation_blocks(card),
            *sections.provenance_blocks(results, str(run_path))]


def claims_document(card: Card, results: dict, verdicts: list[dict], run_path: Path,
                    speed: dict | None = None) -> dict:
    """What claims.json holds: the card, the run it was judged on, every verdict, the speed check."""
    protocol = results.get("protocol", {})
    return {"card": card.name, "paper": card.paper, "url": card.url,
            "protocol": {k: protocol.get(k) for k in ("name", "version", "hash")},
            "run": str(run_path), "run_created": results.get("created"), "alpha": ALPHA,
            "metrics": list(card.metrics), "claims": verdicts, "speed": speed}


def write_outputs(card: Card, results: dict, verdicts: list[dict], out: Path,
                  run_path: Path, speed: dict | None = None) -> dict[str, str]:
    blocks = report_blocks(card, results, verdicts, run_path, speed)
    # claims.json first: it names the card that owns the folder (check_out_dir reads it);
    # allow_nan=False: a NaN anywhere is a bug to surface, never a value to write
    texts = {CLAIMS_JSON: json.dumps(claims_document(card, results, verdicts, run_path, speed), indent=2,
                                     ensure_ascii=False, allow_nan=False) + "\n",
             REPORT_MD: to_markdown(blocks),
             REPORT_HTML: to_html(blocks, f"Reproduction card: {card.paper}")}
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        _write_atomic(out / name, text)
    return {name: str(out / name) for name in texts}


def _write_atomic(path: Path, text: str) -> None:
    """A killed write leaves the previous file, not half a report."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
