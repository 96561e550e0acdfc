"""The sections of a reproduction report, as document blocks, from a card, a run and its verdicts.

Read top to bottom: the paper and the caveat, the paper's numbers beside ours, each claim with
its verdict and evidence, what training cost, a sanity check, speed against NFE, the deviations
from the paper and the run's provenance. Missing values print as "–", never as NaN.
"""
from __future__ import annotations

import json
import math

from bench.cards.base import Card
from bench.cards.document import Block, Bullets, Heading, Para, Table
from bench.cards.verdicts import usable_metric

DASH = "–"
TRAINING_KEYS = ("updates", "batch", "examples_seen", "train_wall_s", "online_teacher_nfe",
                 "offline_teacher_nfe", "peak_train_ram_mb", "stopped_by")
SPEEDUP_SHARE = 0.9  # a speedup of at least 0.9 × the NFE ratio counts as "scales with NFE"


def fmt(value) -> str:
    """A number to 4 significant digits, an int as is, None as "–", anything else as JSON/str."""
    if value is None:
        return DASH
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else DASH
    return json.dumps(value, sort_keys=True)


def fmt_interval(point: float | None, ci: list[float] | None) -> str:
    if point is None:
        return DASH
    return f"{point:+.4g}" + (f" [{ci[0]:+.4g}, {ci[1]:+.4g}]" if ci else "")


def title_blocks(card: Card) -> list[Block]:
    return [Heading(f"Reproduction card: {card.paper}", 1), Para(card.citation), Para(card.url),
            Para(card.summary), Para(card.caveat, strong="Caveat:", note=True)]


# --- the paper's numbers ---------------------------------------------------------------------------

def paper_number_blocks(card: Card, rows: list[dict]) -> list[Block]:
    head = [Heading("The paper's numbers beside ours")]
    if not card.paper_numbers:
        return head + [Para("The card lists none of the paper's numbers: they could not be retrieved "
                            "offline (only the abstract and introduction were readable), and none is "
                            "reconstructed from memory or summaries.", note=True)]
    table = Table(("source", "paper row", "paper metric", "paper value", "paper setup", "our row",
                   "our metric", "our value [CI]"),
                  tuple(_paper_row(n, rows) for n in card.paper_numbers))
    return head + [Para("NOT comparable in value: ours are at toy scale, on another dataset, with "
                        "other embeddings; compare only directions and orderings.", note=True), table]


def _paper_row(number, rows: list[dict]) -> tuple[str, ...]:
    arrow = "↑" if number.higher_is_better else "↓"
    return (f"{number.table}, {number.source}", number.row, f"{number.metric} {arrow}",
            fmt(float(number.value)), number.setup,
            number.ours.label() if number.ours else DASH, number.our_metric or DASH,
            _our_value(number, rows))


def _our_value(number, rows: list[dict]) -> str:
    if number.ours is None:
        return DASH
    row, why = number.ours.find(rows)
    metric, why = usable_metric(row, number.our_metric) if row is not None else (None, why)
    if metric is None:
        return f"{DASH} ({why})"
    return f"{fmt(metric['value'])} [{fmt(metric.get('ci_low'))}, {fmt(metric.get('ci_high'))}]"


# --- claims ----------------------------------------------------------------------------------------

def claim_blocks(verdicts: list[dict]) -> list[Block]:
    blocks: list[Block] = [Heading("Claims"), Para(
        "Every comparison is a paired bootstrap: the rows of a run share their bootstrap draws, so "
        "replicate-wise differences are replicates of the difference. Differences are oriented so "
        "that positive = better. Superiority needs the interval above 0; non-inferiority its lower "
        "end above −δ; equivalence the whole interval inside ±δ.")]
    for verdict in verdicts:
        blocks += one_claim_blocks(verdict)
    return blocks


def one_claim_blocks(v: dict) -> list[Block]:
    per_metric = "; ".join(f"{m}: {d['verdict']}" for m, d in v["per_metric"].items())
    level = (f"Bonferroni: {v['comparisons']} comparisons (all metrics), each at level "
             f"{v['level']:.5g}, family-wise α = {v['alpha']:g}.")
    blocks = [Heading(f"({v['id']}) {v['statement']}", 3),
              Para(v["reason"], strong=f"Verdict: {v['verdict']}."),
              Para(f"Test: {v['method']}."), Para(f"Per metric: {per_metric}."),
              Para(level + (f" Note: {v['level_note']}." if v["level_note"] else "")),
              Para(margin_text(v["margins"]))]
    rows = tuple((f"{e['a']} vs {e['b']}", e["metric"], e["kind"],
                  fmt_interval(e["difference"], e["ci"]), f"{e['level']:.5g}", fmt(e["margin"]),
                  f"{e['verdict']}: {e['reason']}") for e in v["evidence"])
    header = ("comparison", "metric", "kind", "difference [CI]", "level", "margin δ", "verdict")
    return blocks + [Table(header, rows)]


