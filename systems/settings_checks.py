"""Checks of an accelerator's training settings and guidance input, shared by the systems that take
them (``cd``, ``soundctm``): each refuses a bad value before any training, naming the system."""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from systems.api import SystemInputError


def finite_number(settings: Mapping[str, Any], key: str, owner: str) -> float:
    """``settings[key]`` as a float; a bool, a non-number or a non-finite value is refused."""
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SystemInputError(f"{owner}: {key} must be a finite number, got {value!r}")
    return float(value)


def int_at_least(settings: Mapping[str, Any], key: str, least: int, why: str, owner: str) -> None:
    """``settings[key]`` must be an int (not a bool) >= ``least``; ``why`` says what it is for."""
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SystemInputError(f"{owner}: {key} must be an int >= {least} ({why}), got {value!r}")


def guidance_range(settings: Mapping[str, Any], keys: tuple[str, str], symbol: str, guidance: float,
                   owner: str) -> None:
    """The trained CFG range ``settings[keys]`` is 0 <= low <= high and holds the system's default."""
    (low_key, high_key), low, high = keys, *(finite_number(settings, k, owner) for k in keys)
    if low < 0 or low > high:
        raise SystemInputError(f"{owner}: need 0 <= {low_key} <= {high_key} ({symbol} is a CFG scale: 0 = "
                               f"unconditional, 1 = no guidance), got {low_key}={low:g}, {high_key}={high:g}")
    if not low <= guidance <= high:
        raise SystemInputError(f"{owner}: the system's guidance {guidance:g} (what a request naming none "
                               f"gets) lies outside the training range [{low:g}, {high:g}]; widen the range "
                               "or build the system with a guidance inside it")


def ema_decays(settings: Mapping[str, Any], keys: tuple[str, ...], owner: str) -> None:
    for key in keys:
        if not 0 <= finite_number(settings, key, owner) < 1:
            raise SystemInputError(f"{owner}: {key} is an EMA decay and must lie in [0, 1), got "
                                   f"{settings[key]!r}")


def guidance_input(guidance: float, trained: tuple[float, float], what: str, keys: tuple[str, str],
                   owner: str, batch: int, device) -> torch.Tensor:
    """The request's guidance as the student's per-sample input [batch]; outside the trained range
    (the student never saw it) it is refused."""
    low, high = trained
    if not low <= guidance <= high:
        raise SystemInputError(f"{owner} was trained for {what} in [{low:g}, {high:g}]; got {guidance:g}: "
                               f"pick one inside, or retrain with other {keys[0]}/{keys[1]}")
    return torch.full((batch,), float(guidance), device=device)
