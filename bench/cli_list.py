"""``python -m bench list [SECTION ...]``: what the benchmark knows and what runs on this machine.

Sections: systems (built-in and entry points), components (the shared autoencoder and teacher
per preset, trained or not), protocols (version, hash, pin, whether their data and metrics are
here), cards (reproduction cards), backends and metrics. Where something is unavailable the
line says why and how to fix it. Exit codes: 0 listed; 2 an unknown section name.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import listing

SECTIONS = ("systems", "components", "protocols", "cards", "backends", "metrics")
EXIT_OK, EXIT_INPUT_ERROR = 0, 2
#: where reproduction cards are registered (``CARDS: {name: "module:attr"}``, like
#: ``systems.SYSTEMS``); ``bench reproduce PAPER`` runs one.
CARD_REGISTRY = "bench.cards"


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="systems, protocols, reproduction cards, metrics and backends: "
                       "what runs on this machine and why not", description=__doc__)
    p.add_argument("sections", nargs="*", metavar="SECTION",
                   help=f"only these sections, any of: {', '.join(SECTIONS)} (default: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        print(f"error: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}",
              file=sys.stderr)
        return EXIT_INPUT_ERROR
    wanted = [s for s in SECTIONS if s in args.sections] if args.sections else list(SECTIONS)
    backends = listing.backend_rows() if {"backends", "metrics", "protocols"} & set(wanted) else []
    printers = {"systems": print_systems, "components": print_components, "cards": print_cards,
                "protocols": lambda: print_protocols(backends),
                "backends": lambda: listing.print_backends(backends),
                "metrics": lambda: listing.print_metrics(listing.metric_rows(backends))}
    for i, section in enumerate(wanted):
        if i:
            print()
        printers[section]()
    return EXIT_OK


# --- systems -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SystemRow:
    name: str
    source: str  # "built-in" or "entry point"
    kind: str  # generator | accelerator | codec; "?" when the class does not import
    imports: bool
    detail: str  # the paper line, or why the class does not import


def system_rows() -> list[SystemRow]:
    from common.registry import resolve
    from systems import SYSTEMS, system_table

    table, rows = system_table(), []
    for name, target in table.items():
        source = "built-in" if name in SYSTEMS else "entry point"
        try:
            cls = resolve(table, name, "system")
            kind, paper = cls.kind, cls.info.paper
        except Exception as exc:  # a broken plugin must not hide the others
            rows.append(SystemRow(name, source, "?", False, listing.import_failure(target, exc)))
            continue
        missing = missing_modules(cls)
        if missing:   # it imports (heavy packages load lazily), but cannot load until they are installed
            paper = f"[needs {', '.join(missing)}: not installed, see the extras in pyproject.toml] {paper}"
        rows.append(SystemRow(name, source, kind, True, paper))
    return rows


def missing_modules(cls) -> list[str]:
    """The optional packages a system declares (``requires``) that are not installed here."""
    import importlib.util

    return [module for module in getattr(cls, "requires", ()) if importlib.util.find_spec(module) is None]


def print_systems() -> None:
    print("Systems (systems.SYSTEMS and entry points of group fastaudio_bench.systems):")
    for row in system_rows():
        state = "imports" if row.imports else "BROKEN "
        print(f"  {row.name:14} {row.kind:12} {row.source:12} {state} {row.detail}")


# --- shared components -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ComponentRow:
    preset: str
    kind: str  # autoencoder | teacher
    trained: bool
    path: Path  # the component's folder in the store


def component_rows() -> list[ComponentRow]:
    """Whether each preset's autoencoder and teacher are in the component store (nothing loaded)."""
    from systems.components.presets import PRESETS
    from systems.components.shared import FINAL
    from systems.components.text_encoder import MiniLMTextEncoder
    from systems.training.store import ComponentStore

    store, rows = ComponentStore(), []
    for name, preset in PRESETS.items():
        keys = {"autoencoder": preset.ae_key(),
                "teacher": preset.teacher_key(MiniLMTextEncoder(preset.max_prompt_tokens).config())}
        for kind, key in keys.items():
            folder = store.path(kind, key)
            rows.append(ComponentRow(name, kind, (folder / FINAL).is_file(), folder))
    return rows