def margin_text(margins: dict[str, dict]) -> str:
    parts = []
    for metric, m in margins.items():
        if m.get("delta") is None:
            parts.append(f"δ({metric}) not available: {m['reason']}")
        else:
            parts.append(f"δ({metric}) = {m['delta']:.4g} ({m['fewest']} vs {m['most']})")
    rules = {m["rule"] for m in margins.values() if m.get("rule")}
    return "; ".join(parts) + "." + "".join(f" Rule: {r}." for r in sorted(rules))


# --- training cost and sanity ----------------------------------------------------------------------

def training_records(rows: list[dict]) -> dict[str, dict]:
    """Each distinct ``training`` dict in row order, labelled by its system (rows that share one
    training share its entry); a system trained at several operating points (a codec's rows) adds
    the row's variant to tell them apart."""
    out: dict[str, dict] = {}
    for row in rows:
        record = row.get("training")
        if not isinstance(record, dict) or any(record == seen for seen in out.values()):
            continue
        system = str(row.get("system"))
        label = system if system not in out else f"{system} {row.get('variant') or row.get('row_id')}"
        out[label] = record
    return out


def training_blocks(rows: list[dict]) -> list[Block]:
    records = training_records(rows)
    head: list[Block] = [Heading("Training cost")]
    if not records:
        return head + [Para("No row of this run carries a training record.")]
    table = Table(("system", *TRAINING_KEYS),
                  tuple((s, *(fmt(t.get(k)) for k in TRAINING_KEYS)) for s, t in records.items()))
    rules = [f"{s}: {t['rule'] if isinstance(t['rule'], str) else fmt(t['rule'])}"
             for s, t in records.items() if t.get("rule") is not None]
    blocks = head + [table, Heading("Budget rules (verbatim)", 3),
                     Bullets(tuple(rules)) if rules else Para("No training record states its rule.")]
    return blocks + sanity_blocks(records)


def sanity_blocks(records: dict[str, dict]) -> list[Block]:
    blocks: list[Block] = []
    for system, record in records.items():
        sanity = record.get("sanity")
        if isinstance(sanity, dict) and sanity:
            blocks += [Heading(f"Sanity check: {system}", 3),
                       Table(("check", "value"), tuple((str(k), fmt(v)) for k, v in sanity.items()))]
    return blocks


# --- speed -----------------------------------------------------------------------------------------

def denoise_time(row: dict) -> tuple[float | None, bool]:
    """(seconds of one batch-1 generation spent in the denoiser, whether it fell back to end-to-end)."""
    speed = row.get("speed") or {}
    if speed.get("denoise_latency_s") is not None:
        return speed["denoise_latency_s"], False
    return speed.get("latency_s"), speed.get("latency_s") is not None


def ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def speed_blocks(card: Card, rows: list[dict], teacher: str) -> list[Block]:
    head: list[Block] = [Heading("Speed at each system's default point")]
    if teacher not in card.default_points:
        return head + [Para(f"The card names no default point for the reference system {teacher}, "
                            "so no speedup can be computed.")]
    base, why = card.default_ref(teacher).find(rows)
    if base is None:
        return head + [Para(f"No speedup: the teacher's default point is missing ({why}).")]
    lines = [speed_line(card, rows, system, base) for system in card.default_points]
    text = Para(SPEED_TEXT.format(teacher=teacher, share=SPEEDUP_SHARE))
    return head + [text, Table(SPEED_HEADER, tuple(line for line, _ in lines))] + fallback_note(
        [system for system, (_, fell_back) in zip(card.default_points, lines) if fell_back])


def fallback_note(systems: list[str]) -> list[Block]:
    if not systems:
        return []
    return [Para(f"No denoiser timing for {', '.join(systems)}: the denoiser column shows end-to-end "
                 "latency instead, and every speedup involving it (and its check) compares end-to-end "
                 "latency on both sides, decoding included.", note=True)]


SPEED_HEADER = ("system", "point", "NFE", "denoiser s/call", "end-to-end s/call", "speedup (denoiser)",
                "speedup (end-to-end)", "NFE ratio", f"speedup ≥ {SPEEDUP_SHARE:g} × NFE ratio")

