"""Content preservation (SoundCTM's Table 7): does a sound stay the same when more steps refine it?

SoundCTM promises "try with 1 step, then refine with more steps without the sound changing". The
experiment measures it as the paper does: for the same prompt and the same initial noise, LPAPS
between the ``few``-step and the ``many``-step output (default 1 vs 16), averaged over items, for

- ``soundctm`` at γ = 0, 0.2, 0.5, 1 (one system object per γ, built with ``gamma=`` so that the
  row's ``config()`` states the γ its clips were made with; γ = 0 is deterministic jumps, γ = 1
  consistency-model multistep, which re-noises between steps);
- ``cd`` with ping-pong multistep sampling (it re-noises too: its content may drift with steps);
- two bounds, on real clips: (i) the shared autoencoder's reconstruction of a clip vs the clip
  (what generating in this latent space costs at best: the paper's "reconstruction bound"),
  (ii) two different real renders of the same prompt (what "another sound for the same prompt"
  scores).

Items: the first N prompts of the ``sfx-mini`` protocol × S seeds, with ``bench.runner``'s item ids
and seeds (``p0003-g1``: prompt 3, seed ``protocol.seed + 1``), so a clip here is the clip a
``bench run`` of sfx-mini makes for that item. Every system draws its initial noise ε from the
item's own generator (``systems.noise``): the few- and many-step requests of an item start from
the same ε, which each row checks (``same_initial_noise``). The real clips are fresh renders with
the floor's render seeds (``bench.anchors.floor_render_seed``, generation g for item g); the second
clip of a real pair uses generation ``REAL_PAIR_GENERATION + g``, a seed no item or floor uses.

Systems are built and trained (or reused from the component store) as
``bench.speed_compare.build_point`` does: the preset's shared budget for their class
(``bench.protocols.budgets.budget_for``) and the training settings of the protocol's own entry for
that system, if it has one (the store key of a ``bench run``, so its weights are reused). A system
that cannot be built is a ``missing`` row with the reason; a system that refuses the request (e.g.
more steps than ``cd``'s grid has) an ``error`` row: no row is skipped silently.

LPAPS (``metrics.lpaps``) on a backend with ``layers``: ``lpaps@aisfx`` offline here, not
CLAP-LPAPS, so values are not comparable with the paper's; the orderings are.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from bench.keys import content_key, write_audio_atomic, write_json

CONTENT_VERSION = 1  # bump when what a row measures changes
PROTOCOL = "sfx-mini"
GAMMAS = (0.0, 0.2, 0.5, 1.0)
#: N prompts × S seeds and the backend by default: 32 items, five systems at 1 and 16 steps fit a
#: 2-core CPU in minutes; the CIs say what this size resolves
DEFAULTS = {"prompts": 16, "seeds": 2, "backend": "aisfx", "few": 1, "many": 16, "bootstrap": 1000}
REAL_PAIR_GENERATION = 1000  # render generation of a real pair's second clip (no item uses it)
BOOT_SALT = 7  # seeds the bootstrap with the run's seed: every row draws the same item indices
CI_LEVEL = 0.95
BATCH = 16
RESULT, MARKDOWN, CLAIM = "content.json", "content.md", "content-run.json"
KIND = "content-preservation"

#: SoundCTM Table 7 as issue 11 quotes it; row id -> value (CLAP-LPAPS, 1 vs 16 steps)
PAPER = {"soundctm-gamma0": 3.34, "soundctm-gamma0.5": 5.21, "soundctm-gamma1": 6.07, "bound-ae": 2.55}
PAPER_NOTE = (
    "SoundCTM (Saito et al. 2025) Table 7 as issue 11 quotes it: \"the paper: 3.34 vs 5.21 vs 6.07 with "
    "a 2.55 reconstruction bound\", read in the issue's order \"γ=0 < γ=0.5 < …\": 3.34 γ = 0, 5.21 "
    "γ = 0.5, 2.55 the autoencoder reconstruction; 6.07 is the issue's third value, unnamed there and "
    "shown at γ = 1 (check the paper before citing it). Those are CLAP-LPAPS on the paper's 1B model "
    "and 10 s clips, 1 vs 16 steps: not comparable in value with the LPAPS here; compare orderings.")


class ContentError(ValueError):
    """A bad setting or output folder; the message says what to change (the CLI exits 2)."""


@dataclass(frozen=True)
class SystemPoint:
    """One system row: ``system`` built with ``config``, sampled with ``sampler`` at few and many steps."""

    row_id: str
    label: str
    system: str
    sampler: str
    config: dict[str, Any] = field(default_factory=dict)


def system_points(gammas: Sequence[float] = GAMMAS) -> list[SystemPoint]:
    """SoundCTM at every γ (a constructor setting: the row's config records it), then ``cd``."""
    points = [SystemPoint(f"soundctm-gamma{g:g}", f"soundctm γ={g:g}", "soundctm", "ctm_gamma",
                          {"gamma": float(g)}) for g in gammas]
    return points + [SystemPoint("cd", "cd (ping-pong multistep)", "cd", "pingpong")]


# ---------------------------------------------------------------- settings, checked before any work

def check_settings(preset: str, prompts: int, seeds: int, few: int, many: int, n_boot: int,
                   examples: int) -> None:
    """Refuse what would make the table meaningless before anything is loaded or trained."""
    from bench.protocols.budgets import ACCELERATOR
    from systems.components.presets import PRESETS

    n_prompts = _protocol().prompts["n"]
    _integer("few", few, 1, "the fewer step count: at least 1")
    _integer("many", many, 1, "the larger step count")
    if few >= many:
        raise ContentError(f"--few must be below --many (the paper compares 1 with 16 steps), got few={few}, "
                           f"many={many}")
    _integer("prompts", prompts, 1, f"1 … {n_prompts}, the first prompts of {PROTOCOL}")
    if prompts > n_prompts:
        raise ContentError(f"--prompts: {PROTOCOL} has {n_prompts} prompts, got {prompts}")
    _integer("seeds", seeds, 1, "seeds per prompt")
    if prompts * seeds < 2:
        raise ContentError("a bootstrap CI over items needs at least 2 items: raise --prompts or --seeds")
    _integer("bootstrap", n_boot, 2, "bootstrap replicates for the CI")
    _integer("examples", examples, 0, "clips per row written as listening examples")
    if preset not in PRESETS or preset not in ACCELERATOR:
        raise ContentError(f"--preset {preset!r}: the systems train under the shared accelerator budget, "
                           f"which exists for {sorted(set(PRESETS) & set(ACCELERATOR))}")


def _integer(name: str, value: Any, least: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ContentError(f"--{name} must be a whole number >= {least} ({what}), got {value!r}")


def layered_backend(name: str, device: str = "cpu"):
    """The embedding backend ``name``, loaded, if it gives ``layers`` (LPAPS compares them)."""
    from common.registry import UnknownNameError
    from metrics.embeddings import get_backend
    from metrics.embeddings.base import BackendUnavailable

    try:
        cls = get_backend(name)
    except UnknownNameError as exc:
        raise ContentError(f"--backend: {exc}") from None
    if "layers" not in cls.provides:
        raise ContentError(f"--backend {name!r} gives no intermediate layers (it provides "
                           f"{sorted(cls.provides)}); LPAPS needs one that does, e.g. 'aisfx' (offline) "
                           "or 'clap-laion-music' (CLAP-LPAPS)")
    ok, why = cls.availability()
    backend = cls()
    try:
        if not ok:
            raise BackendUnavailable(why)
        backend.load(device)
    except BackendUnavailable as exc:
        raise ContentError(f"--backend {name!r} cannot run here: {exc}") from None
    return backend


def _protocol():
    from bench.protocols import get_protocol

    return get_protocol(PROTOCOL)


def content_items(protocol, prompts: int, seeds: int) -> list:
    """The first ``prompts`` prompts × ``seeds`` seeds, as ``bench.runner`` names and seeds them."""
    from bench.runner import prompt_items

    items = prompt_items(replace(protocol, generations_per_prompt=seeds))
    return items[: prompts * seeds]   # prompt-major: prompt i's seeds are items i·S … i·S + S − 1


def render_seeds(protocol, items) -> list[tuple[int, int]]:
    """(floor render seed, second real render seed) per item: see the module docstring."""
    from bench.anchors import floor_render_seed, parse_item_id, prompt_seeds_of

    prompt_seeds = prompt_seeds_of(protocol)
    out = []
    for it in items:
        index, generation = parse_item_id(it.item_id)
        out.append((floor_render_seed(prompt_seeds[index], generation),
                    floor_render_seed(prompt_seeds[index], REAL_PAIR_GENERATION + generation)))
    return out


# ---------------------------------------------------------------- the output folder

def claim_out(out: Path, config: dict) -> Path:
    """A new folder, or an unfinished content run of the same config (resumed: its finished rows are
    reused). A finished run is never overwritten; a folder holding anything else is refused."""
    config = json.loads(json.dumps(config, default=str))
    if out.exists() and not out.is_dir():
        raise ContentError(f"--out {out} is a file; choose a new folder")
    if (out / RESULT).exists():
        raise ContentError(f"--out {out} already holds a finished content run ({RESULT}); results are "
                           "never overwritten: choose a new --out")
    if (out / CLAIM).exists():
        stored = json.loads((out / CLAIM).read_text())
        if stored != config:
            raise ContentError(f"--out {out} holds an unfinished content run with other settings; choose a "
                               "new --out (or rerun with the same settings to resume it)")
        return out
    if out.exists() and any(out.iterdir()):
        raise ContentError(f"--out {out} exists and is not a content run; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CLAIM, config)
    return out


def _stored_row(out: Path, row_id: str, key: str) -> dict | None:
    """A row an interrupted run finished with the same inputs (``key``), else None."""
    path = out / "rows" / f"{row_id}.json"
    if not path.exists():
        return None
    row = json.loads(path.read_text())
    return row if row.get("key") == key else None


# ---------------------------------------------------------------- LPAPS and its interval

def trim_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both clips cut to the shorter one's length: LPAPS compares equal token grids."""
    n = min(len(a), len(b))
    return np.asarray(a[:n], np.float32), np.asarray(b[:n], np.float32)


def pair_lpaps(backend, pairs: Sequence[tuple[np.ndarray, np.ndarray]], sample_rate: int,
               progress: bool = False) -> tuple[np.ndarray, dict]:
    """LPAPS (float64) of each pair after trimming both to the shorter, and what the trim did.

    Clips are prepared as ``bench.extract`` prepares files (mono, the backend's rate, zero-padded
    to its shortest input), without a file round trip: the few- and many-step clips are compared
    exactly as generated.
    """
    from bench.extract import IOConfig, prepare_clip
    from metrics.base import MetricInputError
    from metrics.lpaps import lpaps

    trimmed = [trim_pair(a, b) for a, b in pairs]
    io = IOConfig()
    clips = [prepare_clip(x[None, :], sample_rate, backend, io) for pair in trimmed for x in pair]
    layers = []
    for start in tqdm(range(0, len(clips), BATCH), desc=f"lpaps@{backend.name}", disable=not progress,
                      leave=False):
        layers += [out["layers"] for out in backend.embed(clips[start:start + BATCH], frozenset({"layers"}))]
    if any(not np.isfinite(np.asarray(f, np.float64)).all() for clip in layers for f in clip):
        raise MetricInputError("LPAPS: layer features contain NaN or Inf")
    values = np.array([lpaps(layers[2 * i], layers[2 * i + 1]) for i in range(len(trimmed))], np.float64)
    return values, trim_note(pairs, sample_rate)


def trim_note(pairs, sample_rate: int) -> dict:
    """How many pairs had unequal lengths and how much the trim dropped (the output says so)."""
    dropped = [abs(len(a) - len(b)) for a, b in pairs]
    lengths = [min(len(a), len(b)) for a, b in pairs]
    return {"pairs_trimmed": int(sum(d > 0 for d in dropped)), "max_samples_dropped": int(max(dropped)),
            "compared_s": [min(lengths) / sample_rate, max(lengths) / sample_rate],
            "rule": "both clips of a pair trimmed to the shorter one"}


def mean_interval(values: np.ndarray, n_boot: int, seed: int = 0, level: float = CI_LEVEL) -> dict:
    """The mean over items with a bootstrap CI (``metrics.intervals``: median-recentred percentile,
    inside LPAPS's domain [0, ∞)); items resampled with replacement, float64.

    The generator depends on ``seed`` only, so rows with equally many items draw the same indices
    in every replicate: their ``replicates`` are paired and ``b_i − a_i`` are bootstrap replicates
    of the difference between two rows (how a card can test γ = 0 < γ = 0.5).
    """
    from metrics.intervals import bootstrap_interval
    from metrics.lpaps import Lpaps

    values = np.asarray(values, np.float64)
    rng = np.random.default_rng([seed, BOOT_SALT])
    replicates = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    mean = float(values.mean())
    out = bootstrap_interval(mean, replicates, level, Lpaps.info.domain)
    return {"mean": mean, **out, "ci_method": f"{out['ci_method']} over items, seed={seed}",
            "replicates": replicates.tolist(), "per_item": values.tolist()}


# ---------------------------------------------------------------- building and generating

def point_entry(point: SystemPoint, protocol, preset: str, few: int, many: int, train: dict | None = None):
    """The point as a protocol entry (``build_point`` builds and trains it): the preset's shared
    budget for the system's class, and the training settings of the protocol's own entry for that
    system (``train[system]`` overrides them, e.g. smaller sanity checks in tests)."""
    from bench.protocols.base import SystemEntry
    from bench.protocols.budgets import budget_for
    from bench.speed_compare import entry_for
    from systems import get_system

    cls = get_system(point.system)   # UnknownNameError: the row is missing
    own = entry_for(protocol, point.system, point.sampler, few) or next(
        (e for e in protocol.systems if e.system == point.system), None)
    settings = dict(own.train) if own is not None else {}
    if train and point.system in train:
        settings = dict(train[point.system])
    trained_from = getattr(cls, "trained_from", None)
    budget = budget_for(trained_from, preset) if trained_from in ("teacher", "scratch") else None
    return SystemEntry(point.system, samplers=(point.sampler,), steps=(few, many), config=dict(point.config),
                       budget=budget, train=settings)


def build_or_reason(point: SystemPoint, protocol, components, few: int, many: int, train: dict | None,
                    progress: bool):
    """(system, None) or (None, why it cannot be built): an unregistered name, a refused setting,
    an import or training failure; the row then records ``missing`` with the reason."""
    from bench.speed_compare import build_point

    try:
        entry = point_entry(point, protocol, components.preset.name, few, many, train)
        return build_point(entry, components, progress=progress), None
    except (KeyError, ValueError, ImportError, RuntimeError) as exc:   # UnknownNameError is a KeyError
        return None, f"{type(exc).__name__}: {exc}"


def generate_pairs(system, sampler: str, items, few: int, many: int, duration_s: float | None,
                   progress: bool = False) -> dict:
    """Each item at ``few`` and at ``many`` steps. The two requests of a batch differ in ``steps``
    only, so both start from the item's ε; ``same_initial_noise`` checks it on what the system
    reports as its initial noise for each request."""
    import torch

    from systems.api import GenRequest

    audio, nfe, same = {few: [], many: []}, {}, True
    for start in tqdm(range(0, len(items), BATCH), desc=f"{system.info.name} {few}/{many} steps",
                      disable=not progress, leave=False):
        chunk = items[start:start + BATCH]
        requests = {steps: GenRequest(prompts=[it.prompt for it in chunk], seeds=[it.seed for it in chunk],
                                      steps=steps, duration_s=duration_s, sampler=sampler)
                    for steps in (few, many)}
        same &= bool(torch.equal(system.initial_noise(requests[few]), system.initial_noise(requests[many])))
        for steps, request in requests.items():
            result = system.generate(request)
            audio[steps].extend(result.audio)
            nfe[steps] = result.nfe
    return {"few": audio[few], "many": audio[many], "nfe": {"few": nfe[few], "many": nfe[many]},
            "same_initial_noise": same, "sample_rate": system.sample_rate}


def real_clips(protocol, items, seeds: Sequence[int], sample_rate: int,
               duration_s: float) -> list[np.ndarray]:
    """Renders of each item's prompt (its procedural attributes) with the given render seeds."""
    from common.sfx.attributes import SfxAttributes
    from common.sfx.synth import render

    return [render(SfxAttributes.from_dict(it.meta), seed, sample_rate, duration_s)
            for it, seed in zip(items, seeds)]


def autoencode_clips(ae, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each clip through the shared autoencoder and Griffin-Lim (encode → decode), as the anchors'
    ceiling makes its clips; the output may be shorter (whole latent frames only)."""
    import torch

    out = []
    for start in range(0, len(clips), BATCH):
        chunk = clips[start:start + BATCH]
        n = min(len(c) for c in chunk)
        x = torch.from_numpy(np.stack([np.asarray(c[:n], np.float32) for c in chunk]))
        out += [np.clip(w, -1.0, 1.0) for w in ae.decode(ae.encode(x)).cpu().numpy()]
    return out


# ---------------------------------------------------------------- rows

@dataclass
class Context:
    """What every row of a run shares."""

    out: Path
    protocol: Any
    items: list
    seeds: list[tuple[int, int]]
    components: Any
    backend: Any
    few: int
    many: int
    n_boot: int
    seed: int
    examples: int
    progress: bool
    train: dict | None = None


def scored_row(ctx: Context, base: dict, pairs, sample_rate: int, roles: tuple[str, str]) -> dict:
    """``base`` plus the pairs' LPAPS, CI, trim note and listening examples (finished rows are
    written under ``rows/`` so an interrupted run resumes)."""
    values, trim = pair_lpaps(ctx.backend, pairs, sample_rate, ctx.progress)
    row = {**base, "status": "ok", "n": len(values), "lpaps": mean_interval(values, ctx.n_boot, ctx.seed),
           "lengths": trim, "pair": {"a": roles[0], "b": roles[1]}, "paper": PAPER.get(base["row_id"]),
           "examples": write_examples(ctx, base["row_id"], pairs, sample_rate)}
    (ctx.out / "rows").mkdir(exist_ok=True)
    write_json(ctx.out / "rows" / f"{base['row_id']}.json", row)
    return row


def write_examples(ctx: Context, row_id: str, pairs, sample_rate: int) -> list[dict]:
    """The first ``examples`` pairs as trimmed FLAC clips, so a reader can listen to what was scored."""
    written = []
    for it, (a, b) in zip(ctx.items[: ctx.examples], pairs):
        a, b = trim_pair(a, b)
        paths = {side: f"audio/{row_id}/{it.item_id}-{side}.flac" for side in ("a", "b")}
        for side, wav in (("a", a), ("b", b)):
            write_audio_atomic(ctx.out / paths[side], wav, sample_rate)
        written.append({"item_id": it.item_id, **paths})
    return written


def system_row(ctx: Context, point: SystemPoint) -> dict:
    """One system's few- vs many-step LPAPS, or a ``missing``/``error`` row saying why not."""
    base = {"row_id": point.row_id, "label": point.label, "kind": "system", "system": point.system,
            "sampler": point.sampler, "steps": {"few": ctx.few, "many": ctx.many},
            "paper": PAPER.get(point.row_id)}
    system, reason = build_or_reason(point, ctx.protocol, ctx.components, ctx.few, ctx.many, ctx.train,
                                     ctx.progress)
    if system is None:
        return {**base, "status": "missing", "reason": reason}
    key = content_key({"system": system.cache_config(), "sampler": point.sampler, "v": CONTENT_VERSION})
    stored = _stored_row(ctx.out, point.row_id, key)
    if stored is not None:
        return stored
    base.update(key=key, config=system.config(), training=system.training_record(),
                gamma=getattr(system, "gamma", None))
    try:
        gen = generate_pairs(system, point.sampler, ctx.items, ctx.few, ctx.many, ctx.protocol.duration_s,
                             ctx.progress)
        base.update(nfe=gen["nfe"], same_initial_noise=gen["same_initial_noise"])
        if not gen["same_initial_noise"]:
            return {**base, "status": "error",
                    "reason": "the few- and many-step requests started from different initial noise"}
        roles = (f"{ctx.few}-step output", f"{ctx.many}-step output from the same prompt and ε")
        return scored_row(ctx, base, list(zip(gen["few"], gen["many"])), gen["sample_rate"], roles)
    except ValueError as exc:   # the system refuses the request (SystemInputError: e.g. more steps than
        # cd's grid has) or LPAPS refuses its output (MetricInputError: non-finite layers)
        return {**base, "status": "error", "reason": f"{type(exc).__name__}: {exc}"}


def bound_rows(ctx: Context) -> list[dict]:
    """(i) the autoencoder's reconstruction of a real clip vs the clip; (ii) two different real
    renders of the same prompt. Real clips: fresh renders (module docstring), never generated."""
    preset = ctx.components.preset
    rate, duration = preset.mel.sample_rate, ctx.protocol.duration_s or preset.clip_duration_s
    key = content_key({"ae": ctx.components.hashes["autoencoder"], "rate": rate, "duration_s": duration,
                       "v": CONTENT_VERSION})
    specs = [("bound-ae", "bound: autoencoder reconstruction vs the clip",
              ("a real render", "its autoencoder + Griffin-Lim reconstruction")),
             ("bound-real", "bound: two real renders of the same prompt",
              ("a real render", f"another render of the prompt (generation + {REAL_PAIR_GENERATION})"))]
    stored = [_stored_row(ctx.out, row_id, key) for row_id, _, _ in specs]
    if all(row is not None for row in stored):
        return stored
    first = real_clips(ctx.protocol, ctx.items, [s[0] for s in ctx.seeds], rate, duration)
    second = {"bound-ae": autoencode_clips(ctx.components.ae, first),
              "bound-real": real_clips(ctx.protocol, ctx.items, [s[1] for s in ctx.seeds], rate, duration)}
    rows = []
    for row_id, label, roles in specs:
        base = {"row_id": row_id, "label": label, "kind": "bound", "system": None, "sampler": None,
                "steps": None, "nfe": None, "key": key}
        rows.append(scored_row(ctx, base, list(zip(first, second[row_id])), rate, roles))
    return rows


# ---------------------------------------------------------------- the run

def run_content(out: str | Path, *, preset: str = "tiny", prompts: int = DEFAULTS["prompts"],
                seeds: int = DEFAULTS["seeds"], backend: str = DEFAULTS["backend"],
                few: int = DEFAULTS["few"], many: int = DEFAULTS["many"], n_boot: int = DEFAULTS["bootstrap"],
                seed: int = 0, examples: int = 2, device: str = "cpu", components=None,
                points: Sequence[SystemPoint] | None = None, train: dict | None = None,
                progress: bool = True) -> dict:
    """Run the experiment into the new folder ``out`` (``content.json``, ``content.md``, examples) and
    return the result. ``components``: already loaded shared components of ``preset`` (else loaded,
    training what the store lacks); ``points``: the system rows (default: ``system_points()``);
    ``train``: training settings per system name, overriding the protocol entry's."""
    check_settings(preset, prompts, seeds, few, many, n_boot, examples)
    if components is not None and components.preset.name != preset:
        raise ContentError(f"the components given are of preset {components.preset.name!r}, not {preset!r}")
    layers = layered_backend(backend, device)
    start, protocol = time.perf_counter(), _protocol()
    items = content_items(protocol, prompts, seeds)
    points = list(points if points is not None else system_points())
    config = run_config(protocol, preset, prompts, seeds, few, many, layers, n_boot, seed, examples, train,
                        points)
    out = claim_out(Path(out), config)
    if components is None:
        from systems.components.shared import load_components

        components = load_components(preset, device, progress=progress)
    ctx = Context(out, protocol, items, render_seeds(protocol, items), components, layers, few, many, n_boot,
                  seed, examples, progress, train)
    rows = bound_rows(ctx)
    for point in tqdm(points, desc="content rows", disable=not progress):
        rows.append(system_row(ctx, point))
    result = result_record(ctx, config, rows, device, time.perf_counter() - start)
    (out / MARKDOWN).write_text(markdown(result) + "\n", encoding="utf-8")
    write_json(out / RESULT, result)   # last (atomic): its presence marks the run finished
    return result


def run_config(protocol, preset, prompts, seeds, few, many, backend, n_boot, seed, examples, train,
               points) -> dict:
    """Everything the rows depend on: a resumed run must match it exactly."""
    return {"kind": KIND, "version": CONTENT_VERSION,
            "protocol": {"name": protocol.name, "version": protocol.version, "hash": protocol.hash()},
            "preset": preset, "prompts": prompts, "seeds": seeds, "few": few, "many": many,
            "backend": backend.config(), "metric": f"lpaps@{backend.name}", "bootstrap": n_boot,
            "ci_level": CI_LEVEL, "seed": seed, "examples": examples, "train": train or {},
            "points": [{"row_id": p.row_id, "system": p.system, "sampler": p.sampler, "config": p.config}
                       for p in points]}


def result_record(ctx: Context, config: dict, rows: list[dict], device: str, wall_s: float) -> dict:
    """The self-describing result: config, items, backend, rows, the paper's values, provenance."""
    from bench.provenance import environment

    items = [{"item_id": it.item_id, "prompt": it.prompt, "seed": it.seed, "real_render_seeds": list(s)}
             for it, s in zip(ctx.items, ctx.seeds)]
    return {"kind": KIND, "version": CONTENT_VERSION, "config": config, "description": __doc__,
            "sizes": f"{config['prompts']} prompts × {config['seeds']} seeds = {len(ctx.items)} items of "
                     f"{PROTOCOL} (defaults {DEFAULTS['prompts']} × {DEFAULTS['seeds']}, chosen to fit a "
                     "2-core CPU)",
            "items": items, "backend": ctx.backend.config(), "rows": rows,
            "paper": {"values": PAPER, "note": PAPER_NOTE, "metric": "CLAP-LPAPS"},
            "components": ctx.components.config(), "environment": environment(device), "wall_s": wall_s}


# ---------------------------------------------------------------- the table

def markdown(result: dict) -> str:
    """The table beside the paper's values, then how to read it."""
    config = result["config"]
    metric = config["metric"]
    lines = [f"# Content preservation: LPAPS between {config['few']}-step and {config['many']}-step outputs",
             "", f"{metric} (lower = the sound changed less), mean over items with a bootstrap "
             f"{config['ci_level']:.0%} CI; {result['sizes']}; preset `{config['preset']}`.", "",
             f"| row | n | NFE few → many | {metric} mean [{config['ci_level']:.0%} CI] | "
             "paper (CLAP-LPAPS), not comparable in value |", "|---|---|---|---|---|"]
    lines += [_table_line(row) for row in result["rows"]]
    lines += ["", *_notes(result)]
    return "\n".join(lines)


def _table_line(row: dict) -> str:
    paper = "–" if row.get("paper") is None else f"{row['paper']:.2f}"
    if row["status"] != "ok":
        return f"| {row['label']} | – | – | **{row['status']}**: {row['reason']} | {paper} |"
    nfe = "–" if row.get("nfe") is None else f"{row['nfe']['few']} → {row['nfe']['many']}"
    low, high = row["lpaps"]["ci"]
    value = f"{row['lpaps']['mean']:.3f} [{low:.3f}, {high:.3f}]"
    return f"| {row['label']} | {row['n']} | {nfe} | {value} | {paper} |"


def _notes(result: dict) -> list[str]:
    config, rows = result["config"], [r for r in result["rows"] if r["status"] == "ok"]
    pairs = "; ".join(f"{r['label']}: {r['pair']['a']} vs {r['pair']['b']}" for r in rows)
    notes = [f"- Pairs: {pairs}.",
             "- Same prompt and initial noise: each item's ε comes from its own generator (prompt, seed); "
             "checked per system row (`same_initial_noise` in content.json)."]
    trimmed = [f"{r['label']} ({r['lengths']['pairs_trimmed']} pairs, "
               f"≤ {r['lengths']['max_samples_dropped']} samples)"
               for r in rows if r["lengths"]["pairs_trimmed"]]
    notes.append("- Unequal lengths: both clips of a pair are trimmed to the shorter; "
                 + ("trimmed: " + ", ".join(trimmed) if trimmed else "no pair needed it") + ".")
    if config["backend"]["name"] == "mel":
        notes.append("- **lpaps@mel is a plumbing backend: never read these values as perceptual.**")
    notes.append(f"- {metric_caveat(config['metric'])}")
    notes.append(f"- Paper column: {PAPER_NOTE}")
    if (config["few"], config["many"]) != (1, 16):
        notes.append("- The paper's pair is 1 vs 16 steps; this run compares "
                     f"{config['few']} vs {config['many']}.")
    return notes


def metric_caveat(metric: str) -> str:
    return (f"{metric} is the CLAP-LPAPS recipe (AudioEditingCode) on another network, not CLAP-LPAPS: "
            "its scale is its own.") if metric != "lpaps@clap-laion-music" else "CLAP-LPAPS."
