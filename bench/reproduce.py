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
from bench.cards.codec_speed import codec_speed_blocks
from bench.cards.document import Block, to_html, to_markdown
from bench.cards.verdicts import ALPHA

REPORT_MD, REPORT_HTML, CLAIMS_JSON = "reproduction.md", "reproduction.html", "claims.json"
RUN_SUBDIR = "run"


class ReproduceError(ValueError):
    """An input that cannot be reproduced from; the message says what is wrong and the fix."""


def reproduce(card: Card, out_dir: str | Path, *, run_dir: str | Path | None = None,
              content_dir: str | Path | None = None, device: str = "cpu", progress: bool = True) -> dict:
    """Judge ``card`` on a run and write the report; returns ``{"card", "claims", "paths"}``.

    A card with a content-preservation part (``card.content``) also reads ``content_dir`` (a
    finished ``bench content-preservation`` run), else runs or resumes one in ``out_dir/content``
    (or, with ``run_dir``, reads ``content/`` beside that run when it exists)."""
    out = Path(out_dir)
    check_out_dir(out, card.name)
    speed = None
    if run_dir is None:
        results, run_path = run_card_protocol(card, out, device, progress), out / RUN_SUBDIR
    else:
        results, run_path = load_results(Path(run_dir)), Path(run_dir)
    check_protocol(card, results, run_path)
    content = card_content(card, out, run_dir, content_dir, device, progress)
    if run_dir is None and card.default_points:   # a codec card has none: its run times every row
        speed = measure_default_points(card, device, progress)
        speed = {**speed, **measure_card_int8(card, device, progress)}
    verdicts = judge_card(card, results, content)
    paths = write_outputs(card, results, verdicts, out, run_path, speed, content)
    return {"card": card.name, "claims": verdicts, "paths": paths, "speed": speed}


CONTENT_SUBDIR = "content"


def card_content(card: Card, out: Path, run_dir, content_dir, device: str, progress: bool) -> dict | None:
    """``{"result", "where"}`` of the card's content run (``result`` None when there is none), or
    None for a card without one; a content run made with other settings is refused."""
    if card.content is None:
        return None
    from bench.content import RESULT

    if content_dir is not None:
        path = Path(content_dir)
        if not (path / RESULT).is_file():
            raise ReproduceError(f"--content {path}: no {RESULT} there; pass a finished `python -m bench "
                                 "content-preservation` run, or leave --content out")
    elif run_dir is None:
        path = out / CONTENT_SUBDIR
        if not (path / RESULT).is_file():
            run_card_content(card, path, device, progress)
    else:
        path = Path(run_dir).parent / CONTENT_SUBDIR
        if not (path / RESULT).is_file():
            return {"result": None, "where": f"no content run at {path}; pass --content DIR (a finished "
                    "`python -m bench content-preservation` run), or run without --run"}
    return {"result": checked_content(card, path / RESULT), "where": str(path)}


def run_card_content(card: Card, path: Path, device: str, progress: bool) -> None:
    """The card's content run into ``path`` (resumed when an earlier one was interrupted)."""
    from bench.content import ContentError, run_content
    from bench.protocols import get_protocol

    spec = card.content
    try:
        run_content(path, preset=get_protocol(card.protocol).preset, prompts=spec.prompts, seeds=spec.seeds,
                    backend=spec.backend, few=spec.few, many=spec.many, n_boot=spec.bootstrap, device=device,
                    progress=progress)
    except ContentError as exc:
        raise ReproduceError(f"the content-preservation run of card {card.name!r}: {exc}") from None


def checked_content(card: Card, path: Path) -> dict:
    from bench.cards.content import check_matches

    try:
        result = json.loads(path.read_text())
    except ValueError as exc:
        raise ReproduceError(f"{path} is not valid JSON ({exc}); rerun the content run") from None
    differs = check_matches(card.content, result)
    if differs:
        raise ReproduceError(f"{path} was run with other settings than card {card.name!r} asks for "
                             f"({differs}); pass a content run with the card's settings, or a new --out")
    return result


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


def judge_card(card: Card, results: dict, content: dict | None = None) -> list[dict]:
    """Every claim on the run's rows plus, for a card with a content run, its rows
    (``bench.cards.content``)."""
    if content is not None and content["result"] is not None:
        from bench.cards.content import content_rows

        results = {**results, "rows": results.get("rows", []) + content_rows(card.content, content["result"])}
    return [judge(claim, results, card.metrics) for claim in card.claims]


def report_blocks(card: Card, results: dict, verdicts: list[dict], run_path: Path,
                  speed: dict | None = None, content: dict | None = None) -> list[Block]:
    rows = results.get("rows", [])
    teacher = results.get("protocol", {}).get("resolution", {}).get("system", "teacher")
    points = {k: v for k, v in (speed or {}).items() if k != INT8_KEY}
    if results.get("protocol", {}).get("kind") == "codec":
        timing = codec_speed_blocks(rows)
    elif points:
        timing = sections.measured_speed_blocks(card, points, teacher)
    else:
        timing = sections.speed_blocks(card, rows, teacher)
    int8 = card_tables.int8_blocks(card, (speed or {}).get(INT8_KEY))
    return [*sections.title_blocks(card), *sections.paper_number_blocks(card, rows),
            *sections.claim_blocks(verdicts), *content_section(card, content),
            *card_tables.metric_table_blocks(card, rows),
            *sections.training_blocks(rows), *timing, *int8, *sections.deviation_blocks(card),
            *sections.provenance_blocks(results, str(run_path))]


def content_section(card: Card, content: dict | None) -> list[Block]:
    if content is None:
        return []
    from bench.cards.content import content_blocks

    return content_blocks(card.content, content["result"], content["where"])


def claims_document(card: Card, results: dict, verdicts: list[dict], run_path: Path,
                    speed: dict | None = None, content: dict | None = None) -> dict:
    """What claims.json holds: the card, the run it was judged on, every verdict, the speed check
    and, for a card with one, where its content run is and what it measured."""
    protocol = results.get("protocol", {})
    doc = {"card": card.name, "paper": card.paper, "url": card.url,
           "protocol": {k: protocol.get(k) for k in ("name", "version", "hash")},
           "run": str(run_path), "run_created": results.get("created"), "alpha": ALPHA,
           "metrics": list(card.metrics), "claims": verdicts, "speed": speed}
    if content is not None:
        result = content["result"] or {}
        doc["content"] = {"where": content["where"], "config": result.get("config"),
                          "rows": [_content_summary(row) for row in result.get("rows", [])]}
    return doc


def _content_summary(row: dict) -> dict:
    """One content row in claims.json: its id, status, NFE, paper value and mean [CI]."""
    out = {k: row.get(k) for k in ("row_id", "label", "status", "reason", "n", "nfe", "paper")}
    if row.get("status") == "ok":
        out.update(mean=row["lpaps"]["mean"], ci=row["lpaps"]["ci"])
    return out


def write_outputs(card: Card, results: dict, verdicts: list[dict], out: Path,
                  run_path: Path, speed: dict | None = None, content: dict | None = None) -> dict[str, str]:
    blocks = report_blocks(card, results, verdicts, run_path, speed, content)
    # claims.json first: it names the card that owns the folder (check_out_dir reads it);
    # allow_nan=False: a NaN anywhere is a bug to surface, never a value to write
    document = claims_document(card, results, verdicts, run_path, speed, content)
    texts = {CLAIMS_JSON: json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
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