SPEED_TEXT = ("Speedup = {teacher}'s time at its default point / the system's time at its default "
              "point (batch-1 calls); NFE ratio = {teacher}'s NFE / the system's NFE. The check asks "
              "for a denoiser speedup of at least {share:g} × the NFE ratio; end-to-end latency is "
              "shown beside it because text encoding and Griffin-Lim decoding do not shrink with NFE.")


def speed_line(card: Card, rows: list[dict], system: str, base: dict) -> tuple[tuple[str, ...], bool]:
    ref = card.default_ref(system)
    row, why = ref.find(rows)
    if row is None:
        return (system, ref.label(), *([DASH] * 6), f"{DASH} ({why})"), False
    (den, own_fallback), (base_den, base_fallback) = denoise_time(row), denoise_time(base)
    e2e, base_e2e = (row.get("speed") or {}).get("latency_s"), (base.get("speed") or {}).get("latency_s")
    # without a denoiser time on either side, both sides are compared end to end
    speedup = ratio(base_e2e, e2e) if own_fallback or base_fallback else ratio(base_den, den)
    nfe_ratio = ratio(base.get("nfe"), row.get("nfe"))
    check = DASH if speedup is None or nfe_ratio is None else \
        ("yes" if speedup >= SPEEDUP_SHARE * nfe_ratio else "no")
    return (system, ref.label(), fmt(row.get("nfe")), fmt(den), fmt(e2e), fmt(speedup),
            fmt(ratio(base_e2e, e2e)), fmt(nfe_ratio), check), own_fallback


def measured_speed_blocks(card: Card, speed: dict, teacher: str) -> list[Block]:
    """The speed check from interleaved timings of every default point (bench.speed_compare)."""
    head: list[Block] = [Heading("Speed at each system's default point")]
    base = speed.get(teacher)
    if base is None or "missing" in base:
        why = base["missing"] if base else "not timed"
        return head + [Para(f"No speedup: the reference system {teacher} was not timed ({why}).")]
    rows = tuple(measured_line(card, system, speed[system], base) for system in speed)
    any_point = base
    text = Para(MEASURED_TEXT.format(teacher=teacher, rounds=any_point["rounds"], batch=any_point["batch"],
                                     share=SPEEDUP_SHARE))
    return head + [text, Table(SPEED_HEADER, rows)]


def measured_line(card: Card, system: str, point: dict, base: dict) -> tuple[str, ...]:
    if "missing" in point:
        return (system, card.default_ref(system).label(), *([DASH] * 6), f"{DASH} ({point['missing']})")
    speedup, e2e = ratio(base["denoise_s"], point["denoise_s"]), ratio(base["wall_s"], point["wall_s"])
    nfe_ratio = ratio(base["nfe"], point["nfe"])
    check = DASH if speedup is None or nfe_ratio is None else \
        ("yes" if speedup >= SPEEDUP_SHARE * nfe_ratio else "no")
    return (system, card.default_ref(system).label(), fmt(point["nfe"]), fmt(point["denoise_s"]),
            fmt(point["wall_s"]), fmt(speedup), fmt(e2e), fmt(nfe_ratio), check)


MEASURED_TEXT = ("Measured in one process after the run: {rounds} interleaved rounds, each timing every "
                 "system's default point once on the same {batch} prompts and seeds (same noise); the "
                 "medians are shown. Speedup = {teacher}'s time / the system's time; NFE ratio = "
                 "{teacher}'s NFE / the system's NFE. The check asks for a denoiser speedup of at least "
                 "{share:g} × the NFE ratio; end-to-end time is shown beside it because text encoding "
                 "and Griffin-Lim decoding do not shrink with NFE.")


# --- deviations and provenance ---------------------------------------------------------------------

def deviation_blocks(card: Card) -> list[Block]:
    return [Heading("Deviations from the paper"), Bullets(card.deviations)]


def provenance_blocks(results: dict, run_dir: str) -> list[Block]:
    protocol, env = results.get("protocol", {}), results.get("environment", {})
    git = env.get("git") or {}
    commit = git.get("commit") if isinstance(git, dict) else git
    dirty = " (uncommitted changes)" if isinstance(git, dict) and git.get("dirty") else ""
    return [Heading("Run"), Bullets((
        f"protocol: {protocol.get('name', DASH)} v{protocol.get('version', DASH)}, "
        f"hash {protocol.get('hash', DASH)}",
        f"git: {commit or DASH}{dirty}", f"created: {results.get('created', DASH)}",
        f"run folder: {run_dir}"))]
