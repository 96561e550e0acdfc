"""Lazy registries: tables of ``"module:attr"`` strings resolved on first use."""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Iterable, Mapping


class UnknownNameError(KeyError):
    """An unknown registry key; the message lists close matches and every key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def unknown_name(name: str, known: Iterable[str], kind: str) -> UnknownNameError:
    """The error for an unknown ``name`` of ``kind``: close matches first, then every known name."""
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return UnknownNameError(f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known)}.")


def resolve(table: Mapping[str, str], name: str, kind: str) -> Any:
    """Import and return ``table[name]`` (``"module:attr"``), or raise with suggestions."""
    if name not in table:
        raise unknown_name(name, table, kind)
    module_name, attr = table[name].split(":")
    return getattr(importlib.import_module(module_name), attr)