def print_components() -> None:
    print("Shared components (trained once per preset, then reused by every system):")
    for row in component_rows():
        state = (f"trained      {row.path}" if row.trained else
                 f"not trained  `python -m bench train components --preset {row.preset}` trains it "
                 "(a run that needs it trains it too)")
        print(f"  {row.preset:6} {row.kind:12} {state}")


# --- protocols -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProtocolRow:
    name: str
    version: int | None
    hash: str
    pin: str  # "pinned" or what differs from versions.json
    data_ok: bool
    data: str  # where prompts and references come from, or what is missing
    systems: tuple[str, ...]
    not_runnable: tuple[str, ...]  # metric specs that cannot run here, each with its reason


def protocol_rows(backends: list[listing.BackendRow]) -> list[ProtocolRow]:
    from bench.protocols import PROTOCOLS, get_protocol

    pins = json.loads((Path(importlib.import_module("bench.protocols").__file__).parent
                       / "versions.json").read_text())
    rows = []
    for name, target in PROTOCOLS.items():
        try:
            protocol = get_protocol(name)
        except Exception as exc:
            rows.append(ProtocolRow(name, None, "-", "-", False, listing.import_failure(target, exc),
                                    (), ()))
            continue
        data = [(part, source_status(spec)) for part, spec in
                (("prompts", protocol.prompts), ("reference", protocol.reference))]
        rows.append(ProtocolRow(
            name, protocol.version, protocol.hash(), pin_status(protocol, pins.get(name)),
            all(ok for _, (ok, _) in data), "; ".join(f"{part}: {text}" for part, (_, text) in data),
            tuple(entry.system for entry in protocol.systems),
            tuple(unrunnable_metrics(protocol.metrics, backends))))
    return rows


def pin_status(protocol, pin: dict | None) -> str:
    if pin is None:
        return "NOT PINNED in bench/protocols/versions.json"
    if (pin.get("version"), pin.get("hash")) != (protocol.version, protocol.hash()):
        return f"DIFFERS from its pin (v{pin.get('version')} {pin.get('hash')}): bump the version"
    return "pinned"


def source_status(spec: dict) -> tuple[bool, str]:
    """Whether a prompt/reference source is present here, in words."""
    from bench.captions import located
    from bench.runner import RunError

    if spec.get("source") == "sfx":
        return True, "procedural, rendered on demand"
    if spec.get("source") not in ("manifest", "captions"):
        return False, f"unknown source {spec.get('source')!r}"
    try:
        path = located(spec, f"the {spec['source']} file")
    except RunError as exc:
        return False, str(exc)
    return (True, str(path)) if path.is_file() else (False, f"{path} is missing")


def unrunnable_metrics(specs: tuple[str, ...], backends: list[listing.BackendRow]) -> list[str]:
    from bench.specs import parse_spec
    from metrics import METRICS

    available = {b.name: b.available for b in backends}
    out = []
    for text in specs:
        for spec in parse_spec(text):
            if spec.metric not in METRICS:
                out.append(f"{spec.text} (unknown metric)")
            elif spec.backend and not available.get(spec.backend, False):
                out.append(f"{spec.text} ({spec.backend} unavailable, see Embedding backends)")
    return out


def print_protocols(backends: list[listing.BackendRow]) -> None:
    print("Protocols (bench/protocols; data and metrics checked on this machine):")
    for row in protocol_rows(backends):
        data = ("data present" if row.data_ok else "DATA MISSING") + f" ({row.data})"
        print(f"  {row.name:10} v{row.version}  {row.hash}  {row.pin}")
        print(f"  {'':10} {data}")
        metrics = ("all metrics run here" if not row.not_runnable else
                   "not runnable here: " + ", ".join(row.not_runnable))
        print(f"  {'':10} systems: {', '.join(row.systems) or '-'}; {metrics}")


# --- reproduction cards ----------------------------------------------------------------------------

def card_table() -> dict[str, str] | None:
    """The card registry ``{name: "module:attr"}``, or None while no registry exists."""
    if importlib.util.find_spec(CARD_REGISTRY) is None:
        return None
    return dict(getattr(importlib.import_module(CARD_REGISTRY), "CARDS", {}))


def print_cards() -> None:
    print("Reproduction cards:")
    table = card_table()
    if not table:
        where = "no card registry exists yet" if table is None else f"{CARD_REGISTRY}.CARDS is empty"
        print(f"  none registered ({where}; reproduction cards arrive with `bench reproduce`)")
        return
    for name, target in table.items():
        print(f"  {name:14} {target}")
