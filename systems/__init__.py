"""System registry: name -> ``"module:attr"`` (text-to-audio generators, accelerators, codecs).

Add a system = one file under ``systems/`` plus one line here. The plugin interface, the
shared teacher and its samplers arrive with the systems-foundation work; until then the table
is empty and the evaluation engine (``python -m bench eval``) works on audio folders/manifests.
"""
from __future__ import annotations

SYSTEMS: dict[str, str] = {}


def get_system(name: str):
    """The system class registered as ``name`` (imported lazily)."""
    from bench.registry import resolve

    return resolve(SYSTEMS, name, "system")
